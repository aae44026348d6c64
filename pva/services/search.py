"""Searching the library: the filters a request or a page's URL names, checked against the caller (ids inside them
must be theirs), one page of results, facet counts, and the previous and next item of a list for the viewer.

The gateway's GET /media and /search/facets and the web pages all come here (issue 17: the parsing and the checks
used to live in gateway/routers/media.py, the neighbours in the web router).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from uuid import UUID

from ..config import get_settings
from ..db import search as search_q
from ..db.search import place_facets as place_facets_q
from ..errors import Invalid, NotFound
from ..infra import db
from . import people as people_service
from . import places
from .media import Unprocessable


class BadSearch(Unprocessable):
    """Search parameters that cannot be used (a bad date, map box or cursor): 422, as the API has always answered
    them."""


def _parse_when(value: str | None, name: str, end: bool = False) -> datetime | None:
    """ISO date or datetime; a bare date as `to` means the end of that day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            if end:
                d = d + timedelta(days=1)
            return datetime.combine(d, time.min, tzinfo=timezone.utc)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    except ValueError:
        raise BadSearch(f"{name} must be an ISO date (2024-05-31) or date-time "
                        f"(2024-05-31T14:00:00Z), not {value!r}") from None


def _parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        s, w, n, e = (float(x) for x in value.split(","))
    except ValueError:
        raise BadSearch("bbox must be 'south,west,north,east' in degrees, e.g. 48.8,2.2,48.9,2.4") from None
    if not (-90 <= s <= n <= 90 and -180 <= w <= 180 and -180 <= e <= 180):
        raise BadSearch("bbox: latitudes in -90..90 with south <= north, longitudes in -180..180 "
                        "(west > east crosses the antimeridian)")
    return s, w, n, e


def make_filters(*, date_from: str | None = None, date_to: str | None = None, bbox: str | None = None,
                 no_gps: bool = False, label: list[str] = (), min_confidence: float = 0.0,
                 person: UUID | None = None, similar_face: int | None = None, camera_make: str | None = None,
                 camera_model: str | None = None, kind: str | None = None, format: str | None = None,
                 q: str | None = None, album: UUID | None = None, trashed: bool = False,
                 country: str | None = None, place: int | None = None) -> search_q.Filters:
    """The filters of a search from its query parameters as the API names them (``from``, ``to``, ``q``...)."""
    return search_q.Filters(
        date_from=_parse_when(date_from, "from"), date_to=_parse_when(date_to, "to", end=True),
        bbox=_parse_bbox(bbox), no_gps=no_gps, labels=[x.strip() for x in label if x.strip()][:10],
        min_confidence=min_confidence, person_id=person, similar_face_id=similar_face,
        face_threshold=get_settings().face_threshold, camera_make=camera_make, camera_model=camera_model,
        kind=kind, format=format, text=q, album_id=album, trashed=trashed,
        country=country.strip().upper() or None if country else None, place_id=place)


def check_refs(f: search_q.Filters, user_id: UUID) -> None:
    """Ids inside filters must be the user's own (NotFound otherwise, like any other id)."""
    if f.person_id is not None and people_service.get_person(user_id, f.person_id) is None:
        raise NotFound("person")
    if f.similar_face_id is not None and people_service.get_face(user_id, f.similar_face_id) is None:
        raise NotFound("face")
    if f.trashed and f.album_id is not None:
        raise BadSearch("the trash cannot be combined with an album")


def _run(fn, *args, **kw):
    """The repository's query in a transaction of its own (the planner's ``set local`` knobs end with it), and its
    refusals in the service's terms: LookupError('album') -> NotFound, BadQuery -> BadSearch."""
    try:
        with db.transaction() as cur:
            return fn(cur, *args, **kw)
    except NotFound:
        raise
    except LookupError as e:
        raise NotFound(str(e.args[0]) if e.args else "item") from None
    except search_q.BadQuery as e:
        raise BadSearch(str(e)) from None


def _filters(f: search_q.Filters | dict) -> search_q.Filters:
    return make_filters(**f) if isinstance(f, dict) else f


def search(user_id: UUID, f: search_q.Filters | dict, *, sort: str = "taken", order: str = "desc",
           limit: int = 100, cursor: str | None = None, stack: str | None = None) -> dict:
    """One page of the user's search (all filters combine with AND): {"items": [...], "next_cursor": str|None}.
    ``f``: the filters, or the query parameters that make them (:func:`make_filters`).  ``stack="bursts"``: a
    burst is its first photo only, with burst_size (the library grid's stacks, pva.services.bursts)."""
    f = _filters(f)
    if stack == "bursts":
        f = search_q.replace(f, stack_bursts=True)
    check_refs(f, user_id)
    return places.with_places(_run(search_q.search, user_id, f, sort=sort, order=order, limit=limit, cursor=cursor))


