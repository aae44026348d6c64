"""SQL for reading the library: search with keyset pagination, facet counts, media detail, access checks;
plus the gateway's edits of a media row (GPS override, trash, restore, purge).

Access rule: a user sees media they own, and (read-only) media in albums shared with them.  Every function takes
the viewing user's id and returns None / nothing for rows they may not see.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from uuid import UUID

from . import query, query_one, transaction

SORTS = {"taken": "coalesce(m.taken_at, m.created_at)", "added": "m.created_at"}
LAT = "coalesce(m.gps_override_lat, m.gps_lat)"
LON = "coalesce(m.gps_override_lon, m.gps_lon)"
SIMILAR_CANDIDATES = 400
# file name/path, OCR, transcript and comments of a media row (text_tsv is kept by triggers, see 002_*.sql)
TEXT_EXPR = "(m.name_tsv || coalesce(m.text_tsv, ''::tsvector))"  # nearest faces considered for "similar to this face"

LIST_COLUMNS = f"""m.id, m.owner_id, m.kind, m.format, m.mime, m.size, m.width, m.height, m.duration, m.filename,
    m.taken_at, m.taken_at_offset, m.created_at, m.camera_make, m.camera_model,
    {LAT} as lat, {LON} as lon, (m.gps_override_lat is not null) as gps_overridden,
    (m.thumb_key is not null) as has_thumb, m.status, m.trashed_at"""


class BadQuery(ValueError):
    """A search parameter that cannot be used; the message says how to fix it."""


@dataclass
class Filters:
    date_from: datetime | None = None
    date_to: datetime | None = None
    bbox: tuple[float, float, float, float] | None = None  # (south, west, north, east); west > east wraps
    no_gps: bool = False
    labels: list[str] = field(default_factory=list)
    min_confidence: float = 0.0
    person_id: UUID | None = None
    similar_face_id: int | None = None
    face_threshold: float = 0.6
    camera_make: str | None = None
    camera_model: str | None = None
    kind: str | None = None
    format: str | None = None
    text: str | None = None
    album_id: UUID | None = None
    trashed: bool = False


def tsquery_text(text: str) -> str | None:
    """'IMG_12 bea' -> 'img & 12 & bea:*': all words, the last one as a prefix (typing), None when no words.
    (Prefixes on every word would make common stems like 'img' scan the whole index.)"""
    words = re.findall(r"[^\W_]+", text.lower())[:16]
    if not words:
        return None
    return " & ".join(words[:-1] + [f"{words[-1]}:*"])


GEO_COLS = 361  # media.geo_cell = (floor(lat) + 90) * 361 + floor(lon) + 180  (004_*.sql)


def _cell_row(lat: float) -> int:
    return min(180, max(0, math.floor(lat) + 90))


def _cell_col(lon: float) -> int:
    return min(360, max(0, math.floor(lon) + 180))


def cell_ranges(bbox: tuple[float, float, float, float]) -> list[tuple[int, int]]:
    """The 1-degree cells of a (south, west, north, east) box as inclusive geo_cell ranges, one per row of cells
    (two when the box crosses the antimeridian)."""
    s, west, n, e = bbox
    cols = [(_cell_col(west), _cell_col(e))] if west <= e else [(_cell_col(west), 360), (0, _cell_col(e))]
    return [(r * GEO_COLS + c0, r * GEO_COLS + c1) for r in range(_cell_row(s), _cell_row(n) + 1) for c0, c1 in cols]


def cells(bbox: tuple[float, float, float, float]) -> list[int]:
    return [c for lo, hi in cell_ranges(bbox) for c in range(lo, hi + 1)]


def _face_embedding(face_id: int, user_id: UUID):
    row = query_one("select embedding from faces where id = %s and owner_id = %s", (face_id, user_id))
    if row is None:
        raise LookupError("face")
    return row["embedding"]


def encode_cursor(sort: str, value: datetime, media_id) -> str:
    raw = json.dumps([sort, value.isoformat(), str(media_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        s, value, mid = json.loads(raw)
        if s != sort:
            raise ValueError
        return datetime.fromisoformat(value), UUID(mid)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadQuery("invalid cursor: pass back next_cursor from the previous page unchanged "
                       "(with the same sort)") from None


def album_scope(album_id: UUID, user_id: UUID) -> dict | None:
    """The album's owner when the user owns it or it is shared with them, else None."""
    return query_one("""select a.id, a.owner_id from albums a where a.id = %s and (a.owner_id = %s or exists
                          (select 1 from album_shares s where s.album_id = a.id and s.user_id = %s))""",
                     (album_id, user_id, user_id))


