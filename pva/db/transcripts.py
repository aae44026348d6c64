"""SQL for the transcripts table (speech in videos, one row per media item).  The WebVTT rendering is
:func:`pva.jobs.tasks.transcribe.webvtt_for` (pva.db is SQL; rendering here made it import the analysis
package, which imports pva.db).

A row with ``has_audio = false`` and an empty text is a real result: the video has no audio track.  ``text_tsv``
is a generated column (``to_tsvector('simple', text)``) with a GIN index, so full-text search needs no work here.
"""
from __future__ import annotations

from psycopg2.extras import Json

_COLUMNS = "t.media_id, t.text, t.segments, t.language, t.engine, t.model, t.has_audio, t.created_at"


def upsert(cur, media_id, *, text: str, segments: list[dict], language: str | None, engine: str, model: str,
           has_audio: bool) -> None:
    """Insert or replace the media's transcript (rerunning a job leaves one row)."""
    cur.execute(
        """insert into transcripts(media_id, text, segments, language, engine, model, has_audio)
           values (%s, %s, %s, %s, %s, %s, %s)
           on conflict (media_id) do update
              set text = excluded.text, segments = excluded.segments, language = excluded.language,
                  engine = excluded.engine, model = excluded.model, has_audio = excluded.has_audio,
                  created_at = now()""",
        (media_id, text, Json(list(segments)), language, engine, model, bool(has_audio)))


def get(cur, media_id, owner_id=None) -> dict | None:
    """The transcript row; with owner_id, only when that user owns the media."""
    cur.execute(
        f"""select {_COLUMNS} from transcripts t join media m on m.id = t.media_id
             where t.media_id = %s and (%s::uuid is null or m.owner_id = %s::uuid)""",
        (media_id, owner_id, owner_id))
    return cur.fetchone()


def delete(cur, media_id) -> None:
    cur.execute("delete from transcripts where media_id = %s", (media_id,))


def search(cur, owner_id, query: str, limit: int = 100) -> list[dict]:
    """The owner's media whose speech matches `query` (all words, any order), best first.
    Rows: media_id, rank, headline (the matching words highlighted with <b>..</b>)."""
    cur.execute(
        """select t.media_id, ts_rank(t.text_tsv, q) as rank,
                  ts_headline('simple', t.text, q, 'StartSel=<b>, StopSel=</b>, MaxFragments=2') as headline
             from transcripts t join media m on m.id = t.media_id, plainto_tsquery('simple', %s) q
            where m.owner_id = %s and m.trashed_at is null and t.text_tsv @@ q
            order by rank desc, t.media_id limit %s""", (query, owner_id, limit))
    return list(cur.fetchall())


__all__ = ["upsert", "get", "delete", "search"]
