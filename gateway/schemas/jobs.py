"""Jobs request and response models."""
from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field

JobKind = Literal["detect", "faces", "ocr", "transcribe", "transcode"]


class RetryIn(BaseModel):
    media_id: UUID | None = Field(default=None, description="one item (else all your failed jobs)")
    kind: JobKind | None = None
    all: bool = Field(default=False, description="administrators: everyone's failed jobs")


class ReanalyseIn(BaseModel):
    media_ids: list[UUID] | None = Field(default=None, max_length=5000, description="null: everything")
    kinds: list[JobKind] | None = Field(default=None, description="null: every kind")
    all: bool = Field(default=False, description="administrators: everyone's library")


class Job(BaseModel):
    media_id: UUID
    kind: str
    status: str
    attempts: int
    error: str | None = None
    queued_at: datetime | None = None
    finished_at: datetime | None = None


class RunningJob(BaseModel):
    media_id: UUID
    kind: str
    progress: float | None = Field(None, description="0..1, reported by long jobs (transcode, transcribe)")
    started_at: datetime | None = None
    eta_seconds: int | None = Field(None, description="seconds left at the pace so far; null until known")
    filename: str | None = None


class JobBacklog(BaseModel):
    pending: int = Field(description="queued + running")
    per_minute: float = Field(description="jobs finished per minute over the last 15 minutes")
    eta_seconds: int | None = Field(None, description="seconds until the backlog is done at that pace; null: "
                                                      "nothing finished lately to tell")


class JobCounts(BaseModel):
    kinds: dict[str, dict[str, int]] = Field(description="{kind: {queued, running, done, failed}}")
    queue_depth: dict[str, int]
    running: list[RunningJob] = Field(default_factory=list, description="jobs being worked on now, oldest first")
    backlog: dict[str, JobBacklog] = Field(default_factory=dict, description="per analysis: what waits, its pace, "
                                                                            "its ETA")


class FailedJob(BaseModel):
    media_id: UUID
    kind: str
    attempts: int
    error: str | None
    finished_at: datetime | None
    filename: str | None = None


class Requeued(BaseModel):
    requeued: int
