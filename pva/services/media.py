"""Media items: the detail of one item as its viewer may see it, and the trash purge (rows, then their objects).

The gateway's API and web UI both show the detail through :func:`detail` (the web page used to call the API
handler); the purge used to live in gateway/routers/media.py although `pva serve`'s housekeeping runs it too.
"""
from __future__ import annotations

from uuid import UUID

from ..config import get_settings
from ..db import media as media_q
from ..db.search.media_detail import detail as detail_row


def detail(media_id: UUID, user_id: UUID) -> dict | None:
    """The item with its detections, faces, OCR, transcript, comments and albums (pva.db.search.detail), where its
    location comes from (``gps``: override, else the file's EXIF), and for its owner the analysis jobs; None when
    the user may not see it."""
    m = detail_row(media_id, user_id)
    if m is None:
        return None
    m["has_thumb"] = m.get("thumb_key") is not None
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


def delete_objects(rows: list[dict]) -> int:
    """Remove the stored objects of purged media rows (missing objects are fine)."""
    from pva.infra.storage import get_storage

    s = get_settings()
    st = get_storage()
    n = 0
    for r in rows:
        pairs = [(s.bucket_originals, r["storage_key"])]
        pairs += [(s.bucket_thumbs, k) for k in (r.get("thumb_key"), r.get("preview_key"), *r.get("crop_keys", []))
                  if k]
        for bucket, key in pairs:
            st.delete(bucket, key)
            n += 1
    return n


def purge_trash(owner_id: UUID, *, media_id: UUID | None = None) -> int:
    """Delete the owner's trashed items for good (one, or all of them), objects included; returns how many went.
    The rows go first, in one statement: an object left behind by a crash is garbage, never a broken item."""
    rows = media_q.purge(owner_id, media_id=media_id)
    delete_objects(rows)
    return len(rows)


def purge_expired_trash() -> int:
    """Purge everyone's trash older than the retention period; returns how many items went."""
    rows = media_q.purge(None, older_than_days=get_settings().trash_retention_days)
    delete_objects(rows)
    return len(rows)


__all__ = ["detail", "delete_objects", "purge_trash", "purge_expired_trash"]
