"""Albums: create, rename, add/remove media, cover, share read-only with another user."""
from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Response
from pydantic import BaseModel, Field

from pva import auth as pva_auth
from pva.db import albums as albums_db
from pva.db import media as media_db

from ..deps import Principal, current_user, not_found

router = APIRouter(prefix="/api/v1", tags=["albums"])


class AlbumIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)


class AlbumPatch(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)


class MediaIds(BaseModel):
    media_ids: list[UUID] = Field(min_length=1, max_length=5000)


class CoverIn(BaseModel):
    media_id: UUID | None


class ShareIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)


def _owned(album_id: UUID, user: Principal) -> dict:
    a = albums_db.get_owned(album_id, user.user_id)
    if a is None:
        raise not_found("album")  # also for albums only shared with the user: they are read-only
    return a


@router.get("/albums")
def list_albums(user: Principal = Depends(current_user)):
    """Your albums and the albums shared with you (shared: true, read-only)."""
    return albums_db.list_for(user.user_id)


@router.post("/albums", status_code=201)
def create_album(body: AlbumIn, user: Principal = Depends(current_user)):
    return albums_db.create(user.user_id, body.name.strip() or body.name, body.description)


@router.get("/albums/{album_id}")
def get_album(album_id: UUID, user: Principal = Depends(current_user)):
    """The album (list its media with GET /api/v1/media?album=<id>)."""
    a = albums_db.get_visible(album_id, user.user_id)
    if a is None:
        raise not_found("album")
    a["media_url"] = f"/api/v1/media?album={album_id}"
    if not a["shared"]:
        a["shares"] = albums_db.shares(album_id, user.user_id)
    return a


@router.patch("/albums/{album_id}")
def update_album(album_id: UUID, body: AlbumPatch, user: Principal = Depends(current_user)):
    if not albums_db.update(album_id, user.user_id, name=body.name, description=body.description):
        raise not_found("album")
    return albums_db.get_owned(album_id, user.user_id)


@router.delete("/albums/{album_id}", status_code=204)
def delete_album(album_id: UUID, user: Principal = Depends(current_user)):
    """Delete the album (its media stay in the library)."""
    if not albums_db.delete(album_id, user.user_id):
        raise not_found("album")
    return Response(status_code=204)


@router.post("/albums/{album_id}/media")
def add_album_media(album_id: UUID, body: MediaIds, user: Principal = Depends(current_user)):
    """Add your own media (all ids must be yours, else 404 and nothing is added)."""
    _owned(album_id, user)
    ids = list(dict.fromkeys(body.media_ids))
    if len(media_db.owned_media_ids(user.user_id, ids, include_trashed=True)) != len(ids):
        raise not_found("media")
    added = albums_db.add_media(album_id, user.user_id, ids)
    return {"added": added, "album": albums_db.get_owned(album_id, user.user_id)}


@router.delete("/albums/{album_id}/media/{media_id}", status_code=204)
def remove_album_media(album_id: UUID, media_id: UUID, user: Principal = Depends(current_user)):
    _owned(album_id, user)
    if not albums_db.remove_media(album_id, user.user_id, media_id):
        raise not_found("media in this album")
    return Response(status_code=204)


@router.put("/albums/{album_id}/cover")
def set_album_cover(album_id: UUID, body: CoverIn, user: Principal = Depends(current_user)):
    """The cover must be one of the album's media (null clears it)."""
    _owned(album_id, user)
    if not albums_db.set_cover(album_id, user.user_id, body.media_id):
        raise not_found("media in this album")
    return albums_db.get_owned(album_id, user.user_id)


@router.get("/albums/{album_id}/shares")
def list_album_shares(album_id: UUID, user: Principal = Depends(current_user)):
    _owned(album_id, user)
    return albums_db.shares(album_id, user.user_id)


@router.post("/albums/{album_id}/shares", status_code=201)
def share_album(album_id: UUID, body: ShareIn, user: Principal = Depends(current_user)):
    """Share read-only with another user (by user name).

    404 tells the owner that no user has that name: user names are not secret from a library's users (sharing
    needs them, and a typo must be reported), but probing for them is capped: after 10 shares naming unknown
    users within 15 minutes the caller gets 429 (with Retry-After), whatever name it sends."""
    _owned(album_id, user)
    try:
        other = pva_auth.share_recipient(user.user_id, body.username)
    except pva_auth.RateLimited as e:
        raise HTTPException(429, str(e), headers={"Retry-After": str(e.retry_after)}) from None
    if other is None:
        raise HTTPException(404, f"no user named {body.username!r}")
    if other["id"] == user.user_id:
        raise HTTPException(422, "you own this album already; share it with someone else")
    albums_db.share(album_id, user.user_id, other["id"])
    return {"album_id": album_id, "user_id": other["id"], "username": other["username"]}


@router.delete("/albums/{album_id}/shares/{user_id}", status_code=204)
def unshare_album(album_id: UUID, user_id: UUID, user: Principal = Depends(current_user)):
    _owned(album_id, user)
    if not albums_db.unshare(album_id, user.user_id, user_id):
        raise not_found("share")
    return Response(status_code=204)
