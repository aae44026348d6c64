"""Media: search (keyset pages, facets), detail, thumbnails and originals (Range), upload, SHA-512 check,
GPS override, comments, trash."""
from __future__ import annotations

import re
from datetime import date, datetime, time, timezone
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from pva.infra import db
from pva.config import get_settings
from pva.db import comments as comments_db
from pva.db import media as media_db
from pva.db import search as search_db
from pva.services import media as media_service
from pva.services import people as people_service
# moved to pva.services.media (issue 17); re-exported here for callers mid-edit
from pva.services.media import delete_objects, purge_expired_trash  # noqa: F401

from ..deps import Principal, current_user, not_found, require
from ..media_view import detail_out, media_links
from ..streaming import stream_object
from ..upload import close_all, ingest_one, receive_files, upload_answer

router = APIRouter(prefix="/api/v1", tags=["media"])


# ---------------------------------------------------------------- helpers
def _parse_when(value: str | None, name: str, end: bool = False) -> datetime | None:
    """ISO date or datetime; a bare date as `to` means the end of that day."""
    if not value:
        return None
    try:
        if len(value) == 10:
            d = date.fromisoformat(value)
            if end:
                from datetime import timedelta

                d = d + timedelta(days=1)
            return datetime.combine(d, time.min, tzinfo=timezone.utc)
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    except ValueError:
        raise HTTPException(422, f"{name} must be an ISO date (2024-05-31) or date-time "
                                 f"(2024-05-31T14:00:00Z), not {value!r}") from None


def _parse_bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        s, w, n, e = (float(x) for x in value.split(","))
    except ValueError:
        raise HTTPException(422, "bbox must be 'south,west,north,east' in degrees, e.g. 48.8,2.2,48.9,2.4") from None
    if not (-90 <= s <= n <= 90 and -180 <= w <= 180 and -180 <= e <= 180):
        raise HTTPException(422, "bbox: latitudes in -90..90 with south <= north, longitudes in -180..180 "
                                 "(west > east crosses the antimeridian)")
    return s, w, n, e


class SearchParams:
    """Query parameters shared by search and facets."""

    def __init__(self,
                 date_from: str | None = Query(None, alias="from", description="taken on/after (ISO date/time)"),
                 date_to: str | None = Query(None, alias="to", description="taken before (a bare date: through it)"),
                 bbox: str | None = Query(None, description="south,west,north,east (map area)"),
                 no_gps: bool = Query(False, description="only items without a location"),
                 label: list[str] = Query([], description="object label (repeat for all of several)"),
                 min_confidence: float = Query(0.0, ge=0, le=1),
                 person: UUID | None = Query(None, description="person id"),
                 similar_face: int | None = Query(None, description="face id: items with a similar face"),
                 camera_make: str | None = Query(None, max_length=200),
                 camera_model: str | None = Query(None, max_length=200),
                 kind: Literal["photo", "video"] | None = None,
                 format: str | None = Query(None, max_length=20, description="jpeg, png, heic, mp4, ..."),
                 q: str | None = Query(None, max_length=500, description="text: OCR, transcript, comments, name"),
                 album: UUID | None = None,
                 trashed: bool = Query(False, description="list the trash instead")):
        self.filters = search_db.Filters(
            date_from=_parse_when(date_from, "from"), date_to=_parse_when(date_to, "to", end=True),
            bbox=_parse_bbox(bbox), no_gps=no_gps, labels=[x.strip() for x in label if x.strip()][:10],
            min_confidence=min_confidence, person_id=person, similar_face_id=similar_face,
            face_threshold=get_settings().face_threshold, camera_make=camera_make, camera_model=camera_model,
            kind=kind, format=format, text=q, album_id=album, trashed=trashed)


def search_from_query(qs: str, user: Principal) -> tuple[search_db.Filters, str, str] | None:
    """(filters, sort, order) of a search as the web UI writes it in a URL query (from=...&label=...), checked like
    GET /media checks them; None when it does not parse or names ids that are not the user's."""
    from urllib.parse import parse_qs

    q = parse_qs(qs or "", max_num_fields=50)

    def one(k: str) -> str | None:
        v = q.get(k)
        return v[-1] if v else None

    try:
        params = SearchParams(
            date_from=one("from"), date_to=one("to"), bbox=one("bbox"), no_gps=one("no_gps") in ("true", "1", "on"),
            label=q.get("label", []), min_confidence=min(1.0, max(0.0, float(one("min_confidence") or 0))),
            person=UUID(one("person")) if one("person") else None,
            similar_face=int(one("similar_face")) if one("similar_face") else None,
            camera_make=one("camera_make"), camera_model=one("camera_model"),
            kind=one("kind") if one("kind") in ("photo", "video") else None, format=one("format"), q=one("q"),
            album=UUID(one("album")) if one("album") else None, trashed=False)
        _check_refs(params.filters, user)
    except (ValueError, HTTPException):
        return None
    if params.filters.album_id is not None and search_db.album_scope(params.filters.album_id, user.user_id) is None:
        return None
    sort = one("sort") if one("sort") in search_db.SORTS else "taken"
    order = one("order") if one("order") in ("asc", "desc") else "desc"
    return params.filters, sort, order


