"""SQL for albums, album_media and album_shares.  Owners edit; users an album is shared with only read.

Every function takes the caller's cursor (pva/services/albums.py opens the transaction), so one service call is
one transaction; every edit is scoped by owner in its own SQL as well."""
from __future__ import annotations

from uuid import UUID

_COLS = """a.id, a.owner_id, a.name, a.description, a.cover_media_id, a.created_at, a.updated_at,
           (select count(*) from album_media am join media m on m.id = am.media_id
             where am.album_id = a.id and m.trashed_at is null) as media_count,
           (select m.id from album_media am join media m on m.id = am.media_id
             where am.album_id = a.id and m.trashed_at is null and m.thumb_key is not null
             order by m.taken_at nulls last, m.id limit 1) as first_media_id"""


def _one(cur, sql: str, params) -> dict | None:
    cur.execute(sql, params)
    return cur.fetchone()


def create(cur, owner_id: UUID, name: str, description: str = "") -> dict:
    return _one(cur, f"""with a as (insert into albums(owner_id, name, description) values (%s, %s, %s)
                                    returning *) select {_COLS} from a""", (owner_id, name, description))


def find_or_create(cur, owner_id: UUID, name: str) -> UUID:
    """The owner's oldest album of this name, created when there is none.  Concurrent callers in any process
    agree on one album: a transaction lock on (owner, name) serialises them (held until the caller's transaction
    ends).  (Names are not unique: a user may make two albums of one name in the UI.)"""
    cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 7412553))", (f"album:{owner_id}:{name}",))
    row = _one(cur, "select id from albums where owner_id = %s and name = %s order by created_at, id limit 1",
               (owner_id, name))
    if row:
        return row["id"]
    return _one(cur, "insert into albums(owner_id, name) values (%s, %s) returning id", (owner_id, name))["id"]


def list_for(cur, user_id: UUID) -> list[dict]:
    """Albums the user owns and those shared with them (shared=True)."""
    cur.execute(f"""select {_COLS}, u.username as owner, (a.owner_id <> %(u)s) as shared
                      from albums a join users u on u.id = a.owner_id
                     where a.owner_id = %(u)s
                        or exists (select 1 from album_shares s where s.album_id = a.id and s.user_id = %(u)s)
                     order by a.created_at desc""", {"u": user_id})
    return cur.fetchall()


def get_visible(cur, album_id: UUID, user_id: UUID) -> dict | None:
    return _one(cur, f"""select {_COLS}, u.username as owner, (a.owner_id <> %(u)s) as shared
                           from albums a join users u on u.id = a.owner_id
                          where a.id = %(a)s and (a.owner_id = %(u)s or exists
                                (select 1 from album_shares s where s.album_id = a.id and s.user_id = %(u)s))""",
                {"a": album_id, "u": user_id})


def get_owned(cur, album_id: UUID, owner_id: UUID) -> dict | None:
    return _one(cur, f"select {_COLS} from albums a where a.id = %s and a.owner_id = %s", (album_id, owner_id))


def update(cur, album_id: UUID, owner_id: UUID, *, name: str | None = None, description: str | None = None) -> bool:
    return _one(cur, """update albums set name = coalesce(%s, name), description = coalesce(%s, description),
                               updated_at = now() where id = %s and owner_id = %s returning id""",
                (name, description, album_id, owner_id)) is not None


def delete(cur, album_id: UUID, owner_id: UUID) -> bool:
    return _one(cur, "delete from albums where id = %s and owner_id = %s returning id",
                (album_id, owner_id)) is not None


def add_media(cur, album_id: UUID, owner_id: UUID, media_ids: list[UUID]) -> int:
    """Add the owner's own media to the owner's album; returns how many were newly added."""
    cur.execute("""insert into album_media(album_id, media_id)
                   select a.id, m.id from albums a join media m on m.owner_id = a.owner_id
                    where a.id = %s and a.owner_id = %s and m.id = any(%s::uuid[])
                   on conflict do nothing""", (album_id, owner_id, list(media_ids)))
    n = cur.rowcount
    cur.execute("update albums set updated_at = now() where id = %s", (album_id,))
    return n


def remove_media(cur, album_id: UUID, owner_id: UUID, media_id: UUID) -> bool:
    return _one(cur, """delete from album_media am using albums a
                         where am.album_id = a.id and a.id = %s and a.owner_id = %s and am.media_id = %s
                        returning am.media_id""", (album_id, owner_id, media_id)) is not None


def set_cover(cur, album_id: UUID, owner_id: UUID, media_id: UUID | None) -> bool:
    """Cover must be one of the album's media (or None to clear)."""
    return _one(cur, """update albums a set cover_media_id = %(m)s, updated_at = now()
                         where a.id = %(a)s and a.owner_id = %(o)s
                           and (%(m)s::uuid is null or exists (select 1 from album_media am
                                 where am.album_id = a.id and am.media_id = %(m)s::uuid))
                        returning a.id""", {"a": album_id, "o": owner_id, "m": media_id}) is not None


def shares(cur, album_id: UUID, owner_id: UUID) -> list[dict]:
    cur.execute("""select u.id as user_id, u.username, s.created_at from album_shares s
                     join albums a on a.id = s.album_id join users u on u.id = s.user_id
                    where a.id = %s and a.owner_id = %s order by u.username""", (album_id, owner_id))
    return cur.fetchall()


def share(cur, album_id: UUID, owner_id: UUID, user_id: UUID) -> bool:
    return _one(cur, """insert into album_shares(album_id, user_id)
                        select a.id, %s from albums a where a.id = %s and a.owner_id = %s and a.owner_id <> %s
                        on conflict do nothing returning album_id""",
                (user_id, album_id, owner_id, user_id)) is not None


def unshare(cur, album_id: UUID, owner_id: UUID, user_id: UUID) -> bool:
    return _one(cur, """delete from album_shares s using albums a
                         where s.album_id = a.id and a.id = %s and a.owner_id = %s and s.user_id = %s
                        returning s.user_id""", (album_id, owner_id, user_id)) is not None


def remove_many(cur, album_id: UUID, owner_id: UUID, media_ids: list[UUID]) -> int:
    """Take these media out of the owner's album; returns how many were in it."""
    cur.execute("""delete from album_media am using albums a
                    where am.album_id = a.id and a.id = %s and a.owner_id = %s and am.media_id = any(%s::uuid[])""",
                (album_id, owner_id, list(media_ids)))
    n = cur.rowcount
    if n:
        cur.execute("update albums set updated_at = now() where id = %s", (album_id,))
    return n
