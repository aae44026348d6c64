"""SQL for the detections table (objects found by the detect function)."""
from __future__ import annotations

from typing import Iterable

from psycopg2.extras import execute_values

COLUMNS = ("label", "confidence", "x", "y", "w", "h", "video_time")


def replace(cur, media_id, rows: Iterable[dict], model: str, model_version: str) -> int:
    """Replace the media's detections with ``rows`` ({label, confidence, x, y, w, h, video_time?}).

    Call it inside the job-finishing transaction: a rerun or a duplicate message leaves exactly one set.
    Returns the number of rows inserted."""
    cur.execute("delete from detections where media_id = %s", (media_id,))
    values = [(media_id, r["label"], float(r["confidence"]), float(r["x"]), float(r["y"]), float(r["w"]),
               float(r["h"]), model, model_version, r.get("video_time")) for r in rows]
    if values:
        execute_values(
            cur,
            """insert into detections(media_id, label, confidence, x, y, w, h, model, model_version, video_time)
               values %s""", values, page_size=500)
    return len(values)


def for_media(cur, media_id) -> list[dict]:
    """The media's detections, best first (per keyframe for videos)."""
    cur.execute(
        """select id, label, confidence, x, y, w, h, model, model_version, video_time
             from detections where media_id = %s
            order by video_time nulls first, confidence desc, id""", (media_id,))
    return list(cur.fetchall())


def label_counts(cur, media_id) -> dict[str, int]:
    cur.execute("select label, count(*) n from detections where media_id = %s group by label order by label",
                (media_id,))
    return {r["label"]: r["n"] for r in cur.fetchall()}
