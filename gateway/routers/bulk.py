"""Many items at once (issue 18 item 3: select many, act once): trash, restore, location, album add and remove on
the caller's own media ({done, not_found}: other ids are left alone and counted), and the originals as one ZIP
streamed.  One call per route into pva.services.bulk.

Installed before the media router: /media/bulk/trash would otherwise be /media/{media_id}/trash with media_id
"bulk" (a 422)."""
from __future__ import annotations

import urllib.parse
from uuid import UUID

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from pva.services import bulk

from ..deps import Principal, current_user, require
from ..schemas.bulk import BulkIds, BulkLocation

router = APIRouter(prefix="/api/v1", tags=["media"])


@router.post("/media/bulk/trash")
def bulk_trash(body: BulkIds, user: Principal = Depends(current_user)):
    """Move your items to the trash."""
    return bulk.trash(user.user_id, body.media_ids)


@router.post("/media/bulk/restore")
def bulk_restore(body: BulkIds, user: Principal = Depends(current_user)):
    """Take your items out of the trash."""
    return bulk.restore(user.user_id, body.media_ids)


@router.post("/media/bulk/location")
def bulk_location(body: BulkLocation, user: Principal = Depends(current_user)):
    """Set the location of your items (an override; the original files are not touched)."""
    return bulk.set_location(user.user_id, body.media_ids, body.lat, body.lon, body.alt)


@router.post("/media/bulk/albums/{album_id}/add")
def bulk_album_add(album_id: UUID, body: BulkIds, user: Principal = Depends(current_user)):
    """Put your items into your album (done: how many of them are in it now)."""
    return bulk.album_add(album_id, user.user_id, body.media_ids)


@router.post("/media/bulk/albums/{album_id}/remove")
def bulk_album_remove(album_id: UUID, body: BulkIds, user: Principal = Depends(current_user)):
    """Take items out of your album (they stay in the library)."""
    return bulk.album_remove(album_id, user.user_id, body.media_ids)


ZIP = {200: {"description": "A ZIP of the originals, each with its companion files (a live photo's MOV, a "
                            "pair's RAW) beside it under the same base name (stored as they are, names "
                            "de-duplicated), streamed; "
                            "X-Not-Found: how many ids were left out",
             "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/media/download", response_class=StreamingResponse, responses=ZIP)
def download_media(body: BulkIds, user: Principal = Depends(require("read"))):
    """The originals of the items you may see (yours and those shared with you) as one ZIP; a POST because a
    selection does not fit in a URL, yet it needs only the `read` scope.  400 past 2000 items or 16 GB."""
    return _zip_response(bulk.download(user.user_id, body.media_ids))


def _zip_response(z: dict) -> StreamingResponse:
    name = urllib.parse.quote(z["filename"], safe="")
    return StreamingResponse(z["chunks"], media_type="application/zip", headers={
        "Content-Disposition": f"attachment; filename=\"{z['filename']}\"; filename*=UTF-8''{name}",
        "Cache-Control": "no-store", "X-Not-Found": str(z["not_found"])})
