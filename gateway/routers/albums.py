"""Albums: create, rename, add/remove media, cover, share read-only with another user.  The rules (only the owner
edits; shared albums are read-only) are pva.services.albums'."""
from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, Response

from pva.services import albums

from ..deps import Principal, current_user
from ..schemas.albums import AlbumIn, AlbumPatch, CoverIn, LinkIn, MediaIds, ShareIn

router = APIRouter(prefix="/api/v1", tags=["albums"])


@router.get("/albums")
def list_albums(user: Principal = Depends(current_user)):
    """Your albums and the albums shared with you (shared: true, read-only)."""
    return albums.list_for(user.user_id)


@router.post("/albums", status_code=201)
def create_album(body: AlbumIn, user: Principal = Depends(current_user)):
    return albums.create(user.user_id, body.name, body.description)


@router.get("/albums/{album_id}")
def get_album(album_id: UUID, user: Principal = Depends(current_user)):
    """The album (list its media with GET /api/v1/media?album=<id>)."""
    return albums.detail(album_id, user.user_id)


@router.patch("/albums/{album_id}")
def update_album(album_id: UUID, body: AlbumPatch, user: Principal = Depends(current_user)):
    return albums.update(album_id, user.user_id, name=body.name, description=body.description)


@router.delete("/albums/{album_id}", status_code=204, response_class=Response)
def delete_album(album_id: UUID, user: Principal = Depends(current_user)):
    """Delete the album (its media stay in the library)."""
    albums.delete(album_id, user.user_id)


@router.post("/albums/{album_id}/media")
def add_album_media(album_id: UUID, body: MediaIds, user: Principal = Depends(current_user)):
    """Add your own media (all ids must be yours, else 404 and nothing is added)."""
    return albums.add_own_media(album_id, user.user_id, body.media_ids)


@router.delete("/albums/{album_id}/media/{media_id}", status_code=204, response_class=Response)
def remove_album_media(album_id: UUID, media_id: UUID, user: Principal = Depends(current_user)):
    albums.remove_media(album_id, user.user_id, media_id)


@router.put("/albums/{album_id}/cover")
def set_album_cover(album_id: UUID, body: CoverIn, user: Principal = Depends(current_user)):
    """The cover must be one of the album's media (null clears it)."""
    return albums.set_cover(album_id, user.user_id, body.media_id)


@router.get("/albums/{album_id}/shares")
def list_album_shares(album_id: UUID, user: Principal = Depends(current_user)):
    return albums.shares(album_id, user.user_id)


@router.post("/albums/{album_id}/shares", status_code=201)
def share_album(album_id: UUID, body: ShareIn, user: Principal = Depends(current_user)):
    """Share read-only with another user (by user name).

    404 tells the owner that no user has that name: user names are not secret from a library's users (sharing
    needs them, and a typo must be reported), but probing for them is capped: after 10 shares naming unknown
    users within 15 minutes the caller gets 429 (with Retry-After), whatever name it sends."""
    return albums.share_with(album_id, user.user_id, body.username)


@router.delete("/albums/{album_id}/shares/{user_id}", status_code=204, response_class=Response)
def unshare_album(album_id: UUID, user_id: UUID, user: Principal = Depends(current_user)):
    albums.unshare(album_id, user.user_id, user_id)


@router.get("/albums/{album_id}/links")
def list_album_links(album_id: UUID, user: Principal = Depends(current_user)):
    """The album's public links that still work (their tokens were shown once, when made)."""
    return albums.links(album_id, user.user_id)


@router.post("/albums/{album_id}/links", status_code=201)
def create_album_link(album_id: UUID, body: LinkIn, user: Principal = Depends(current_user)):
    """A public link (/s/<token>): anyone holding it sees the album read-only; optional expiry and password."""
    return albums.create_link(album_id, user.user_id, expires_in_days=body.expires_in_days, password=body.password)


@router.delete("/albums/{album_id}/links/{link_id}", status_code=204, response_class=Response)
def revoke_album_link(album_id: UUID, link_id: UUID, user: Principal = Depends(current_user)):
    """The link stops working at once."""
    albums.revoke_link(album_id, user.user_id, link_id)
