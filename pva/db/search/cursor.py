"""Keyset pagination: the opaque cursor a page hands back (sort, the last item's sort value and id)."""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from uuid import UUID

from .filters import BadQuery


def encode_cursor(sort: str, value: datetime, media_id) -> str:
    raw = json.dumps([sort, value.isoformat(), str(media_id)], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        s, value, mid = json.loads(raw)
        if s != sort:
            raise ValueError
        return datetime.fromisoformat(value), UUID(mid)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise BadQuery("invalid cursor: pass back next_cursor from the previous page unchanged "
                       "(with the same sort)") from None


__all__ = ["encode_cursor", "decode_cursor"]
