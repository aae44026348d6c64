"""People (face clusters) and faces: list, rename, hide, merge, reassign a face, face crops."""
from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from pva.config import get_settings
from pva.db import people as people_db

from ..deps import Principal, current_user, not_found

router = APIRouter(prefix="/api/v1", tags=["people"])


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


@router.get("/people")
def list_people(include_hidden: bool = False, user: Principal = Depends(current_user)):
    return [_person_out(p) for p in people_db.list_for(user.user_id, include_hidden)]


@router.get("/people/{person_id}")
def get_person(person_id: UUID, user: Principal = Depends(current_user)):
    p = people_db.get(person_id, user.user_id)
    if p is None:
        raise not_found("person")
    return _person_out(p)


@router.patch("/people/{person_id}")
def update_person(person_id: UUID, body: PersonPatch, user: Principal = Depends(current_user)):
    name = body.name.strip() if body.name is not None else None
    p = people_db.update(person_id, user.user_id, name=name or None, hidden=body.hidden,
                         clear_name=body.name is not None and not name)
    if p is None:
        raise not_found("person")
    return _person_out(p)


@router.post("/people/{person_id}/merge")
def merge_people(person_id: UUID, body: MergeIn, user: Principal = Depends(current_user)):
    """Merge the source people into this one (all must be yours)."""
    p = people_db.merge(person_id, list(dict.fromkeys(body.source_ids)), user.user_id)
    if p is None:
        raise not_found("person")
    return _person_out(p)


@router.put("/faces/{face_id}/person")
def assign_face(face_id: int, body: FacePerson, user: Principal = Depends(current_user)):
    """Put a face in one of your people (null: in nobody); reclustering keeps this choice."""
    if people_db.face(face_id, user.user_id) is None or not people_db.assign_face(face_id, user.user_id,
                                                                                   body.person_id):
        raise not_found("face or person")
    return people_db.face(face_id, user.user_id)


@router.get("/faces/{face_id}/crop")
def face_crop(face_id: int, request: Request, user: Principal = Depends(current_user)):
    from .media import _stream_object

    f = people_db.face(face_id, user.user_id)
    if f is None:
        raise not_found("face")
    if not f["crop_key"]:
        raise HTTPException(404, "this face has no crop image")
    return _stream_object(request, get_settings().bucket_thumbs, f["crop_key"], content_type=None, filename=None,
                          etag_hint=f"face-{face_id}", max_age=86400)