def _where(f: Filters, user_id: UUID, p: dict, skip: str = "") -> list[str]:
    """WHERE clauses for the filters (skip: the facet whose own filter is left out)."""
    w = []
    if f.album_id is not None:
        scope = album_scope(f.album_id, user_id)
        if scope is None:
            raise LookupError("album")
        p["owner"] = scope["owner_id"]
        if skip != "album":
            p["album"] = f.album_id
            w.append("m.id in (select am.media_id from album_media am where am.album_id = %(album)s)")
    else:
        p["owner"] = user_id
    w.append("m.owner_id = %(owner)s")
    w.append("m.trashed_at is not null" if f.trashed else "m.trashed_at is null")
    if skip != "date":
        if f.date_from:
            p["date_from"] = f.date_from
            w.append(f"{SORTS['taken']} >= %(date_from)s")
        if f.date_to:
            p["date_to"] = f.date_to
            w.append(f"{SORTS['taken']} < %(date_to)s")
    if skip != "gps":
        if f.bbox:
            s, west, n, e = f.bbox
            p.update(s=s, n=n, west=west, east=e)
            w.append(f"{LAT} between %(s)s and %(n)s")
            if west <= e:
                w.append(f"{LON} between %(west)s and %(east)s")
            else:  # box crosses the antimeridian
                w.append(f"({LON} >= %(west)s or {LON} <= %(east)s)")
            # the same box as ranges of 1-degree cells (media_live_geo), one range per row of cells
            ranges = cell_ranges(f.bbox)
            for i, (lo, hi) in enumerate(ranges):
                p[f"cell_lo{i}"], p[f"cell_hi{i}"] = lo, hi
            w.append("m.geo_cell is not null and (" + " or ".join(
                f"m.geo_cell between %(cell_lo{i})s and %(cell_hi{i})s" for i in range(len(ranges))) + ")")
        if f.no_gps:
            w.append(f"{LAT} is null")
    if skip != "label" and f.labels:
        # label_tags holds 'dog:k' for a detection of dog with confidence >= k/10 (kept by triggers, see 002_*.sql)
        bucket = min(9, max(0, int(f.min_confidence * 10 + 1e-9)))
        p["tags"] = [f"{label}:{bucket}" for label in f.labels]
        w.append("m.label_tags @> %(tags)s::text[]")
        if f.min_confidence > bucket / 10 + 1e-9:  # finer than the tag: re-check the few rows that pass
            p["minconf"] = f.min_confidence
            for i, label in enumerate(f.labels):
                p[f"label{i}"] = label
                w.append(f"""exists (select 1 from detections d where d.media_id = m.id
                             and d.label = %(label{i})s and d.confidence >= %(minconf)s::real)""")
    if skip != "person" and f.person_id is not None:
        p["person"] = [f.person_id]  # person_ids is kept from faces by triggers (004_*.sql)
        w.append("m.person_ids @> %(person)s::uuid[]")
    if f.similar_face_id is not None:
        # nearest faces by the HNSW index (a constant query vector), then only the owner's within the threshold
        p.update(face_vec=_face_embedding(f.similar_face_id, user_id), face_thr=f.face_threshold,
                 face_k=SIMILAR_CANDIDATES)
        w.append("""m.id in (select s.media_id from (
                        select f.media_id, f.owner_id, f.embedding <-> %(face_vec)s::vector as dist from faces f
                         order by f.embedding <-> %(face_vec)s::vector limit %(face_k)s) s
                     where s.dist < %(face_thr)s and s.owner_id = %(owner)s)""")
    if skip != "camera":
        if f.camera_make:
            p["make"] = f.camera_make
            w.append("m.camera_make = %(make)s")
        if f.camera_model:
            p["model"] = f.camera_model
            w.append("m.camera_model = %(model)s")
    if skip != "kind" and f.kind:
        p["kind"] = f.kind
        w.append("m.kind = %(kind)s")
    if skip != "format" and f.format:
        p["format"] = f.format.lower()
        w.append("m.format = %(format)s")
    if f.text:
        tsq = tsquery_text(f.text)
        if tsq is None:
            raise BadQuery("text search needs at least one letter or digit")
        p["tsq"] = tsq
        w.append(f"{TEXT_EXPR} @@ to_tsquery('simple', %(tsq)s)")
    return w


