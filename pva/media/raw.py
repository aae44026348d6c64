"""Camera RAW photos (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF) through LibRaw (rawpy): their size, orientation and a
displayable picture.

Format sniffing is pva.media.detect's (by content); metadata is pva.media.photo's (exiftool reads the tags).  This
module answers the rest:

- :func:`sensor_size`: the size of the full sensor image as stored (before orientation), from LibRaw's header
  parse -- nothing is unpacked -- so the pixel limit (pva.media.limits) is checked before any decode.
- :func:`raw_info`: that size, the EXIF orientation (1..8) LibRaw found, and a description of the embedded preview.
- :func:`decode`: the photo as displayed (orientation applied, RGB): the camera's embedded JPEG preview when its
  long side is at least ``PREVIEW_MIN_SIDE`` (milliseconds: the camera already rendered it), else a LibRaw
  demosaic of the sensor data (seconds), at half size whenever that is still large enough -- or whenever the
  sensor is over ``FULL_DEMOSAIC_MAX_PIXELS`` -- so memory stays bounded.

Every failure is a :class:`CorruptMediaError` or :class:`ImageTooLargeError` with the reason for the user.
"""
from __future__ import annotations

import io
import math
import os
import warnings
from dataclasses import dataclass
from typing import Any

from .detect import HEAD_BYTES, FormatInfo, detect_file, detect_format, is_raw
from .errors import CorruptMediaError, ImageTooLargeError, UnsupportedFormatError
from .libraw import libraw_reason as _libraw_reason
from .libraw import open_raw as _open
from .libraw import raw_name as _name
from .libraw import rawpy_module as _rawpy
from .libraw import sensor_size
from .limits import check_pixels, image_size

#: The embedded preview is used when its long side is at least this (or it is as large as the sensor image).
PREVIEW_MIN_SIDE = 1024
#: A demosaic without a size asked for is done at half size above this many sensor pixels (the analyses need far
#: less; a full 45-megapixel demosaic would hold ~0.5 GB).
FULL_DEMOSAIC_MAX_PIXELS = 24_000_000
#: An embedded preview larger than this (bytes) is not a preview: ignored, the sensor data is used.
MAX_PREVIEW_BYTES = 64 << 20

# LibRaw's flip (0 none, 3 180°, 5 90° counter-clockwise, 6 90° clockwise; bits: 1 mirror columns, 2 mirror rows,
# 4 transpose) as the EXIF orientation it came from (the inverse of dcraw's "50132467"[orientation]).
_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}


@dataclass(frozen=True)
class RawInfo:
    width: int             # the full sensor image as stored (before orientation), LibRaw's visible area
    height: int
    orientation: int       # EXIF 1..8 (from LibRaw's flip)
    preview: str | None    # "jpeg 1620x1080", "bitmap 160x120" or None: what the camera embedded
    warning: str | None = None  # with verify: the sensor data is in a form LibRaw cannot decode


def _info_of(source: Any, info: FormatInfo | None) -> FormatInfo | None:
    if info is not None:
        return info
    try:
        if isinstance(source, (str, os.PathLike)):
            return detect_file(source)
        if isinstance(source, (bytes, bytearray, memoryview)):
            return detect_format(bytes(source[:HEAD_BYTES]))
    except OSError:
        return None
    return None


def raw_info(source: Any, info: FormatInfo | None = None, *, max_pixels: int | None = None,
             verify: bool = False) -> RawInfo:
    """Size, orientation and embedded preview of a RAW photo (header and preview only, no demosaic).

    ``verify``: also read the sensor data (LibRaw's unpack, no demosaic: ~2 bytes a pixel for the moment), so a
    file cut short or damaged after its preview is refused rather than kept as a broken original (ingest does).
    Raises CorruptMediaError (LibRaw cannot open or read it) or ImageTooLargeError (over the pixel limit)."""
    info = _info_of(source, info)
    with _open(source, info) as raw:
        w, h, orientation = _checked_size(raw, info, max_pixels)
        warning = _unpack(raw, info) if verify else None
        preview = None
        try:
            thumb = raw.extract_thumb()
            preview = _describe_thumb(thumb)
        except Exception:  # no preview, or one LibRaw cannot hand over: the demosaic will do
            pass
        return RawInfo(w, h, orientation, preview, warning)


def _unpack(raw, info: FormatInfo | None) -> str | None:
    """Read the sensor data: None when it reads; a warning when it is in a form LibRaw cannot decode (a newer
    compression: the embedded preview is what is shown); CorruptMediaError when it is cut short or damaged."""
    rawpy = _rawpy()
    try:
        raw.unpack()
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as e:
        raise CorruptMediaError(f"this {_name(info)} is damaged or truncated: its sensor data cannot be read "
                                f"(LibRaw: {_libraw_reason(e)}); re-copy it from the camera's card") from None
    except (rawpy.LibRawTooBigError, rawpy.LibRawUnsufficientMemoryError, MemoryError):
        raise ImageTooLargeError(f"the sensor data of this {_name(info)} is too large for LibRaw to decode") from None
    except (rawpy.LibRawError, rawpy.NotSupportedError, ValueError) as e:
        return (f"LibRaw cannot decode the sensor data of this {_name(info)} ({_libraw_reason(e)}); it is shown "
                "from the preview the camera embedded")
    return None


