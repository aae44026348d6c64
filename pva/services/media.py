"""Media items: who may see an item, its detail, its files, the owner's edits (location override, trash, restore)
and the trash purge (rows, then their objects), and the upload's album.

The gateway's API and web UI both show the detail through :func:`detail` (the web page used to call the API
handler); the purge used to live in gateway/routers/media.py although `pva serve`'s housekeeping runs it too.  The
access checks, edits and file lookups left the media router too (issue 17): it makes one call here per route.
"""
from __future__ import annotations

import re
from uuid import UUID

from ..config import get_settings
from ..db import media as media_q
from ..db.search.media_detail import detail as detail_row
from ..errors import Conflict, Invalid, NotFound
from ..infra import db
from . import bursts
from . import people
from . import places


class Unprocessable(Invalid):
    """A request the API has always answered 422 (like FastAPI's own validation errors): the message says why."""

    status = 422


class NoThumbnail(NotFound):
    """The item exists, but its thumbnail has not been made (yet)."""

    def __init__(self):
        Exception.__init__(self, "this item has no thumbnail (yet)")


# ---------------------------------------------------------------- access
def visible(media_id: UUID, user_id: UUID) -> dict:
    """The media row with access='owner'|'shared' when the user may see it, else NotFound."""
    with db.transaction() as cur:
        m = media_q.media_access(cur, media_id, user_id)
    if m is None:
        raise NotFound("media")
    return m


def owned(media_id: UUID, user_id: UUID) -> dict:
    """The media row when it is the user's own (a shared item is NotFound, like a missing one)."""
    m = visible(media_id, user_id)
    if m["access"] != "owner":
        raise NotFound("media")
    return m


def detail(media_id: UUID, user_id: UUID) -> dict | None:
    """The item with its detections, faces, OCR, transcript, comments and albums (pva.db.search.detail), where its
    location comes from (``gps``: override, else the file's EXIF), and for its owner the analysis jobs; None when
    the user may not see it."""
    with db.transaction() as cur:
        m = detail_row(cur, media_id, user_id)
        if m is not None:
            m["place"] = places.place_of(cur, m.get("place_id"))  # city, region, country (issue 21)
    if m is None:
        return None
    m["has_thumb"] = m.get("thumb_key") is not None
    from . import companions

    m["files"] = companions.files(media_id, user_id)  # its other files: motion clip, RAW (issue 22)
    m["has_preview"] = m.get("preview_key") is not None
    m["gps"] = {"lat": m["lat"], "lon": m["lon"],
                "alt": m["gps_override_alt"] if m["gps_override_lat"] is not None else m["gps_alt"],
                "source": "override" if m["gps_override_lat"] is not None else ("exif" if m["gps_lat"] is not None
                                                                                 else None),
                "exif": {"lat": m["gps_lat"], "lon": m["gps_lon"], "alt": m["gps_alt"]}}
    if m["access"] == "owner":
        from .. import jobs

        m["jobs"] = jobs.for_media(media_id)
    else:
        m["jobs"] = []  # a share recipient does not see how the owner's library is analysed
    return m


def get_detail(media_id: UUID, user_id: UUID) -> dict:
    """:func:`detail`, NotFound when the user may not see the item."""
    m = detail(media_id, user_id)
    if m is None:
        raise NotFound("media")
    return m


# ---------------------------------------------------------------- files
def thumbnail(media_id: UUID, user_id: UUID, size: str = "grid", keyframe: int | None = None) -> dict:
    """Where the item's thumbnail ('grid') or preview is stored, as gateway.streaming.stream_object takes it (the
    grid thumbnail when there is no preview); ``keyframe``: the n-th frame ingest kept of a video instead (the
    detail page's strip), NotFound when there is no such frame."""
    m = visible(media_id, user_id)
    if keyframe is not None:
        frames = (m.get("metadata") or {}).get("keyframes") or []
        if not 0 <= keyframe < len(frames) or not frames[keyframe].get("key"):
            raise NotFound("keyframe")
        return {"bucket": get_settings().bucket_thumbs, "key": frames[keyframe]["key"], "content_type": None,
                "filename": None, "etag_hint": f"{media_id}-keyframe-{keyframe}"}
    key = m["preview_key"] if size == "preview" else m["thumb_key"]
    key = key or m["thumb_key"]
    if not key:
        raise NoThumbnail()
    return {"bucket": get_settings().bucket_thumbs, "key": key, "content_type": None, "filename": None,
            "etag_hint": f"{media_id}-{size}"}


