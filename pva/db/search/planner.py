"""One page of search results, and how it is read: the knobs that choose between reading in date order, walking
a map box cell by cell, and collecting rare matches through the filter indexes (measured in bench/search.py).

The knobs are module constants so tests and benches can move them (``monkeypatch.setattr(planner, "FAST_MS", 0)``).
"""
from __future__ import annotations

from uuid import UUID

from .cursor import decode_cursor, encode_cursor
from .filters import (LAT, LIST_COLUMNS, SORTS, TEXT_PLACES, BadQuery, Filters, _prepare, _where, cells,
                      matching_cameras, tag_bucket)


def search(cur, user_id: UUID, f: Filters, *, sort: str = "taken", order: str = "desc", limit: int = 100,
           cursor: str | None = None) -> dict:
    """One page: {"items": [...], "next_cursor": str|None}.  Raises LookupError('album') for an album the user
    cannot see, BadQuery for unusable parameters.  The knobs it sets (``set local``) last to the end of the
    caller's transaction: give each search a transaction of its own (pva.services.search does)."""
    if sort not in SORTS:
        raise BadQuery(f"sort must be one of {', '.join(SORTS)}")
    if order not in ("asc", "desc"):
        raise BadQuery("order must be asc or desc")
    p: dict = {}
    w = _where(cur, f, user_id, p)
    key = SORTS[sort]
    if cursor:
        p["c_val"], p["c_id"] = decode_cursor(cursor, sort)
        w.append(f"({key}, m.id) {'<' if order == 'desc' else '>'} (%(c_val)s, %(c_id)s)")
    p["limit"] = limit + 1
    sql = (f"select {LIST_COLUMNS}, {key} as sort_value from media m where {' and '.join(w)} "
           f"order by {key} {order}, m.id {order} limit %(limit)s")
    ws = [_UNINDEXED.get(c, c) for c in w]
    sparse_sql = (f"select {LIST_COLUMNS}, {key} as sort_value from media m where {' and '.join(ws)} "
                  f"order by {key} {order}, m.id {order} limit %(limit)s")
    _prepare(cur, f)
    box_cells = cells(f.bbox) if f.bbox and sort == "taken" and not f.trashed else []
    est = _estimate(cur, f, p["owner"])
    if _is_rare(est) or (box_cells and est is not None and est[1] < MERGE_MIN_SHARE):
        rows = _sparse(cur, sparse_sql, p)
    elif box_cells and len(box_cells) <= MERGE_CELLS:
        p["cells"] = box_cells
        merged = _cell_walk_sql(w, key, order)
        cur.execute("set local enable_bitmapscan = off")
        cur.execute("set local enable_sort = off")
        rows = _ordered_or_sparse(cur, merged, p, sparse_sql=sparse_sql, fast_ms=MERGE_FAST_MS)
    elif _may_be_sparse(f):
        places = _text_places(cur, f, p, est)
        dense = places is not None and places[1] >= RARE_SHARE / 2
        if f.text and not dense and not (f.date_from or f.date_to) and _few_matches(cur, ws, p, est, places):
            rows = _sparse(cur, sparse_sql, p)
        else:
            rows = _ordered_or_sparse(cur, sql, p, sparse_sql=sparse_sql, walk=bool(f.date_from or f.date_to),
                                      fast_ms=MERGE_FAST_MS if dense else None)
    else:
        cur.execute(sql, p)
        rows = cur.fetchall()
    more = len(rows) > limit
    rows = rows[:limit]
    nxt = encode_cursor(sort, rows[-1]["sort_value"], rows[-1]["id"]) if more and rows else None
    for r in rows:
        r.pop("sort_value", None)
    return {"items": rows, "next_cursor": nxt}


# --- sparse results.  Reading in date order and filtering is fast when matches are dense, and reads the whole
# library when they are rare; the planner's guess of which case it is can be far off (text prefixes, map boxes,
# correlated filters).  So a query with such filters first gets FAST_MS in date order; if that is not enough,
# the matches are collected through the filter indexes (bitmap scans only, no date-order walk) and the page is
# the top of their sort: work proportional to the number of matches, not to the library.
FAST_MS = 30


MERGE_CELLS = 200  # map boxes up to this many 1-degree cells are read cell by cell in date order
RARE_SHARE = 0.01   # a filter matching under 1% of the library (exact counts: media_counts) goes to the sparse path
RARE_MIN = 2000
# A map box with other filters (exact counts) matching less than this share is collected through the indexes, not
# walked per cell: a walk reads about page / share rows per non-empty cell.  Above it the walk is bounded and beats
# the bitmap path (bench/search.py, camera + kind + country: p95 35 ms walked, 95 ms collected), so it gets
# MERGE_FAST_MS before falling back.
MERGE_MIN_SHARE = 0.01
MERGE_FAST_MS = 80


# On the bitmap path the filters that match most of a library are spelled so that no index serves them: ANDing a
# bitmap of 40-90% of the rows costs more than re-checking them on the few rows the other filters find.
_UNINDEXED = {f"{LAT} is null": f"({LAT} + 0) is null", "m.kind = %(kind)s": "(m.kind || '') = %(kind)s"}


