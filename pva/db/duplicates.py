"""SQL for near-duplicates (issue 21): the perceptual hash of media rows, the lookup of an item's near neighbours
through the multi-index-hashing indexes of migration 010, and the pairs table (found, dismissed).

Lookup: two hashes within ``near`` <= 11 bits agree within 2 bits on at least one of their four 16-bit chunks, so
the candidates are the owner's rows whose chunk i is one of the 137 values within 2 bits of the query's chunk i;
the full distance is checked on them (index-only: the indexes include phash, kind and id).
"""
from __future__ import annotations

from uuid import UUID

from ..media import phash as ph

# chunk i of the hash, as migration 010's indexes spell it (the planner matches the expression text)
_CHUNK_SQL = ("(((phash::bigint) >> 48) & 65535)", "(((phash::bigint) >> 32) & 65535)",
              "(((phash::bigint) >> 16) & 65535)", "((phash::bigint) & 65535)")
MAX_NEAR = 11  # 4 chunks x radius 2 (+3): the largest distance the lookup finds every pair within


def _probe_radius(near: int) -> int:
    if not 0 <= near <= MAX_NEAR:
        raise ValueError(f"near must be between 0 and {MAX_NEAR}")
    return near // 4


def set_phash(cur, media_id: UUID, h: int) -> None:
    cur.execute("update media set phash = %s::bit(64) where id = %s", (ph.to_bits(h), media_id))


def neighbours(cur, owner_id: UUID, h: int, *, kind: str | None = None, near: int = ph.NEAR,
               exclude: UUID | None = None, limit: int = 200) -> list[dict]:
    """The owner's items (trashed ones too) whose hash is within ``near`` bits of ``h``: [{id, distance}],
    nearest first.  Exact for near <= 11 (multi-index hashing)."""
    r = _probe_radius(near)
    probes = [ph.chunk_neighbours(c, r) for c in ph.chunks(h)]
    # one index-only scan per chunk (a union, not an OR: an OR makes a bitmap scan that visits every candidate's
    # row); the distance is checked on the hash the index holds
    scans = " union ".join(
        f"""select id, bit_count(phash # %(h)s::bit(64))::int as distance
              from media
             where owner_id = %(owner)s and phash is not null and {expr} = any(%(p{i})s::bigint[])
               and bit_count(phash # %(h)s::bit(64)) <= %(near)s
               and (%(kind)s::text is null or kind = %(kind)s::text)
               and (%(ex)s::uuid is null or id <> %(ex)s::uuid)""" for i, expr in enumerate(_CHUNK_SQL))
    params = {"owner": owner_id, "h": ph.to_bits(h), "near": near, "kind": kind, "ex": exclude,
              "limit": limit, **{f"p{i}": p for i, p in enumerate(probes)}}
    cur.execute(f"select id, distance from ({scans}) found order by distance, id limit %(limit)s", params)
    return cur.fetchall()


def link(cur, owner_id: UUID, media_id: UUID, kind: str, h: int, *, near: int = ph.NEAR) -> int:
    """Store ``h`` as the item's hash and record a pair with each of the owner's items of the same kind within
    ``near`` bits; returns how many pairs were new."""
    set_phash(cur, media_id, h)
    found = neighbours(cur, owner_id, h, kind=kind, near=near, exclude=media_id)
    if not found:
        return 0
    rows = [(owner_id, *sorted((str(media_id), str(f["id"]))), f["distance"]) for f in found]
    cur.execute("""insert into media_near_duplicates(owner_id, a, b, distance)
                   select owner_id, a, b, distance
                     from unnest(%s::uuid[], %s::uuid[], %s::uuid[], %s::smallint[]) as t(owner_id, a, b, distance)
                   on conflict (a, b) do nothing""",
                ([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], [r[3] for r in rows]))
    return cur.rowcount


def unhashed(cur, owner_id: UUID | None, *, after: UUID | None = None, limit: int = 500) -> list[dict]:
    """Items without a hash yet (of one owner or everyone's), in id order after ``after``: what
    `pva duplicates hash` works through."""
    cur.execute("""select id, owner_id, kind, thumb_key, metadata -> 'keyframes' as keyframes
                     from media
                    where phash is null and thumb_key is not null
                      and (%(owner)s::uuid is null or owner_id = %(owner)s::uuid)
                      and (%(after)s::uuid is null or id > %(after)s::uuid)
                    order by id limit %(limit)s""", {"owner": owner_id, "after": after, "limit": limit})
    return cur.fetchall()


def count_unhashed(cur, owner_id: UUID | None) -> int:
    cur.execute("""select count(*) as n from media where phash is null and thumb_key is not null
                      and (%(owner)s::uuid is null or owner_id = %(owner)s::uuid)""", {"owner": owner_id})
    return cur.fetchone()["n"]


def set_keyframe_hashes(cur, media_id: UUID, keyframes: list) -> None:
    cur.execute("""update media set metadata = jsonb_set(metadata, '{keyframes}', %s::jsonb) where id = %s""",
                (_json(keyframes), media_id))


def _json(v) -> str:
    import json

    return json.dumps(v)


def active_pairs(cur, owner_id: UUID) -> list[dict]:
    """The owner's pairs not dismissed whose two items are both out of the trash: [{a, b, distance}]."""
    cur.execute("""select p.a, p.b, p.distance
                     from media_near_duplicates p
                     join media ma on ma.id = p.a and ma.trashed_at is null
                     join media mb on mb.id = p.b and mb.trashed_at is null
                    where p.owner_id = %s and p.dismissed_at is null""", (owner_id,))
    return cur.fetchall()


def items(cur, owner_id: UUID, media_ids: list[UUID]) -> list[dict]:
    """What the Duplicates page shows of each item (the owner's, out of the trash)."""
    cur.execute("""select id, kind, format, filename, original_path, size, width, height, duration, taken_at,
                          taken_at_offset, camera_make, camera_model, lens,
                          coalesce(gps_override_lat, gps_lat) is not null as has_gps,
                          (metadata ? 'exposure') as has_exposure
                     from media
                    where owner_id = %s and id = any(%s::uuid[]) and trashed_at is null""",
                (owner_id, [str(m) for m in media_ids]))
    return cur.fetchall()


def dismiss(cur, owner_id: UUID, media_ids: list[UUID]) -> int:
    """Mark every pair between these items "not duplicates"; returns how many pairs."""
    ids = [str(m) for m in media_ids]
    cur.execute("""update media_near_duplicates set dismissed_at = now()
                    where owner_id = %s and a = any(%s::uuid[]) and b = any(%s::uuid[]) and dismissed_at is null""",
                (owner_id, ids, ids))
    return cur.rowcount
