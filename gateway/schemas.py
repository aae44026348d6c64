"""Response models shared by the routers and the OpenAPI document (gateway/openapi.py)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field


class ErrorOut(BaseModel):
    """Every error the gateway answers (4xx and 5xx) has this body (gateway.app.error_response)."""

    error: str = Field(description="a short, stable code: unauthorized, forbidden, not_found, invalid_request, ...",
                       examples=["not_found"])
    message: str = Field(description="what happened and what to do about it, for people",
                         examples=["no such media"])


__all__ = ["ErrorOut"]


# ---------------------------------------------------------------- success bodies
# These document what the routers return (their dicts are not filtered through them: a router may add a field
# before its model does).  tests/test_openapi_fuzz.py validates each route's real answer against its model, so a
# model that drifts from its route fails there.  Fields the client may rely on are listed; `extra` is allowed.


class Status(BaseModel):
    status: str = Field(examples=["ok"])


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="per service (db, s3, amqp): 'ok' or the error")


class User(BaseModel):
    id: UUID
    username: str
    display_name: str = ""
    is_admin: bool
    disabled: bool = False
    created_at: datetime | None = None


class Me(BaseModel):
    user: User
    scopes: list[str]
    auth: Literal["api", "session"]


class MediaItem(BaseModel):
    """A search hit: the item's metadata and the URLs of its files."""
    id: UUID
    owner_id: UUID
    kind: Literal["photo", "video"]
    format: str | None = None
    mime: str | None = None
    size: int
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    filename: str
    taken_at: datetime | None = None
    created_at: datetime
    camera_make: str | None = None
    camera_model: str | None = None
    lat: float | None = None
    lon: float | None = None
    trashed_at: datetime | None = None
    thumbnail_url: str | None = None
    original_url: str


class MediaPage(BaseModel):
    items: list[MediaItem]
    next_cursor: str | None = Field(description="pass back as `cursor` for the next page; null on the last")


class Facets(BaseModel):
    approximate: bool = Field(description="true when the counts are estimated from a sample")
    kind: list[dict[str, Any]]
    format: list[dict[str, Any]]
    camera: list[dict[str, Any]]
    year: list[dict[str, Any]]
    gps: dict[str, int]
    label: list[dict[str, Any]]
    person: list[dict[str, Any]]
    album: list[dict[str, Any]]


class Gps(BaseModel):
    lat: float | None
    lon: float | None
    alt: float | None = None
    source: Literal["override", "exif"] | None


class Comment(BaseModel):
    id: UUID
    media_id: UUID | None = None
    body: str
    created_at: datetime
    updated_at: datetime
    author_id: UUID
    author: str


class Job(BaseModel):
    media_id: UUID
    kind: str
    status: str
    attempts: int
    error: str | None = None
    queued_at: datetime | None = None
    finished_at: datetime | None = None


class MediaDetail(MediaItem):
    """Everything about one item: metadata, analysis results, comments, albums and (for its owner) jobs."""
    sha512: str
    access: Literal["owner", "shared"] = Field(description="shared: the viewer sees it through a shared album")
    original_path: str | None = None
    metadata: dict[str, Any]
    gps: dict[str, Any]
    detections: list[dict[str, Any]]
    faces: list[dict[str, Any]]
    ocr: dict[str, Any] | None = None
    transcript: dict[str, Any] | None = None
    comments: list[Comment]
    albums: list[dict[str, Any]] = Field(default_factory=list, description="only those the viewer may see")
    jobs: list[Job] = Field(description="empty for a viewer who does not own the item")
    preview_url: str | None = None


class UploadResult(BaseModel):
    status: Literal["added", "duplicate", "rejected"]
    name: str
    media_id: UUID | None = None
    reason: str | None = None


class UploadOut(BaseModel):
    results: list[UploadResult]
    counts: dict[str, int]


class HaveOut(BaseModel):
    have: dict[str, UUID] = Field(description="SHA-512 (hex) -> media id of the items you have")
    missing: list[str]


class GpsOut(BaseModel):
    id: UUID
    gps: Gps


class TrashOut(BaseModel):
    id: UUID
    trashed: bool
    retention_days: int | None = None


class Purged(BaseModel):
    purged: int


class Album(BaseModel):
    id: UUID
    owner_id: UUID
    name: str
    description: str
    cover_media_id: UUID | None
    created_at: datetime
    updated_at: datetime
    media_count: int
    owner: str | None = Field(default=None, description="the owner's user name (lists and GET)")
    shared: bool | None = Field(default=None, description="true: shared with you, read-only (lists and GET)")


class AlbumShare(BaseModel):
    user_id: UUID
    username: str
    created_at: datetime


class AlbumDetail(Album):
    media_url: str
    shares: list[AlbumShare] | None = Field(default=None, description="the owner only")


class AlbumAdded(BaseModel):
    added: int
    album: Album


class Shared(BaseModel):
    album_id: UUID
    user_id: UUID
    username: str


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


class Face(BaseModel):
    id: int
    media_id: UUID
    person_id: UUID | None
    x: float
    y: float
    w: float
    h: float


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


class Stats(BaseModel):
    totals: dict[str, int]
    trash: dict[str, int]
    timeline: list[dict[str, Any]]
    cameras: list[dict[str, Any]]
    formats: list[dict[str, Any]]
    kinds: list[dict[str, Any]]
    labels: list[dict[str, Any]]


class Month(BaseModel):
    month: str
    n: int


class JobCounts(BaseModel):
    kinds: dict[str, dict[str, int]] = Field(description="{kind: {queued, running, done, failed}}")
    queue_depth: dict[str, int]


class FailedJob(BaseModel):
    media_id: UUID
    kind: str
    attempts: int
    error: str | None
    finished_at: datetime | None
    filename: str | None = None


class Requeued(BaseModel):
    requeued: int


__all__ += ["Status", "Ready", "User", "Me", "MediaItem", "MediaPage", "Facets", "Gps", "Comment", "Job",
            "MediaDetail", "UploadResult", "UploadOut", "HaveOut", "GpsOut", "TrashOut", "Purged", "Album",
            "AlbumShare", "AlbumDetail", "AlbumAdded", "Shared", "Person", "Face", "FaceLinks", "SimilarFace",
            "SimilarFaces", "PhotoFaces", "MovedOut", "Stats", "Month", "JobCounts", "FailedJob", "Requeued"]
