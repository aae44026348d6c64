"""People (face clusters) and faces: list, rename, hide, merge, reassign or move out a face, a person's faces,
similar faces (to one of yours or to an uploaded photo), face crops.

Every edit goes through pva.services.people, which keeps centroids, face counts and covers up to date and removes
people an edit leaves empty (unless named).  All ids are the caller's own: anything else answers 404."""
from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pva.config import get_settings
from pva.services import people as people_service

from .. import people_view as view
from ..deps import Principal, current_user
from ..schemas.people import FacePerson, MergeIn, PersonPatch
from ..streaming import stream_object

router = APIRouter(prefix="/api/v1", tags=["people"])

MAX_QUERY_IMAGE_BYTES = 32 * 1024 * 1024  # a photo to search faces with, not a library upload


@router.get("/people")
def list_people(include_hidden: bool = False, user: Principal = Depends(current_user)):
    return [view.person(p) for p in people_service.list_people(user.user_id, include_hidden)]


@router.get("/people/{person_id}")
def get_person(person_id: UUID, user: Principal = Depends(current_user)):
    return view.person(people_service.person(user.user_id, person_id))


@router.patch("/people/{person_id}")
def update_person(person_id: UUID, body: PersonPatch, user: Principal = Depends(current_user)):
    """Name (an empty string clears it) and/or hide a person."""
    return view.person(people_service.update_person(user.user_id, person_id, body.name, body.hidden))


@router.post("/people/{person_id}/merge")
def merge_people(person_id: UUID, body: MergeIn, user: Principal = Depends(current_user)):
    """Merge the source people into this one (all must be yours); their faces stay here on reclustering.
    The answer's merge_id undoes it (POST /people/merges/{merge_id}/undo)."""
    return view.person(people_service.merge(user.user_id, person_id, body.source_ids))


@router.post("/people/merges/{merge_id}/undo")
def undo_merge(merge_id: int, user: Principal = Depends(current_user)):
    """Undo a merge: the people merged away come back as they were (ids, names, hidden, their faces) and the
    person merged into keeps only its own faces.  409 when undone already or when that person was merged on."""
    return view.undone(people_service.undo_merge(user.user_id, merge_id))


@router.get("/people/{person_id}/faces")
def person_faces(person_id: UUID, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                 user: Principal = Depends(current_user)):
    """A person's faces (newest media first), each with its crop and media URLs."""
    return view.faces(people_service.faces_of(user.user_id, person_id, limit, offset))


@router.put("/faces/{face_id}/person")
def assign_face(face_id: int, body: FacePerson, user: Principal = Depends(current_user)):
    """Put a face in one of your people (null: in nobody); reclustering keeps this choice."""
    return view.face(people_service.assign(user.user_id, face_id, body.person_id))


@router.post("/faces/{face_id}/move-out")
def move_face_out(face_id: int, user: Principal = Depends(current_user)):
    """"This face is not this person": the face gets a new person of its own (reclustering keeps it there).
    Returns the face and its new person."""
    return view.moved_out(people_service.move_out(user.user_id, face_id))


@router.get("/faces/{face_id}/similar")
def similar_faces(face_id: int, k: int = Query(10, ge=1, le=1000), user: Principal = Depends(current_user)):
    """The k faces of your library nearest to this one (itself excluded), nearest first, each with its L2
    `distance` and `same_person` (distance below `threshold`)."""
    return view.similar(people_service.similar_to_face(user.user_id, face_id, k))


async def _query_image(request: Request) -> bytes:
    """The photo of a similar-faces query: the one file part of a multipart body, or the raw body."""
    from python_multipart.multipart import FormParser, parse_options_header

    too_big = HTTPException(413, f"the photo is larger than {MAX_QUERY_IMAGE_BYTES // 2**20} MiB: send a smaller "
                                 "image (a face needs no more than a few megapixels)")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_QUERY_IMAGE_BYTES + 64 * 1024:
        raise too_big
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_QUERY_IMAGE_BYTES + 64 * 1024:
            raise too_big
        chunks.append(chunk)
    body = b"".join(chunks)
    mime, params = parse_options_header(request.headers.get("content-type", ""))
    if mime == b"multipart/form-data":
        if b"boundary" not in params:
            raise HTTPException(400, "multipart body without a boundary: send the photo as a multipart file part "
                                     "(e.g. curl -F file=@photo.jpg) or as the raw request body")
        files = []
        parser = FormParser("multipart/form-data", lambda f: None, files.append, boundary=params[b"boundary"],
                            config={"MAX_MEMORY_FILE_SIZE": MAX_QUERY_IMAGE_BYTES + 1, "MAX_FIELD_SIZE": 64 * 1024})
        try:  # up to 32 MiB of parsing: off the event loop
            await run_in_threadpool(parser.write, body)
            await run_in_threadpool(parser.finalize)
        except Exception as e:  # malformed multipart
            raise HTTPException(400, f"could not parse the multipart body: {e}") from None
        if len(files) != 1:
            raise HTTPException(400, f"the multipart body holds {len(files)} files: send exactly one photo "
                                     "(e.g. curl -F file=@photo.jpg)")
        obj = files[0].file_object
        obj.seek(0)
        body = obj.read()
        files[0].close()
    if len(body) > MAX_QUERY_IMAGE_BYTES:
        raise too_big
    if not body:
        raise HTTPException(400, "no photo in the request: send one photo as a multipart file part "
                                 "(e.g. curl -F file=@photo.jpg) or as the raw request body")
    return body


_IMAGE_BODY = {"schema": {"type": "string", "format": "binary"}}


@router.post("/faces/similar", openapi_extra={"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                       "properties": {"file": {"type": "string", "format": "binary"}}}},
    "image/jpeg": _IMAGE_BODY, "image/png": _IMAGE_BODY, "application/octet-stream": _IMAGE_BODY}}})
async def similar_to_photo(request: Request, k: int = Query(10, ge=1, le=1000),
                           user: Principal = Depends(current_user)):
    """Faces of your library like the one face in an uploaded photo (multipart file part, or the raw image as
    the body).  A photo with no face or with several faces is refused (400): crop it to the one face you mean.
    A photo over the server's pixel limit (the same for every entry point) is refused (400) from its header."""
    image = await _query_image(request)
    return view.similar(await run_in_threadpool(people_service.similar_to_photo, user.user_id, image, k))


@router.get("/faces/{face_id}/crop")
def face_crop(face_id: int, request: Request, user: Principal = Depends(current_user)):
    return stream_object(request, get_settings().bucket_thumbs, people_service.crop_key(user.user_id, face_id),
                         content_type=None, filename=None,
                         etag_hint=f"face-{face_id}", max_age=86400)
