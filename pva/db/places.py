"""SQL for place names (009_places.sql): the places items are named after, each item's place, the worklist of
items whose place has not been looked up, and the place names as search, facets and stats read them.  Every
function takes the caller's cursor (pva/services/places.py opens the transactions)."""
from __future__ import annotations

from uuid import UUID

from psycopg2.extras import execute_values

from .media import LAT, LON

# a place as the pages and the API show it (the columns of `places`, for a join on p.id = m.place_id)
PLACE_COLUMNS = "p.id as place_id, p.city, p.region, p.country, p.country_code"


def locations(cur, media_ids: list[UUID]) -> list[dict]:
    """[{id, lat, lon}] of these items (the location shown: the override, else the file's GPS)."""
    cur.execute(f"select m.id, {LAT} as lat, {LON} as lon from media m where m.id = any(%s::uuid[])",
                (list(media_ids),))
    return cur.fetchall()


def todo(cur, after: UUID | None, limit: int, redo_below: int | None = None) -> list[dict]:
    """The next ``limit`` items (by id, after ``after``) with a location and no place looked up yet ([{id, lat,
    lon}]); with ``redo_below``, also those looked up with a gazetteer version below it."""
    if redo_below is None:
        cur.execute(f"""select m.id, {LAT} as lat, {LON} as lon from media m
                         where m.place_version is null and {LAT} is not null
                           and (%(after)s::uuid is null or m.id > %(after)s::uuid)
                         order by m.id limit %(n)s""", {"after": after, "n": limit})
    else:
        cur.execute(f"""select m.id, {LAT} as lat, {LON} as lon from media m
                         where (m.place_version is null or m.place_version < %(v)s) and {LAT} is not null
                           and (%(after)s::uuid is null or m.id > %(after)s::uuid)
                         order by m.id limit %(n)s""", {"after": after, "n": limit, "v": redo_below})
    return cur.fetchall()


def count_todo(cur, redo_below: int | None = None) -> int:
    if redo_below is None:  # (media_place_todo answers it)
        cur.execute(f"select count(*) as n from media m where m.place_version is null and {LAT} is not null")
    else:
        cur.execute(f"""select count(*) as n from media m where {LAT} is not null
                          and (m.place_version is null or m.place_version < %(v)s)""", {"v": redo_below})
    return cur.fetchone()["n"]


def _folded(text: str) -> str:
    """The words of ``text`` that have accents, without them ('Óbidos Leiria' -> 'Obidos')."""
    import unicodedata

    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(w for w, o in zip(plain.split(), text.split()) if w != o)


def place_ids(cur, names: list[tuple[str, str, str | None, str]]) -> dict[tuple, int]:
    """The ids of these (country_code, country, region, city), added when new: {name tuple: id}."""
    uniq = sorted(set(names), key=lambda t: tuple(x or "" for x in t))
    if not uniq:
        return {}
    execute_values(cur, """insert into places(country_code, country, region, city, folded) values %s
                           on conflict (country_code, region, city) do nothing""",
                   [(*t, _folded(" ".join(x for x in t[1:] if x))) for t in uniq], page_size=1000)
    rows = execute_values(cur, """select p.id, p.country_code, p.region, p.city
                                    from (values %s) v(cc, region, city)
                                    join places p on p.country_code = v.cc and p.city = v.city
                                                 and p.region is not distinct from v.region""",
                          [(cc, region, city) for cc, _, region, city in uniq], page_size=1000, fetch=True)
    got = {(r["country_code"], r["region"], r["city"]): r["id"] for r in rows}
    return {t: got[(t[0], t[2], t[3])] for t in uniq}


def set_places(cur, rows: list[tuple[UUID, int | None]], version: int) -> int:
    """Set each item's place (None: no place within reach) and the gazetteer version it was looked up with."""
    if not rows:
        return 0
    execute_values(cur, """update media m set place_id = v.pid, place_version = v.ver
                             from (values %s) v(id, pid, ver) where m.id = v.id""",
                   [(str(i), p, int(version)) for i, p in rows], template="(%s::uuid, %s::int, %s::smallint)",
                   page_size=2000)
    return len(rows)


