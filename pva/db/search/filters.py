"""The search filters and the WHERE clauses they make (``_where``), shared by the page query (planner) and the
facet counts.

Access rule: a user sees media they own, and (read-only) media in albums shared with them; an album filter
searches the album owner's media, only when the viewer owns the album or it is shared with them.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

from ..media import LAT, LON

SORTS = {"taken": "coalesce(m.taken_at, m.created_at)", "added": "m.created_at"}
SIMILAR_CANDIDATES = 400
# file name/path, OCR, transcript and comments of a media row (text_tsv is kept by triggers, see 002_*.sql)
TEXT_PLACES = "m.place_id = any(%(text_places)s::int[])"  # the free text's alternative: the places it names
TEXT_EXPR = "(m.name_tsv || coalesce(m.text_tsv, ''::tsvector))"  # nearest faces considered for "similar to this face"

LIST_COLUMNS = f"""m.id, m.owner_id, m.kind, m.format, m.mime, m.size, m.width, m.height, m.duration, m.filename,
    m.taken_at, m.taken_at_offset, m.created_at, m.camera_make, m.camera_model,
    {LAT} as lat, {LON} as lon, (m.gps_override_lat is not null) as gps_overridden,
    (m.thumb_key is not null) as has_thumb, m.status, m.trashed_at,
    case when m.burst_id = m.id then m.burst_size end as burst_size"""
# the roles of the item's companion files (issue 22: 'motion' gives the grid's live badge)
LIST_COLUMNS += (", (select array_agg(cf.role order by cf.role) from media_files cf"
                 " where cf.media_id = m.id) as companions")


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
    stack_bursts: bool = False  # a burst as its first photo only (011_bursts_memories.sql; pva.services.bursts)
    country: str | None = None   # ISO 3166-1 alpha-2 of the item's place (issue 21): "PT", not the name "Portugal"
    place_id: int | None = None  # one place (a city of `places`): Lisbon, Portugal, not Lisbon, Ohio


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


# label_tags holds 'dog:k' for a detection of dog with confidence >= k/10 (kept by triggers, see 002_*.sql); the
# filter, the planner's estimate and two facets all read it, so the bucket is computed here only.
def tag_bucket(min_confidence: float) -> int:
    """The label_tags bucket k ('dog:k') whose tags hold every detection at or above ``min_confidence``."""
    return min(9, max(0, int(min_confidence * 10 + 1e-9)))


def finer_than_tag(min_confidence: float) -> bool:
    """``min_confidence`` is above its bucket's floor: the tags also match lower confidences, so the rows they
    find are checked again against detections."""
    return min_confidence > tag_bucket(min_confidence) / 10 + 1e-9


def _face_embedding(cur, face_id: int, user_id: UUID):
    from .. import people

    row = people.get_face(cur, face_id, user_id)
    if row is None:
        raise LookupError("face")
    return row["embedding"]


def album_scope(cur, album_id: UUID, user_id: UUID) -> dict | None:
    """The album's owner when the user owns it or it is shared with them, else None."""
    cur.execute("""select a.id, a.owner_id from albums a where a.id = %s and (a.owner_id = %s or exists
                     (select 1 from album_shares s where s.album_id = a.id and s.user_id = %s))""",
                (album_id, user_id, user_id))
    return cur.fetchone()


def _where(cur, f: Filters, user_id: UUID, p: dict, skip: str = "") -> list[str]:
    """WHERE clauses for the filters (skip: the facet whose own filter is left out); reads the album's scope and
    the similar face's embedding with the caller's cursor."""
    w = []
    if f.album_id is not None:
        scope = album_scope(cur, f.album_id, user_id)
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
    if f.stack_bursts and not f.trashed:
        # a burst as its first photo; should that one be gone (trashed by a path that did not regroup the burst
        # yet: the cron's daily rebuild will), the others show on their own rather than not at all
        # (a correlated scalar probe, run only for the other photos of a burst: as NOT EXISTS the planner hashes
        # the whole library, bench/bursts.py)
        w.append("(m.burst_id is null or m.burst_id = m.id or coalesce((select l.trashed_at is not null"
                 " from media l where l.id = m.burst_id), true))")
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
        bucket = tag_bucket(f.min_confidence)
        p["tags"] = [f"{label}:{bucket}" for label in f.labels]
        w.append("m.label_tags @> %(tags)s::text[]")
        if finer_than_tag(f.min_confidence):  # re-check the few rows that pass
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
        p.update(face_vec=_face_embedding(cur, f.similar_face_id, user_id), face_thr=f.face_threshold,
                 face_k=SIMILAR_CANDIDATES)
        w.append("""m.id in (select s.media_id from (
                        select f.media_id, f.owner_id, f.embedding <-> %(face_vec)s::vector as dist from faces f
                         order by f.embedding <-> %(face_vec)s::vector limit %(face_k)s) s
                     where s.dist < %(face_thr)s and s.owner_id = %(owner)s)""")
    if skip != "camera" and (f.camera_make or f.camera_model):
        # what was typed, forgiving ("nikon" is NIKON CORPORATION, "d70" is NIKON D70), as the exact values of the
        # library it names: the filter stays an equality the camera index serves
        cams = camera_values(cur, p["owner"], f.trashed)
        if f.camera_make:
            p["makes"] = sorted({c["make"] for c in cams if c["make"] and term_matches(f.camera_make, c["make"])})
            w.append("m.camera_make = any(%(makes)s::text[])")
        if f.camera_model:
            p["models"] = sorted({c["model"] for c in cams if c["model"] and term_matches(
                f.camera_model, f"{c['make'] or ''} {c['model']}")})
            w.append("m.camera_model = any(%(models)s::text[])")
    if skip != "place" and (f.country or f.place_id is not None):  # exact places (issue 21; media_live_place)
        from .. import places as places_q

        if f.place_id is not None:
            p["place_id"] = f.place_id
            w.append("m.place_id = %(place_id)s")
        if f.country:
            p["country_places"] = places_q.in_country(cur, f.country)
            w.append("m.place_id = any(%(country_places)s::int[])")
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
        w.append("(" + " or ".join([f"{TEXT_EXPR} @@ to_tsquery('simple', %(tsq)s)"]
                                   + _named_by_text(cur, f, user_id, p)) + ")")
    return w


