"""People request and response models."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class Person(BaseModel):
    id: UUID
    name: str | None
    hidden: bool
    cover_face_id: int | None
    face_count: int
    created_at: datetime
    updated_at: datetime
    cover_url: str | None
    media_url: str


class MergedPerson(Person):
    merge_id: int | None = Field(description="undo with POST /api/v1/people/merges/{merge_id}/undo; null when "
                                             "nothing moved")


class UndoneMerge(BaseModel):
    person: Person
    restored: list[Person]


class Face(BaseModel):
    id: int
    media_id: UUID
    person_id: UUID | None
    x: float
    y: float
    w: float
    h: float
    time_ranges: list[list[float]] | None = Field(
        default=None, description="a video's face: the [start, end] seconds in which this person appears")


class FaceLinks(Face):
    crop_url: str | None
    media_url: str


class SimilarFace(FaceLinks):
    distance: float
    same_person: bool


class SimilarFaces(BaseModel):
    face_id: int
    threshold: float
    results: list[SimilarFace]


class PhotoFaces(BaseModel):
    faces_in_upload: int
    query_box: list[float]
    threshold: float
    results: list[SimilarFace]


class MovedOut(BaseModel):
    face: Face
    person: Person


# ---------------------------------------------------------------- requests
class PersonPatch(BaseModel):
    name: str | None = Field(default=None, max_length=200, description="empty string clears the name")
    hidden: bool | None = None


class MergeIn(BaseModel):
    source_ids: list[UUID] = Field(min_length=1, max_length=500)


class FacePerson(BaseModel):
    person_id: UUID | None
