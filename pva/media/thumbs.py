"""JPEG thumbnails: orientation applied, converted to sRGB, never upscaled, JPEG decoded at reduced scale; a camera
RAW from its embedded preview, else a demosaic (pva.media.raw)."""
from __future__ import annotations

import functools
import io
import logging
import math
import os
import warnings

from PIL import Image, ImageCms

from ..config import get_settings
from .detect import HEAD_BYTES, detect_file, is_raw, unsupported_reason
from .errors import CorruptMediaError, MediaError, UnsupportedFormatError, public_reason
from .limits import check_pixels
from .photo import open_image

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


@functools.lru_cache(maxsize=32)
def _transform(icc: bytes, mode: str):
    """A cached LittleCMS transform from this ICC profile to sRGB, or None when the profile already is sRGB."""
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    if mode == "RGB" and "srgb" in (ImageCms.getProfileDescription(src) or "").lower().replace(" ", ""):
        return None  # sRGB variants: converting would only cost time
    return ImageCms.buildTransform(src, _SRGB, mode, "RGB", renderingIntent=ImageCms.Intent.PERCEPTUAL)


def to_srgb(im: Image.Image, icc: bytes | None = None) -> Image.Image:
    """RGB pixels in sRGB: the ICC profile (``icc`` or the embedded one) is converted with LittleCMS."""
    icc = icc if icc is not None else im.info.get("icc_profile")
    im = _flatten(im)
    if icc and im.mode in ("RGB", "CMYK", "L"):
        try:
            transform = _transform(bytes(icc), im.mode)
            if transform is not None:
                return ImageCms.applyTransform(im, transform)
        except Exception as e:  # a broken or mismatched profile: plain conversion rather than no thumbnail
            log.warning("ICC profile conversion failed, converting without it", extra={"error": str(e)[:200]})
    return im.convert("RGB") if im.mode != "RGB" else im


def _encode(im: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def _load_source(source, largest: int, max_pixels: int | None, draft_fraction: float = 1.0
                 ) -> tuple[Image.Image, int, bytes | None]:
    """(loaded pixels as stored, EXIF orientation, ICC profile) from a path (photo or video) or a PIL image."""
    if isinstance(source, Image.Image):
        check_pixels(*source.size, max_pixels=max_pixels)
        if getattr(source, "is_animated", False):
            source.seek(0)
        return source, _orientation(source), source.info.get("icc_profile")
    with open(source, "rb") as f:
        head = f.read(HEAD_BYTES)
        info = detect_file(f, head)
    if info is None:
        raise UnsupportedFormatError(unsupported_reason(head))
    if info.kind == "video":
        from .video import extract_frames

        return extract_frames(source, count=1, max_side=max(largest, 1))[0][1], 1, None
    if is_raw(info):  # the embedded preview or a demosaic, already oriented
        from .raw import decode

        im, _ = decode(source, info, max_side=max(largest, 1), max_pixels=max_pixels)
        return im, 1, im.info.get("icc_profile")
    im, _ = open_image(source, info, max_pixels=max_pixels)
    try:
        orientation = _orientation(im)
        icc = im.info.get("icc_profile")
        if info.format == "jpeg" and largest > 0:
            # DCT scaling: decode at 1/2, 1/4 or 1/8 when that is still big enough for the fitted size
            w, h = fitted_size(im.size, largest)
            im.draft("RGB", (max(1, int(w * draft_fraction)), max(1, int(h * draft_fraction))))
        if getattr(im, "is_animated", False):
            im.seek(0)
        try:
            im.load()
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, MemoryError) as e:
            raise CorruptMediaError(f"cannot decode this {info.format.upper()} image ({public_reason(e, 200)}); "
                                    "the file is damaged or truncated — re-copy it from the original") from None
        return im.copy(), orientation, icc  # im itself is closed below
    finally:
        im.close()


def fitted_size(size: tuple[int, int], box: int) -> tuple[int, int]:
    """(w, h) once fitted in box x box, never enlarged: what a JPEG may be draft-decoded down to.  Asking the
    decoder for the square box instead keeps a 4000x3000 photo at full size for a 1920 box (3000 // 1920 = 1)."""
    w, h = size
    f = min(1.0, box / max(w, h, 1))
    return max(1, math.ceil(w * f)), max(1, math.ceil(h * f))


def _fit(im: Image.Image, size: int) -> Image.Image:
    """A copy that fits in size x size (never larger than the original)."""
    out = im.copy()
    if max(out.size) > size:
        out.thumbnail((size, size), Image.Resampling.BICUBIC, reducing_gap=2.0)
    return out


def make_thumbnails(source: str | os.PathLike | Image.Image, sizes: dict[str, int] | None = None, *,
                    quality: int = DEFAULT_QUALITY, max_pixels: int | None = None,
                    qualities: dict[str, int] | None = None, draft_fraction: float = 1.0) -> dict[str, bytes]:
    """JPEG thumbnails {name: jpeg bytes}, each fitting in a ``size`` x ``size`` box (long side = size).

    ``source`` is a photo or video path (format by content; videos use the poster frame) or a PIL image (left
    unchanged).  Orientation applied, converted to sRGB, never upscaled (a small image is re-encoded at its own
    size).  JPEGs are decoded at reduced scale (DCT scaling); the largest size is made first, colour-converted and
    oriented once, and the smaller sizes are made from it.
    ``sizes`` defaults to settings: {'thumb': PVA_THUMB_GRID_PX, 'preview': PVA_THUMB_PREVIEW_PX}; ``qualities``
    a JPEG quality per name where it differs from ``quality`` (the analysis preview keeps finer detail).
    ``draft_fraction`` < 1 lets a JPEG decode at a DCT scale giving that fraction of the largest size, which is then
    not resized (ingest: a 4000x3000 photo decodes at 2000x1500 for a 2048 box instead of at full size).
    Raises UnsupportedFormatError, CorruptMediaError, ImageTooLargeError (all MediaError).
    """
    sizes = dict(sizes or default_sizes())
    if not sizes or any(not isinstance(v, int) or v <= 0 for v in sizes.values()):
        raise ValueError(f"thumbnail sizes must be positive integers, got {sizes!r}")
    order = sorted(sizes.items(), key=lambda kv: -kv[1])  # largest first, each made from the previous
    try:
        im, orientation, icc = _load_source(source, order[0][1], max_pixels, draft_fraction)
        # resizing commutes with the orientation transpose (the box is square), so shrink first: less to rotate
        # and to colour-convert
        current = to_srgb(apply_orientation(_fit(_flatten(im), order[0][1]), orientation), icc)
    except MediaError:
        raise
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise CorruptMediaError(f"cannot make a thumbnail: {public_reason(e, 200)}") from None
    out: dict[str, bytes] = {}
    for name, size in order:
        if max(current.size) > size:
            current = _fit(current, size)
        out[name] = _encode(current, (qualities or {}).get(name, quality))
    return {name: out[name] for name in sizes}
