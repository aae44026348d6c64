"""SQL for "On this day" memories (issue 21; 011_bursts_memories.sql): the items of a calendar day in earlier
years, the prepared rows the housekeeping cron writes (memories, memories_prepared), and what the library page
reads back.  Every function takes the caller's cursor; pva.services.memories decides what a memory holds."""
from __future__ import annotations

from datetime import date
from uuid import UUID

from .search.filters import LIST_COLUMNS

# the calendar day an item was taken on, as its camera's clock showed it (else the UTC date): month * 100 + day.
# The same expression as the index media_owner_month_day of 011_bursts_memories.sql (so the index serves it).
_LOCAL = "coalesce(m.taken_at_local, m.taken_at at time zone 'UTC')"
MONTH_DAY = (f"((extract(month from {_LOCAL}) * 100 + extract(day from {_LOCAL}))::int)")


def has_phash(cur) -> bool:
    """Whether media.phash (near-duplicates, migration 010) exists in this database."""
    cur.execute("""select 1 from information_schema.columns
                    where table_schema = current_schema() and table_name = 'media' and column_name = 'phash'""")
    return cur.fetchone() is not None


def candidates(cur, owner_id: UUID, month_days: list[int], before_year: int, phash: bool) -> list[dict]:
    """The owner's live items taken on these month-days (month * 100 + day) of years before ``before_year``:
    id, year, burst_id, phash (a '0101...' string, or None), newest year first, then in capture order."""
    cur.execute(f"""select m.id, extract(year from {_LOCAL})::int as year, m.burst_id,
                           {'m.phash::text' if phash else 'null::text'} as phash
                      from media m
                     where m.owner_id = %s and m.trashed_at is null and m.taken_at is not null
                       and {MONTH_DAY} = any(%s::int[]) and extract(year from {_LOCAL}) < %s
                     order by 2 desc, {_LOCAL}, m.id""", (owner_id, list(month_days), before_year))
    return cur.fetchall()


def replace_days(cur, owner_id: UUID, days: list[date], rows: list[tuple[date, int, list[UUID], int]]) -> None:
    """The owner's prepared memories become ``rows`` (day, year, media_ids, total) for these days; memories of
    other days are dropped; the owner is marked prepared now."""
    from psycopg2.extras import execute_values

    cur.execute("delete from memories where owner_id = %s", (owner_id,))
    if rows:
        execute_values(cur, "insert into memories(owner_id, day, year, media_ids, total) values %s",
                       [(owner_id, d, y, [str(i) for i in ids], t) for d, y, ids, t in rows],
                       template="(%s, %s, %s, %s::uuid[], %s)")
    cur.execute("""insert into memories_prepared(owner_id, days, prepared_at) values (%s, %s::date[], now())
                   on conflict (owner_id) do update set days = excluded.days, prepared_at = now()""",
                (owner_id, list(days)))


def owners_due(cur, days: list[date], max_age_seconds: int, limit: int) -> list[UUID]:
    """Owners whose memories were never prepared, were prepared for other days, or longer ago than the age."""
    cur.execute("""select u.id from users u left join memories_prepared p on p.owner_id = u.id
                    where not u.disabled and (p.owner_id is null or p.days <> %s::date[]
                          or p.prepared_at < now() - make_interval(secs => %s))
                    order by p.prepared_at nulls first limit %s""", (list(days), max_age_seconds, limit))
    return [r["id"] for r in cur.fetchall()]


def prepared(cur, owner_id: UUID, day: date) -> list[dict]:
    """The owner's prepared memories of ``day``: year, media_ids, total; newest year first."""
    cur.execute("""select year, media_ids, total from memories where owner_id = %s and day = %s
                    order by year desc""", (owner_id, day))
    return cur.fetchall()


def items(cur, owner_id: UUID, media_ids: list[UUID]) -> list[dict]:
    """These items of the owner still out of the trash, in the order given, as the listing shows items."""
    cur.execute(f"""select {LIST_COLUMNS} from unnest(%s::uuid[]) with ordinality as x(id, n)
                      join media m on m.id = x.id
                     where m.owner_id = %s and m.trashed_at is null order by x.n""", (list(media_ids), owner_id))
    return cur.fetchall()