def _check_refs(f: search_db.Filters, user: Principal) -> None:
    """Ids inside filters must be the user's own (404 otherwise, like any other id)."""
    if f.person_id is not None and people_service.get_person(user.user_id, f.person_id) is None:
        raise not_found("person")
    if f.similar_face_id is not None and people_service.get_face(user.user_id, f.similar_face_id) is None:
        raise not_found("face")
    if f.trashed and f.album_id is not None:
        raise HTTPException(422, "the trash cannot be combined with an album")


def _run_search(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except LookupError as e:
        raise not_found(str(e.args[0]) if e.args else "item") from None
    except search_db.BadQuery as e:
        raise HTTPException(422, str(e)) from None


# ---------------------------------------------------------------- search
@router.get("/media")
def search_media(params: SearchParams = Depends(), sort: Literal["taken", "added"] = "taken",
                 order: Literal["desc", "asc"] = "desc", limit: int = Query(100, ge=1, le=500),
                 cursor: str | None = Query(None, max_length=500), user: Principal = Depends(current_user)):
    """Search the library (all filters combine with AND); pass next_cursor back for the next page."""
    _check_refs(params.filters, user)
    page = _run_search(search_db.search, user.user_id, params.filters, sort=sort, order=order, limit=limit,
                       cursor=cursor)
    page["items"] = [media_links(r) for r in page["items"]]
    return page


@router.get("/search/facets")
def search_facets(params: SearchParams = Depends(), user: Principal = Depends(current_user)):
    """How many items each filter value would give, under the other active filters.  Exact, except when the
    filters match a very large set (over 100k items): then the counts are estimated from a sample of the library
    and `approximate` is true."""
    _check_refs(params.filters, user)
    return _run_search(search_db.facets, user.user_id, params.filters)


# ---------------------------------------------------------------- detail and files
def _visible(media_id: UUID, user: Principal) -> dict:
    m = media_db.media_access(media_id, user.user_id)
    if m is None:
        raise not_found("media")
    return m


def _owned(media_id: UUID, user: Principal) -> dict:
    m = media_db.media_access(media_id, user.user_id)
    if m is None or m["access"] != "owner":
        raise not_found("media")
    return m


@router.get("/media/{media_id}")
def media_detail(media_id: UUID, user: Principal = Depends(current_user)):
    """Metadata, detections, faces, OCR words, transcript, comments, albums and analysis jobs."""
    m = media_service.detail(media_id, user.user_id)
    if m is None:
        raise not_found("media")
    return detail_out(m)


@router.get("/media/{media_id}/thumbnail")
@router.head("/media/{media_id}/thumbnail", include_in_schema=False)
def media_thumbnail(media_id: UUID, request: Request, size: Literal["grid", "preview"] = "grid",
                    user: Principal = Depends(current_user)):
    m = _visible(media_id, user)
    key = m["preview_key"] if size == "preview" else m["thumb_key"]
    key = key or m["thumb_key"]
    if not key:
        raise HTTPException(404, "this item has no thumbnail (yet)")
    return stream_object(request, get_settings().bucket_thumbs, key, content_type=None, filename=None,
                         etag_hint=f"{media_id}-{size}")


@router.get("/media/{media_id}/original")
@router.head("/media/{media_id}/original", include_in_schema=False)
def media_original(media_id: UUID, request: Request, download: bool = False,
                   user: Principal = Depends(current_user)):
    """The original file, byte for byte (Range requests supported for video seeking)."""
    m = _visible(media_id, user)
    return stream_object(request, get_settings().bucket_originals, m["storage_key"], content_type=m["mime"],
                         filename=m["filename"], etag_hint=bytes(m["sha512"]).hex()[:32], inline=not download)


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
        album_id = await run_in_threadpool(_album_for, user, (_fields.get("album") or [None])[0])
        for part in files:
            results.append(await run_in_threadpool(ingest_one, owner, part))
    finally:
        close_all(files)
    if album_id:
        await run_in_threadpool(_add_to_album, album_id, user, [r.get("media_id") for r in results
                                                                if r["status"] in ("added", "duplicate")])
    return upload_answer(files, results)


class ShaCheck(BaseModel):
    sha512: list[str] = Field(max_length=10000, description="hex SHA-512 digests of files you have")
    album: str | None = Field(default=None, max_length=200,
                              description="also put the items you already have into your album of this name")


def _album_for(user: Principal, name: str | None) -> UUID | None:
    """The caller's own album with this name, created when missing (upload field / have key 'album', used by
    `pva sync --album`: an upload-scope token can file what it sends)."""
    name = (name or "").strip()
    if not name:
        return None
    if len(name) > 200:
        raise HTTPException(422, "album name: at most 200 characters")
    from pva.db import albums as albums_db

    return albums_db.find_or_create(user.user_id, name)


def _add_to_album(album_id: UUID, user: Principal, media_ids: list) -> None:
    from pva.db import albums as albums_db

    ids = [UUID(str(m)) for m in media_ids if m]
    if ids:
        albums_db.add_media(album_id, user.user_id, ids)


_HEX128 = re.compile(r"^[0-9a-fA-F]{128}$")


@router.post("/media/have")
def have_sha512(body: ShaCheck, user: Principal = Depends(require("upload"))):
    """Which of these SHA-512s are already in your library (trashed items count: restore them instead)."""
    bad = [h for h in body.sha512 if not _HEX128.match(h)]
    if bad:
        raise HTTPException(422, f"not a hex SHA-512 (128 hex digits): {bad[0][:140]!r}")

    with db.transaction() as cur:
        have = media_db.have_shas(cur, user.user_id, [bytes.fromhex(h) for h in body.sha512])
    found = {k.hex(): v for k, v in have.items()}
    album_id = _album_for(user, body.album)
    if album_id:
        _add_to_album(album_id, user, list(found.values()))
    return {"have": found, "missing": [h.lower() for h in body.sha512 if h.lower() not in found]}


# ---------------------------------------------------------------- edits
class GpsIn(BaseModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    alt: float | None = Field(default=None, ge=-11000, le=100000)


@router.put("/media/{media_id}/gps")
def set_gps(media_id: UUID, body: GpsIn, user: Principal = Depends(current_user)):
    """Set the location (an override shown instead of the EXIF one; the original file is not touched)."""
    if not media_db.set_gps_override(media_id, user.user_id, body.lat, body.lon, body.alt):
        raise not_found("media")
    return {"id": media_id, "gps": {"lat": body.lat, "lon": body.lon, "alt": body.alt, "source": "override"}}


@router.delete("/media/{media_id}/gps")
def clear_gps(media_id: UUID, user: Principal = Depends(current_user)):
    """Remove the override: the EXIF location (if any) shows again."""
    if not media_db.clear_gps_override(media_id, user.user_id):
        raise not_found("media")
    m = media_db.media_access(media_id, user.user_id)
    return {"id": media_id, "gps": {"lat": m["lat"], "lon": m["lon"],
                                    "source": "exif" if m["lat"] is not None else None}}


@router.post("/media/{media_id}/trash")
def trash_media(media_id: UUID, user: Principal = Depends(current_user)):
    """Move to the trash; purged after the retention period (PVA_TRASH_RETENTION_DAYS) unless restored."""
    if not media_db.trash(media_id, user.user_id):
        raise not_found("media")
    return {"id": media_id, "trashed": True, "retention_days": get_settings().trash_retention_days}


@router.post("/media/{media_id}/restore")
def restore_media(media_id: UUID, user: Principal = Depends(current_user)):
    if not media_db.restore(media_id, user.user_id):
        raise not_found("media")
    return {"id": media_id, "trashed": False}


@router.delete("/media/{media_id}", status_code=204)
def purge_media(media_id: UUID, user: Principal = Depends(current_user)):
    """Delete a trashed item for good (its original too).  Move it to the trash first."""
    m = _owned(media_id, user)
    if m["trashed_at"] is None:
        raise HTTPException(409, "move the item to the trash first (POST .../trash), then delete it")
    media_service.purge_trash(user.user_id, media_id=media_id)
    return Response(status_code=204)


@router.post("/trash/empty")
def empty_trash(user: Principal = Depends(current_user)):
    """Delete everything in your trash now."""
    return {"purged": media_service.purge_trash(user.user_id)}


# ---------------------------------------------------------------- comments
class CommentIn(BaseModel):
    body: str = Field(min_length=1, max_length=10000)


@router.get("/media/{media_id}/comments")
def list_comments(media_id: UUID, user: Principal = Depends(current_user)):
    _visible(media_id, user)
    return comments_db.list_for_media(media_id)


@router.post("/media/{media_id}/comments", status_code=201)
def add_comment(media_id: UUID, body: CommentIn, user: Principal = Depends(current_user)):
    if not body.body.strip():
        raise HTTPException(422, "comment is empty")
    row = comments_db.create(media_id, user.user_id, body.body)
    if row is None:
        raise not_found("media")
    return row


@router.patch("/comments/{comment_id}")
def edit_comment(comment_id: UUID, body: CommentIn, user: Principal = Depends(current_user)):
    row = comments_db.update(comment_id, user.user_id, body.body)
    if row is None:
        raise not_found("comment")
    return row


@router.delete("/comments/{comment_id}", status_code=204)
def delete_comment(comment_id: UUID, user: Principal = Depends(current_user)):
    if not comments_db.delete(comment_id, user.user_id):
        raise not_found("comment")
    return Response(status_code=204)
