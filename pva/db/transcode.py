"""SQL for videos' web previews (issue 22): the key of the H.264/AAC MP4 the transcode function made, on the media
row (``media.web_video_key``, migration 012); null when the original plays as stored."""
from __future__ import annotations

from uuid import UUID


def set_web_video(cur, media_id: UUID, key: str | None) -> bool:
    cur.execute("update media set web_video_key = %s, updated_at = now() where id = %s returning id",
                (key, media_id))
    return cur.fetchone() is not None
