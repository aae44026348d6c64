"""People (face clusters) and faces: list, rename, hide, merge, reassign or move out a face, a person's faces,
similar faces (to one of yours or to an uploaded photo), face crops.

Every edit goes through pva.services.people, which keeps centroids, face counts and covers up to date and removes
people an edit leaves empty (unless named).  All ids are the caller's own: anything else answers 404."""
from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from pva.config import get_settings
from pva.services import people as people_service

from ..deps import Principal, current_user, not_found
from ..streaming import stream_object

router = APIRouter(prefix="/api/v1", tags=["people"])

MAX_QUERY_IMAGE_BYTES = 32 * 1024 * 1024  # a photo to search faces with, not a library upload


class PersonPatch(BaseModel):
    name: str | None = Field(default=None, max_length=200, description="empty string clears the name")
    hidden: bool | None = None


class MergeIn(BaseModel):
    source_ids: list[UUID] = Field(min_length=1, max_length=500)


class FacePerson(BaseModel):
    person_id: UUID | None


def _person_out(p: dict) -> dict:
    p["cover_url"] = f"/api/v1/faces/{p['cover_face_id']}/crop" if p.get("cover_face_id") else None
    p["media_url"] = f"/api/v1/media?person={p['id']}"
    return p


def _face_out(f: dict) -> dict:
    f.pop("embedding", None)
    # the crop's storage key is internal (as media's storage keys are): clients fetch it by crop_url
    f["crop_url"] = f"/api/v1/faces/{f['id']}/crop" if f.pop("crop_key", None) else None
    f["media_url"] = f"/api/v1/media/{f['media_id']}"
    return f


def _own_face(face_id: int, user: Principal) -> dict:
    """One of the caller's faces on a live (not trashed) media item, or 404."""
    f = people_service.get_face(user.user_id, face_id)
    if f is None:
        raise not_found("face")
    return f


@router.get("/people")
def list_people(include_hidden: bool = False, user: Principal = Depends(current_user)):
    return [_person_out(p) for p in people_service.list_people(user.user_id, include_hidden)]


@router.get("/people/{person_id}")
def get_person(person_id: UUID, user: Principal = Depends(current_user)):
    p = people_service.get_person(user.user_id, person_id)
    if p is None:
        raise not_found("person")
    return _person_out(p)


@router.patch("/people/{person_id}")
def update_person(person_id: UUID, body: PersonPatch, user: Principal = Depends(current_user)):
    """Name (an empty string clears it) and/or hide a person."""
    p = people_service.get_person(user.user_id, person_id)
    if p is not None and body.name is not None:
        p = people_service.name_person(user.user_id, person_id, body.name)
    if p is not None and body.hidden is not None:
        p = people_service.hide_person(user.user_id, person_id, body.hidden)
    if p is None:
        raise not_found("person")
    return _person_out(p)


@router.post("/people/{person_id}/merge")
def merge_people(person_id: UUID, body: MergeIn, user: Principal = Depends(current_user)):
    """Merge the source people into this one (all must be yours); their faces stay here on reclustering.
    The answer's merge_id undoes it."""
    merged = people_service.merge_people(user.user_id, person_id, list(dict.fromkeys(body.source_ids)))
    if merged is None:
        raise not_found("person")
    return _person_out(merged)  # with merge_id: POST /people/merges/{merge_id}/undo puts it back


@router.post("/people/merges/{merge_id}/undo")
def undo_merge(merge_id: int, user: Principal = Depends(current_user)):
    """Undo a merge: the people merged away come back as they were (ids, names, hidden, their faces) and the
    person merged into keeps only its own faces.  409 when undone already or when that person was merged on."""
    out = people_service.undo_merge(user.user_id, merge_id)
    return {"person": _person_out(out["person"]), "restored": [_person_out(p) for p in out["restored"]]}


@router.get("/people/{person_id}/faces")
def person_faces(person_id: UUID, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                 user: Principal = Depends(current_user)):
    """A person's faces (newest media first), each with its crop and media URLs."""
    if people_service.get_person(user.user_id, person_id) is None:
        raise not_found("person")
    return [_face_out(f) for f in people_service.person_faces(user.user_id, person_id, limit, offset)]


@router.put("/faces/{face_id}/person")
def assign_face(face_id: int, body: FacePerson, user: Principal = Depends(current_user)):
    """Put a face in one of your people (null: in nobody); reclustering keeps this choice."""
    _own_face(face_id, user)
    if not people_service.assign_face(user.user_id, face_id, body.person_id):
        raise not_found("face or person")
    return _face_out(people_service.get_face(user.user_id, face_id))


@router.post("/faces/{face_id}/move-out")
def move_face_out(face_id: int, user: Principal = Depends(current_user)):
    """"This face is not this person": the face gets a new person of its own (reclustering keeps it there).
    Returns the face and its new person."""
    _own_face(face_id, user)
    new = people_service.move_face_out(user.user_id, face_id)
    person = people_service.get_person(user.user_id, new) if new is not None else None
    if person is None:
        raise not_found("face")
    return {"face": _face_out(people_service.get_face(user.user_id, face_id)), "person": _person_out(person)}


@router.get("/faces/{face_id}/similar")
def similar_faces(face_id: int, k: int = Query(10, ge=1, le=1000), user: Principal = Depends(current_user)):
    """The k faces of your library nearest to this one (itself excluded), nearest first, each with its L2
    `distance` and `same_person` (distance below `threshold`)."""
    _own_face(face_id, user)
    rows = people_service.similar_faces(user.user_id, face_id, k)
    if rows is None:
        raise not_found("face")
    return {"face_id": face_id, "threshold": people_service.face_threshold(), "results": [_face_out(r) for r in rows]}


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
    from pva.errors import BadInput, ModelError

    image = await _query_image(request)
    try:
        out = await run_in_threadpool(people_service.similar_to_image, user.user_id, image, k)
    except BadInput as e:
        raise HTTPException(400, str(e)) from None
    except people_service.Busy as e:
        raise HTTPException(503, str(e), headers={"Retry-After": "5"}) from None
    except ModelError as e:
        raise HTTPException(503, f"face recognition is not available on this server: {e}") from None
    if out["faces_in_upload"] > 1:
        raise HTTPException(400, f"the photo shows {out['faces_in_upload']} faces: upload a photo (or a crop) "
                                 "with exactly one face")
    out["threshold"] = people_service.face_threshold()
    out["results"] = [_face_out(r) for r in out["results"]]
    return out


@router.get("/faces/{face_id}/crop")
def face_crop(face_id: int, request: Request, user: Principal = Depends(current_user)):
    f = _own_face(face_id, user)
    if not f["crop_key"]:
        raise HTTPException(404, "this face has no crop image")
    return stream_object(request, get_settings().bucket_thumbs, f["crop_key"], content_type=None, filename=None,
                         etag_hint=f"face-{face_id}", max_age=86400)
