"""SQL for the ocr table (text found in photos, one row per media item)."""
from __future__ import annotations

from psycopg2.extras import Json


def upsert(cur, media_id, *, text: str, words: list[dict], language: str, rotation: int, model: str,
           model_version: str) -> None:
    """Insert or replace the media's OCR row (an empty text is a real result: the job ran and found none)."""
    cur.execute(
        """insert into ocr(media_id, text, words, language, rotation, model, model_version)
           values (%s, %s, %s, %s, %s, %s, %s)
           on conflict (media_id) do update
              set text = excluded.text, words = excluded.words, language = excluded.language,
                  rotation = excluded.rotation, model = excluded.model, model_version = excluded.model_version,
                  created_at = now()""",
        (media_id, text, Json(words), language, int(rotation), model, model_version))


def get(cur, media_id) -> dict | None:
    cur.execute(
        """select media_id, text, words, language, rotation, model, model_version, created_at
             from ocr where media_id = %s""", (media_id,))
    return cur.fetchone()


def delete(cur, media_id) -> None:
    cur.execute("delete from ocr where media_id = %s", (media_id,))