def _prepare(cur, f: Filters) -> None:
    if f.similar_face_id is not None:
        cur.execute("set local hnsw.ef_search = %s", (SIMILAR_CANDIDATES,))


def search(user_id: UUID, f: Filters, *, sort: str = "taken", order: str = "desc", limit: int = 100,
           cursor: str | None = None) -> dict:
    """One page: {"items": [...], "next_cursor": str|None}.  Raises LookupError('album') for an album the user
    cannot see, BadQuery for unusable parameters."""
    if sort not in SORTS:
        raise BadQuery(f"sort must be one of {', '.join(SORTS)}")
    if order not in ("asc", "desc"):
        raise BadQuery("order must be asc or desc")
    p: dict = {}
    w = _where(f, user_id, p)
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
    with transaction() as cur:
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
            rows = _ordered_or_sparse(cur, sql, p, sparse_sql=sparse_sql)
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
    return bool(f.text or f.labels or f.bbox or f.person_id or f.album_id)


def _estimate(cur, f: Filters, owner: UUID) -> tuple[float, float] | None:
    """(expected matches, share of the library) of the filters that have exact counts (labels, person, camera,
    format, kind, without-GPS, album), taking them as independent; None when no such filter is set.  Text and map
    boxes have no counts and are not in it."""
    if f.trashed:
        return None
    from . import counts

    keys: list[tuple[str, str, str | None]] = []
    if f.labels:
        bucket = min(9, max(0, int(f.min_confidence * 10 + 1e-9)))
        keys += [("tag", f"{label}:{bucket}", None) for label in f.labels]
    if f.person_id is not None:
        keys.append(("person", str(f.person_id), None))
    if f.camera_make and f.camera_model:
        keys.append(("camera", f.camera_make, f.camera_model))
    if f.format:
        keys.append(("format", f.format.lower(), None))
    if f.kind:
        keys.append(("kind", f.kind, None))
    if f.no_gps:
        keys.append(("gps", "without", None))
    if f.album_id is not None:
        keys.append(("album", str(f.album_id), None))
    if not keys:
        return None
    parts, total = counts.value_counts(owner, keys, cur)
    share = 1.0
    for n in parts:
        share *= n / total if total else 0.0
    return share * total, share


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


def _ordered_or_sparse(cur, sql: str, p: dict, sparse_sql: str | None = None, fast_ms: int | None = None) -> list[dict]:
    import psycopg2.errors

    fast_ms = FAST_MS if fast_ms is None or FAST_MS <= 0 else fast_ms
    if fast_ms > 0:  # (tests set FAST_MS to 0 to exercise the sparse path)
        cur.execute("savepoint fast")
        cur.execute(f"set local statement_timeout = {int(fast_ms)}")
        try:
            cur.execute(sql, p)
            rows = cur.fetchall()
            cur.execute("set local statement_timeout = 0")
            cur.execute("release savepoint fast")
            return rows
        except psycopg2.errors.QueryCanceled:
            cur.execute("rollback to savepoint fast")  # also undoes the timeout
    return _sparse(cur, sparse_sql or sql, p)


FACET_LIMIT = 50


