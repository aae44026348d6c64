"""Bursts (issue 21): photos of one owner's one camera (same make and model) taken within GAP_SECONDS of the next
are one burst, stacked in the library grid as one tile with a count.

Where the grouping lives: stored on the media rows (media.burst_id = the burst's first photo, burst_size), kept
here after ingest, trash and restore, and rebuilt for a whole library by the housekeeping cron (owners never built:
libraries from before migration 011, new users; then daily, which also repairs what an update missed).  The
listing then stacks a burst by skipping rows whose burst_id is another row's: no work per page (bench/bursts.py
compares this with computing the stacks in the listing query).

A change can only alter the bursts of its own camera around its own time: a photo joins, splits or ends only the
chains whose photos lie within GAP_SECONDS of it.  So an update reads the camera's photos in a window around it,
widened until the chains it touches end inside the window, and writes the rows whose burst changed, under a lock
per camera (photos of one burst ingested at once see each other).  The times are EXIF DateTimeOriginal with
SubSecTimeOriginal (pva.media.photo keeps the sub-seconds in taken_at).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from uuid import UUID

from ..db import bursts as bursts_q
from ..errors import NotFound
from ..infra import db

log = logging.getLogger("pva.bursts")

GAP_SECONDS = 2.0          # at most this long between a photo and the next of one burst
_WINDOW = timedelta(seconds=60)  # the first window read around a change; doubled while a chain reaches its edge
_MAX_WINDOW = timedelta(days=2)
REBUILD_EVERY = 86400      # seconds between two rebuilds of a library by the cron
# (a few libraries per tick: a rebuild reads the whole library, about 2.5 s per 100k photos when nothing changes and
# 11-18 s when 20k rows are written, bench/bursts.py; the cron ticks every 15 s, so 480 libraries an hour)


def _chains(rows: list[dict], gap: timedelta) -> list[list[dict]]:
    out: list[list[dict]] = []
    for r in rows:
        if out and r["taken_at"] - out[-1][-1]["taken_at"] <= gap:
            out[-1].append(r)
        else:
            out.append([r])
    return out


def _refresh_camera(cur, owner_id: UUID, make: str | None, model: str, times: list[datetime]) -> int:
    """Recompute the bursts of one camera around these times (the lock must be held); returns rows changed."""
    gap = timedelta(seconds=GAP_SECONDS)
    changes: dict[UUID, tuple[UUID, UUID | None, int | None]] = {}
    for t in sorted(times):
        window = _WINDOW
        while True:
            start, end = t - window, t + window
            rows = bursts_q.camera_photos(cur, owner_id, make, model, start, end)
            touched = [c for c in _chains(rows, gap)
                       if c[0]["taken_at"] <= t + gap and c[-1]["taken_at"] >= t - gap]
            cut = any(c[0]["taken_at"] - start <= gap or end - c[-1]["taken_at"] <= gap for c in touched)
            if not cut or window >= _MAX_WINDOW:
                break
            window *= 2
        for chain in touched:
            lead, n = (chain[0]["id"], len(chain)) if len(chain) > 1 else (None, None)
            for r in chain:
                if r["burst_id"] != lead or r["burst_size"] != n:
                    changes[r["id"]] = (r["id"], lead, n)
    return bursts_q.set_bursts(cur, list(changes.values()))


def refresh(owner_id: UUID, media_ids: list[UUID]) -> int:
    """Bring the bursts up to date after these items of the owner were added, trashed or restored: trashed
    items leave their bursts, the neighbours of each on its camera are grouped again.  Returns rows changed."""
    if not media_ids:
        return 0
    changed = 0
    with db.transaction() as cur:
        rows = bursts_q.burstable(cur, owner_id, media_ids)
        cameras: dict[tuple[str | None, str], list[datetime]] = {}
        for r in rows:
            cameras.setdefault((r["camera_make"] or None, r["camera_model"]), []).append(r["taken_at"])
        for make, model in sorted(cameras, key=lambda k: (k[0] or "", k[1])):  # one lock order for everyone
            bursts_q.lock_camera(cur, owner_id, make, model)
        changed += bursts_q.clear(cur, [r["id"] for r in rows if r["trashed_at"] is not None])
        for (make, model), times in cameras.items():
            changed += _refresh_camera(cur, owner_id, make, model, times)
    return changed


def after_change(owner_id: UUID, media_ids: list) -> None:
    """refresh() for the callers whose own work is already committed (ingest, trash, restore): a failure here is
    logged and left to the next rebuild, never the caller's failure."""
    try:
        refresh(owner_id, [UUID(str(i)) for i in media_ids])
    except Exception:
        log.exception("could not update the bursts", extra={"owner": str(owner_id), "count": len(media_ids)})


def rebuild(owner_id: UUID) -> int:
    """Every burst of the owner's library again (one statement); returns rows changed."""
    with db.transaction() as cur:
        cur.execute("set local work_mem = '64MB'")
        return bursts_q.rebuild_owner(cur, owner_id, GAP_SECONDS)


def rebuild_due(limit: int = 2) -> int:
    """The housekeeping cron's step: rebuild the bursts of owners never built (after migration 011, new users)
    or not rebuilt for REBUILD_EVERY; a cheap query when none is due.  Returns how many owners were built."""
    with db.transaction() as cur:
        owners = bursts_q.owners_to_build(cur, REBUILD_EVERY, limit)
    for owner in owners:
        rebuild(owner)
    return len(owners)


def rebuild_all(progress=None) -> dict:
    """`pva bursts rebuild`: every owner's bursts; progress(done, total) after each owner."""
    with db.transaction() as cur:
        owners = bursts_q.all_owners(cur)
    changed = 0
    for i, owner in enumerate(owners, 1):
        changed += rebuild(owner)
        if progress:
            progress(i, len(owners))
    return {"owners": len(owners), "changed": changed}


def members(media_id: UUID, user_id: UUID) -> dict:
    """The burst of one of the user's photos: {"burst_id", "items"} in capture order (a photo in no burst: itself
    alone, burst_id null).  NotFound when the item is not the user's."""
    with db.transaction() as cur:
        row = bursts_q.burst_of(cur, user_id, media_id)
        if row is None:
            raise NotFound("media")
        if row["burst_id"] is None:
            return {"burst_id": None, "items": bursts_q.alone(cur, user_id, media_id)}
        return {"burst_id": row["burst_id"], "items": bursts_q.members(cur, user_id, row["burst_id"])}


__all__ = ["GAP_SECONDS", "refresh", "after_change", "rebuild", "rebuild_due", "rebuild_all", "members"]
