"""Analysis jobs: states per kind, failed jobs with errors, retry one or all, re-analyse (pva.services.jobs)."""
from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Query

from pva.services import jobs as jobs_service

from ..deps import Principal, current_user
from ..schemas.jobs import ReanalyseIn, RetryIn

router = APIRouter(prefix="/api/v1", tags=["jobs"])


@router.get("/jobs")
def job_counts(all: bool = Query(False, description="administrators: everyone's jobs"),
               user: Principal = Depends(current_user)):
    """{kind: {queued, running, done, failed}}; `queue_depth` is queued + running per kind."""
    return jobs_service.counts(user.user_id, all_users=all, admin=user.has("admin"))


@router.get("/jobs/failed")
def failed_jobs(all: bool = False, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0),
                user: Principal = Depends(current_user)):
    return jobs_service.failed(user.user_id, all_users=all, admin=user.has("admin"), limit=limit, offset=offset)


@router.get("/media/{media_id}/jobs")
def media_jobs(media_id: UUID, user: Principal = Depends(current_user)):
    return jobs_service.for_media(media_id, user.user_id)


@router.post("/jobs/retry")
def retry_jobs(body: RetryIn, user: Principal = Depends(current_user)):
    """Retry failed jobs: one (media_id + kind), all of an item (media_id), or all of yours."""
    return {"requeued": jobs_service.retry(user.user_id, media_id=body.media_id, kind=body.kind, all_users=body.all,
                                           admin=user.has("admin"))}


@router.post("/jobs/reanalyse")
def reanalyse(body: ReanalyseIn, user: Principal = Depends(current_user)):
    """Run analyses again (e.g. after installing a newer model): done and failed jobs are queued again."""
    return {"requeued": jobs_service.reanalyse(user.user_id, media_ids=body.media_ids, kinds=body.kinds,
                                               all_users=body.all, admin=user.has("admin"))}
