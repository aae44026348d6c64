"""Media request and response models."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from .jobs import Job


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