def facets(user_id: UUID, f: Filters) -> dict:
    """Counts for each filter's values under the other filters (a filter does not narrow its own facet).

    No filter, or a date range of whole months: exact, from the library counters.  Otherwise the column facets
    whose own filter is not in use share one scan (GROUPING SETS); an active one is counted without its filter in
    a scan of its own.  When the filters are known (exact counts) to match more than FACET_EXACT_MAX items, the
    scans read a sample of the table's pages (about FACET_SAMPLE_ROWS rows) and the counts are scaled:
    "approximate": true says so (a few hundred ms instead of seconds at a million items)."""
    out: dict = {"approximate": False}
    rel = "media m"
    scale = 1.0
    year = f"extract(year from {SORTS['taken']})::int"
    has_gps = f"({LAT} is not null)"
    facet_sets = {"kind": ("m.kind", f.kind), "format": ("m.format", f.format),
                  "camera": ("m.camera_make, m.camera_model", f.camera_make or f.camera_model),
                  "date": (year, f.date_from or f.date_to), "gps": (has_gps, f.bbox or f.no_gps)}
    columns = {"kind": ["m.kind as kind"], "format": ["m.format as format"],
               "camera": ["m.camera_make as camera_make", "m.camera_model as camera_model"],
               "date": [f"{year} as year"], "gps": [f"{has_gps} as has_gps"]}
    firsts = {"kind": "m.kind", "format": "m.format", "camera": "m.camera_make", "date": year, "gps": has_gps}

    def scan(cur, skip: str, names: list[str]) -> list[dict]:
        p: dict = {}
        w = _where(f, user_id, p, skip=skip)
        sets = ", ".join(f"({facet_sets[n][0]})" for n in names)
        select = ", ".join([c for n in names for c in columns[n]] +
                           [f"grouping({firsts[n]}) as g_{n}" for n in names])
        cur.execute(f"select {select}, count(*) as n from {rel} where {' and '.join(w)} "
                    f"group by grouping sets ({sets})", p)
        return cur.fetchall()

    with transaction() as cur:
        fast = _counted_facets(cur, user_id, f)
        if fast is not None:
            return fast
        pct = _facet_sample_percent(cur, f, user_id)
        if pct is not None:
            rel, scale = f"media m tablesample system ({pct:.4f}) repeatable (7)", 100.0 / pct
            out["approximate"] = True
        # a facet whose own filter is the only thing beyond a whole-month date range comes from the counters
        exact: dict[str, object] = {}
        for name, fields in _FACET_FILTERS.items():
            without = replace(f, **fields)
            if without != f:
                facet = "year" if name == "date" else name
                counted = _counted_facets(cur, user_id, without, only=facet)
                if counted is not None:
                    exact[name] = counted[facet]
        _prepare(cur, f)
        rows: list[dict] = []
        shared = [n for n, (_, active) in facet_sets.items() if not active]
        if shared:
            rows += scan(cur, "", shared)
        for n, (_, active) in facet_sets.items():
            if active and n not in exact:
                rows += scan(cur, n, [n])
        by = {n: [r for r in rows if r.get(f"g_{n}", 1) == 0] for n in facet_sets}
        top = lambda xs: sorted(xs, key=lambda r: -r["n"])[:FACET_LIMIT]  # noqa: E731
        out["kind"] = top({"value": r["kind"], "n": r["n"]} for r in by["kind"])
        out["format"] = top({"value": r["format"], "n": r["n"]} for r in by["format"])
        out["camera"] = top({"make": r["camera_make"], "model": r["camera_model"], "n": r["n"]} for r in by["camera"])
        out["year"] = sorted(({"value": r["year"], "n": r["n"]} for r in by["date"]),
                             key=lambda r: -(r["value"] or 0))
        out["gps"] = {"with": sum(r["n"] for r in by["gps"] if r["has_gps"]),
                      "without": sum(r["n"] for r in by["gps"] if not r["has_gps"])}
        if "label" not in exact:
            out["label"] = _label_facet(cur, user_id, f, rel)
        p = {}
        w = _where(f, user_id, p, skip="person")
        if str(p["owner"]) != str(user_id):  # a shared album: the owner's people are not the recipient's to see
            out["person"] = []
        elif "person" not in exact:
            cur.execute(f"""select pe.id, pe.name, count(*) as n
                              from {rel} cross join unnest(m.person_ids) pid
                              join people pe on pe.id = pid and not pe.hidden
                             where {' and '.join(w)}
                             group by pe.id, pe.name order by n desc limit {FACET_LIMIT}""", p)
            out["person"] = cur.fetchall()
        out["album"] = [] if "album" in exact else _album_facet(cur, user_id, f, rel)
    if scale != 1.0:
        for name in ("kind", "format", "camera", "year", "label", "person", "album"):
            for r in out.get(name, []):
                r["n"] = max(1, round(r["n"] * scale))
        out["gps"] = {k: round(v * scale) for k, v in out["gps"].items()}
    out.update({"year" if n == "date" else n: v for n, v in exact.items()})
    return out


