"""Media: search (keyset pages, facets), detail, thumbnails and originals (Range), upload, SHA-512 check,
GPS override, comments, trash.  One call per route into pva.services (media, search, comments)."""
from __future__ import annotations

from datetime import date
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from pva.services import bursts as bursts_service
from pva.services import comments as comments_service
from pva.services import companions as companions_service
from pva.services import media as media_service
from pva.services import memories as memories_service
from pva.services import search as search_service

from ..deps import Principal, current_user, require
from ..media_view import burst_out, detail_out, memories_out, page_out
from ..schemas.media import CommentIn, GpsIn, SearchParams, ShaCheck
from ..streaming import stream_object
from ..upload import close_all, ingest_one, receive_files, upload_answer

router = APIRouter(prefix="/api/v1", tags=["media"])


# ---------------------------------------------------------------- search
@router.get("/media")
def search_media(params: SearchParams = Depends(), sort: Literal["taken", "added"] = "taken",
                 order: Literal["desc", "asc"] = "desc", limit: int = Query(100, ge=1, le=500),
                 cursor: str | None = Query(None, max_length=500),
                 stack: Literal["bursts"] | None = Query(None, description="bursts: a burst as one item, its first "
                                                          "photo, with burst_size (GET /media/{id}/burst lists it)"),
                 user: Principal = Depends(current_user)):
    """Search the library (all filters combine with AND); pass next_cursor back for the next page."""
    return page_out(search_service.search(user.user_id, params.filters, sort=sort, order=order, limit=limit,
                                          cursor=cursor, stack=stack))


@router.get("/search/facets")
def search_facets(params: SearchParams = Depends(), user: Principal = Depends(current_user)):
    """How many items each filter value would give, under the other active filters.  Exact, except when the
    filters match a very large set (over 100k items): then the counts are estimated from a sample of the library
    and `approximate` is true."""
    return search_service.facets(user.user_id, params.filters)


@router.get("/search/suggest")
def search_suggest(field: Literal["camera", "camera_make", "camera_model"] = "camera",
                   q: str = Query("", max_length=200), user: Principal = Depends(current_user)):
    """Values of your own library for a search box (a datalist), most used first, matching what was typed the way
    the filter matches it: q=nikon suggests NIKON CORPORATION."""
    return search_service.suggest(user.user_id, field, q)


# ---------------------------------------------------------------- detail and files
@router.get("/media/{media_id}")
def media_detail(media_id: UUID, user: Principal = Depends(current_user)):
    """Metadata, detections, faces, OCR words, transcript, comments, albums and analysis jobs."""
    return detail_out(media_service.get_detail(media_id, user.user_id))


@router.get("/media/{media_id}/thumbnail")
@router.head("/media/{media_id}/thumbnail", include_in_schema=False)
def media_thumbnail(media_id: UUID, request: Request, size: Literal["grid", "preview"] = "grid",
                    keyframe: int | None = Query(None, ge=0, le=999, description="a video's n-th keyframe instead"),
                    user: Principal = Depends(current_user)):
    return stream_object(request, **media_service.thumbnail(media_id, user.user_id, size, keyframe))


@router.get("/media/{media_id}/playback")
@router.head("/media/{media_id}/playback", include_in_schema=False)
def media_playback(media_id: UUID, request: Request, user: Principal = Depends(current_user)):
    """What a browser plays (Range requests for seeking): a video's web preview (H.264/AAC MP4, made by the
    transcode function) when it has one, else the original as stored."""
    return stream_object(request, **media_service.playback(media_id, user.user_id))


@router.get("/media/{media_id}/original")
@router.head("/media/{media_id}/original", include_in_schema=False)
def media_original(media_id: UUID, request: Request, download: bool = False,
                   user: Principal = Depends(current_user)):
    """The original file, byte for byte (Range requests supported for video seeking)."""
    return stream_object(request, **media_service.original(media_id, user.user_id), inline=not download)


@router.get("/media/{media_id}/burst")
def media_burst(media_id: UUID, user: Principal = Depends(current_user)):
    """The burst of one of your photos, in capture order (photos of one camera taken within 2 s of the next; a
    photo in no burst: itself alone, burst_id null)."""
    return burst_out(bursts_service.members(media_id, user.user_id))


@router.get("/memories")
def memories(day: date | None = Query(None, description="your local date (default: today in UTC)"),
             user: Principal = Depends(current_user)):
    """On this day: your items taken on this calendar day in earlier years, one memory per year, prepared by the
    housekeeping cron (no trashed items, one photo per burst, no near-duplicates)."""
    return memories_out(memories_service.for_day(user.user_id, day))