def original(media_id: UUID, user_id: UUID) -> dict:
    """Where the item's original is stored, its type and name, as gateway.streaming.stream_object takes them."""
    m = visible(media_id, user_id)
    return {"bucket": get_settings().bucket_originals, "key": m["storage_key"], "content_type": m["mime"],
            "filename": m["filename"], "etag_hint": bytes(m["sha512"]).hex()[:32]}


def playback(media_id: UUID, user_id: UUID) -> dict:
    """What a browser plays: the item's web preview of a video (H.264/AAC MP4 in the thumbs bucket, made by the
    transcode function for a video not every browser plays as stored) when there is one, else its original."""
    from . import transcode

    m = visible(media_id, user_id)
    return transcode.preview_object(m) or {"bucket": get_settings().bucket_originals, "key": m["storage_key"],
                                           "content_type": m["mime"], "filename": m["filename"],
                                           "etag_hint": bytes(m["sha512"]).hex()[:32]}


def stat(bucket: str, key: str):
    """The stored object's size, etag and content type (None when it is missing)."""
    from pva.infra.storage import get_storage

    return get_storage().stat(bucket, key)


def open_object(bucket: str, key: str, *, offset: int, length: int):
    """A stream of ``length`` bytes of the object from ``offset`` (close it when done)."""
    from pva.infra.storage import get_storage

    return get_storage().get_stream(bucket, key, offset=offset, length=length)


# ---------------------------------------------------------------- the owner's edits
def set_gps(media_id: UUID, owner_id: UUID, lat: float, lon: float, alt: float | None) -> dict:
    """Set the location override (shown instead of the EXIF one; the original file is not touched)."""
    with db.transaction() as cur:
        if not media_q.set_gps_override(cur, media_id, owner_id, lat, lon, alt):
            raise NotFound("media")
        places.rename(cur, [media_id])  # the place of the new location (issue 21)
        place = places.place_of_media(cur, media_id)
    return {"id": media_id, "gps": {"lat": lat, "lon": lon, "alt": alt, "source": "override"}, "place": place}


def clear_gps(media_id: UUID, owner_id: UUID) -> dict:
    """Remove the override: the EXIF location (if any) shows again."""
    with db.transaction() as cur:
        if not media_q.clear_gps_override(cur, media_id, owner_id):
            raise NotFound("media")
        places.rename(cur, [media_id])
        m = media_q.media_access(cur, media_id, owner_id)
        place = places.place_of_media(cur, media_id)
    return {"id": media_id, "gps": {"lat": m["lat"], "lon": m["lon"],
                                    "source": "exif" if m["lat"] is not None else None}, "place": place}


def trash(media_id: UUID, owner_id: UUID) -> dict:
    """Move to the trash; purged after the retention period unless restored."""
    with db.transaction() as cur:
        people.lock_for_items(cur, owner_id)
        if not media_q.trash(cur, media_id, owner_id):
            raise NotFound("media")
        people.items_moved(cur, owner_id, [media_id])  # its faces leave their people's counts (and covers)
    bursts.after_change(owner_id, [media_id])  # it leaves its burst (issue 21)
    return {"id": media_id, "trashed": True, "retention_days": get_settings().trash_retention_days}


def restore(media_id: UUID, owner_id: UUID) -> dict:
    with db.transaction() as cur:
        people.lock_for_items(cur, owner_id)
        if not media_q.restore(cur, media_id, owner_id):
            raise NotFound("media")
        people.items_moved(cur, owner_id, [media_id])
    bursts.after_change(owner_id, [media_id])
    return {"id": media_id, "trashed": False}


def purge_one(media_id: UUID, owner_id: UUID) -> None:
    """Delete a trashed item for good (its objects too); Conflict while it is not in the trash."""
    m = owned(media_id, owner_id)
    if m["trashed_at"] is None:
        raise Conflict("move the item to the trash first (POST .../trash), then delete it")
    purge_trash(owner_id, media_id=media_id)


