"""Jobs request and response models."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field



class Job(BaseModel):
    media_id: UUID
    kind: str
    status: str
    attempts: int
    error: str | None = None
    queued_at: datetime | None = None
    finished_at: datetime | None = None


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