def facets(user_id: UUID, f: search_q.Filters | dict) -> dict:
    """How many items each filter value would give under the other active filters (pva.db.search.facets)."""
    f = _filters(f)
    check_refs(f, user_id)
    out = _run(search_q.facets, user_id, f)
    return {**out, **_run(place_facets_q.place_facets, user_id, f)}  # country, city (issue 21)


def camera_name(make: str | None, model: str | None) -> str:
    """A camera as people name it: "Canon EOS 40D", not "Canon Canon EOS 40D" (the model often repeats the make,
    or its first word: NIKON CORPORATION's "NIKON D70"); the same rule as the viewer's cameraText."""
    make, model = (make or "").strip(), (model or "").strip()
    if not make or not model:
        return make or model
    return model if model.casefold().startswith(make.split()[0].casefold()) else f"{make} {model}"


SUGGEST_FIELDS = ("camera", "camera_make", "camera_model")
SUGGEST_LIMIT = 20


def suggest(user_id: UUID, field: str, q: str = "") -> dict:
    """Values of the user's own library for a search box, most used first, those matching what was typed (as the
    filter matches it: "nikon" suggests NIKON CORPORATION): {"field", "q", "values": [{"value", "n"}]}.
    ``camera`` is the name people read (camera_name); camera_make and camera_model the values of those filters."""
    if field not in SUGGEST_FIELDS:
        raise Invalid(f"field must be one of {', '.join(SUGGEST_FIELDS)}")
    q = (q or "").strip()
    with db.transaction() as cur:
        cams = search_q.camera_values(cur, user_id)
    counts: dict[str, int] = {}
    for c in cams:
        value = {"camera": camera_name(c["make"], c["model"]), "camera_make": c["make"],
                 "camera_model": c["model"]}[field]
        if value and (not q or search_q.term_matches(q, value if field != "camera_model"
                                                        else f"{c['make'] or ''} {value}")):
            counts[value] = counts.get(value, 0) + int(c["n"])
    values = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].casefold()))[:SUGGEST_LIMIT]
    return {"field": field, "q": q, "values": [{"value": v, "n": n} for v, n in values]}


def filters_from_query(qs: str, user) -> tuple[search_q.Filters, str, str] | None:
    """(filters, sort, order) of a search as the web UI writes it in a URL query (from=...&label=...), checked like
    GET /media checks them; None when it does not parse or names ids that are not the user's."""
    from urllib.parse import parse_qs

    q = parse_qs(qs or "", max_num_fields=50)

    def one(k: str) -> str | None:
        v = q.get(k)
        return v[-1] if v else None

    try:
        f = make_filters(
            date_from=one("from"), date_to=one("to"), bbox=one("bbox"), no_gps=one("no_gps") in ("true", "1", "on"),
            label=q.get("label", []), min_confidence=min(1.0, max(0.0, float(one("min_confidence") or 0))),
            person=UUID(one("person")) if one("person") else None,
            similar_face=int(one("similar_face")) if one("similar_face") else None,
            camera_make=one("camera_make"), camera_model=one("camera_model"),
            kind=one("kind") if one("kind") in ("photo", "video") else None, format=one("format"), q=one("q"),
            album=UUID(one("album")) if one("album") else None, trashed=False)
        check_refs(f, user.user_id)
    except (ValueError, NotFound, Invalid):
        return None
    if f.album_id is not None:
        with db.transaction() as cur:
            if search_q.album_scope(cur, f.album_id, user.user_id) is None:
                return None
    sort = one("sort") if one("sort") in search_q.SORTS else "taken"
    order = one("order") if one("order") in ("asc", "desc") else "desc"
    return f, sort, order


def neighbours(media: dict, user, context: str = "") -> dict:
    """Previous and next item in the list the user came from: `context` is that search's query (the `in`
    parameter the grids put on their links: a search, an album, ...); without one, the library, newest first."""
    from urllib.parse import quote

    none = {"prev": None, "next": None, "suffix": ""}
    found = filters_from_query(context, user) if context else None
    f, sort, order = found or (search_q.Filters(), "taken", "desc")
    if media.get("trashed_at") is not None or (media.get("access") != "owner" and f.album_id is None):
        return none
    value = media.get("created_at") if sort == "added" else (media.get("taken_at") or media.get("created_at"))
    if value is None:
        return none
    cursor = search_q.encode_cursor(sort, value, media["id"])
    back = "asc" if order == "desc" else "desc"
    try:
        after = _run(search_q.search, user.user_id, f, sort=sort, order=order, limit=1, cursor=cursor)["items"]
        before = _run(search_q.search, user.user_id, f, sort=sort, order=back, limit=1, cursor=cursor)["items"]
    except (NotFound, Invalid):
        return none
    return {"prev": str(before[0]["id"]) if before else None, "next": str(after[0]["id"]) if after else None,
            "suffix": "?in=" + quote(context, safe="") if found else ""}


__all__ = ["BadSearch", "make_filters", "check_refs", "search", "facets", "camera_name", "suggest",
           "filters_from_query", "neighbours"]
