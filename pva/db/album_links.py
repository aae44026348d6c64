"""SQL for album_links: public links to an album (pva/services/albums.py says the rules).

Every function takes the caller's cursor; the owner's calls are scoped by owner in their own SQL, and a link is
found by its token's hash only while it is neither revoked nor expired."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

_COLS = "l.id, l.album_id, l.expires_at, (l.password_hash is not null) as has_password, l.created_at, l.revoked_at"


def create(cur, album_id: UUID, owner_id: UUID, token_hash: bytes, expires_at: datetime | None,
           password_hash: str | None) -> dict | None:
    """A link to the owner's album (None when the album is not the owner's)."""
    cur.execute(f"""with l as (insert into album_links(album_id, token_hash, expires_at, password_hash)
                               select a.id, %s, %s, %s from albums a where a.id = %s and a.owner_id = %s
                               returning *) select {_COLS} from l""",
                (token_hash, expires_at, password_hash, album_id, owner_id))
    return cur.fetchone()


def list_for(cur, album_id: UUID, owner_id: UUID) -> list[dict]:
    """The owner's links to the album that still work (newest first)."""
    cur.execute(f"""select {_COLS} from album_links l join albums a on a.id = l.album_id
                     where a.id = %s and a.owner_id = %s and l.revoked_at is null
                       and (l.expires_at is null or l.expires_at > now())
                     order by l.created_at desc, l.id""", (album_id, owner_id))
    return cur.fetchall()


def revoke(cur, album_id: UUID, owner_id: UUID, link_id: UUID) -> bool:
    cur.execute("""update album_links l set revoked_at = now() from albums a
                    where a.id = l.album_id and a.id = %s and a.owner_id = %s and l.id = %s
                      and l.revoked_at is null returning l.id""", (album_id, owner_id, link_id))
    return cur.fetchone() is not None


def live(cur, token_hash: bytes) -> dict | None:
    """The link with this token's hash and its album, when neither revoked nor expired."""
    cur.execute("""select l.id, l.album_id, l.expires_at, l.password_hash, a.name as album_name,
                          a.description as album_description, a.owner_id, a.cover_media_id
                     from album_links l join albums a on a.id = l.album_id
                    where l.token_hash = %s and l.revoked_at is null
                      and (l.expires_at is null or l.expires_at > now())""", (token_hash,))
    return cur.fetchone()


def media(cur, album_id: UUID, limit: int = 5000) -> list[dict]:
    """The album's media that are not in the trash, in taken order (what a link's visitor sees)."""
    cur.execute("""select m.id, m.kind, m.filename, m.width, m.height, m.taken_at
                     from album_media am join albums a on a.id = am.album_id
                     join media m on m.id = am.media_id and m.owner_id = a.owner_id
                    where am.album_id = %s and m.trashed_at is null
                    order by m.taken_at nulls last, m.id limit %s""", (album_id, limit))
    return cur.fetchall()


def media_in(cur, album_id: UUID, media_id: UUID) -> dict | None:
    """The media row when it is in the album (and not trashed), else None."""
    cur.execute("""select m.* from album_media am join albums a on a.id = am.album_id
                     join media m on m.id = am.media_id and m.owner_id = a.owner_id
                    where am.album_id = %s and am.media_id = %s and m.trashed_at is null""", (album_id, media_id))
    return cur.fetchone()
