"""Analysis jobs: states per kind, failed jobs with errors, retry one or all, re-analyse."""
from __future__ import annotations

from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from pva.db import media as media_db

from ..deps import Principal, current_user, not_found

router = APIRouter(prefix="/api/v1", tags=["jobs"])
Kind = Literal["detect", "faces", "ocr", "transcribe"]


def _scope(all_users: bool, user: Principal):
    """The owner filter: your own jobs, or (administrators with all=true) everyone's."""
    if all_users:
        if not user.has("admin"):
            raise HTTPException(403, "all=true is for administrators")
        return None
    return user.user_id


def _own_media(media_id: UUID, user: Principal) -> None:
    m = media_db.media_access(media_id, user.user_id)
    if m is None or m["access"] != "owner":
        raise not_found("media")


@router.get("/jobs")
def job_counts(all: bool = Query(False, description="administrators: everyone's jobs"),
               user: Principal = Depends(current_user)):
    """{kind: {queued, running, done, failed}}; `queue_depth` is queued + running per kind."""
    from pva import jobs

    counts = jobs.counts_by_kind(_scope(all, user))
    depth = {k: v.get("queued", 0) + v.get("running", 0) for k, v in counts.items()}
    return {"kinds": counts, "queue_depth": depth}


@router.get("/jobs/failed")
def failed_jobs(all: bool = False, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                user: Principal = Depends(current_user)):
    from pva import jobs

    return jobs.failed(_scope(all, user), limit=limit, offset=offset)


@router.get("/media/{media_id}/jobs")
def media_jobs(media_id: UUID, user: Principal = Depends(current_user)):
    from pva import jobs

    _own_media(media_id, user)
    return jobs.for_media(media_id)


class RetryIn(BaseModel):
    media_id: UUID | None = Field(default=None, description="one item (else all your failed jobs)")
    kind: Kind | None = None
    all: bool = Field(default=False, description="administrators: everyone's failed jobs")


@router.post("/jobs/retry")
def retry_jobs(body: RetryIn, user: Principal = Depends(current_user)):
    """Retry failed jobs: one (media_id + kind), all of an item (media_id), or all of yours."""
    from pva import jobs

    owner = _scope(body.all, user)
    if body.media_id is not None:
        _own_media(body.media_id, user)
        owner = user.user_id
    return {"requeued": jobs.retry(media_id=body.media_id, kind=body.kind, owner_id=owner)}


class ReanalyseIn(BaseModel):
    media_ids: list[UUID] | None = Field(default=None, max_length=5000, description="null: everything")
    kinds: list[Kind] | None = Field(default=None, description="null: every kind")
    all: bool = Field(default=False, description="administrators: everyone's library")


@router.post("/jobs/reanalyse")
def reanalyse(body: ReanalyseIn, user: Principal = Depends(current_user)):
    """Run analyses again (e.g. after installing a newer model): done and failed jobs are queued again."""
    from pva import jobs

    kinds = list(dict.fromkeys(body.kinds)) if body.kinds else [None]
    n = 0
    if body.media_ids is not None:
        ids = list(dict.fromkeys(body.media_ids))
        if len(media_db.owned_media_ids(user.user_id, ids)) != len(ids):
            raise not_found("media")
        for mid in ids:
            for k in kinds:
                n += jobs.reanalyse(media_id=mid, kind=k, owner_id=user.user_id)
    else:
        owner = _scope(body.all, user)
        for k in kinds:
            n += jobs.reanalyse(kind=k, owner_id=owner)
    return {"requeued": n}