def get(cur, place_id: int | None) -> dict | None:
    if place_id is None:
        return None
    cur.execute(f"select {PLACE_COLUMNS} from places p where p.id = %s", (place_id,))
    return cur.fetchone()


def of_media(cur, media_ids: list[UUID]) -> dict[UUID, dict]:
    """{media id: its place} of those of these items that have one."""
    cur.execute(f"""select m.id as media_id, {PLACE_COLUMNS} from media m join places p on p.id = m.place_id
                     where m.id = any(%s::uuid[])""", (list(media_ids),))
    return {r["media_id"]: r for r in cur.fetchall()}


def matching(cur, tsq: str, limit: int = 5000) -> list[int]:
    """Ids of the places whose city, region, country or country code matches a text query (to_tsquery 'simple')."""
    cur.execute("select id from places where name_tsv @@ to_tsquery('simple', %s) limit %s", (tsq, limit))
    return [r["id"] for r in cur.fetchall()]


def in_country(cur, country_code: str) -> list[int]:
    cur.execute("select id from places where country_code = %s", (country_code.upper(),))
    return [r["id"] for r in cur.fetchall()]


def facet(cur, rel: str, where: list[str], p: dict, limit: int = 50) -> dict:
    """Items per country and per city under the filters ``where`` (over ``rel``, the media table or a sample of
    it): {"country": [{value: code, name, n}], "city": [{id, city, region, country, country_code, n}]}."""
    cur.execute(f"""select m.place_id, count(*) as n from {rel}
                     where {' and '.join(where)} and m.place_id is not null group by 1""", p)
    counted = {r["place_id"]: r["n"] for r in cur.fetchall()}
    return _by_country_and_city(cur, counted, limit)


def owner_counts(cur, owner_id: UUID, limit: int = 50) -> dict:
    """The owner's live items per country and per city (the stats page, unfiltered facets), from the library
    counters (015_place_counts.sql) rather than a count of media_live_place: the same answer as ``facet`` without
    filters."""
    # counted and ranked here, in one round trip: a library has thousands of places, the page shows `limit` of each
    cur.execute("""with c as (select v1::int as place_id, sum(n)::bigint as n from (
                                  select v1, n from media_counts
                                   where owner_id = %(o)s and dim = 'place' and grain = 'a'
                                  union all
                                  select v1, n from media_count_deltas
                                   where owner_id = %(o)s and dim = 'place' and grain = 'a') s
                               group by v1 having sum(n) > 0),
                        named as (select p.*, c.n from c join places p on p.id = c.place_id)
                   (select 'city' as facet, id, city, region, country, country_code, n from named
                     order by n desc, city, id limit %(lim)s)
                   union all
                   (select 'country', null, null, null, min(country), country_code, sum(n)::bigint from named
                     group by country_code order by 7 desc, 5 limit %(lim)s)""", {"o": owner_id, "lim": limit})
    out: dict = {"country": [], "city": []}
    for r in cur.fetchall():
        if r["facet"] == "city":
            out["city"].append({k: r[k] for k in ("id", "city", "region", "country", "country_code", "n")})
        else:
            out["country"].append({"value": r["country_code"], "name": r["country"], "n": r["n"]})
    return out


def _by_country_and_city(cur, counted: dict[int, int], limit: int) -> dict:
    if not counted:
        return {"country": [], "city": []}
    cur.execute(f"select {PLACE_COLUMNS} from places p where p.id = any(%s)", (list(counted),))
    places = cur.fetchall()
    countries: dict[str, dict] = {}
    for pl in places:
        c = countries.setdefault(pl["country_code"], {"value": pl["country_code"], "name": pl["country"], "n": 0})
        c["n"] += counted[pl["place_id"]]
    order = lambda r: (-r["n"], r.get("name") or r.get("city") or "")  # noqa: E731
    cities = [{"id": pl["place_id"], "city": pl["city"], "region": pl["region"], "country": pl["country"],
               "country_code": pl["country_code"], "n": counted[pl["place_id"]]} for pl in places]
    return {"country": sorted(countries.values(), key=order)[:limit], "city": sorted(cities, key=order)[:limit]}


__all__ = ["PLACE_COLUMNS", "locations", "todo", "count_todo", "place_ids", "set_places", "get", "of_media", "matching",
           "in_country", "facet", "owner_counts"]
