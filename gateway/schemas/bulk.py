"""Many items at once (issue 18 item 3): the selection sent, and what became of it."""
from __future__ import annotations

from uuid import UUID

from pydantic import BaseModel, Field


class BulkIds(BaseModel):
    media_ids: list[UUID] = Field(min_length=1, max_length=5000, description="the selected items")


class BulkLocation(BulkIds):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    alt: float | None = Field(default=None, ge=-11000, le=100000)


class BulkOut(BaseModel):
    done: int = Field(description="items acted on: your own among the ids sent")
    not_found: int = Field(description="ids left alone: missing, not yours (the same answer either way), or for "
                                       "a removal not in the album")


__all__ = ["BulkIds", "BulkLocation", "BulkOut"]
