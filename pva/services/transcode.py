"""Videos' web previews as the gateway serves them (issue 22): what a browser plays for a media row.

The transcode function (pva.jobs.tasks.transcode) puts an H.264/AAC MP4 for a video not every browser plays as
stored in the thumbs bucket and names it in ``media.web_video_key``; the media service (an owner's or a share
recipient's ``/api/v1/media/{id}/playback``) and the albums service (a public link's ``/s/{token}/media/{id}/
playback``) both serve it from here, after their own access checks, else the original."""
from __future__ import annotations

from ..config import get_settings


def preview_object(m: dict) -> dict | None:
    """The web preview of a media row the caller may see, as gateway.streaming.stream_object takes it; None when
    the item has none (a photo, a video that plays as stored, or one not transcoded yet)."""
    if not m.get("web_video_key"):
        return None
    stem = (m.get("filename") or "video").rsplit(".", 1)[0] or "video"
    return {"bucket": get_settings().bucket_thumbs, "key": m["web_video_key"], "content_type": "video/mp4",
            "filename": f"{stem}.mp4", "etag_hint": f"{m['id']}-web"}


__all__ = ["preview_object"]