# the filters of each facet: a facet is counted with them cleared (it does not narrow itself)
_FACET_FILTERS = {"kind": {"kind": None}, "format": {"format": None},
                  "camera": {"camera_make": None, "camera_model": None},
                  "date": {"date_from": None, "date_to": None}, "gps": {"bbox": None, "no_gps": False},
                  "label": {"labels": []}, "person": {"person_id": None}, "album": {"album_id": None}}


FACET_EXACT_MAX = 100_000   # filtered facets over more matches than this are counted on a sample ...
FACET_SAMPLE_ROWS = 40_000  # ... of about this many rows of the table


def _facet_sample_percent(cur, f: Filters, owner: UUID) -> float | None:
    """The share of pages to sample (TABLESAMPLE SYSTEM percent) when the filters match many items, else None."""
    est = _estimate(cur, f, owner)
    if est is None or est[0] <= FACET_EXACT_MAX:
        return None
    cur.execute("select greatest(reltuples, 1) as n from pg_class where oid = 'media'::regclass")
    rows = cur.fetchone()["n"]
    pct = 100.0 * FACET_SAMPLE_ROWS / rows
    return pct if pct < 50 else None


def _label_facet(cur, user_id: UUID, f: Filters, rel: str) -> list[dict]:
    p: dict = {}
    w = _where(f, user_id, p, skip="label")
    bucket = min(9, max(0, int(f.min_confidence * 10 + 1e-9)))
    if f.min_confidence <= bucket / 10 + 1e-9:  # the tags answer it: no join with detections
        p["tag_like"] = f"%:{bucket}"
        cur.execute(f"""select left(t, length(t) - 2) as value, count(*) as n
                          from {rel} cross join unnest(m.label_tags) t
                         where {' and '.join(w)} and t like %(tag_like)s
                         group by 1 order by n desc limit {FACET_LIMIT}""", p)
    else:
        p["minconf_facet"] = f.min_confidence
        cur.execute(f"""select d.label as value, count(distinct d.media_id) as n from detections d
                         where d.confidence >= %(minconf_facet)s::real and d.media_id in
                               (select m.id from {rel} where {' and '.join(w)})
                         group by d.label order by n desc limit {FACET_LIMIT}""", p)
    return cur.fetchall()


def _album_facet(cur, user_id: UUID, f: Filters, rel: str = "media m") -> list[dict]:
    p: dict = {}
    w = _where(f, user_id, p, skip="album")
    p["viewer"] = user_id
    cur.execute(f"""select a.id, a.name, count(*) as n
                      from {rel} cross join unnest(m.album_ids) aid
                      join albums a on a.id = aid and a.owner_id = %(viewer)s
                     where {' and '.join(w)}
                     group by a.id, a.name order by n desc limit {FACET_LIMIT}""", p)
    return cur.fetchall()


FACETS = ("kind", "format", "camera", "year", "gps", "label", "person", "album")
_FACET_DIM = {"kind": "kind", "format": "format", "camera": "camera", "gps": "gps", "label": "tag",
              "person": "person", "album": "album"}  # year: per year of the kind counts


