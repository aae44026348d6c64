"""SQL for bursts (issue 21): media.burst_id / burst_size (011_bursts_memories.sql), a camera's photos in time
order, the rebuild of an owner's whole library, and a burst's members.  Every function takes the caller's cursor;
pva.services.bursts holds the transactions and decides what a burst is."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from .search.filters import LIST_COLUMNS

# the photos a burst can be made of: a live photo with a camera and a time (the partial index media_camera_time)
_BURSTABLE = ("m.kind = 'photo' and m.trashed_at is null and m.camera_model is not null "
              "and m.taken_at is not null")


def lock_camera(cur, owner_id: UUID, make: str | None, model: str) -> None:
    """Serialise the burst updates of one owner's camera until the transaction ends: two photos of one burst
    ingested at once each see the other's row once they hold the lock."""
    cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 21))",
                (f"bursts:{owner_id}:{make or ''}:{model}",))


def camera_photos(cur, owner_id: UUID, make: str | None, model: str, start: datetime, end: datetime) -> list[dict]:
    """The camera's live photos taken in [start, end], in time order: id, taken_at, burst_id, burst_size."""
    cur.execute(f"""select m.id, m.taken_at, m.burst_id, m.burst_size from media m
                     where m.owner_id = %s and m.camera_model = %s and coalesce(m.camera_make, '') = %s
                       and {_BURSTABLE} and m.taken_at between %s and %s
                     order by m.taken_at, m.id""", (owner_id, model, make or "", start, end))
    return cur.fetchall()


def set_bursts(cur, changes: list[tuple[UUID, UUID | None, int | None]]) -> int:
    """(media_id, burst_id, burst_size) for each row to change; returns how many changed."""
    if not changes:
        return 0
    cur.execute("""update media m set burst_id = c.burst_id, burst_size = c.burst_size
                     from unnest(%s::uuid[], %s::uuid[], %s::int[]) as c(id, burst_id, burst_size)
                    where m.id = c.id and (m.burst_id is distinct from c.burst_id
                                           or m.burst_size is distinct from c.burst_size)""",
                ([c[0] for c in changes], [c[1] for c in changes], [c[2] for c in changes]))
    return cur.rowcount


def burstable(cur, owner_id: UUID, media_ids: list[UUID]) -> list[dict]:
    """Of these items of the owner (trashed or not): id, camera_make, camera_model, taken_at, trashed_at,
    burst_id -- those that have a camera and a time (a photo that is, or was, or may become part of a burst)."""
    cur.execute("""select id, camera_make, camera_model, taken_at, trashed_at, burst_id from media
                    where owner_id = %s and id = any(%s::uuid[]) and kind = 'photo'
                      and camera_model is not null and taken_at is not null""", (owner_id, list(media_ids)))
    return cur.fetchall()


def clear(cur, media_ids: list[UUID]) -> int:
    """Take these items out of their bursts (trashed items are in none)."""
    cur.execute("update media set burst_id = null, burst_size = null where id = any(%s::uuid[]) "
                "and (burst_id is not null or burst_size is not null)", (list(media_ids),))
    return cur.rowcount


def rebuild_owner(cur, owner_id: UUID, gap_seconds: float) -> int:
    """Every burst of the owner's library computed again in one statement (window functions over each camera's
    photos in time order); rows whose burst changed are written.  Returns how many changed."""
    cur.execute(f"""
        with live as (
            select m.id, m.taken_at, m.camera_model, coalesce(m.camera_make, '') as make,
                   case when m.taken_at - lag(m.taken_at) over w <= make_interval(secs => %(gap)s)
                        then 0 else 1 end as starts
              from media m
             where m.owner_id = %(o)s and {_BURSTABLE}
            window w as (partition by m.camera_model, coalesce(m.camera_make, '') order by m.taken_at, m.id)),
        chains as (
            select id, taken_at, camera_model, make,
                   sum(starts) over (partition by camera_model, make order by taken_at, id) as chain
              from live),
        sized as (
            select id, first_value(id) over c as lead, count(*) over c as n
              from chains
            window c as (partition by camera_model, make, chain order by taken_at, id
                         rows between unbounded preceding and unbounded following)),
        wanted as (
            select m.id, case when s.n > 1 then s.lead end as burst_id, case when s.n > 1 then s.n end as burst_size
              from media m left join sized s on s.id = m.id
             where m.owner_id = %(o)s)
        update media m set burst_id = w.burst_id, burst_size = w.burst_size::int
          from wanted w
         where m.id = w.id and (m.burst_id is distinct from w.burst_id
                                or m.burst_size is distinct from w.burst_size::int)""",
                {"o": owner_id, "gap": gap_seconds})
    n = cur.rowcount
    cur.execute("""insert into bursts_built(owner_id) values (%s)
                   on conflict (owner_id) do update set built_at = now()""", (owner_id,))
    return n


def owners_to_build(cur, max_age_seconds: int, limit: int = 50) -> list[UUID]:
    """Owners whose bursts were never built (a library from before 011, a new user) or built longer ago than the
    age (the daily rebuild repairs what an update after a change could not do)."""
    cur.execute("""select u.id from users u left join bursts_built b on b.owner_id = u.id
                    where b.owner_id is null or b.built_at < now() - make_interval(secs => %s)
                    order by b.built_at nulls first limit %s""", (max_age_seconds, limit))
    return [r["id"] for r in cur.fetchall()]


def all_owners(cur) -> list[UUID]:
    cur.execute("select id from users order by created_at")
    return [r["id"] for r in cur.fetchall()]


def members(cur, owner_id: UUID, burst_id: UUID) -> list[dict]:
    """The burst's live photos in capture order, as the listing shows items (LIST_COLUMNS)."""
    cur.execute(f"""select {LIST_COLUMNS} from media m
                     where m.burst_id = %s and m.owner_id = %s and m.trashed_at is null
                     order by m.taken_at, m.id""", (burst_id, owner_id))
    return cur.fetchall()


def alone(cur, owner_id: UUID, media_id: UUID) -> list[dict]:
    """The item alone, as the listing shows items (a photo in no burst)."""
    cur.execute(f"select {LIST_COLUMNS} from media m where m.id = %s and m.owner_id = %s", (media_id, owner_id))
    return cur.fetchall()


def burst_of(cur, owner_id: UUID, media_id: UUID) -> dict | None:
    """id and burst_id of the owner's item (None when it is not theirs)."""
    cur.execute("select id, burst_id from media where id = %s and owner_id = %s", (media_id, owner_id))
    return cur.fetchone()