# ---------------------------------------------------------------- trash purge
def delete_objects(rows: list[dict]) -> int:
    """Remove the stored objects of purged media rows (missing objects are fine): the original and companion
    files, and every derived object in the thumbs bucket.  Those are named on the row (thumbnails, keyframes, web
    previews, face crops, the analysis preview) and all live under "<media id>/" (or the id a companion file had
    as an item of its own), so that prefix is listed too: an object a job put there and no row names (a crash
    between the put and the commit, a rerun that planned no preview) goes as well."""
    from pva.infra.storage import get_storage

    from ..jobs import analysis_preview_key

    s = get_settings()
    st = get_storage()
    n = 0
    for r in rows:
        pairs = [(s.bucket_originals, r["storage_key"])]
        pairs.append((s.bucket_thumbs, f"{r['id']}/web.mp4"))  # a video's web preview (issue 22), if it has one
        pairs.append((s.bucket_thumbs, f"{r['id']}/motion-web.mp4"))  # a live photo's motion clip's, if any
        pairs.append((s.bucket_thumbs, analysis_preview_key(r["id"])))  # a photo's analysis preview (issue 20)
        pairs += [(s.bucket_thumbs, k) for k in (r.get("thumb_key"), r.get("preview_key"), r.get("web_video_key"),
                                                 r.get("analysis_key"), *(r.get("crop_keys") or []),
                                                 *(r.get("keyframe_keys") or [])) if k]
        # its companion files (a live photo's MOV, the RAW of a pair, an extracted motion clip: issue 22)
        pairs += [(s.bucket_originals if b == "originals" else s.bucket_thumbs, k)
                  for b, k in r.get("companion_keys") or [] if k]
        for prefix in {f"{i}/" for i in r.get("derived_ids") or [r["id"]]}:
            pairs += [(s.bucket_thumbs, o.key) for o in st.list(s.bucket_thumbs, prefix, recursive=True)]
        for bucket, key in dict.fromkeys(pairs):
            st.delete(bucket, key)
            n += 1
    return n


def purge_trash(owner_id: UUID, *, media_id: UUID | None = None) -> int:
    """Delete the owner's trashed items for good (one, or all of them), objects included; returns how many went.
    The rows go first, in one statement, and their people are counted again in the same transaction: an object
    left behind by a crash is garbage, never a broken item."""
    with db.transaction() as cur:
        people.lock_for_items(cur, owner_id)
        rows = media_q.purge(cur, owner_id, media_id=media_id)
        people.items_purged(cur, owner_id, [p for r in rows for p in r["person_ids"]])
    delete_objects(rows)
    return len(rows)


def purge_expired_trash() -> int:
    """Purge everyone's trash older than the retention period, owner by owner (each purge takes its owner's people
    lock before the rows, as purge_trash does); returns how many items went."""
    days = get_settings().trash_retention_days
    with db.transaction() as cur:
        owners = media_q.owners_with_expired_trash(cur, days)
    n = 0
    for owner_id in owners:
        with db.transaction() as cur:
            people.lock_for_items(cur, owner_id)
            rows = media_q.purge(cur, owner_id, older_than_days=days)
            people.items_purged(cur, owner_id, [p for r in rows for p in r["person_ids"]])
        delete_objects(rows)
        n += len(rows)
    return n


# ---------------------------------------------------------------- upload and sync
def upload_album(owner_id: UUID, name: str | None) -> UUID | None:
    """The owner's album with this name, created when missing (upload field / have key 'album', used by
    `pva sync --album`: an upload-scope token can file what it sends); None for no name."""
    from . import albums

    name = (name or "").strip()
    if not name:
        return None
    if len(name) > 200:
        raise Unprocessable("album name: at most 200 characters")
    return albums.find_or_create(owner_id, name)


def file_in_album(album_id: UUID | None, owner_id: UUID, media_ids: list) -> None:
    """Put the owner's uploaded (or already present) items into the upload's album (none: nothing to do)."""
    from . import albums

    ids = [UUID(str(m)) for m in media_ids if m]
    if album_id and ids:
        albums.add_media(album_id, owner_id, ids)


_HEX128 = re.compile(r"^[0-9a-fA-F]{128}$")


def have(owner_id: UUID, sha512s: list[str], album: str | None = None) -> dict:
    """Which of these hex SHA-512s are already in the owner's library (trashed items count: restore them instead);
    with ``album``, the ones present are also put into that album of theirs."""
    bad = [h for h in sha512s if not _HEX128.match(h)]
    if bad:
        raise Unprocessable(f"not a hex SHA-512 (128 hex digits): {bad[0][:140]!r}")
    with db.transaction() as cur:
        found = media_q.have_shas(cur, owner_id, [bytes.fromhex(h) for h in sha512s])
    found = {k.hex(): v for k, v in found.items()}
    file_in_album(upload_album(owner_id, album), owner_id, list(found.values()))
    return {"have": found, "missing": [h.lower() for h in sha512s if h.lower() not in found]}


__all__ = ["Unprocessable", "NoThumbnail", "visible", "owned", "detail", "get_detail", "thumbnail", "original",
           "stat", "open_object", "set_gps", "clear_gps", "trash", "restore", "purge_one", "delete_objects",
           "purge_trash", "purge_expired_trash", "upload_album", "file_in_album", "have"]
