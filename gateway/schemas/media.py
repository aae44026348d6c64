"""Media request and response models."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from fastapi import Query
from pydantic import BaseModel, Field

from .jobs import Job


class Place(BaseModel):
    """The city, region and country nearest to an item's location (offline GeoNames places of 1000+ people; none
    beyond 50 km, e.g. at sea)."""
    city: str
    region: str | None = None
    country: str
    country_code: str = Field(description="ISO 3166-1 alpha-2")


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
    place: Place | None = None
    trashed_at: datetime | None = None
    thumbnail_url: str | None = None
    original_url: str
    video_url: str | None = Field(None, description="videos: what a browser plays (the web preview when the "
                                  "transcode function made one, else the original), with Range requests")
    companions: list[str] | None = Field(None, description="roles of its other files (issue 22): "
                                         "motion (live photo), raw (RAW+JPEG)")
    burst_size: int | None = Field(None, description="photos in its burst (issue 21), null when in none")


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
    country: list[dict[str, Any]] = Field(default_factory=list, description="{value: ISO code, name, n}")
    city: list[dict[str, Any]] = Field(default_factory=list,
                                       description="{id, city, region, country, country_code, n}")


class Suggestion(BaseModel):
    value: str
    n: int = Field(description="items of your library with this value")


class Suggestions(BaseModel):
    field: str
    q: str
    values: list[Suggestion] = Field(description="most used first, at most 20")


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


class CompanionFile(BaseModel):
    """Another file of an item (issue 22): a live photo's motion clip, the RAW of a RAW+JPEG pair."""
    role: Literal["motion", "raw"]
    origin: Literal["file", "embedded"] = Field(description="embedded: extracted from the item's original")
    filename: str
    format: str
    mime: str
    size: int
    duration: float | None = None
    sha512: str
    transcribe: dict[str, Any] | None = Field(None, description="whether its speech is transcribed, and why")
    url: str


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
    files: list[CompanionFile] = Field(default_factory=list, description="its other files (issue 22)")


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
    place: Place | None = None


class TrashOut(BaseModel):
    id: UUID
    trashed: bool
    retention_days: int | None = None


class Purged(BaseModel):
    purged: int


# ---------------------------------------------------------------- requests
class SearchParams:
    """Query parameters shared by search and facets, and the filters they make (pva.services.search.make_filters).
    The filters are made here, as the dependency is resolved: a malformed date or map box is answered 422 before
    the caller's credentials are looked at, as it always was."""

    def __init__(self,
                 date_from: str | None = Query(None, alias="from", description="taken on/after (ISO date/time)"),
                 date_to: str | None = Query(None, alias="to", description="taken before (a bare date: through it)"),
                 bbox: str | None = Query(None, description="south,west,north,east (map area)"),
                 no_gps: bool = Query(False, description="only items without a location"),
                 label: list[str] = Query([], description="object label (repeat for all of several)"),
                 min_confidence: float = Query(0.0, ge=0, le=1),
                 person: UUID | None = Query(None, description="person id"),
                 similar_face: int | None = Query(None, description="face id: items with a similar face"),
                 camera_make: str | None = Query(None, max_length=200),
                 camera_model: str | None = Query(None, max_length=200),
                 kind: Literal["photo", "video"] | None = None,
                 format: str | None = Query(None, max_length=20, description="jpeg, png, heic, mp4, ..."),
                 q: str | None = Query(None, max_length=500,
                                       description="text: OCR, transcript, comments, name, place"),
                 album: UUID | None = None,
                 trashed: bool = Query(False, description="list the trash instead"),
                 country: str | None = Query(None, min_length=2, max_length=2, pattern="^[A-Za-z]{2}$",
                                             description="ISO 3166-1 alpha-2 code of the place (PT)"),
                 place: int | None = Query(None, ge=1, le=2**31 - 1,
                                           description="place id (a city of the facets' `city` list)")):
        self.query = dict(date_from=date_from, date_to=date_to, bbox=bbox, no_gps=no_gps, label=label,
                          min_confidence=min_confidence, person=person, similar_face=similar_face,
                          camera_make=camera_make, camera_model=camera_model, kind=kind, format=format, q=q,
                          album=album, trashed=trashed, country=country, place=place)
        from pva.services.search import make_filters

        self.filters = make_filters(**self.query)


class ShaCheck(BaseModel):
    sha512: list[str] = Field(max_length=10000, description="hex SHA-512 digests of files you have")
    album: str | None = Field(default=None, max_length=200,
                              description="also put the items you already have into your album of this name")


class GpsIn(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    alt: float | None = Field(default=None, ge=-11000, le=100000)


class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=10000)