def _cell_walk_sql(w: list[str], key: str, order: str) -> str:
    """A map box as one date-ordered walk per 1-degree cell (%(cells)s) on media_live_geo, merged: about one page
    read per non-empty cell.  The walk is fenced (offset 0) so the planner cannot pick another index for the other
    filters, which apply on the way: it cannot know how full each cell is.  Date range and cursor bound the walk."""
    inner = ["m.owner_id = %(owner)s", "m.trashed_at is null", "m.geo_cell = c.cell"] + [
        c for c in w if c.startswith(key) or c.startswith(f"({key}, m.id)")]
    outer = [c for c in w if not c.startswith("m.geo_cell is not null")]  # the cell ranges: one cell here
    return (f"select x.* from unnest(%(cells)s::int[]) as c(cell) cross join lateral ("
            f"select {LIST_COLUMNS}, m.sort_value from ("
            f"select m.*, {key} as sort_value from media m where {' and '.join(inner)} "
            f"order by {key} {order}, m.id {order} offset 0) m where {' and '.join(outer)} "
            f"order by m.sort_value {order}, m.id {order} limit %(limit)s) x "
            f"order by x.sort_value {order}, x.id {order} limit %(limit)s")


def _may_be_sparse(f: Filters) -> bool:
    return bool(f.text or f.labels or f.bbox or f.person_id or f.album_id or f.country or f.place_id is not None)


def _estimate(cur, f: Filters, owner: UUID) -> tuple[float, float] | None:
    """(expected matches, share of the library) of the filters that have exact counts (labels, person, camera,
    format, kind, without-GPS, album), taking them as independent; None when no such filter is set.  Text and map
    boxes have no counts and are not in it."""
    if f.trashed:
        return None
    from .. import counts

    keys: list[tuple[str, str, str | None]] = []
    if f.labels:
        bucket = tag_bucket(f.min_confidence)
        keys += [("tag", f"{label}:{bucket}", None) for label in f.labels]
    if f.person_id is not None:
        keys.append(("person", str(f.person_id), None))
    if f.format:
        keys.append(("format", f.format.lower(), None))
    if f.kind:
        keys.append(("kind", f.kind, None))
    if f.no_gps:
        keys.append(("gps", "without", None))
    if f.album_id is not None:
        keys.append(("album", str(f.album_id), None))
    if f.place_id is not None:
        keys.append(("place", str(f.place_id), None))
    cameras = matching_cameras(cur, owner, f) if f.camera_make or f.camera_model else None  # what they name
    if not keys and cameras is None and not f.country:
        return None
    parts, total = counts.value_counts(cur, owner, keys)
    if f.country:  # the sum of its places (015_place_counts.sql)
        from .. import places as places_q

        parts.append(counts.places_count(cur, owner, places_q.in_country(cur, f.country)))
    if cameras is not None:
        parts.append(sum(c["n"] for c in cameras))
    share = 1.0
    for n in parts:
        share *= n / total if total else 0.0
    return share * total, share


def _library_size(cur, p: dict, est: tuple[float, float] | None) -> float:
    """The owner's items: from the counted filters' estimate (matches / share) when there is one, else read from
    the counters."""
    from .. import counts

    return est[0] / est[1] if est is not None and est[1] else float(counts.value_counts(cur, p["owner"], [])[1])


def _text_places(cur, f: Filters, p: dict,
                 est: tuple[float, float] | None) -> tuple[int, float, float] | None:
    """(items, share of the library with the other counted filters, library size) in the places the free text
    names, from the place counters; None when it names none, or with a date range (walked in date order, see
    _ordered_or_sparse).
    A share of at least half RARE_SHARE: its matches are at least that dense, so the walk in date order is
    bounded (about a page / share rows) and may take longer than FAST_MS ('San Francisco', 1% of a library: a
    26 ms walk, cut at 30 ms now and then and then collected through the indexes, 57 ms)."""
    if not p.get("text_places") or f.date_from or f.date_to:
        return None
    from .. import counts

    n = counts.places_count(cur, p["owner"], p["text_places"])
    total = _library_size(cur, p, est)
    return n, (n / total if total else 0.0) * (est[1] if est is not None else 1.0), total


# Free text has no counts (the planner's estimate for a word cannot tell a rare one from a common one), so it was
# read in date order for FAST_MS first: a rare word, file name or town cost 30 ms before its few matches were
# collected through the indexes in a few more.  Now its matches are counted through the indexes first, up to half
# RARE_SHARE of the library and for PROBE_MS at most (a town's items come from the place counters, not counted
# again): fewer, and they are collected at once (a number in a photo's text at 1M: 4 ms instead of 34); more, or
# out of time (a common word, a one-letter prefix), and they are dense enough for the walk in date order, as
# before, PROBE_MS later.
PROBE_MS = 4


