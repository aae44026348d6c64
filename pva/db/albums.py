"""SQL for albums, album_media and album_shares.  Owners edit; users an album is shared with only read."""
from __future__ import annotations

from uuid import UUID

from pva.infra.db import query, query_one, transaction

_COLS = """a.id, a.owner_id, a.name, a.description, a.cover_media_id, a.created_at, a.updated_at,
           (select count(*) from album_media am join media m on m.id = am.media_id
             where am.album_id = a.id and m.trashed_at is null) as media_count"""


def create(owner_id: UUID, name: str, description: str = "") -> dict:
    return query_one(f"""with a as (insert into albums(owner_id, name, description) values (%s, %s, %s)
                                    returning *) select {_COLS} from a""", (owner_id, name, description))


def find_or_create(owner_id: UUID, name: str) -> UUID:
    """The owner's oldest album of this name, created when there is none.  Concurrent callers in any process
    agree on one album: a transaction lock on (owner, name) serialises them.  (Names are not unique: a user may
    make two albums of one name in the UI.)"""
    with transaction() as cur:
        cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 7412553))", (f"album:{owner_id}:{name}",))
        cur.execute("""select id from albums where owner_id = %s and name = %s order by created_at, id limit 1""",
                    (owner_id, name))
        row = cur.fetchone()
        if row:
            return row["id"]
        cur.execute("insert into albums(owner_id, name) values (%s, %s) returning id", (owner_id, name))
        return cur.fetchone()["id"]


def list_for(user_id: UUID) -> list[dict]:
    """Albums the user owns and those shared with them (shared=True)."""
    return query(f"""select {_COLS}, u.username as owner, (a.owner_id <> %(u)s) as shared
                       from albums a join users u on u.id = a.owner_id
                      where a.owner_id = %(u)s
                         or exists (select 1 from album_shares s where s.album_id = a.id and s.user_id = %(u)s)
                      order by a.created_at desc""", {"u": user_id})


def get_visible(album_id: UUID, user_id: UUID) -> dict | None:
    return query_one(f"""select {_COLS}, u.username as owner, (a.owner_id <> %(u)s) as shared
                           from albums a join users u on u.id = a.owner_id
                          where a.id = %(a)s and (a.owner_id = %(u)s or exists
                                (select 1 from album_shares s where s.album_id = a.id and s.user_id = %(u)s))""",
                     {"a": album_id, "u": user_id})


def get_owned(album_id: UUID, owner_id: UUID) -> dict | None:
    return query_one(f"select {_COLS} from albums a where a.id = %s and a.owner_id = %s", (album_id, owner_id))


def update(album_id: UUID, owner_id: UUID, *, name: str | None = None, description: str | None = None) -> bool:
    return bool(query("""update albums set name = coalesce(%s, name), description = coalesce(%s, description),
                                updated_at = now() where id = %s and owner_id = %s returning id""",
                      (name, description, album_id, owner_id)))


def delete(album_id: UUID, owner_id: UUID) -> bool:
    return bool(query("delete from albums where id = %s and owner_id = %s returning id", (album_id, owner_id)))


def add_media(album_id: UUID, owner_id: UUID, media_ids: list[UUID]) -> int:
    """Add the owner's own media to the owner's album; returns how many were newly added."""
    with transaction() as cur:
        cur.execute("""insert into album_media(album_id, media_id)
                       select a.id, m.id from albums a join media m on m.owner_id = a.owner_id
                        where a.id = %s and a.owner_id = %s and m.id = any(%s::uuid[])
                       on conflict do nothing""", (album_id, owner_id, list(media_ids)))
        n = cur.rowcount
        cur.execute("update albums set updated_at = now() where id = %s", (album_id,))
        return n


def remove_media(album_id: UUID, owner_id: UUID, media_id: UUID) -> bool:
    return bool(query("""delete from album_media am using albums a
                          where am.album_id = a.id and a.id = %s and a.owner_id = %s and am.media_id = %s
                         returning am.media_id""", (album_id, owner_id, media_id)))


def set_cover(album_id: UUID, owner_id: UUID, media_id: UUID | None) -> bool:
    """Cover must be one of the album's media (or None to clear)."""
    return bool(query("""update albums a set cover_media_id = %(m)s, updated_at = now()
                          where a.id = %(a)s and a.owner_id = %(o)s
                            and (%(m)s::uuid is null or exists (select 1 from album_media am
                                  where am.album_id = a.id and am.media_id = %(m)s::uuid))
                         returning a.id""", {"a": album_id, "o": owner_id, "m": media_id}))


def shares(album_id: UUID, owner_id: UUID) -> list[dict]:
    return query("""select u.id as user_id, u.username, s.created_at from album_shares s
                      join albums a on a.id = s.album_id join users u on u.id = s.user_id
                     where a.id = %s and a.owner_id = %s order by u.username""", (album_id, owner_id))


def share(album_id: UUID, owner_id: UUID, user_id: UUID) -> bool:
    rows = query("""insert into album_shares(album_id, user_id)
                    select a.id, %s from albums a where a.id = %s and a.owner_id = %s and a.owner_id <> %s
                    on conflict do nothing returning album_id""", (user_id, album_id, owner_id, user_id))
    return bool(rows)


def unshare(album_id: UUID, owner_id: UUID, user_id: UUID) -> bool:
    return bool(query("""delete from album_shares s using albums a
                          where s.album_id = a.id and a.id = %s and a.owner_id = %s and s.user_id = %s
                         returning s.user_id""", (album_id, owner_id, user_id)))
