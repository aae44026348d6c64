"""Library statistics of one owner's media, from the library counters (issue 17: one home per feature)."""
from __future__ import annotations

from uuid import UUID

from pva.db import stats as stats_q


def library(user_id: UUID) -> dict:
    """Totals (with and without GPS, storage used), media per month, per camera, format, kind and label."""
    return stats_q.library(user_id)


def timeline(user_id: UUID) -> list[dict]:
    """Media per month by date taken."""
    return stats_q.timeline(user_id)
