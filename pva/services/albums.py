"""Albums: the user's own albums and those shared with them (issue 17: one home per feature).

Owners edit; a user an album is shared with only reads it, so every edit looks the album up among the caller's
own and answers "no such album" otherwise: the same answer as for an album that does not exist, or for one only
shared with the caller (never reveal that an id exists; shared albums are read-only).  SQL is in pva/db/albums.py;
each function here is one transaction.
"""
from __future__ import annotations

from typing import Sequence
from uuid import UUID

from pva.infra import db
from ..db import albums as albums_q
from ..db import media as media_q
from ..errors import Invalid, NotFound, ServiceError
from . import auth

__all__ = ["NoSuchUser", "OwnAlbum", "add_media", "add_own_media", "create", "delete", "detail",
           "find_or_create", "get_visible", "list_for", "remove_media", "set_cover", "share", "share_with",
           "shares", "unshare", "update"]


class NoSuchUser(NotFound):
    """Sharing with a user name nobody has: said to the owner (a typo must be reported; see share_with)."""

    def __init__(self, username: str):
        ServiceError.__init__(self, f"no user named {username!r}")


class OwnAlbum(Invalid):
    """Sharing an album with its owner."""

    status = 422


def _owned(cur, album_id: UUID, owner_id: UUID) -> dict:
    a = albums_q.get_owned(cur, album_id, owner_id)
    if a is None:
        raise NotFound("album")  # also for albums only shared with the user: they are read-only
    return a


# ------------------------------------------------------------------ reads
def list_for(user_id: UUID) -> list[dict]:
    """Albums the user owns and those shared with them (shared=True)."""
    with db.transaction() as cur:
        return albums_q.list_for(cur, user_id)


def get_visible(album_id: UUID, user_id: UUID) -> dict | None:
    """The album when the user owns it or it is shared with them, else None."""
    with db.transaction() as cur:
        return albums_q.get_visible(cur, album_id, user_id)


def detail(album_id: UUID, user_id: UUID) -> dict:
    """The album as GET /albums/{id} answers it: where to list its media, and its shares for the owner."""
    with db.transaction() as cur:
        a = albums_q.get_visible(cur, album_id, user_id)
        if a is None:
            raise NotFound("album")
        a["media_url"] = f"/api/v1/media?album={album_id}"
        if not a["shared"]:
            a["shares"] = albums_q.shares(cur, album_id, user_id)
        return a


def shares(album_id: UUID, owner_id: UUID) -> list[dict]:
    """Who the owner's album is shared with."""
    with db.transaction() as cur:
        _owned(cur, album_id, owner_id)
        return albums_q.shares(cur, album_id, owner_id)


# ------------------------------------------------------------------ the owner's edits
def create(owner_id: UUID, name: str, description: str = "") -> dict:
    with db.transaction() as cur:
        return albums_q.create(cur, owner_id, name.strip() or name, description)


def find_or_create(owner_id: UUID, name: str) -> UUID:
    """The owner's oldest album of this name, created when there is none (uploads naming an album).  Concurrent
    callers agree on one album (pva.db.albums.find_or_create)."""
    with db.transaction() as cur:
        return albums_q.find_or_create(cur, owner_id, name)


def update(album_id: UUID, owner_id: UUID, *, name: str | None = None, description: str | None = None) -> dict:
    """Rename or describe the album (None leaves a field as it is); returns the album."""
    with db.transaction() as cur:
        if not albums_q.update(cur, album_id, owner_id, name=name, description=description):
            raise NotFound("album")
        return albums_q.get_owned(cur, album_id, owner_id)


def delete(album_id: UUID, owner_id: UUID) -> None:
    """Delete the album (its media stay in the library)."""
    with db.transaction() as cur:
        if not albums_q.delete(cur, album_id, owner_id):
            raise NotFound("album")


def add_media(album_id: UUID, owner_id: UUID, media_ids: Sequence[UUID]) -> int:
    """Add the owner's own media to the owner's album; returns how many were newly added (others' media and
    an album that is not the owner's add nothing)."""
    with db.transaction() as cur:
        return albums_q.add_media(cur, album_id, owner_id, list(media_ids))


def add_own_media(album_id: UUID, owner_id: UUID, media_ids: Sequence[UUID]) -> dict:
    """Add media to the owner's album, all or nothing: every id must be the owner's (trashed too), else "no such
    media" and nothing is added.  Returns {added, album}."""
    ids = list(dict.fromkeys(media_ids))
    with db.transaction() as cur:
        _owned(cur, album_id, owner_id)
        owned = media_q.owned_media_ids(cur, owner_id, ids, include_trashed=True)
    if len(owned) != len(ids):
        raise NotFound("media")
    with db.transaction() as cur:
        added = albums_q.add_media(cur, album_id, owner_id, ids)
        return {"added": added, "album": albums_q.get_owned(cur, album_id, owner_id)}


def remove_media(album_id: UUID, owner_id: UUID, media_id: UUID) -> None:
    with db.transaction() as cur:
        _owned(cur, album_id, owner_id)
        if not albums_q.remove_media(cur, album_id, owner_id, media_id):
            raise NotFound("media in this album")


def set_cover(album_id: UUID, owner_id: UUID, media_id: UUID | None) -> dict:
    """The cover must be one of the album's media (None clears it); returns the album."""
    with db.transaction() as cur:
        _owned(cur, album_id, owner_id)
        if not albums_q.set_cover(cur, album_id, owner_id, media_id):
            raise NotFound("media in this album")
        return albums_q.get_owned(cur, album_id, owner_id)


# ------------------------------------------------------------------ sharing (read-only)
def share_with(album_id: UUID, owner_id: UUID, username: str) -> dict:
    """Share the owner's album read-only with the user called ``username``; returns {album_id, user_id, username}.

    NoSuchUser tells the owner that no user has that name: user names are not secret from a library's users
    (sharing needs them, and a typo must be reported), but probing for them is capped: after 10 shares naming
    unknown users within 15 minutes the caller gets pva.services.auth.RateLimited (429), whatever name it sends."""
    with db.transaction() as cur:
        _owned(cur, album_id, owner_id)
    other = auth.share_recipient(owner_id, username)
    if other is None:
        raise NoSuchUser(username)
    if other["id"] == owner_id:
        raise OwnAlbum("you own this album already; share it with someone else")
    with db.transaction() as cur:
        albums_q.share(cur, album_id, owner_id, other["id"])
    return {"album_id": album_id, "user_id": other["id"], "username": other["username"]}


def share(album_id: UUID, owner_id: UUID, user_id: UUID) -> bool:
    """Share the owner's album with a user by id (no name lookup, no probe cap: for callers that hold the id);
    False when it is not the owner's album, the user is the owner, or it was shared already."""
    with db.transaction() as cur:
        return albums_q.share(cur, album_id, owner_id, user_id)


def unshare(album_id: UUID, owner_id: UUID, user_id: UUID) -> None:
    with db.transaction() as cur:
        _owned(cur, album_id, owner_id)
        if not albums_q.unshare(cur, album_id, owner_id, user_id):
            raise NotFound("share")
