"""Albums: the user's own albums and those shared with them (issue 17: one home per feature).

Owners edit; a user an album is shared with only reads it, so every edit looks the album up among the caller's
own and answers "no such album" otherwise: the same answer as for an album that does not exist, or for one only
shared with the caller (never reveal that an id exists; shared albums are read-only).  SQL is in pva/db/albums.py;
each function here is one transaction.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from datetime import datetime, timedelta, timezone
from typing import Sequence
from uuid import UUID

from pva.infra import db
from ..config import get_settings
from ..db import album_links as links_q
from ..db import albums as albums_q
from ..db import media as media_q
from ..errors import Invalid, NotFound, ServiceError
from . import auth, transcode

__all__ = ["NoSuchUser", "OwnAlbum", "add_media", "add_own_media", "create", "delete", "detail",
           "find_or_create", "get_visible", "list_for", "remove_media", "set_cover", "share", "share_with",
           "shares", "unshare", "update", "create_link", "links", "revoke_link", "public_album", "public_file",
           "unlock_link", "LINK_COOKIE_SECONDS"]


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


# ------------------------------------------------------------------ public links (issue 18 item 4)
# Anyone holding a link sees the album's photos and videos, nothing else: not the owner's other media, comments,
# faces or places.  Only the token's SHA-256 is stored (the owner sees the token once); a wrong, revoked or expired
# token is "no such link" alike.  A password is hashed like users' passwords; the right one earns a signed cookie
# naming that link only, valid LINK_COOKIE_SECONDS.
LINK_COOKIE_SECONDS = 3600
link_unlocks = auth.Throttle("l:", 10, "wrong link passwords")


def _link_hash(token: str) -> bytes:
    return hashlib.sha256((token or "").encode("utf-8")).digest()


def _live_link(token: str) -> dict:
    if not token or len(token) > 200:
        raise NotFound("link")
    with db.transaction() as cur:
        link = links_q.live(cur, _link_hash(token))
    if link is None:
        raise NotFound("link")
    return link


def create_link(album_id: UUID, owner_id: UUID, *, expires_in_days: int | None = None,
                password: str | None = None) -> dict:
    """A public link to the owner's album; the answer holds the token (and its URL) this once only."""
    token = secrets.token_urlsafe(24)
    expires = datetime.now(timezone.utc) + timedelta(days=expires_in_days) if expires_in_days else None
    pw_hash = auth.hash_password(password) if password else None
    with db.transaction() as cur:
        row = links_q.create(cur, album_id, owner_id, _link_hash(token), expires, pw_hash)
    if row is None:
        raise NotFound("album")
    return {**row, "token": token, "url": f"/s/{token}"}


def links(album_id: UUID, owner_id: UUID) -> list[dict]:
    """The owner's links to the album that still work (their tokens are not kept: only when they were made)."""
    with db.transaction() as cur:
        _owned(cur, album_id, owner_id)
        return links_q.list_for(cur, album_id, owner_id)


def revoke_link(album_id: UUID, owner_id: UUID, link_id: UUID) -> None:
    """The link stops working at once (its next request is "no such link")."""
    with db.transaction() as cur:
        _owned(cur, album_id, owner_id)
        if not links_q.revoke(cur, album_id, owner_id, link_id):
            raise NotFound("link")


def _cookie_mac(link_id: str, until: int) -> str:
    key = get_settings().secret("secret_key").encode()
    mac = hmac.new(key, f"album-link:{link_id}:{until}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def _cookie_ok(link: dict, cookie: str | None) -> bool:
    try:
        until_s, mac = (cookie or "").split(".", 1)
        until = int(until_s)
    except ValueError:
        return False
    return until > time.time() and hmac.compare_digest(mac, _cookie_mac(str(link["id"]), until))


def unlock_link(token: str, password: str, client: str = "?") -> str:
    """The cookie value that opens a password-protected link for LINK_COOKIE_SECONDS; Invalid for a wrong
    password (auth.RateLimited after 10 wrong ones for a link within 15 minutes)."""
    link = _live_link(token)
    if link["password_hash"] is not None:
        link_unlocks.check(str(link["id"]))
        if not auth.verify_password(link["password_hash"], password or ""):
            link_unlocks.record(str(link["id"]))
            raise Invalid("wrong password")
    until = int(time.time()) + LINK_COOKIE_SECONDS
    return f"{until}.{_cookie_mac(str(link['id']), until)}"


def _open_link(token: str, cookie: str | None) -> tuple[dict, bool]:
    link = _live_link(token)
    return link, link["password_hash"] is None or _cookie_ok(link, cookie)


def public_album(token: str, cookie: str | None) -> dict:
    """What the link's page shows: the album's name and, once unlocked, its media (ids, kinds, sizes);
    ``locked``: the page asks for the password first."""
    link, unlocked = _open_link(token, cookie)
    out = {"name": link["album_name"], "description": link["album_description"], "locked": not unlocked,
           "expires_at": link["expires_at"], "media": []}
    if unlocked:
        with db.transaction() as cur:
            out["media"] = links_q.media(cur, link["album_id"])
    return out


def public_file(token: str, cookie: str | None, media_id: UUID, what: str) -> dict:
    """Where one of the link's album's files is stored ('thumbnail', 'preview', 'original' or 'playback'), as
    gateway.streaming.stream_object takes it; NotFound for media not in the album, or a locked link."""
    link, unlocked = _open_link(token, cookie)
    if not unlocked:
        raise NotFound("link")
    with db.transaction() as cur:
        m = links_q.media_in(cur, link["album_id"], media_id)
    if m is None:
        raise NotFound("media")
    s = get_settings()
    if what == "playback":  # a video's web preview when it has one (pva.services.media.playback), else the original
        found = transcode.preview_object(m)
        if found:
            return found
        what = "original"
    if what == "original":
        return {"bucket": s.bucket_originals, "key": m["storage_key"], "content_type": m["mime"],
                "filename": m["filename"], "etag_hint": bytes(m["sha512"]).hex()[:32]}
    key = (m["preview_key"] if what == "preview" else None) or m["thumb_key"]
    if not key:
        raise NotFound("thumbnail")
    return {"bucket": s.bucket_thumbs, "key": key, "content_type": None, "filename": None,
            "etag_hint": f"{media_id}-{what}"}
