"""Analysis jobs as their owner sees them: counts per kind and state, failed jobs with their errors, retry, run
again (issue 17: one home per feature).  The gateway's jobs API calls this; the web jobs page reads that API.

Job state itself (queue, lease, publish, the requeue rules) is pva.jobs; what this module adds is whose jobs: a
user acts on their own, an administrator may ask for everyone's (``all_users``), and an item named by id must be
the caller's own ("no such media" otherwise, the same answer as for an id that does not exist).
"""
from __future__ import annotations

from typing import Iterable
from uuid import UUID

from .. import jobs
from ..db import media as media_q
from ..errors import Forbidden, NotFound
from ..infra import db

__all__ = ["counts", "everyones_backlog", "failed", "for_media", "retry", "reanalyse"]


def _owner_scope(user_id: UUID, all_users: bool, admin: bool) -> UUID | None:
    """The owner filter: your own jobs, or (administrators with all_users) everyone's (None)."""
    if all_users:
        if not admin:
            raise Forbidden("all=true is for administrators")
        return None
    return user_id


def _own_media(media_id: UUID, user_id: UUID) -> None:
    # a shared item is visible but not the viewer's: its jobs are the owner's business
    with db.transaction() as cur:
        m = media_q.media_access(cur, media_id, user_id)
    if m is None or m["access"] != "owner":
        raise NotFound("media")


def counts(user_id: UUID, *, all_users: bool = False, admin: bool = False) -> dict:
    """{"kinds": {kind: {queued, running, done, failed}}, "queue_depth": {kind: queued + running}, "running": the
    jobs being worked on, with progress and an estimate of the seconds left (a long transcode or transcription),
    "backlog": {kind: {pending, per_minute, eta_seconds}}: what waits, the pace of the last minutes, when it ends}."""
    owner = _owner_scope(user_id, all_users, admin)
    by_kind = jobs.counts_by_kind(owner)
    depth = {k: v.get("queued", 0) + v.get("running", 0) for k, v in by_kind.items()}
    return {"kinds": by_kind, "queue_depth": depth, "running": [_with_eta(r) for r in jobs.running(owner)],
            "backlog": jobs.backlog(owner, by_kind)}


def everyones_backlog() -> dict:
    """The whole machine's jobs for an operator's monitoring (/metrics): {"kinds": {kind: {queued, running, done,
    failed}}, "backlog": {kind: {pending, per_minute, eta_seconds}}, "hosts": [{host, kind, running, per_minute}]}
    over every owner (hosts: the worker hosts that hold jobs now or finished some in the last 15 minutes).  No user is named: the
    caller (the gateway's /metrics) has already let only a local scraper or an administrator in."""
    by_kind = jobs.counts_by_kind(None)
    return {"kinds": by_kind, "backlog": jobs.backlog(None, by_kind), "hosts": jobs.by_host()}


def _with_eta(job: dict) -> dict:
    """Seconds left at the pace so far (None until there is enough progress to tell)."""
    p, elapsed = job.get("progress") or 0.0, job.pop("elapsed_seconds", None) or 0.0
    job["eta_seconds"] = round(elapsed * (1 - p) / p) if 0.02 <= p < 1 and elapsed > 0 else None
    return job


def failed(user_id: UUID, *, all_users: bool = False, admin: bool = False, limit: int = 100,
           offset: int = 0) -> list[dict]:
    """Failed jobs with their errors and the item's filename, newest first."""
    return jobs.failed(_owner_scope(user_id, all_users, admin), limit=limit, offset=offset)


def for_media(media_id: UUID, user_id: UUID) -> list[dict]:
    """The jobs of one of the user's own items."""
    _own_media(media_id, user_id)
    return jobs.for_media(media_id)


def retry(user_id: UUID, *, media_id: UUID | None = None, kind: str | None = None, all_users: bool = False,
          admin: bool = False) -> int:
    """Retry failed jobs: one (media_id + kind), all of an item (media_id), or all of the user's (everyone's for
    an administrator with all_users); returns how many were queued again."""
    owner = _owner_scope(user_id, all_users, admin)
    if media_id is not None:
        _own_media(media_id, user_id)
        owner = user_id
    return jobs.retry(media_id=media_id, kind=kind, owner_id=owner)


def reanalyse(user_id: UUID, *, media_ids: Iterable[UUID] | None = None, kinds: Iterable[str] | None = None,
              all_users: bool = False, admin: bool = False) -> int:
    """Run analyses again (e.g. after installing a newer model): done and failed jobs of the given items (all of
    them the user's own, else nothing happens and NotFound), or of the whole library, are queued again; ``kinds``
    None means every kind.  Returns how many were queued."""
    kinds = list(dict.fromkeys(kinds)) if kinds else [None]
    n = 0
    if media_ids is not None:
        ids = list(dict.fromkeys(media_ids))
        with db.transaction() as cur:
            owned = media_q.owned_media_ids(cur, user_id, ids)
        if len(owned) != len(ids):
            raise NotFound("media")
        for mid in ids:
            for k in kinds:
                n += jobs.reanalyse(media_id=mid, kind=k, owner_id=user_id)
    else:
        owner = _owner_scope(user_id, all_users, admin)
        for k in kinds:
            n += jobs.reanalyse(kind=k, owner_id=owner)
    return n
