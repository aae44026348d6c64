"""How a media row is shown to clients of the API and the web UI: the URLs of its files, and the internal
columns (object keys, the raw GPS override) left out.  Shared by the media router and the web pages, so the web
UI no longer calls the API handler to get the same shape."""
from __future__ import annotations

API = "/api/v1"
_INTERNAL = ("storage_key", "thumb_key", "preview_key", "web_video_key", "name_tsv", "gps_override_lat", "gps_override_lon",
             "gps_override_alt")


def media_links(row: dict) -> dict:
    """A search or detail row with its thumbnail and original URLs, internal columns removed (in place)."""
    mid = row["id"]
    row["thumbnail_url"] = f"{API}/media/{mid}/thumbnail" if row.pop("has_thumb", True) else None
    row["original_url"] = f"{API}/media/{mid}/original"
    # what a browser plays: a video's web preview when the transcode function made one, else the original
    row["video_url"] = f"{API}/media/{mid}/playback" if row.get("kind") == "video" else None
    for k in _INTERNAL:
        row.pop(k, None)
    return row


def detail_out(m: dict) -> dict:
    """pva.services.media.detail as the API answers it: preview and face-crop URLs too."""
    m["preview_url"] = f"{API}/media/{m['id']}/thumbnail?size=preview" if m["has_preview"] else None
    for f in m["faces"]:
        f["crop_url"] = f"{API}/faces/{f['id']}/crop" if f.pop("has_crop") else None
    for f in m.get("files") or []:  # companion files (issue 22)
        f["url"] = f"{API}/media/{m['id']}/files/{f['role']}"
    return media_links(m)


def page_out(page: dict) -> dict:
    """A search page (pva.services.search.search) as the API answers it: every item with its URLs."""
    page["items"] = [media_links(r) for r in page["items"]]
    return page


def burst_out(burst: dict) -> dict:
    """A burst (pva.services.bursts.members) as the API answers it: every photo with its URLs."""
    burst["items"] = [media_links(r) for r in burst["items"]]
    return burst


def memories_out(memories: dict) -> dict:
    """The memories of a day (pva.services.memories.for_day) as the API answers them: every item with its URLs."""
    for m in memories["memories"]:
        m["items"] = [media_links(r) for r in m["items"]]
    return memories


__all__ = ["media_links", "detail_out", "page_out", "burst_out", "memories_out", "API"]
