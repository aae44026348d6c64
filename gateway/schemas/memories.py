"""Bursts and "On this day" memories (issue 21): response models."""
from __future__ import annotations

from datetime import date
from uuid import UUID

from pydantic import BaseModel, Field

from .media import MediaItem


class Burst(BaseModel):
    """A burst: photos of one camera taken within 2 s of the next, in capture order."""
    burst_id: UUID | None = Field(description="the burst's first photo; null when the photo is in no burst")
    items: list[MediaItem]


class Memory(BaseModel):
    year: int = Field(description="the year its items were taken")
    years_ago: int
    title: str = Field(description='"1 year ago", "3 years ago"')
    total: int = Field(description="items taken that day and year, near-duplicates and burst frames included")
    items: list[MediaItem] = Field(description="what is shown: no trashed items, one photo per burst, no "
                                               "near-duplicates; in capture order")


class Memories(BaseModel):
    day: date
    memories: list[Memory] = Field(description="one per earlier year, the most recent first")


__all__ = ["Burst", "Memory", "Memories"]
