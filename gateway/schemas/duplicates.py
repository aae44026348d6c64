"""Near-duplicates (issue 21): the groups of the Duplicates page and what "keep the best" and "not duplicates"
did."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, Field


class DuplicateItem(BaseModel):
    id: UUID
    kind: str
    format: str
    filename: str
    original_path: str
    size: int = Field(description="bytes")
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    taken_at: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens: str | None = None
    has_gps: bool
    metadata_score: int = Field(description="how much metadata it has (date, camera make and model, lens, place, "
                                            "exposure): the last tie-breaker of the best")
    distance: int | None = Field(description="bits between its perceptual hash and its nearest in the group")
    best: bool = Field(description="the one 'keep the best' keeps: most pixels, then largest file, then most "
                                   "metadata")
    thumbnail_url: str
    url: str = Field(description="its page")


class DuplicateGroup(BaseModel):
    id: UUID = Field(description="the group's id (its smallest media id) for resolve and dismiss")
    best_id: UUID
    items: list[DuplicateItem] = Field(description="the best first")


class DuplicateGroups(BaseModel):
    groups: list[DuplicateGroup] = Field(description="newest first, at most 500")
    total_groups: int
    total_items: int
    near: int = Field(description="the Hamming distance (of 64 bits) at or below which two items are near-duplicates")


class ResolveIn(BaseModel):
    keep: UUID | None = Field(default=None, description="the item to keep (default: the group's best)")
    media_ids: list[UUID] | None = Field(default=None, max_length=5000,
                                         description="the items you saw in the group: only those go to the trash "
                                                     "(default: every other item of the group)")


class Resolved(BaseModel):
    group_id: UUID
    kept: UUID
    trashed: list[UUID] = Field(description="moved to the trash (restorable there)")


class ResolvedAll(BaseModel):
    groups: int
    kept: int
    trashed: int = Field(description="items moved to the trash (restorable there)")


class Dismissed(BaseModel):
    group_id: UUID
    dismissed_pairs: int


__all__ = ["DuplicateItem", "DuplicateGroup", "DuplicateGroups", "ResolveIn", "Resolved", "ResolvedAll", "Dismissed"]
