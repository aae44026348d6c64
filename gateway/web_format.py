"""How the web pages show values: sizes and dates (the templates' ``bytes`` and ``dt`` filters), the rows of a media
item's information table, and page data made JSON-safe for the <script type="application/json"> blocks.

Pure functions of the values, apart from the web router's request handling and page machinery, so they read and
test alone (gateway/media_view.py is the same for the shape of a media row).
"""
from __future__ import annotations

import json
from datetime import datetime
from uuid import UUID


def fmt_bytes(n) -> str:
    if n is None:
        return ""
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def fmt_dt(v) -> str:
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    return "" if v is None else str(v)


_EXIF_SKIP = {"keyframes", "thumbnails", "icc", "xmp_raw", "maker_note", "makernote", "analysis_preview"}


def exif_rows(m: dict) -> list[tuple[str, str]]:
    rows = [("File", m.get("filename")), ("Path", m.get("original_path")), ("Format", m.get("format")),
            ("Type", m.get("mime")), ("Size", fmt_bytes(m.get("size"))),
            ("Dimensions", f"{m['width']} × {m['height']}" if m.get("width") else None),
            ("Duration", f"{m['duration']:.1f} s" if m.get("duration") else None),
            ("Taken", fmt_dt(m.get("taken_at")) + (f" ({m['taken_at_offset']})" if m.get("taken_at_offset")
                                                   else "") if m.get("taken_at") else None),
            ("Added", fmt_dt(m.get("created_at"))),
            ("Camera", " ".join(x for x in (m.get("camera_make"), m.get("camera_model")) if x) or None),
            ("Lens", m.get("lens")), ("Orientation", m.get("orientation"))]
    gps = m.get("gps") or {}
    if gps.get("lat") is not None:
        rows.append(("Location", f"{gps['lat']:.6f}, {gps['lon']:.6f}"
                                 + (f", {gps['alt']:.0f} m" if gps.get("alt") is not None else "")
                                 + f" ({gps.get('source')})"))
    rows.append(("SHA-512", (m.get("sha512") or "")[:32] + "…"))
    meta = m.get("metadata") or {}
    for k in sorted(meta) if isinstance(meta, dict) else ():
        if k.lower() in _EXIF_SKIP:
            continue
        v = meta[k]
        if isinstance(v, (dict, list)):
            v = json.dumps(v, default=str, ensure_ascii=False)
        v = str(v)
        rows.append((k, v if len(v) <= 300 else v[:300] + "…"))
    return [(k, str(v)) for k, v in rows if v not in (None, "")]


def jsonable(v):
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (UUID, datetime)):
        return str(v) if isinstance(v, UUID) else v.isoformat()
    if isinstance(v, (bytes, memoryview)):
        return None
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v


__all__ = ["fmt_bytes", "fmt_dt", "exif_rows", "jsonable"]