def _few_matches(cur, ws: list[str], p: dict, est: tuple[float, float] | None,
                 places: tuple[int, float, float] | None) -> bool:
    """Fewer items than max(RARE_MIN, half RARE_SHARE of the library) match ``ws`` (the bitmap path's filters),
    counted through the filter indexes within PROBE_MS; ``places``: _text_places' answer, already known (its items
    are not counted again, its library size not read again)."""
    import psycopg2.errors

    if PROBE_MS <= 0 or _common_words(cur, p["tsq"]) >= RARE_SHARE / 2:
        return False
    total = places[2] if places else _library_size(cur, p, est)
    need = int(max(RARE_MIN, total * RARE_SHARE / 2)) - (places[0] if places else 0)
    if need <= 0:
        return False
    if places:  # counted already: the text's other matches are what is left to count
        ws = [c.replace(TEXT_PLACES, "false") for c in ws]
    cur.execute("savepoint probe")
    cur.execute(f"set local statement_timeout = {int(PROBE_MS)}")
    cur.execute("set local enable_seqscan = off")
    cur.execute("set local enable_indexscan = off")
    try:
        cur.execute(f"select count(*) as n from (select 1 from media m where {' and '.join(ws)} limit %(probe)s) x",
                    {**p, "probe": need})
        n = cur.fetchone()["n"]
    except psycopg2.errors.QueryCanceled:
        n = need
    cur.execute("rollback to savepoint probe")  # its time limit and planner switches end with it
    cur.execute("release savepoint probe")
    return n < need


_COMMON: dict[str, tuple[float, dict[str, float]]] = {}  # database -> (when read, {word: share of the library})
COMMON_TTL_S = 600


def _common_words(cur, tsq: str) -> float:
    """The share of the library a free text's words match together, when each of them is among the text index's
    most common words (Postgres's statistics, ANALYZE), taken as independent; 0 when one is not (it may be rare:
    counted by _few_matches).  A typed prefix counts as its whole word, which it matches at least.  Skips the
    count for common words ('beach', 2% of the bench's library: its 4 ms were the whole cost of counting)."""
    import time

    key = cur.connection.dsn
    when, freqs = _COMMON.get(key, (0.0, {}))
    if time.monotonic() - when > COMMON_TTL_S:
        cur.execute("""select most_common_elems::text::text[] as elems, most_common_elem_freqs as freqs
                         from pg_stats where schemaname = current_schema() and tablename = 'media_live_text'""")
        row = cur.fetchone()
        freqs = dict(zip(row["elems"], row["freqs"])) if row and row["elems"] else {}
        _COMMON[key] = (time.monotonic(), freqs)
    share = 1.0
    for word in tsq.split(" & "):
        share *= freqs.get(word.removesuffix(":*"), 0.0)
    return share


def _is_rare(est: tuple[float, float] | None) -> bool:
    """Few expected matches: collecting them through the filter indexes beats reading in date order, and trying
    the date order first would only waste FAST_MS."""
    return est is not None and est[0] < max(RARE_MIN, est[0] / est[1] * RARE_SHARE if est[1] else 0)


def _sparse(cur, sql: str, p: dict) -> list[dict]:
    """Collect the matches through the filter indexes (bitmap scans only, no date-order walk), then sort."""
    cur.execute("set local enable_bitmapscan = on")
    cur.execute("set local enable_sort = on")
    cur.execute("set local enable_seqscan = off")
    cur.execute("set local enable_indexscan = off")
    cur.execute(sql, p)
    rows = cur.fetchall()
    cur.execute("set local enable_seqscan = on")
    cur.execute("set local enable_indexscan = on")
    return rows


def _ordered_or_sparse(cur, sql: str, p: dict, sparse_sql: str | None = None, fast_ms: int | None = None,
                       walk: bool = False) -> list[dict]:
    import psycopg2.errors

    fast_ms = FAST_MS if fast_ms is None or FAST_MS <= 0 else fast_ms
    if fast_ms > 0:  # (tests set FAST_MS to 0 to exercise the sparse path)
        cur.execute("savepoint fast")
        cur.execute(f"set local statement_timeout = {int(fast_ms)}")
        if walk:  # a date range: walk it in date order; left to itself the planner ANDs bitmaps of every match of
            # the text and of the range instead (text + year: 30 ms, cancelled, then the same plan again; walked:
            # 18 ms).  Without a range the planner's bitmaps are what finds a rare file name or place at once.
            cur.execute("set local enable_bitmapscan = off")
        try:
            cur.execute(sql, p)
            rows = cur.fetchall()
            cur.execute("set local statement_timeout = 0")
            if walk:
                cur.execute("set local enable_bitmapscan = on")
            cur.execute("release savepoint fast")
            return rows
        except psycopg2.errors.QueryCanceled:
            cur.execute("rollback to savepoint fast")  # also undoes the timeout
    return _sparse(cur, sparse_sql or sql, p)


__all__ = ["search", "FAST_MS", "MERGE_CELLS", "MERGE_MIN_SHARE", "MERGE_FAST_MS", "RARE_SHARE", "RARE_MIN"]
