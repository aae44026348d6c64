"""Facet counts: for each filter, its values' counts under the other filters (from the library counters when
they can answer, else GROUPING SETS scans, sampled when the filters match very many items).

Named facet_counts, not facets, so that ``pva.db.search.facets`` stays the function callers import."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from uuid import UUID

from .filters import LAT, LON, SORTS, Filters, _prepare, _where, finer_than_tag, tag_bucket
from .planner import _estimate

FACET_LIMIT = 50


def facets(cur, user_id: UUID, f: Filters) -> dict:
    """Counts for each filter's values under the other filters (a filter does not narrow its own facet).

    No filter, or a date range of whole months: exact, from the library counters; so is a facet narrowed only by
    its own filter.  When some facet would count more than FACET_EXACT_MAX items, the rows are a sample of the
    table's pages (about FACET_SAMPLE_ROWS rows) and the counts are scaled: "approximate": true says so.  The rest
    are counted in one pass over the rows (ONE_PASS), or, when that read would not be bounded, with the column
    facets whose own filter is not in use sharing one scan (GROUPING SETS) and each active one in a scan of its
    own."""
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
        w = _where(cur, f, user_id, p, skip=skip)
        sets = ", ".join(f"({facet_sets[n][0]})" for n in names)
        select = ", ".join([c for n in names for c in columns[n]] +
                           [f"grouping({firsts[n]}) as g_{n}" for n in names])
        cur.execute(f"select {select}, count(*) as n from {rel} where {' and '.join(w)} "
                    f"group by grouping sets ({sets})", p)
        return cur.fetchall()

    fast = _counted_facets(cur, user_id, f)
    if fast is not None:
        return fast
    # a facet whose own filter is the only thing beyond a whole-month date range comes from the counters
    exact: dict[str, object] = {}
    for name, fields in _FACET_FILTERS.items():
        without = replace(f, **fields)
        if without != f:
            facet = "year" if name == "date" else name
            counted = _counted_facets(cur, user_id, without, only=facet)
            if counted is not None:
                exact[name] = counted[facet]
    clauses = _clauses(cur, f, user_id, exact)
    pct = _facet_sample_percent(cur, f, user_id, clauses)
    if pct is not None:
        rel, scale = f"media m tablesample system ({pct:.4f}) repeatable (7)", 100.0 / pct
        out["approximate"] = True
    _prepare(cur, f)
    if ONE_PASS:
        one = _one_pass(cur, user_id, f, rel, exact, clauses, columns={n: e for n, (e, _) in facet_sets.items()},
                        sampled=out["approximate"])
        if one is not None:
            out.update(one)
            return _scaled(out, scale, exact)
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
    w = _where(cur, f, user_id, p, skip="person")
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
    return _scaled(out, scale, exact)


def _scaled(out: dict, scale: float, exact: dict) -> dict:
    """Sampled counts scaled back up to the library; the facets the counters answered put in as they are."""
    if scale != 1.0:
        for name in ("kind", "format", "camera", "year", "label", "person", "album"):
            for r in out.get(name, []):
                r["n"] = max(1, round(r["n"] * scale))
        out["gps"] = {k: round(v * scale) for k, v in out.get("gps", {}).items()}
    out.update({"year" if n == "date" else n: v for n, v in exact.items()})
    return out


# Facets are counted in one pass over the sample (or over the matches, when every facet that the counters cannot
# answer is narrowed by the other filters only): each row read once, with a flag per active filter, kept when it
# fails at most one of them (a facet counts the rows that pass every filter but its own).  Reading the rows once
# per facet instead (six to eight scans) cost 0.2-1.4 s at 1M (bench/search.py).
ONE_PASS = True


def _one_pass(cur, user_id: UUID, f: Filters, rel: str, exact: dict, clauses: _Clauses, columns: dict[str, str],
              sampled: bool) -> dict | None:
    """All the facets from one read of the rows (see ONE_PASS); None when that read would not be bounded: not
    sampled, and some facet needs the rows that fail its own filter (found through no index: the caller counts
    those facets in scans of their own)."""
    p, full = clauses.p, clauses.full
    own: dict[str, list[str]] = {}  # each active facet's own clauses
    for name, without in clauses.without.items():
        mine = [c for c in full if c not in without]
        if mine:
            own[name] = mine
    if (own and not sampled) or ("label" in own and finer_than_tag(f.min_confidence)):
        # (a label above its tag's confidence floor is re-checked against detections: as a flag on every row
        # the planner hashes all that label's detections, 2x slower than the scans of its own)
        return None
    base = [c for c in full if not any(c in mine for mine in own.values())]
    flags = [f"coalesce(({' and '.join(mine)}), false) as ok_{name}" for name, mine in own.items()]
    failed = " + ".join(f"(not ok_{name})::int" for name in own) or "0"

    def rows_for(name: str) -> str:  # the rows a facet counts: all filters pass, or only its own fails
        return f"(failed = 0 or (failed = 1 and not ok_{name}))" if name in own else "failed = 0"

    person_seen = str(p["owner"]) == str(user_id)  # a shared album: the owner's people are not the recipient's
    bucket = tag_bucket(f.min_confidence)
    p["tag_like"] = f"%:{bucket}"
    parts = []
    for name, value in (("kind", "kind"), ("format", "format"), ("camera", "camera_make, camera_model"),
                        ("date", "year"), ("gps", "has_gps")):
        if name not in exact:
            v1, _, v2 = value.partition(", ")
            parts.append(f"select '{name}' as facet, {v1}::text as v1, {v2 or 'null'}::text as v2, count(*) as n "
                         f"from t where {rows_for(name)} group by {value}")
    if "label" not in exact:
        if finer_than_tag(f.min_confidence):  # the tags cannot answer it: the detections of the sampled rows
            p["minconf_facet"] = f.min_confidence
            parts.append("select 'label' as facet, d.label as v1, null::text as v2, count(distinct d.media_id) as n from t "
                         f"join detections d on d.media_id = t.id where {rows_for('label')} "
                         "and d.confidence >= %(minconf_facet)s::real group by d.label")
        else:
            parts.append("select 'label' as facet, left(tag, length(tag) - 2) as v1, null::text as v2, count(*) as n from t "
                         f"cross join unnest(t.label_tags) tag where {rows_for('label')} "
                         "and tag like %(tag_like)s group by tag")
    if "person" not in exact and person_seen:
        parts.append("select 'person' as facet, pid::text as v1, null::text as v2, count(*) as n from t "
                     "cross join unnest(t.person_ids) pid "
                     f"where {rows_for('person')} group by pid")
    if "album" not in exact:
        parts.append("select 'album' as facet, aid::text as v1, null::text as v2, count(*) as n from t "
                     "cross join unnest(t.album_ids) aid "
                     f"where {rows_for('album')} group by aid")
    cols = (f"m.id, m.kind, m.format, m.camera_make, m.camera_model, {columns['date']} as year, "
            f"{columns['gps']} as has_gps, m.label_tags, m.person_ids, m.album_ids")
    cur.execute("set local work_mem = '64MB'")  # the rows and their groups in memory, not in temporary files
    cur.execute(f"""with t as materialized (
                        select * from (select *, {failed} as failed from (
                            select {', '.join([cols] + flags)} from {rel} where {' and '.join(base)}) s0) s1
                         where failed <= 1)
                    {' union all '.join(parts)}""", p)
    got: dict[str, list[dict]] = {}
    for r in cur.fetchall():
        got.setdefault(r["facet"], []).append(r)
    top = lambda xs: sorted(xs, key=lambda r: -r["n"])[:FACET_LIMIT]  # noqa: E731
    out: dict = {}
    if "kind" not in exact:
        out["kind"] = top({"value": r["v1"], "n": r["n"]} for r in got.get("kind", []))
    if "format" not in exact:
        out["format"] = top({"value": r["v1"], "n": r["n"]} for r in got.get("format", []))
    if "camera" not in exact:
        out["camera"] = top({"make": r["v1"], "model": r["v2"], "n": r["n"]} for r in got.get("camera", []))
    if "date" not in exact:
        out["year"] = sorted(({"value": None if r["v1"] is None else int(r["v1"]), "n": r["n"]}
                              for r in got.get("date", [])), key=lambda r: -(r["value"] or 0))
    if "gps" not in exact:
        out["gps"] = {"with": sum(r["n"] for r in got.get("gps", []) if r["v1"] == "true"),
                      "without": sum(r["n"] for r in got.get("gps", []) if r["v1"] == "false")}
    if "label" not in exact:
        out["label"] = top({"value": r["v1"], "n": r["n"]} for r in got.get("label", []))
    if "person" not in exact:
        counted = {r["v1"]: r["n"] for r in got.get("person", [])}
        cur.execute("select id, name from people where id = any(%s::uuid[]) and not hidden", (list(counted),))
        out["person"] = top({"id": r["id"], "name": r["name"], "n": counted[str(r["id"])]} for r in cur.fetchall())
    if "album" not in exact:
        counted = {r["v1"]: r["n"] for r in got.get("album", [])}
        cur.execute("select id, name from albums where id = any(%s::uuid[]) and owner_id = %s",
                    (list(counted), user_id))
        out["album"] = top({"id": r["id"], "name": r["name"], "n": counted[str(r["id"])]} for r in cur.fetchall())
    return out


# the filters of each facet: a facet is counted with them cleared (it does not narrow itself)
_FACET_FILTERS = {"kind": {"kind": None}, "format": {"format": None},
                  "camera": {"camera_make": None, "camera_model": None},
                  "date": {"date_from": None, "date_to": None}, "gps": {"bbox": None, "no_gps": False},
                  "label": {"labels": []}, "person": {"person_id": None}, "album": {"album_id": None}}


FACET_EXACT_MAX = 8_000     # facets that would count more items than this are counted on a sample ...
FACET_SAMPLE_ROWS = 10_000  # ... of about this many rows of the table


@dataclass
class _Clauses:
    """The WHERE clauses of the filters (with their parameters), and for each active facet that the counters
    cannot answer, the clauses with its own filter left out: the set that facet counts."""
    p: dict
    full: list[str]
    without: dict[str, list[str]]


def _clauses(cur, f: Filters, user_id: UUID, exact: dict | None) -> _Clauses:
    """``exact``: the facets the counters answer (no set of their own); None for the matches alone (the place
    facets)."""
    p: dict = {}
    full = _where(cur, f, user_id, p)
    without = {name: _where(cur, f, user_id, p, skip=name) for name, cleared in _FACET_FILTERS.items()
               if exact is not None and name not in exact and replace(f, **cleared) != f}
    return _Clauses(p, full, without)


def _facet_sample_percent(cur, f: Filters, user_id: UUID, clauses: _Clauses) -> float | None:
    """The share of pages to sample (TABLESAMPLE SYSTEM percent) when a facet would count many items, else None.

    A facet counts the items that pass every filter but its own, so what decides is the widest of those sets,
    not the matches: a rare label in one year still has the label facet count every item of that year.  The
    counters give the matches exactly; each facet's set (filters the counters do not know among them: a map
    box, a date range, text) is the planner's estimate."""
    est = _estimate(cur, f, user_id)
    widest = est[0] if est is not None else 0.0
    if widest <= FACET_EXACT_MAX:
        for w in [clauses.full, *clauses.without.values()]:
            # a map box is its cells' ranges for this (the planner takes the latitude, longitude and cell ranges
            # as independent and would guess a city's 77,000 items at a tenth of that)
            w = [c for c in w if not c.startswith((f"{LAT} between", f"{LON} between", f"({LON} >="))]
            cur.execute(f"explain (format json) select 1 from media m where {' and '.join(w)}", clauses.p)
            row = cur.fetchone()
            plan = next(iter(row.values())) if isinstance(row, dict) else row[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            widest = max(widest, float(plan[0]["Plan"]["Plan Rows"]))
            if widest > FACET_EXACT_MAX:
                break
    if widest <= FACET_EXACT_MAX:
        return None
    cur.execute("select greatest(reltuples, 1) as n from pg_class where oid = 'media'::regclass")
    rows = cur.fetchone()["n"]
    pct = 100.0 * FACET_SAMPLE_ROWS / rows
    return pct if pct < 50 else None


def _label_facet(cur, user_id: UUID, f: Filters, rel: str) -> list[dict]:
    p: dict = {}
    w = _where(cur, f, user_id, p, skip="label")
    bucket = tag_bucket(f.min_confidence)
    if not finer_than_tag(f.min_confidence):  # the tags answer it: no join with detections
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
    w = _where(cur, f, user_id, p, skip="album")
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
    from .. import counts

    bucket = tag_bucket(f.min_confidence)
    if (replace(f, date_from=None, date_to=None, min_confidence=0.0) != Filters()
            or finer_than_tag(f.min_confidence)
            or not (counts.is_month_start(f.date_from) and counts.is_month_start(f.date_to))):
        return None
    names = [only] if only else list(FACETS)
    dims = [_FACET_DIM[n] for n in names if n in _FACET_DIM]
    by: dict[str, list[dict]] = {d: [] for d in dims}
    for r in counts.totals(cur, user_id, dims, f.date_from, f.date_to) if dims else []:
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
            for r in counts.per_period(cur, user_id, "y", "kind"):  # a row per (year, kind)
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


__all__ = ["facets", "FACETS", "FACET_LIMIT", "FACET_EXACT_MAX", "FACET_SAMPLE_ROWS"]