def _counted_facets(cur, user_id: UUID, f: Filters, only: str | None = None) -> dict | None:
    """The facets (or the one named `only`) from the library counters (media_counts) when the only filter is a
    date range of whole months: the library page's case, which would otherwise count every item.  None when the
    counters cannot answer."""
    from . import counts

    bucket = min(9, max(0, int(f.min_confidence * 10 + 1e-9)))
    if (replace(f, date_from=None, date_to=None, min_confidence=0.0) != Filters()
            or f.min_confidence > bucket / 10 + 1e-9
            or not (counts.is_month_start(f.date_from) and counts.is_month_start(f.date_to))):
        return None
    names = [only] if only else list(FACETS)
    dims = [_FACET_DIM[n] for n in names if n in _FACET_DIM]
    by: dict[str, list[dict]] = {d: [] for d in dims}
    for r in counts.totals(user_id, dims, f.date_from, f.date_to, cur=cur) if dims else []:
        by[r["dim"]].append(r)
    top = lambda xs: sorted(xs, key=lambda r: -r["n"])[:FACET_LIMIT]  # noqa: E731
    out: dict = {"approximate": False}
    for name in names:
        rows = by.get(_FACET_DIM.get(name, ""), [])
        if name in ("kind", "format"):
            out[name] = top({"value": r["v1"], "n": r["n"]} for r in rows)
        elif name == "camera":
            out[name] = top({"make": r["v1"], "model": r["v2"], "n": r["n"]} for r in rows)
        elif name == "gps":
            out[name] = {k: sum(r["n"] for r in rows if r["v1"] == k) for k in ("with", "without")}
        elif name == "label":
            out[name] = top({"value": r["v1"][:-2], "n": r["n"]} for r in rows if r["v1"].endswith(f":{bucket}"))
        elif name == "year":  # all time, whatever the date range: the facet does not narrow itself
            years: dict[int, int] = {}
            for r in counts.per_period(user_id, "y", "kind", cur=cur):  # a row per (year, kind)
                years[r["period"].year] = years.get(r["period"].year, 0) + r["n"]
            out[name] = [{"value": y, "n": n} for y, n in sorted(years.items(), reverse=True)]
        else:  # person, album: names from their tables (hidden people and others' albums left out)
            counted = {r["v1"]: r["n"] for r in rows}
            if name == "person":
                cur.execute("select id, name from people where id = any(%s::uuid[]) and not hidden", (list(counted),))
            else:
                cur.execute("select id, name from albums where id = any(%s::uuid[]) and owner_id = %s",
                            (list(counted), user_id))
            out[name] = top({"id": r["id"], "name": r["name"], "n": counted[str(r["id"])]} for r in cur.fetchall())
    return out


# ---------------------------------------------------------------- access and detail
_VISIBLE = """(m.owner_id = %(u)s or (m.trashed_at is null and exists (
                 select 1 from album_media am join album_shares s on s.album_id = am.album_id
                  where am.media_id = m.id and s.user_id = %(u)s)))"""


def media_access(media_id: UUID, user_id: UUID) -> dict | None:
    """The media row (all columns) plus access='owner'|'shared' when the user may see it, else None."""
    return query_one(f"""select m.*, case when m.owner_id = %(u)s then 'owner' else 'shared' end as access,
                                {LAT} as lat, {LON} as lon
                           from media m where m.id = %(id)s and {_VISIBLE}""", {"id": media_id, "u": user_id})


def owned_media_ids(user_id: UUID, media_ids: list[UUID], include_trashed: bool = False) -> set[UUID]:
    rows = query(f"""select id from media where owner_id = %s and id = any(%s::uuid[])
                     {'' if include_trashed else 'and trashed_at is null'}""", (user_id, list(media_ids)))
    return {r["id"] for r in rows}