def _named_by_text(cur, f: Filters, user_id: UUID, p: dict) -> list[str]:
    """The free-text box also finds items by the names the library gives them: a person's name, an album's name
    (the owner's own; not in a shared album, whose names are not the recipient's to search), a camera ("canon").
    Each is resolved to ids or exact values first, so an alternative is added only when the text names something
    and stays one the indexes serve."""
    alts = []
    if str(p["owner"]) == str(user_id):
        names = {"owner": p["owner"], "tsq": p["tsq"]}
        cur.execute("""select id from people where owner_id = %(owner)s and not hidden
                          and to_tsvector('simple', coalesce(name, '')) @@ to_tsquery('simple', %(tsq)s)""", names)
        people = [r["id"] for r in cur.fetchall()]
        if people:
            p["text_people"] = people
            alts.append("m.person_ids && %(text_people)s::uuid[]")
        cur.execute("""select id from albums where owner_id = %(owner)s
                          and to_tsvector('simple', name) @@ to_tsquery('simple', %(tsq)s)""", names)
        albums = [r["id"] for r in cur.fetchall()]
        if albums:
            p["text_albums"] = albums
            alts.append("m.id = any(array(select am.media_id from album_media am "
                        "where am.album_id = any(%(text_albums)s::uuid[])))")
    cams = camera_values(cur, p["owner"], f.trashed)
    makes = sorted({c["make"] for c in cams if c["make"] and term_matches(f.text, c["make"], words=True)})
    models = sorted({c["model"] for c in cams if c["model"] and c["make"] not in makes
                     and term_matches(f.text, f"{c['make'] or ''} {c['model']}", words=True)})
    if makes:
        p["text_makes"] = makes
        alts.append("m.camera_make = any(%(text_makes)s::text[])")
    if models:
        p["text_models"] = models
        alts.append("m.camera_model = any(%(text_models)s::text[])")
    from .. import places as places_q  # a city, region or country ("Lisbon", "Portugal"; issue 21)

    named_places = places_q.matching(cur, p["tsq"])
    if named_places:
        p["text_places"] = named_places
        alts.append(TEXT_PLACES)
    return alts


def term_matches(term: str, value: str, words: bool = False) -> bool:
    """Every word typed is somewhere in the value, whatever the case: 'nikon' in 'NIKON CORPORATION', 'd70' in
    'NIKON D70', 'canon 40d' in 'Canon Canon EOS 40D'.  ``words``: only at the start of the value's words, as the
    free-text box matches ('on' is not Canon there, 'eos' is)."""
    typed = re.findall(r"[^\W_]+", term.casefold())
    if not typed:
        return bool(term.strip()) and term.strip().casefold() in value.casefold()
    if words:
        have = re.findall(r"[^\W_]+", value.casefold())
        return all(any(h.startswith(t) for h in have) for t in typed)
    v = value.casefold()
    return all(t in v for t in typed)


def camera_values(cur, owner_id: UUID, trashed: bool = False) -> list[dict]:
    """The (make, model) pairs of the owner's library with their counts, [{make, model, n}]: live items from the
    library counters (a few rows, whatever the size of the library), the trash from its own rows."""
    if trashed:
        cur.execute("""select camera_make as make, camera_model as model, count(*) as n from media
                        where owner_id = %s and trashed_at is not null and (camera_make is not null
                              or camera_model is not null) group by 1, 2""", (owner_id,))
        return cur.fetchall()
    cur.execute("""select v1 as make, v2 as model, sum(n)::bigint as n from (
                       select v1, v2, n from media_counts where owner_id = %(o)s and dim = 'camera' and grain = 'a'
                       union all
                       select v1, v2, n from media_count_deltas where owner_id = %(o)s and dim = 'camera'
                          and grain = 'a') s
                    where v1 is not null or v2 is not null
                    group by v1, v2 having sum(n) > 0""", {"o": owner_id})
    return cur.fetchall()


def matching_cameras(cur, owner_id: UUID, f: Filters) -> list[dict]:
    """The live (make, model) pairs the camera filters name, with their counts (the planner's estimate)."""
    return [c for c in camera_values(cur, owner_id)
            if (not f.camera_make or (c["make"] and term_matches(f.camera_make, c["make"])))
            and (not f.camera_model or (c["model"] and term_matches(f.camera_model, f"{c['make'] or ''} {c['model']}")))]


def _prepare(cur, f: Filters) -> None:
    if f.similar_face_id is not None:
        cur.execute("set local hnsw.ef_search = %s", (SIMILAR_CANDIDATES,))


__all__ = ["Filters", "BadQuery", "SORTS", "LAT", "LON", "LIST_COLUMNS", "TEXT_EXPR", "SIMILAR_CANDIDATES",
           "tsquery_text", "cells", "cell_ranges", "tag_bucket", "finer_than_tag", "album_scope", "term_matches",
           "camera_values", "matching_cameras"]
