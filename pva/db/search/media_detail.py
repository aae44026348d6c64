"""One media item in full, as its viewer may see it: detections, faces, OCR, transcript, comments, albums.

Named media_detail, not detail, so that ``pva.db.search.detail`` stays the function callers import."""
from __future__ import annotations

from uuid import UUID

from ..media import media_access


def detail(cur, media_id: UUID, user_id: UUID) -> dict | None:
    m = media_access(cur, media_id, user_id)
    if m is None:
        return None
    for k in ("name_tsv", "text_tsv", "label_tags"):
        m.pop(k, None)
    m["sha512"] = bytes(m["sha512"]).hex()
    cur.execute("""select label, confidence, x, y, w, h, model, model_version, video_time
                     from detections where media_id = %s order by confidence desc""", (media_id,))
    m["detections"] = cur.fetchall()
    cur.execute("""select f.id, f.x, f.y, f.w, f.h, f.person_id, p.name as person_name, f.video_time,
                          (f.crop_key is not null) as has_crop, f.model
                     from faces f left join people p on p.id = f.person_id
                    where f.media_id = %s order by f.id""", (media_id,))
    m["faces"] = cur.fetchall()
    cur.execute("select text, words, language, rotation, model from ocr where media_id = %s", (media_id,))
    m["ocr"] = cur.fetchone()
    cur.execute("""select text, segments, language, engine, model, has_audio
                     from transcripts where media_id = %s""", (media_id,))
    m["transcript"] = cur.fetchone()
    cur.execute("""select c.id, c.body, c.created_at, c.updated_at, c.author_id, u.username as author
                     from comments c join users u on u.id = c.author_id
                    where c.media_id = %s order by c.created_at, c.id""", (media_id,))
    m["comments"] = cur.fetchall()
    cur.execute("""select a.id, a.name, (a.owner_id = %(u)s) as owned from albums a
                     join album_media am on am.album_id = a.id
                    where am.media_id = %(m)s and (a.owner_id = %(u)s or exists
                          (select 1 from album_shares s where s.album_id = a.id and s.user_id = %(u)s))
                    order by a.name""", {"m": media_id, "u": user_id})
    m["albums"] = cur.fetchall()
    if m["access"] != "owner":
        _for_recipient(m)
    return m


def _for_recipient(m: dict) -> None:
    """A share recipient sees the shared item, not how its owner organises their library: the owner's album and
    people ids (derived columns of the row), who the faces are and the face crops (whose route is owner-only)
    are left out.  Albums shared with the recipient are still listed in m["albums"]."""
    m.pop("album_ids", None)
    m.pop("person_ids", None)
    for f in m["faces"]:
        f["person_id"] = None
        f["person_name"] = None
        f["has_crop"] = False


__all__ = ["detail"]