def detail(media_id: UUID, user_id: UUID) -> dict | None:
    m = media_access(media_id, user_id)
    if m is None:
        return None
    for k in ("name_tsv", "text_tsv", "label_tags"):
        m.pop(k, None)
    m["sha512"] = bytes(m["sha512"]).hex()
    with transaction() as cur:
        cur.execute("""select label, confidence, x, y, w, h, model, model_version, video_time
                         from detections where media_id = %s order by confidence desc""", (media_id,))
        m["detections"] = cur.fetchall()
        cur.execute("""select f.id, f.x, f.y, f.w, f.h, f.person_id, p.name as person_name, f.video_time,
                              (f.crop_key is not null) as has_crop, f.model
                         from faces f left join people p on p.id = f.person_id
                        where f.media_id = %s order by f.id""", (media_id,))
        m["faces"] = cur.fetchall()
        cur.execute("select text, words, language, rotation, model from ocr where media_id = %s", (media_id,))
        m["ocr"] = cur.fetchone()
        cur.execute("""select text, segments, language, engine, model, has_audio
                         from transcripts where media_id = %s""", (media_id,))
        m["transcript"] = cur.fetchone()
        cur.execute("""select c.id, c.body, c.created_at, c.updated_at, c.author_id, u.username as author
                         from comments c join users u on u.id = c.author_id
                        where c.media_id = %s order by c.created_at, c.id""", (media_id,))
        m["comments"] = cur.fetchall()
        cur.execute("""select a.id, a.name, (a.owner_id = %(u)s) as owned from albums a
                         join album_media am on am.album_id = a.id
                        where am.media_id = %(m)s and (a.owner_id = %(u)s or exists
                              (select 1 from album_shares s where s.album_id = a.id and s.user_id = %(u)s))
                        order by a.name""", {"m": media_id, "u": user_id})
        m["albums"] = cur.fetchall()
    if m["access"] != "owner":
        _for_recipient(m)
    return m


def _for_recipient(m: dict) -> None:
    """A share recipient sees the shared item, not how its owner organises their library: the owner's album and
    people ids (derived columns of the row), who the faces are and the face crops (whose route is owner-only)
    are left out.  Albums shared with the recipient are still listed in m["albums"]."""
    m.pop("album_ids", None)
    m.pop("person_ids", None)
    for f in m["faces"]:
        f["person_id"] = None
        f["person_name"] = None
        f["has_crop"] = False


# ---------------------------------------------------------------- edits (owner only)
def set_gps_override(media_id: UUID, owner_id: UUID, lat: float, lon: float, alt: float | None) -> bool:
    return bool(query("""update media set gps_override_lat = %s, gps_override_lon = %s, gps_override_alt = %s,
                                updated_at = now()
                          where id = %s and owner_id = %s returning id""", (lat, lon, alt, media_id, owner_id)))


def clear_gps_override(media_id: UUID, owner_id: UUID) -> bool:
    return bool(query("""update media set gps_override_lat = null, gps_override_lon = null,
                                gps_override_alt = null, updated_at = now()
                          where id = %s and owner_id = %s returning id""", (media_id, owner_id)))


def trash(media_id: UUID, owner_id: UUID) -> bool:
    return bool(query("""update media set trashed_at = coalesce(trashed_at, now()), updated_at = now()
                          where id = %s and owner_id = %s returning id""", (media_id, owner_id)))


def restore(media_id: UUID, owner_id: UUID) -> bool:
    return bool(query("""update media set trashed_at = null, updated_at = now()
                          where id = %s and owner_id = %s returning id""", (media_id, owner_id)))


def purge(owner_id: UUID | None, *, media_id: UUID | None = None, older_than_days: int | None = None) -> list[dict]:
    """Delete trashed media rows (of one owner, or everyone's with owner_id None); returns their object keys
    (storage_key, thumb_key, preview_key, crop_keys) so the caller removes the objects.  With older_than_days only items trashed that long ago go."""
    return query("""with gone as (
                      delete from media
                       where trashed_at is not null
                         and (%(owner)s::uuid is null or owner_id = %(owner)s::uuid)
                         and (%(id)s::uuid is null or id = %(id)s::uuid)
                         and (%(days)s::int is null or trashed_at < now() - make_interval(days => %(days)s::int))
                      returning id, owner_id, storage_key, thumb_key, preview_key)
                    select g.*, coalesce((select array_agg(f.crop_key) from faces f
                                           where f.media_id = g.id and f.crop_key is not null), '{}') as crop_keys
                      from gone g""",
                 {"owner": owner_id, "id": media_id, "days": older_than_days})


__all__ = ["Filters", "BadQuery", "search", "facets", "detail", "media_access", "replace"]
