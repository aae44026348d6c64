"""SQL for videos' web previews (issue 22): the key of the H.264/AAC MP4 the transcode function made, on the media
row (``media.web_video_key``, migration 012); null when the original plays as stored."""
from __future__ import annotations

from uuid import UUID


def set_web_video(cur, media_id: UUID, key: str | None) -> dict | None:
    """Name the item's web preview (None: it plays as stored); returns {"old": the key it named before} (None
    when the item is gone), so the caller deletes a preview no longer named once this commits."""
    cur.execute("""with old as (select id, web_video_key from media where id = %s for update)
                   update media m set web_video_key = %s, updated_at = now() from old where m.id = old.id
                   returning old.web_video_key as old""", (media_id, key))
    return cur.fetchone()


# ---------------------------------------------------------------- a live/motion photo's motion clip (issue 22)
def mark_motion_preview(cur, media_id: UUID) -> None:
    """metadata.motion.transcode = true on the item (TranscodeTask.applies_to reads it), other motion keys kept."""
    cur.execute("""update media set metadata = coalesce(metadata, '{}'::jsonb) || jsonb_build_object('motion',
                          coalesce(metadata->'motion', '{}'::jsonb) || '{"transcode": true}'::jsonb),
                          updated_at = now() where id = %s""", (media_id,))


def set_motion_web_video(cur, media_id: UUID, key: str | None) -> dict | None:
    """The web preview of the item's motion clip, on its motion file (media_files.metadata.web_video_key);
    returns {"old": the key it named before} (None when there is no motion file)."""
    cur.execute("""with old as (select id, metadata->>'web_video_key' as k from media_files
                                 where media_id = %s and role = 'motion' for update)
                   update media_files f set metadata = case when %s::text is null then f.metadata - 'web_video_key'
                          else f.metadata || jsonb_build_object('web_video_key', %s::text) end
                     from old where f.id = old.id returning old.k as old""", (media_id, key, key))
    return cur.fetchone()
