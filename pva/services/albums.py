"""Albums: the user's own albums and those shared with them (issue 17: one home per feature).

Owners edit; a user an album is shared with only reads it, so every edit looks the album up among the caller's
own and answers "no such album" otherwise (the same answer as for an album that does not exist: never reveal that
an id exists).  SQL is in pva/db/albums.py.
"""
from __future__ import annotations

from uuid import UUID

from pva.db import albums as albums_q


def list_for(user_id: UUID) -> list[dict]:
    """Albums the user owns and those shared with them (shared=True)."""
    return albums_q.list_for(user_id)


def get_visible(album_id: UUID, user_id: UUID) -> dict | None:
    """The album when the user owns it or it is shared with them, else None."""
    return albums_q.get_visible(album_id, user_id)


def find_or_create(owner_id: UUID, name: str) -> UUID:
    """The owner's oldest album of this name, created when there is none (uploads naming an album)."""
    return albums_q.find_or_create(owner_id, name)


def add_media(album_id: UUID, owner_id: UUID, media_ids: list[UUID]) -> int:
    """Add the owner's own media to the owner's album; returns how many were newly added."""
    return albums_q.add_media(album_id, owner_id, media_ids)
