"""Turn metadata values from untrusted files into JSON-serialisable, bounded, clean values."""
from __future__ import annotations

import math
import re
from datetime import date, datetime, time
from fractions import Fraction
from numbers import Rational

MAX_STRING = 2000        # characters kept of one string value
MAX_ITEMS = 256          # items kept of one list / keys of one dict
MAX_DEPTH = 8
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def clean_text(value: str | bytes, limit: int = MAX_STRING) -> str:
    """Text with NULs and control characters removed (tab/newline kept), trimmed and capped at ``limit`` chars."""
    if isinstance(value, (bytes, bytearray)):
        value = decode_bytes(bytes(value))
    value = _CONTROL.sub("", value).strip()
    if len(value) > limit:
        value = value[:limit] + "…"
    return value


def decode_bytes(b: bytes) -> str:
    b = b.split(b"\x00", 1)[0] if b.endswith(b"\x00") else b
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def _looks_textual(b: bytes) -> bool:
    stripped = b.rstrip(b"\x00 ")
    if not stripped:
        return True
    if b"\x00" in stripped:
        return False
    printable = sum(1 for c in stripped if 32 <= c < 127 or c in (9, 10, 13) or c >= 0xC0)
    return printable >= 0.9 * len(stripped)


def summarize_bytes(b: bytes) -> str | dict:
    """Short text when the bytes are text, else {'bytes': length, 'hex': first 16 bytes} (never the payload)."""
    if len(b) <= 512 and _looks_textual(b):
        return clean_text(b)
    return {"bytes": len(b), "hex": b[:16].hex()}


def rational_to_float(value) -> float | None:
    """A float from an IFDRational/Fraction/(num, den) pair/number; None for 0/0, x/0, NaN and infinities."""
    try:
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
            num, den = value
            if den == 0:
                return None
            f = num / den
        elif hasattr(value, "numerator") and hasattr(value, "denominator") and not isinstance(value, int):
            if value.denominator == 0:
                return None
            f = float(value.numerator) / float(value.denominator)
        else:
            f = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def to_jsonable(value, depth: int = 0):
    """A JSON-serialisable copy: strings cleaned and capped, bytes summarised, rationals as floats, lists capped."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**63 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return summarize_bytes(bytes(value))
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, (Fraction, Rational)) or (hasattr(value, "numerator") and hasattr(value, "denominator")):
        return rational_to_float(value)
    if depth >= MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        out = {}
        for i, (k, v) in enumerate(value.items()):
            if i >= MAX_ITEMS:
                out["…"] = f"{len(value) - MAX_ITEMS} more"
                break
            out[clean_text(str(k), 200)] = to_jsonable(v, depth + 1)
        return out
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        out = [to_jsonable(v, depth + 1) for v in items[:MAX_ITEMS]]
        if len(items) > MAX_ITEMS:
            out.append(f"… {len(items) - MAX_ITEMS} more")
        return out
    return clean_text(repr(value), 200)
