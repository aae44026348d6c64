"""The periodic work, in one place: what the reconcile cron (functions/reconcile) and `pva serve`'s timer run.

- :func:`reconcile`, every cron tick: take back jobs whose worker died and republish queued jobs nobody picked up
  (pva.jobs.reconcile), fold the library counters' deltas, prune failed logins past the limiter's window and
  the nonces of signed function requests past theirs, announce inbox drops whose storage event was lost, and
  empty the trash past its retention.
- :func:`purge_expired_trash`: trash older than PVA_TRASH_RETENTION_DAYS (default 30) goes for good, objects
  included; every cron tick (a cheap query on the partial index of trashed rows when nothing is due) and hourly
  in `pva serve`, so the trash empties itself whichever of the two runs.

Each step is its own transaction: one that fails (the bus away, say) does not undo what the others did, and the
next tick tries again.  (Pruning failed logins used to sit inside pva.jobs.reconcile, which made the job state
depend on the auth service.)
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .. import jobs
from ..config import get_settings
from ..db import counts
from ..db import logins
from ..infra import db
from . import function_auth, media
from .auth import RATE_WINDOW_SECONDS

log = logging.getLogger("pva.jobs")  # the name the reconcile log lines always had


@dataclass
class ReconcileReport:
    expired: int = 0
    published: int = 0
    counters_folded: int = 0
    drops_announced: int = 0

    def as_dict(self) -> dict:
        return {"expired": self.expired, "published": self.published, "counters_folded": self.counters_folded,
                "drops_announced": self.drops_announced}


def reconcile(requeue_after_seconds: int | None = None) -> ReconcileReport:
    """One round of the reconcile cron (see the module docstring); the report is the cron's answer."""
    s = get_settings()
    after = s.requeue_after_seconds if requeue_after_seconds is None else requeue_after_seconds
    done = jobs.reconcile(after)
    rep = ReconcileReport(expired=done.expired, published=done.published)
    with db.transaction() as cur:
        rep.counters_folded = counts.fold(cur)  # the library counters' deltas (004_library_counts.sql)
    prune_failed_logins()
    function_auth.prune_nonces()  # the verifiers prune a few on each request; this catches up after a quiet spell
    from . import drops

    # drops whose storage event was lost (gateway or broker down when the filer posted): announced again once
    # they have waited as long as a queued job does, and never sooner than the event path could have handled them
    rep.drops_announced = drops.sweep_inbox(max(after, drops.SWEEP_MIN_AGE_SECONDS))
    purged = purge_expired_trash()  # logged, not in the report: the cron's answer keeps its fields
    if purged:
        log.info("purged expired trash", extra={"count": purged})
    if rep.expired or rep.published or rep.drops_announced:
        log.info("reconciled analysis jobs", extra=rep.as_dict())
    prepare_bursts_and_memories()
    name_missing_places()
    return rep


def name_missing_places() -> None:
    """Issue 21: items with a location and no place looked up (a location changed by a path that does not name
    places, a library upgraded without `pva places`) are named a batch per tick.  A failure is logged, never
    fails the reconcile."""
    from . import places

    try:
        n = places.name_some()
        if n:
            log.info("named places", extra={"count": n})
    except Exception:
        log.exception("housekeeping step failed", extra={"step": "pva.services.places.name_some"})


def prepare_bursts_and_memories() -> None:
    """Issue 21: group into bursts the libraries never grouped (after migration 011, new users; again daily), and
    prepare the "On this day" memories of the days around today (pva.services.memories: a cheap query when
    nothing is due).  A failure is logged and tried again on the next tick; it never fails the jobs' reconcile."""
    from . import bursts, memories

    for step in (bursts.rebuild_due, memories.prepare_due):
        try:
            step()
        except Exception:
            log.exception("housekeeping step failed", extra={"step": step.__module__ + "." + step.__name__})


def prune_failed_logins(now: float | None = None) -> int:
    """Forget failed logins (and share lookups) past the limiter's window; returns how many went."""
    before = (time.time() if now is None else now) - RATE_WINDOW_SECONDS
    with db.transaction() as cur:
        return logins.prune(cur, before)


def purge_expired_trash() -> int:
    """Everyone's trash older than the retention period goes for good, objects included; returns how many."""
    return media.purge_expired_trash()


__all__ = ["ReconcileReport", "reconcile", "prune_failed_logins", "purge_expired_trash",
           "prepare_bursts_and_memories"]
