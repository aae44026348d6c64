"""JPEG thumbnails: orientation applied, converted to sRGB, never upscaled, JPEG decoded at reduced scale."""
from __future__ import annotations

import io
import logging
import os
import warnings

from PIL import Image, ImageCms, ImageOps

from ..config import get_settings
from .detect import HEAD_BYTES, detect_format, unsupported_reason
from .errors import CorruptMediaError, MediaError, UnsupportedFormatError
from .photo import check_pixels, open_image

log = logging.getLogger(__name__)

DEFAULT_QUALITY = 85
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
              5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
              8: Image.Transpose.ROTATE_90}


def default_sizes() -> dict[str, int]:
    s = get_settings()
    return {"thumb": s.thumb_grid_px, "preview": s.thumb_preview_px}


def _orientation(im: Image.Image) -> int:
    try:
        with warnings.catch_warnings():  # corrupt EXIF was already reported by extract_photo
            warnings.simplefilter("ignore")
            o = im.getexif().get(0x0112)
        o = int(o[0] if isinstance(o, (tuple, list)) else o) if o is not None else 1
    except Exception:  # malformed EXIF: show the pixels as stored
        return 1
    return o if 1 <= o <= 8 else 1


def apply_orientation(im: Image.Image, orientation: int | None = None) -> Image.Image:
    """The image as it should be displayed (EXIF orientation 2..8 undone); tolerant of malformed EXIF."""
    o = _orientation(im) if orientation is None else orientation
    method = _TRANSPOSE.get(o)
    return im.transpose(method) if method is not None else im


def _flatten(im: Image.Image) -> Image.Image:
    """Alpha composited on white, palette/16-bit/float modes brought to 8-bit L or RGB (ICC preserved in info)."""
    icc = im.info.get("icc_profile")
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        im = im.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif im.mode == "F":
        im = im.convert("L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        base = Image.new("RGB", rgba.size, (255, 255, 255))
        base.paste(rgba, mask=rgba.getchannel("A"))
        im = base
    if im.mode == "1":
        im = im.convert("L")
    if icc:
        im.info["icc_profile"] = icc
    return im


def to_srgb(im: Image.Image) -> Image.Image:
    """RGB pixels in sRGB: the embedded ICC profile is converted with LittleCMS when there is one."""
    im = _flatten(im)
    icc = im.info.get("icc_profile")
    if icc and im.mode in ("RGB", "CMYK", "L"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(im, src, _SRGB, renderingIntent=ImageCms.Intent.PERCEPTUAL,
                                             outputMode="RGB")
        except Exception as e:  # a broken or mismatched profile: plain conversion rather than no thumbnail
            log.warning("ICC profile conversion failed, converting without it", extra={"error": str(e)[:200]})
    return im.convert("RGB") if im.mode != "RGB" else im


def _encode(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality, progressive=max(im.size) > 640)
    return buf.getvalue()


def _load_source(source, largest: int, max_pixels: int | None) -> Image.Image:
    """A displayed-orientation, sRGB, loaded image from a path (photo or video) or a PIL image."""
    if isinstance(source, Image.Image):
        check_pixels(source.size, max_pixels)
        im = source
        if getattr(im, "is_animated", False):
            im.seek(0)
        return to_srgb(apply_orientation(im))
    with open(source, "rb") as f:
        head = f.read(HEAD_BYTES)
    info = detect_format(head)
    if info is None:
        raise UnsupportedFormatError(unsupported_reason(head))
    if info.kind == "video":
        from .video import extract_frames

        return extract_frames(source, count=1, max_side=max(largest, 1))[0][1]
    im, _ = open_image(source, info, max_pixels=max_pixels)
    try:
        orientation = _orientation(im)
        if info.format == "jpeg" and largest > 0:
            im.draft("RGB", (largest, largest))  # DCT scaling: decode at 1/2, 1/4 or 1/8 when that is still big enough
        if getattr(im, "is_animated", False):
            im.seek(0)
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as e:
            raise CorruptMediaError(f"cannot decode this {info.format.upper()} image ({str(e)[:200]}); the file "
                                    "is damaged or truncated — re-copy it from the original") from None
        result = to_srgb(apply_orientation(im, orientation))
        return result.copy() if result is im else result  # im is closed below
    finally:
        im.close()


def make_thumbnails(source: str | os.PathLike | Image.Image, sizes: dict[str, int] | None = None, *,
                    quality: int = DEFAULT_QUALITY, max_pixels: int | None = None) -> dict[str, bytes]:
    """JPEG thumbnails {name: jpeg bytes}, each fitting in a ``size`` x ``size`` box (long side = size).

    ``source`` is a photo or video path (format by content; videos use the poster frame) or a PIL image.
    Orientation applied, converted to sRGB, never upscaled (a small image is re-encoded at its own size).
    ``sizes`` defaults to settings: {'thumb': PVA_THUMB_GRID_PX, 'preview': PVA_THUMB_PREVIEW_PX}.
    Raises UnsupportedFormatError, CorruptMediaError, ImageTooLargeError (all MediaError).
    """
    sizes = dict(sizes or default_sizes())
    if not sizes or any(not isinstance(v, int) or v <= 0 for v in sizes.values()):
        raise ValueError(f"thumbnail sizes must be positive integers, got {sizes!r}")
    largest = max(sizes.values())
    try:
        current = _load_source(source, largest, max_pixels)
    except MediaError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptMediaError(f"cannot make a thumbnail: {str(e)[:200]}") from None
    out: dict[str, bytes] = {}
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):  # largest first, each from the previous
        if max(current.size) > size:
            current = current.copy()
            current.thumbnail((size, size), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out[name] = _encode(current, quality)
    return {name: out[name] for name in sizes}