def _checked_size(raw, info: FormatInfo | None, max_pixels: int | None) -> tuple[int, int, int]:
    s = raw.sizes
    w, h = int(s.width), int(s.height)
    if w <= 0 or h <= 0:
        raise CorruptMediaError(f"this {_name(info)} has no image size in its header; the file is damaged")
    check_pixels(w, h, max_pixels=max_pixels)
    return w, h, _FLIP_TO_EXIF.get(int(s.flip), 1)


def _describe_thumb(thumb) -> str | None:
    rawpy = _rawpy()
    if thumb.format == rawpy.ThumbFormat.JPEG:
        size = image_size(thumb.data)
        return f"jpeg {size[0]}x{size[1]}" if size else "jpeg"
    if thumb.format == rawpy.ThumbFormat.BITMAP:
        return f"bitmap {thumb.data.shape[1]}x{thumb.data.shape[0]}"
    return None


def decode(source: Any, info: FormatInfo | None = None, *, max_side: int | None = None,
           max_pixels: int | None = None, min_preview: int = PREVIEW_MIN_SIDE,
           draft: tuple[int, int] | None = None):
    """The RAW photo as displayed: (PIL RGB image with orientation applied, "preview" | "demosaic").

    The embedded preview when its long side is at least ``min_preview`` (or ``max_side``, or the sensor's own,
    whichever is smallest), else a demosaic (half size when that still gives ``max_side``, or when the sensor is
    over FULL_DEMOSAIC_MAX_PIXELS).  At most ``max_side`` on its long side when given.  The pixel limit applies to
    the sensor image and to the preview.  ``draft``: the preview JPEG may be decoded at a reduced scale that keeps
    at least this (width, height) (pva.media.image's meaning); ``max_side`` implies it.
    Raises CorruptMediaError / ImageTooLargeError.
    """
    info = _info_of(source, info)
    if info is not None and not is_raw(info):
        raise UnsupportedFormatError(f"this is a {info.format} file, not a RAW photo")
    with _open(source, info) as raw:
        w, h, orientation = _checked_size(raw, info, max_pixels)
        wanted = min(min_preview, max_side or min_preview, max(w, h))
        img = _preview(raw, wanted, max_side, max_pixels, draft)
        how = "preview"
        if img is not None:
            img = _orient(img, orientation)
        else:
            img = _demosaic(raw, info, w, h, max_side)  # LibRaw applies the orientation itself
            how = "demosaic"
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    return img, how


def _preview(raw, wanted: int, max_side: int | None, max_pixels: int | None, draft: tuple[int, int] | None):
    """The embedded preview as a loaded RGB image as stored, or None when there is none large enough (or it
    cannot be decoded: the sensor data may still be fine)."""
    from PIL import Image

    rawpy = _rawpy()
    try:
        thumb = raw.extract_thumb()
    except Exception:  # LibRawNoThumbnailError, LibRawUnsupportedThumbnailError, a damaged thumbnail
        return None
    try:
        if thumb.format == rawpy.ThumbFormat.JPEG:
            data = thumb.data
            if len(data) > MAX_PREVIEW_BYTES:
                return None
            size = image_size(data)
            if size is None or max(size) < wanted:
                return None
            check_pixels(*size, max_pixels=max_pixels)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                im = Image.open(io.BytesIO(data), formats=["JPEG"])
                if max_side:  # DCT scaling down to the size it is fitted to (not a max_side square)
                    scale = min(1.0, max_side / max(size))
                    im.draft("RGB", (math.ceil(size[0] * scale), math.ceil(size[1] * scale)))
                elif draft:
                    im.draft("RGB", draft)
                im.load()
            icc = im.info.get("icc_profile")
            out = im.convert("RGB")
            out.info.clear()  # the preview's own EXIF (orientation...) is not the RAW's: nothing of it is applied
            if icc:
                out.info["icc_profile"] = icc
            return out
        if thumb.format == rawpy.ThumbFormat.BITMAP:
            arr = thumb.data
            if arr.ndim != 3 or arr.shape[2] != 3 or max(arr.shape[:2]) < wanted:
                return None
            check_pixels(arr.shape[1], arr.shape[0], max_pixels=max_pixels)
            return Image.fromarray(arr.astype("uint8", copy=False), "RGB")
    except ImageTooLargeError:
        return None  # a preview over the limit: the (checked) sensor data instead
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError):
        return None
    return None


def _orient(img, orientation: int):
    from PIL import Image

    method = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}.get(orientation)
    return img.transpose(method) if method is not None else img


def _demosaic(raw, info: FormatInfo | None, w: int, h: int, max_side: int | None):
    from PIL import Image

    rawpy = _rawpy()
    half = (max_side is not None and max(w, h) // 2 >= max_side) or (max_side is None
                                                                      and w * h > FULL_DEMOSAIC_MAX_PIXELS)
    try:
        rgb = raw.postprocess(use_camera_wb=True, half_size=half, output_bps=8)
    except (rawpy.LibRawError, rawpy.NotSupportedError, ValueError, MemoryError) as e:
        damaged = isinstance(e, (rawpy.LibRawIOError, rawpy.LibRawDataError))
        advice = ("the file is damaged or truncated — re-copy it from the camera's card" if damaged else
                  "it is in a form LibRaw does not know — convert it to DNG (Adobe DNG Converter) and add that")
        raise CorruptMediaError(f"this {_name(info)} has no usable preview and its sensor data cannot be decoded "
                                f"(LibRaw: {_libraw_reason(e)}); {advice}") from None
    return Image.fromarray(rgb, "RGB")


__all__ = ["PREVIEW_MIN_SIDE", "RawInfo", "decode", "raw_info", "sensor_size"]
