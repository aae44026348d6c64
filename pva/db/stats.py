"""SQL for library statistics (one owner's non-trashed media).  Both functions take the caller's cursor
(pva/services/stats.py opens the transaction), so the totals, the trash and the timeline are one snapshot."""
from __future__ import annotations

from uuid import UUID

from . import counts


def library(cur, owner_id: UUID, top: int = 50) -> dict:
    """Totals, timeline and breakdowns of one owner's live media, from the library counters (counts.py), plus
    the trash (counted: it is small and has its own index)."""
    out: dict = {}
    rows = counts.totals(cur, owner_id, ["kind", "format", "camera", "gps", "tag"])
    by: dict[str, list[dict]] = {}
    for r in rows:
        by.setdefault(r["dim"], []).append(r)
    kinds = {r["v1"]: r for r in by.get("kind", [])}
    gps = {r["v1"]: r["n"] for r in by.get("gps", [])}
    out["totals"] = {"media": sum(r["n"] for r in kinds.values()),
                     "bytes": sum(r["bytes"] for r in kinds.values()),
                     "with_gps": gps.get("with", 0), "without_gps": gps.get("without", 0),
                     "photos": kinds.get("photo", {}).get("n", 0), "videos": kinds.get("video", {}).get("n", 0)}
    cur.execute("""select count(*) as media, coalesce(sum(size), 0)::bigint as bytes from media m
                    where m.owner_id = %(o)s and m.trashed_at is not null""", {"o": owner_id})
    out["trash"] = cur.fetchone()
    out["timeline"] = _months(counts.per_period(cur, owner_id, "m", "kind"))
    desc = lambda r: (-r["n"], str(r.get("value") or r.get("make") or ""))  # noqa: E731
    out["cameras"] = sorted(({"make": r["v1"], "model": r["v2"], "n": r["n"]} for r in by.get("camera", [])),
                            key=desc)[:top]
    out["formats"] = sorted(({"value": r["v1"], "n": r["n"], "bytes": r["bytes"]} for r in by.get("format", [])),
                            key=desc)
    out["kinds"] = sorted(({"value": r["v1"], "n": r["n"], "bytes": r["bytes"]} for r in kinds.values()), key=desc)
    # a label at any confidence is its ':0' tag
    out["labels"] = sorted(({"value": r["v1"][:-2], "n": r["n"]} for r in by.get("tag", [])
                            if r["v1"].endswith(":0")), key=desc)[:top]
    return out


def _months(rows: list[dict]) -> list[dict]:
    months: dict[str, int] = {}
    for r in rows:  # one row per (month, kind)
        key = r["period"].strftime("%Y-%m")
        months[key] = months.get(key, 0) + r["n"]
    return [{"month": k, "n": n} for k, n in sorted(months.items())]


def timeline(cur, owner_id: UUID) -> list[dict]:
    """Media per month by date taken (falls back to date added; UTC)."""
    return _months(counts.per_period(cur, owner_id, "m", "kind"))
