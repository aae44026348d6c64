"""SQL for library statistics (one owner's non-trashed media)."""
from __future__ import annotations

from uuid import UUID

from . import transaction

_BASE = "from media m where m.owner_id = %(o)s and m.trashed_at is null"


def library(owner_id: UUID, top: int = 50) -> dict:
    p = {"o": owner_id, "top": top}
    out: dict = {}
    with transaction() as cur:
        cur.execute(f"""select count(*) as media, coalesce(sum(size), 0)::bigint as bytes,
                               count(*) filter (where coalesce(m.gps_override_lat, m.gps_lat) is not null) as with_gps,
                               count(*) filter (where coalesce(m.gps_override_lat, m.gps_lat) is null) as without_gps,
                               count(*) filter (where m.kind = 'photo') as photos,
                               count(*) filter (where m.kind = 'video') as videos {_BASE}""", p)
        out["totals"] = cur.fetchone()
        cur.execute("""select count(*) as media, coalesce(sum(size), 0)::bigint as bytes from media m
                        where m.owner_id = %(o)s and m.trashed_at is not null""", p)
        out["trash"] = cur.fetchone()
        cur.execute(f"""select to_char(date_trunc('month', coalesce(m.taken_at, m.created_at)), 'YYYY-MM') as month,
                               count(*) as n {_BASE} group by 1 order by 1""", p)
        out["timeline"] = cur.fetchall()
        cur.execute(f"""select m.camera_make as make, m.camera_model as model, count(*) as n {_BASE}
                         group by 1, 2 order by n desc limit %(top)s""", p)
        out["cameras"] = cur.fetchall()
        cur.execute(f"select m.format as value, count(*) as n, sum(size)::bigint as bytes {_BASE} group by 1 order by n desc", p)
        out["formats"] = cur.fetchall()
        cur.execute(f"select m.kind as value, count(*) as n, sum(size)::bigint as bytes {_BASE} group by 1 order by n desc", p)
        out["kinds"] = cur.fetchall()
        cur.execute("""select d.label as value, count(distinct d.media_id) as n from detections d
                         join media m on m.id = d.media_id
                        where m.owner_id = %(o)s and m.trashed_at is null
                        group by 1 order by n desc limit %(top)s""", p)
        out["labels"] = cur.fetchall()
    return out


def timeline(owner_id: UUID) -> list[dict]:
    """Media per month by date taken (falls back to date added)."""
    with transaction() as cur:
        cur.execute(f"""select to_char(date_trunc('month', coalesce(m.taken_at, m.created_at)), 'YYYY-MM') as month,
                               count(*) as n {_BASE} group by 1 order by 1""", {"o": owner_id})
        return cur.fetchall()
