"""SQL for videos' web previews (issue 22): the key of the H.264/AAC MP4 the transcode function made, on the media
row (``media.web_video_key``, migration 012); null when the original plays as stored."""
from __future__ import annotations

from uuid import UUID


def set_web_video(cur, media_id: UUID, key: str | None) -> bool:
    cur.execute("update media set web_video_key = %s, updated_at = now() where id = %s returning id",
                (key, media_id))
    return cur.fetchone() is not None


# ---------------------------------------------------------------- a live/motion photo's motion clip (issue 22)
def mark_motion_preview(cur, media_id: UUID) -> None:
    """metadata.motion.transcode = true on the item (TranscodeTask.applies_to reads it), other motion keys kept."""
    cur.execute("""update media set metadata = coalesce(metadata, '{}'::jsonb) || jsonb_build_object('motion',
                          coalesce(metadata->'motion', '{}'::jsonb) || '{"transcode": true}'::jsonb),
                          updated_at = now() where id = %s""", (media_id,))


def set_motion_web_video(cur, media_id: UUID, key: str | None) -> bool:
    """The web preview of the item's motion clip, on its motion file (media_files.metadata.web_video_key)."""
    cur.execute("""update media_files set metadata = case when %s::text is null then metadata - 'web_video_key'
                          else metadata || jsonb_build_object('web_video_key', %s::text) end
                    where media_id = %s and role = 'motion' returning id""", (key, key, media_id))
    return cur.fetchone() is not None
