"""Memories, "On this day" (issue 21): on the library page, the photos and videos taken on this calendar day in
earlier years, one memory per year ("1 year ago", "3 years ago").

The housekeeping cron prepares them (:func:`prepare_due`: every owner whose prepared days are not the days around
today, or were prepared over PREPARE_EVERY ago), so the page only reads a few stored rows (:func:`for_day`).  The
days prepared are yesterday, today and tomorrow in UTC: whatever the viewer's time zone, their "today" is one of
them (the page asks for its own local date).  The day of an item is the one its camera's clock showed.

A memory leaves out items in the trash, all but the first photo of a burst (pva.services.bursts), and
near-duplicates: an item whose perceptual hash (media.phash, migration 010) is within NEAR_BITS of one already
chosen for the same memory.  An item trashed after the preparation is dropped when the page reads it.
"""
from __future__ import annotations

import calendar
import logging
from datetime import date, datetime, timedelta, timezone
from uuid import UUID

from ..db import memories as memories_q
from ..infra import db

log = logging.getLogger("pva.memories")

NEAR_BITS = 6          # Hamming distance of perceptual hashes at or below which an item repeats one chosen
MAX_PER_MEMORY = 50    # items kept for one year's memory
PREPARE_EVERY = 3600   # seconds: items added since then appear in the memories on the next preparation
OWNERS_PER_TICK = 50   # owners prepared by one cron tick (the rest on the next ones)


def days_around(today: date | None = None) -> list[date]:
    """The days prepared: yesterday, today and tomorrow (UTC) — every time zone's today is one of them."""
    today = today or datetime.now(timezone.utc).date()
    return [today - timedelta(days=1), today, today + timedelta(days=1)]


def month_days(day: date) -> list[int]:
    """The month-days (month * 100 + day) shown on ``day``: Feb 29's photos show on Feb 28 of a common year."""
    out = [day.month * 100 + day.day]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        out.append(229)
    return out


def _distance(a: str, b: str) -> int:
    return (int(a, 2) ^ int(b, 2)).bit_count()


def choose(rows: list[dict]) -> list[UUID]:
    """The items of one memory (rows in capture order: id, burst_id, phash): the first photo of each burst, and
    no item within NEAR_BITS of one already chosen; at most MAX_PER_MEMORY."""
    chosen: list[UUID] = []
    bursts: set = set()
    hashes: list[str] = []
    for r in rows:
        if r["burst_id"] is not None and r["burst_id"] in bursts:
            continue
        h = r.get("phash")
        if h and any(_distance(h, o) <= NEAR_BITS for o in hashes):
            continue
        chosen.append(r["id"])
        if r["burst_id"] is not None:
            bursts.add(r["burst_id"])
        if h:
            hashes.append(h)
        if len(chosen) >= MAX_PER_MEMORY:
            break
    return chosen


def prepare(owner_id: UUID, today: date | None = None) -> int:
    """Prepare the owner's memories of the days around ``today`` (default: now, UTC); returns how many memories
    (day and year) were stored."""
    days = days_around(today)
    stored: list[tuple[date, int, list[UUID], int]] = []
    with db.transaction() as cur:
        phash = memories_q.has_phash(cur)
        for day in days:
            by_year: dict[int, list[dict]] = {}
            for r in memories_q.candidates(cur, owner_id, month_days(day), day.year, phash):
                by_year.setdefault(r["year"], []).append(r)
            for year, rows in by_year.items():
                ids = choose(rows)
                if ids:
                    stored.append((day, year, ids, len(rows)))
        memories_q.replace_days(cur, owner_id, days, stored)
    return len(stored)


def prepare_due(today: date | None = None) -> int:
    """The cron's step: prepare the owners whose memories are missing, for other days, or older than
    PREPARE_EVERY; a cheap query when none is due.  Returns how many owners were prepared."""
    days = days_around(today)
    with db.transaction() as cur:
        owners = memories_q.owners_due(cur, days, PREPARE_EVERY, OWNERS_PER_TICK)
    for owner in owners:
        prepare(owner, today)
    return len(owners)


def prepare_all(progress=None, today: date | None = None) -> dict:
    """`pva memories`: every owner's memories now; progress(done, total) after each owner."""
    with db.transaction() as cur:
        owners = memories_q.owners_due(cur, days_around(today), 0, 1_000_000)
    n = 0
    for i, owner in enumerate(owners, 1):
        n += prepare(owner, today)
        if progress:
            progress(i, len(owners))
    return {"owners": len(owners), "memories": n, "days": days_around(today)}


def title(years_ago: int) -> str:
    return "1 year ago" if years_ago == 1 else f"{years_ago} years ago"


def for_day(user_id: UUID, day: date | None = None) -> dict:
    """The user's prepared memories of ``day`` (their local date; default today, UTC): {"day", "memories":
    [{"year", "years_ago", "title", "total", "items"}]}, newest first.  A day not prepared has none."""
    day = day or datetime.now(timezone.utc).date()
    out = []
    with db.transaction() as cur:
        for m in memories_q.prepared(cur, user_id, day):
            items = memories_q.items(cur, user_id, m["media_ids"])
            if items:
                ago = day.year - m["year"]
                out.append({"year": m["year"], "years_ago": ago, "title": title(ago), "total": m["total"],
                            "items": items})
    return {"day": day, "memories": out}


__all__ = ["NEAR_BITS", "MAX_PER_MEMORY", "days_around", "month_days", "choose", "prepare", "prepare_due",
           "prepare_all",
           "for_day", "title"]
