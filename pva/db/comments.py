"""SQL for comments.  Only the media owner comments; users an album is shared with read them via the detail.
Every function takes the caller's cursor (pva/services/comments.py holds the transaction)."""
from __future__ import annotations

from uuid import UUID

_COLS = "c.id, c.media_id, c.body, c.created_at, c.updated_at, c.author_id"


def create(cur, media_id: UUID, owner_id: UUID, body: str) -> dict | None:
    """Add a comment to the owner's media (None when the media is not theirs)."""
    cur.execute(f"""with c as (insert into comments(media_id, author_id, body)
                               select m.id, %(o)s, %(b)s from media m where m.id = %(m)s and m.owner_id = %(o)s
                               returning *)
                    select {_COLS}, u.username as author from c join users u on u.id = c.author_id""",
                {"m": media_id, "o": owner_id, "b": body})
    return cur.fetchone()


def get(cur, comment_id: UUID, owner_id: UUID) -> dict | None:
    cur.execute(f"""select {_COLS}, u.username as author from comments c
                      join media m on m.id = c.media_id join users u on u.id = c.author_id
                     where c.id = %s and m.owner_id = %s""", (comment_id, owner_id))
    return cur.fetchone()


def update(cur, comment_id: UUID, owner_id: UUID, body: str) -> dict | None:
    cur.execute(f"""with c as (update comments c set body = %(b)s, updated_at = now() from media m
                                where c.id = %(c)s and m.id = c.media_id and m.owner_id = %(o)s
                                  and c.author_id = %(o)s returning c.*)
                    select {_COLS}, u.username as author from c join users u on u.id = c.author_id""",
                {"c": comment_id, "o": owner_id, "b": body})
    return cur.fetchone()


def delete(cur, comment_id: UUID, owner_id: UUID) -> bool:
    cur.execute("""delete from comments c using media m where c.id = %s and m.id = c.media_id
                    and m.owner_id = %s returning c.id""", (comment_id, owner_id))
    return bool(cur.fetchall())


def list_for_media(cur, media_id: UUID) -> list[dict]:
    """Comments of a media item (the caller has checked access)."""
    cur.execute(f"""select {_COLS}, u.username as author from comments c join users u on u.id = c.author_id
                     where c.media_id = %s order by c.created_at, c.id""", (media_id,))
    return cur.fetchall()
