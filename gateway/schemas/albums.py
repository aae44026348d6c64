"""Albums request and response models."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class AlbumIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class AlbumPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class MediaIds(BaseModel):
    media_ids: list[UUID] = Field(min_length=1, max_length=5000)


class CoverIn(BaseModel):
    media_id: UUID | None


class ShareIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)


class Album(BaseModel):
    id: UUID
    owner_id: UUID
    name: str
    description: str
    cover_media_id: UUID | None
    created_at: datetime
    updated_at: datetime
    media_count: int
    first_media_id: UUID | None = Field(default=None, description="the album's first photo (a cover when none is chosen)")
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


class LinkIn(BaseModel):
    expires_in_days: int | None = Field(default=None, ge=1, le=3650, description="none: the link does not expire")
    password: str | None = Field(default=None, max_length=200, description="visitors must type it first")


class AlbumLink(BaseModel):
    id: UUID
    album_id: UUID
    expires_at: datetime | None
    has_password: bool
    created_at: datetime
    revoked_at: datetime | None = None


class AlbumLinkCreated(AlbumLink):
    token: str = Field(description="shown this once: only its hash is kept")
    url: str


class UnlockIn(BaseModel):
    password: str = Field(default="", max_length=200)
