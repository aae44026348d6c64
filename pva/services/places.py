"""Place names of the library's items (issue 21): the city, region and country nearest to an item's location,
offline (pva/media/places.py), stored with the item (pva/db/places.py, 009_places.sql).

Looked up at ingest (:func:`name_new`, in the ingest transaction), when the owner's location override changes
(:func:`rename`, in the transaction that changed it), and for the items of a library made before places existed by
`pva places` (:func:`fill_missing`, in batches).  A location that changes by any other path forgets its place (a
trigger), so `pva places` finds it again.
"""
from __future__ import annotations

import logging
from typing import Callable
from uuid import UUID

from ..db import places as places_q
from ..infra import db

log = logging.getLogger(__name__)

# the version of the gazetteer and of the choice of place (pva.media.places): items looked up with an older one
# are looked up again by `pva places --redo`
VERSION = 1
BATCH = 5000
PLACE_KEYS = ("city", "region", "country", "country_code")


def _lookup(points: list[tuple[float | None, float | None]]):
    from ..media import places

    return places.lookup_many(points)


def _store(cur, items: list[dict]) -> list[dict | None]:
    """Look up and store the place of each {id, lat, lon}; returns the places found (None: none within reach)."""
    found = _lookup([(r["lat"], r["lon"]) for r in items])
    names = [(pl.country_code, pl.country, pl.region, pl.city) for pl in found if pl is not None]
    ids = places_q.place_ids(cur, names)
    rows = [(r["id"], ids[(pl.country_code, pl.country, pl.region, pl.city)] if pl else None)
            for r, pl in zip(items, found)]
    places_q.set_places(cur, rows, VERSION)
    return [pl.as_dict() if pl else None for pl in found]


def rename(cur, media_ids: list[UUID]) -> None:
    """Look up again the places of these items (their location changed), in the caller's transaction."""
    items = places_q.locations(cur, media_ids)
    with_location = [r for r in items if r["lat"] is not None and r["lon"] is not None]
    _store(cur, with_location)
    places_q.set_places(cur, [(r["id"], None) for r in items if r not in with_location], VERSION)


def name_new(cur, media_id: UUID, row: dict) -> None:
    """The place of a new item (``row``: its media columns), in the ingest transaction.  A gazetteer that cannot
    be read does not stop an ingest: the item keeps no place, and `pva places` names it later."""
    lat, lon = row.get("gps_lat"), row.get("gps_lon")
    if lat is None or lon is None:
        return
    try:
        found = _lookup([(lat, lon)])
    except Exception as e:  # the wheel's data missing or unreadable
        log.warning("no place names at ingest: %s", e)
        return
    pl = found[0]
    ids = places_q.place_ids(cur, [(pl.country_code, pl.country, pl.region, pl.city)]) if pl else {}
    places_q.set_places(cur, [(media_id, next(iter(ids.values())) if ids else None)], VERSION)


def missing() -> int:
    """How many items have a location and no place looked up."""
    with db.transaction() as cur:
        return places_q.count_todo(cur)


def fill_missing(batch: int = BATCH, redo: bool = False,
                 progress: Callable[[int, int, int], None] | None = None, limit: int | None = None) -> dict:
    """Look up the places of every item with a location and none looked up yet (``redo``: also those looked up
    with an older gazetteer), ``batch`` items per transaction.  ``progress(done, named, total)`` after each
    batch.
    ``limit``: stop after about that many (the housekeeping's share of a tick).
    Returns {"looked_up": n, "named": n with a place, "total": n to do at the start}."""
    redo_below = VERSION if redo else None
    with db.transaction() as cur:
        total = places_q.count_todo(cur, redo_below)
    done = named = 0
    after = None
    while limit is None or done < limit:
        with db.transaction() as cur:
            items = places_q.todo(cur, after, batch if limit is None else min(batch, limit - done), redo_below)
            if not items:
                break
            found = _store(cur, items)
        after = items[-1]["id"]
        done += len(items)
        named += sum(1 for pl in found if pl is not None)
        if progress:
            progress(done, named, max(total, done))
    return {"looked_up": done, "named": named, "total": total}


def name_some(limit: int = 2000) -> int:
    """The housekeeping's step: name up to ``limit`` items whose place is missing (a location that changed by a
    path that does not name places, a library upgraded without `pva places`); a cheap index probe when none is.
    Returns how many were looked up."""
    return fill_missing(batch=limit, limit=limit)["looked_up"]


def place_of(cur, place_id: int | None) -> dict | None:
    """{city, region, country, country_code} of a place id, in the caller's transaction; None for none."""
    row = places_q.get(cur, place_id)
    return None if row is None else {k: row[k] for k in ("city", "region", "country", "country_code")}


def place_of_media(cur, media_id: UUID) -> dict | None:
    """The item's place, in the caller's transaction; None for none."""
    pl = places_q.of_media(cur, [media_id]).get(media_id)
    return {k: pl[k] for k in PLACE_KEYS} if pl else None


def with_places(page: dict) -> dict:
    """A search page with each item's place ({city, region, country, country_code} or None): the map's popups
    and the grid show it."""
    ids = [r["id"] for r in page.get("items", [])]
    if ids:
        with db.transaction() as cur:
            named = places_q.of_media(cur, ids)
        for r in page["items"]:
            pl = named.get(r["id"])
            r["place"] = {k: pl[k] for k in PLACE_KEYS} if pl else None
    return page


def by_country_and_city(user_id: UUID) -> dict:
    """The owner's live items per country and per city (the stats page)."""
    with db.transaction() as cur:
        return places_q.owner_counts(cur, user_id)


__all__ = ["VERSION", "rename", "name_new", "missing", "fill_missing", "name_some", "place_of", "place_of_media",
           "with_places", "by_country_and_city"]
