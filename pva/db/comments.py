"""SQL for comments.  Only the media owner comments; users an album is shared with read them via the detail."""
from __future__ import annotations

from uuid import UUID

from pva.infra.db import query, query_one

_COLS = "c.id, c.media_id, c.body, c.created_at, c.updated_at, c.author_id"


def create(media_id: UUID, owner_id: UUID, body: str) -> dict | None:
    """Add a comment to the owner's media (None when the media is not theirs)."""
    return query_one(f"""with c as (insert into comments(media_id, author_id, body)
                                    select m.id, %(o)s, %(b)s from media m where m.id = %(m)s and m.owner_id = %(o)s
                                    returning *)
                         select {_COLS}, u.username as author from c join users u on u.id = c.author_id""",
                     {"m": media_id, "o": owner_id, "b": body})


def get(comment_id: UUID, owner_id: UUID) -> dict | None:
    return query_one(f"""select {_COLS}, u.username as author from comments c
                           join media m on m.id = c.media_id join users u on u.id = c.author_id
                          where c.id = %s and m.owner_id = %s""", (comment_id, owner_id))


def update(comment_id: UUID, owner_id: UUID, body: str) -> dict | None:
    return query_one(f"""with c as (update comments c set body = %(b)s, updated_at = now() from media m
                                     where c.id = %(c)s and m.id = c.media_id and m.owner_id = %(o)s
                                       and c.author_id = %(o)s returning c.*)
                         select {_COLS}, u.username as author from c join users u on u.id = c.author_id""",
                     {"c": comment_id, "o": owner_id, "b": body})


def delete(comment_id: UUID, owner_id: UUID) -> bool:
    return bool(query("""delete from comments c using media m where c.id = %s and m.id = c.media_id
                          and m.owner_id = %s returning c.id""", (comment_id, owner_id)))


def list_for_media(media_id: UUID) -> list[dict]:
    """Comments of a media item (the caller has checked access)."""
    return query(f"""select {_COLS}, u.username as author from comments c join users u on u.id = c.author_id
                      where c.media_id = %s order by c.created_at, c.id""", (media_id,))
