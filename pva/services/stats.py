"""Library statistics of one owner's media, and the upkeep of the library counters they are read from (issue 17:
one home per feature).  SQL is in pva/db/stats.py and pva/db/counts.py (the counters, kept by triggers; see
004_library_counts.sql)."""
from __future__ import annotations

from uuid import UUID

from pva.infra import db
from ..db import counts as counts_q
from ..db import stats as stats_q
from . import places


def library(user_id: UUID) -> dict:
    """Totals (with and without GPS, storage used), media per month, per camera, format, kind and label."""
    with db.transaction() as cur:
        out = stats_q.library(cur, user_id)
    by_place = places.by_country_and_city(user_id)  # issue 21
    return {**out, "countries": by_place["country"], "cities": by_place["city"]}


def timeline(user_id: UUID) -> list[dict]:
    """Media per month by date taken."""
    with db.transaction() as cur:
        return stats_q.timeline(cur, user_id)


def fold_counters() -> int:
    """Move the counters' deltas into the counters (the reconcile cron does this); returns the rows touched."""
    with db.transaction() as cur:
        return counts_q.fold(cur)


def recount(owner_id: UUID | None = None) -> int:
    """Rebuild the counters from the media rows (one owner, or everyone); media writes wait while it runs.
    Returns the counter rows written."""
    with db.transaction() as cur:
        return counts_q.rebuild(cur, owner_id)


def pending_deltas() -> int:
    """How many delta rows wait to be folded (benchmarks, status)."""
    with db.transaction() as cur:
        return counts_q.pending_deltas(cur)
