"""Opening a camera RAW with LibRaw (rawpy): the one place it is opened, and the size of its sensor image.

Apart from pva.media.raw (which decodes) so that pva.media.limits can read a RAW's size for the pixel limit
without importing the decoder (and its imports) back.
"""
from __future__ import annotations

import io
import os
from typing import Any

from .detect import FormatInfo
from .errors import CorruptMediaError, UnsupportedFormatError, public_reason


def rawpy_module():
    try:
        import rawpy
    except ImportError:  # pragma: no cover - rawpy is a dependency
        raise UnsupportedFormatError("RAW photo support is not installed (pip install rawpy)") from None
    return rawpy


def raw_name(info: FormatInfo | None) -> str:
    return f"{info.format.upper()} RAW photo" if info is not None else "RAW photo"


def open_raw(source: Any, info: FormatInfo | None):
    """A rawpy.RawPy with the header parsed (nothing unpacked); CorruptMediaError when LibRaw cannot open it."""
    rawpy = rawpy_module()
    try:
        if isinstance(source, (str, os.PathLike)):
            return rawpy.imread(os.fspath(source))
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = io.BytesIO(source)
        elif hasattr(source, "seek"):
            source.seek(0)
        return rawpy.imread(source)  # a file object: read into memory, LibRaw parses the buffer
    except rawpy.LibRawFileUnsupportedError as e:
        raise CorruptMediaError(f"cannot read this {raw_name(info)} (LibRaw: {libraw_reason(e)}): a camera or a "
                                "variant of the format LibRaw does not know, or a damaged file; convert it to DNG "
                                "(Adobe DNG Converter) and add that") from None
    except (rawpy.LibRawError, OSError, ValueError, MemoryError) as e:
        raise CorruptMediaError(f"cannot read this {raw_name(info)} (LibRaw: {libraw_reason(e)}); the file is "
                                "damaged or truncated — re-copy it from the camera's card") from None


def libraw_reason(e: BaseException) -> str:
    text = public_reason(e, 160)
    return text.replace("b'", "").replace("'", "") or type(e).__name__


def sensor_size(source: Any, info: FormatInfo | None = None) -> tuple[int, int] | None:
    """(width, height) of the full sensor image as stored, from the header; None when LibRaw cannot tell."""
    try:
        with open_raw(source, info) as raw:
            s = raw.sizes
            return (int(s.width), int(s.height)) if s.width > 0 and s.height > 0 else None
    except CorruptMediaError:
        return None


__all__ = ["libraw_reason", "open_raw", "raw_name", "rawpy_module", "sensor_size"]
