"""SQL for the library counters (media_counts + media_count_deltas, kept by triggers; see 004_library_counts.sql).

Exact counts and bytes of one owner's live (not trashed) media per value of: kind, format, camera (make, model),
gps ('with' / 'without'), tag (label_tags: 'dog:5' = a dog detected with confidence >= 0.5), person and album (ids),
place (media.place_id, a city of ``places``; 015_place_counts.sql), for
all time, per year and per month of the date taken (UTC, falling back to the date added).

Every function that reads or writes takes the caller's cursor: stats and search read the counters inside their
own transaction (pva/services/stats.py, pva/db/search/).
"""
from __future__ import annotations

from datetime import date, datetime, timezone
from uuid import UUID

DIMS = ("kind", "format", "camera", "gps", "tag", "person", "album", "place")


def is_month_start(t: datetime | None) -> bool:
    if t is None:
        return True
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.day == 1 and (t.hour, t.minute, t.second, t.microsecond) == (0, 0, 0, 0)


def _month(t: datetime) -> date:
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return date(t.year, t.month, 1)


def period_clause(date_from: datetime | None, date_to: datetime | None, p: dict) -> str:
    """SQL selecting the counter rows that add up to [date_from, date_to): all-time rows when unbounded, else
    whole years plus the months at either end.  Both bounds must be month starts in UTC (is_month_start)."""
    if date_from is None and date_to is None:
        return "grain = 'a'"
    f = _month(date_from) if date_from else None
    t = _month(date_to) if date_to else None
    fy = None if f is None else (f if f.month == 1 else date(f.year + 1, 1, 1))  # first whole year
    ty = None if t is None else date(t.year, 1, 1)                              # end of the whole years
    if fy is not None and ty is not None and fy >= ty:  # no whole year inside: months only
        p.update(c_m0=f, c_m1=t, c_m2=t, c_m3=t)
        p.update(c_y0=date(1, 1, 1), c_y1=date(1, 1, 1))
    else:
        p.update(c_y0=fy or "-infinity", c_y1=ty or "infinity",
                 c_m0=f or "-infinity", c_m1=fy or "-infinity", c_m2=ty or "infinity", c_m3=t or "infinity")
    return """((grain = 'y' and period >= %(c_y0)s::date and period < %(c_y1)s::date)
               or (grain = 'm' and ((period >= %(c_m0)s::date and period < %(c_m1)s::date)
                                 or (period >= %(c_m2)s::date and period < %(c_m3)s::date))))"""


def _rows(cur, sql: str, p: dict) -> list[dict]:
    cur.execute(sql, p)
    return cur.fetchall()


def totals(cur, owner_id: UUID, dims: tuple[str, ...] | list[str] = DIMS, date_from: datetime | None = None,
           date_to: datetime | None = None) -> list[dict]:
    """[{dim, v1, v2, n, bytes}] of the owner's live media in the date range (month-aligned bounds)."""
    p: dict = {"o": owner_id, "dims": list(dims)}
    periods = period_clause(date_from, date_to, p)
    return _rows(cur, f"""select dim, v1, v2, sum(n)::bigint as n, sum(bytes)::bigint as bytes from (
                       select dim, v1, v2, n, bytes from media_counts
                        where owner_id = %(o)s and dim = any(%(dims)s) and {periods}
                       union all
                       select dim, v1, v2, n, bytes from media_count_deltas
                        where owner_id = %(o)s and dim = any(%(dims)s) and {periods}) s
                     group by dim, v1, v2 having sum(n) > 0""", p)


def place_totals(cur, owner_id: UUID) -> dict[int, int]:
    """{place id: live items} of the owner, all time (a country is the sum of its places)."""
    return {int(r["v1"]): r["n"] for r in totals(cur, owner_id, ["place"])}


