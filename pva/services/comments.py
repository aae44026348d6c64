"""Comments on media items: the owner writes them, everyone who may see the item reads them.

A module of its own rather than part of pva/services/media.py: comments are their own rows with their own
repository (pva/db/comments.py) and ids (PATCH/DELETE /comments/{id} name no media item)."""
from __future__ import annotations

from uuid import UUID

from ..db import comments as comments_q
from ..db import media as media_q
from ..errors import NotFound
from ..infra import db
from .media import Unprocessable


def list_for(media_id: UUID, user_id: UUID) -> list[dict]:
    """The item's comments, oldest first, for anyone who may see it (NotFound otherwise)."""
    with db.transaction() as cur:
        if media_q.media_access(cur, media_id, user_id) is None:
            raise NotFound("media")
        return comments_q.list_for_media(cur, media_id)


def add(media_id: UUID, owner_id: UUID, body: str) -> dict:
    """Comment on one of the owner's items (a shared item is NotFound: only the owner comments)."""
    if not body.strip():
        raise Unprocessable("comment is empty")
    with db.transaction() as cur:
        row = comments_q.create(cur, media_id, owner_id, body)
    if row is None:
        raise NotFound("media")
    return row


def edit(comment_id: UUID, owner_id: UUID, body: str) -> dict:
    """Change the text of one of the owner's own comments."""
    with db.transaction() as cur:
        row = comments_q.update(cur, comment_id, owner_id, body)
    if row is None:
        raise NotFound("comment")
    return row


def delete(comment_id: UUID, owner_id: UUID) -> None:
    with db.transaction() as cur:
        if not comments_q.delete(cur, comment_id, owner_id):
            raise NotFound("comment")


__all__ = ["list_for", "add", "edit", "delete"]