@router.get("/media/{media_id}/files/{role}")
@router.head("/media/{media_id}/files/{role}", include_in_schema=False)
def media_companion_file(media_id: UUID, role: Literal["motion", "raw"], request: Request, download: bool = False,
                         playable: bool = False, user: Principal = Depends(current_user)):
    """Another file of the item (a live photo's motion clip, the RAW of a RAW+JPEG pair), byte for byte, with
    Range requests; the same access as the original.  ``playable=1``: a motion clip's H.264/AAC MP4 web preview
    when it has one (an iPhone's HEVC clip), else the clip as stored."""
    return stream_object(request, **companions_service.file_object(media_id, user.user_id, role, playable),
                         inline=not download)


# ---------------------------------------------------------------- upload and sync
@router.post("/media/upload")
async def upload_media(request: Request, user: Principal = Depends(require("upload"))):
    """multipart/form-data, one part per file (field 'files'; its file name is the relative path kept on the
    server).  Optional field 'album': also put the files into your album of that name (created when missing).
    One result per file part, in the order sent: added (media_id), duplicate (media_id of the existing item),
    rejected (reason: a bad name or unreadable part headers concern that file only) or failed (retry it).
    A file whose first bytes are not a supported photo or video is refused while it streams (the rest of it is
    not stored); when every file of the request is refused that way the answer is 415 with the same results."""
    files, _fields = await receive_files(request)
    if not files:
        raise HTTPException(422, "no files in the request: send them as multipart parts named 'files'")
    owner = {"id": user.user_id, "username": user.username}
    results = []
    try:
        album_id = await run_in_threadpool(media_service.upload_album, user.user_id,
                                           (_fields.get("album") or [None])[0])
        for part in files:
            results.append(await run_in_threadpool(ingest_one, owner, part))
    finally:
        close_all(files)
    await run_in_threadpool(media_service.file_in_album, album_id, user.user_id,
                            [r.get("media_id") for r in results if r["status"] in ("added", "duplicate")])
    return upload_answer(files, results)


@router.post("/media/have")
def have_sha512(body: ShaCheck, user: Principal = Depends(require("upload"))):
    """Which of these SHA-512s are already in your library (trashed items count: restore them instead)."""
    return media_service.have(user.user_id, body.sha512, body.album)


# ---------------------------------------------------------------- edits
@router.put("/media/{media_id}/gps")
def set_gps(media_id: UUID, body: GpsIn, user: Principal = Depends(current_user)):
    """Set the location (an override shown instead of the EXIF one; the original file is not touched)."""
    return media_service.set_gps(media_id, user.user_id, body.lat, body.lon, body.alt)


@router.delete("/media/{media_id}/gps")
def clear_gps(media_id: UUID, user: Principal = Depends(current_user)):
    """Remove the override: the EXIF location (if any) shows again."""
    return media_service.clear_gps(media_id, user.user_id)


@router.post("/media/{media_id}/trash")
def trash_media(media_id: UUID, user: Principal = Depends(current_user)):
    """Move to the trash; purged after the retention period (PVA_TRASH_RETENTION_DAYS) unless restored."""
    return media_service.trash(media_id, user.user_id)


@router.post("/media/{media_id}/restore")
def restore_media(media_id: UUID, user: Principal = Depends(current_user)):
    return media_service.restore(media_id, user.user_id)


@router.delete("/media/{media_id}", status_code=204)
def purge_media(media_id: UUID, user: Principal = Depends(current_user)):
    """Delete a trashed item for good (its original too).  Move it to the trash first."""
    media_service.purge_one(media_id, user.user_id)
    return Response(status_code=204)


@router.post("/trash/empty")
def empty_trash(user: Principal = Depends(current_user)):
    """Delete everything in your trash now."""
    return {"purged": media_service.purge_trash(user.user_id)}


# ---------------------------------------------------------------- comments
@router.get("/media/{media_id}/comments")
def list_comments(media_id: UUID, user: Principal = Depends(current_user)):
    return comments_service.list_for(media_id, user.user_id)


@router.post("/media/{media_id}/comments", status_code=201)
def add_comment(media_id: UUID, body: CommentIn, user: Principal = Depends(current_user)):
    return comments_service.add(media_id, user.user_id, body.body)


@router.patch("/comments/{comment_id}")
def edit_comment(comment_id: UUID, body: CommentIn, user: Principal = Depends(current_user)):
    return comments_service.edit(comment_id, user.user_id, body.body)


@router.delete("/comments/{comment_id}", status_code=204)
def delete_comment(comment_id: UUID, user: Principal = Depends(current_user)):
    comments_service.delete(comment_id, user.user_id)
    return Response(status_code=204)