def places_count(cur, owner_id: UUID, place_ids: list[int]) -> int:
    """All-time live items of the owner in any of these places (a country's).  Read by the counters' whole key
    (period null for all time): without it the index walked every place's counter of the owner (the places "east"
    names at 1M: 675 buffers, 6 ms)."""
    cur.execute("""select coalesce(sum(n), 0)::bigint as n from (
                       select n from media_counts where owner_id = %(o)s and dim = 'place' and grain = 'a'
                                                    and period is null and v1 = any(%(ids)s::text[])
                       union all
                       select n from media_count_deltas where owner_id = %(o)s and dim = 'place' and grain = 'a'
                                                          and v1 = any(%(ids)s::text[])) s""",
                {"o": owner_id, "ids": [str(i) for i in place_ids]})
    return cur.fetchone()["n"]


def per_period(cur, owner_id: UUID, grain: str = "m", dim: str = "kind") -> list[dict]:
    """[{period, v1, n, bytes}] per month ('m') or year ('y'), oldest first."""
    return _rows(cur, """select period, v1, sum(n)::bigint as n, sum(bytes)::bigint as bytes from (
                      select period, v1, n, bytes from media_counts
                       where owner_id = %(o)s and dim = %(dim)s and grain = %(g)s
                      union all
                      select period, v1, n, bytes from media_count_deltas
                       where owner_id = %(o)s and dim = %(dim)s and grain = %(g)s) s
                    group by period, v1 having sum(n) > 0 order by period, v1""",
                 {"o": owner_id, "g": grain, "dim": dim})


def value_counts(cur, owner_id: UUID, keys: list[tuple[str, str, str | None]]) -> tuple[list[int], int]:
    """All-time counts of several values at once, [(dim, v1, v2 or None for any)] -> ([n, ...], library size),
    in one round trip (search asks this of every query with counted filters)."""
    p = {"o": owner_id, "dims": [k[0] for k in keys], "v1s": [k[1] for k in keys]}
    # Each counter is read by its whole unique key (owner, dim, grain, period, v1): a filter on (owner, grain) with
    # the dimensions in an OR walked every counter of the owner in the index (all years and months of every label
    # and person: 355,000 rows, 80 ms at 1M media) for the two or three rows wanted (bench/search.py).  The kind
    # rows give the library's size; a 'kind' key is answered by them, not read twice.
    rows = _rows(cur, """select dim, v1, v2, sum(n)::bigint as n from (
                      select c.dim, c.v1, c.v2, c.n from media_counts c
                       where c.owner_id = %(o)s and c.dim = 'kind' and c.grain = 'a' and c.period is null
                      union all
                      select c.dim, c.v1, c.v2, c.n
                        from (select distinct * from unnest(%(dims)s::text[], %(v1s)s::text[]) k(dim, v1)
                               where k.dim <> 'kind') k
                        join media_counts c on c.owner_id = %(o)s and c.dim = k.dim and c.grain = 'a'
                                           and c.period is null and c.v1 = k.v1
                      union all
                      select dim, v1, v2, n from media_count_deltas
                       where owner_id = %(o)s and grain = 'a'
                         and (dim = 'kind' or (dim, v1) in (select * from unnest(%(dims)s::text[], %(v1s)s::text[]))))
                    s group by dim, v1, v2""", p)
    found = [sum(r["n"] for r in rows if (r["dim"], r["v1"]) == (dim, v1) and (v2 is None or r["v2"] == v2))
             for dim, v1, v2 in keys]
    return found, sum(r["n"] for r in rows if r["dim"] == "kind")


def value_count(cur, owner_id: UUID, dim: str, v1: str, v2: str | None = None) -> int:
    """All-time count of one value (e.g. ('tag', 'dog:5'), ('camera', 'Canon', 'EOS R')); 0 when none."""
    return value_counts(cur, owner_id, [(dim, v1, v2)])[0][0]


def fold(cur) -> int:
    """Move the deltas into the counters (the reconcile cron does this); returns the counter rows touched."""
    cur.execute("select pva_fold_media_counts() as n")
    return cur.fetchone()["n"]


def rebuild(cur, owner_id: UUID | None = None) -> int:
    """Recount from the media rows (one owner, or everyone).  Media writes wait until the caller's transaction
    ends."""
    cur.execute("select pva_rebuild_media_counts(%s) as n", (owner_id,))
    return cur.fetchone()["n"]


def pending_deltas(cur) -> int:
    cur.execute("select count(*) as n from media_count_deltas")
    return cur.fetchone()["n"]
