"""The one image decoder of analysis: whatever a caller has (bytes, a path, a file object, a PIL image or an RGB
numpy array) as a loaded PIL image in the orientation it is displayed in, or :class:`pva.errors.BadInput` with a
clear reason.  The pixel limit and its words are pva.media.limits', the same as ingest's.

The model wrappers (pva.ml), the analysis pipeline (stored originals and keyframes, posted bytes) and the faces
search by photo all decode here; the HEIF opener is registered here, once per process, for them and for ingest
(pva.media.photo, whose lazy, format-pinned opener reads headers and EXIF without decoding).
"""
from __future__ import annotations

import io
import os
import warnings
from pathlib import Path
from typing import Any

from pva.errors import BadInput

try:  # HEIC/HEIF through libheif; registered once per process, here only
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_OK = True
except ImportError:  # pragma: no cover - pillow-heif is a dependency
    HEIF_OK = False

ImageSource = Any  # bytes | bytearray | memoryview | str | os.PathLike | file object | PIL.Image.Image | numpy array


def load_image(src: ImageSource, *, max_side: int | None = None, rgb: bool = False,
               draft: tuple[int, int] | None = None, exif_transpose: bool = True, max_pixels: int | None = None):
    """Return ``src`` as a loaded PIL image in the orientation it is displayed in (EXIF orientation applied).

    ``max_side``: at most this long on its longest side (JPEG DCT scaling while decoding, then a thumbnail);
    ``rgb``: converted to RGB (what the analysis tasks hand their models).

    ``draft``: for JPEGs opened here (bytes/path/file), let the decoder downscale by a power of two while
    keeping at least this (width, height): much faster for detection on large photos, and the way to keep a
    large photo's memory small; boxes are normalized so results do not change.  ``max_pixels`` defaults to
    settings.max_image_pixels: the same limit as ingest, read from the header (pva.media.limits) before any decode.

    Raises :class:`BadInput` for anything that is not a decodable image of an acceptable size.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    if max_side and draft is None:
        draft = (max_side, max_side)

    from pva.media.errors import MediaError, public_reason

    if isinstance(src, Image.Image):
        img = src
        _check_size(img.size, max_pixels)
    elif _is_ndarray(src):
        img = _from_array(src, max_pixels)
        exif_transpose = False
    else:
        if isinstance(src, (bytes, bytearray, memoryview)):
            if len(src) == 0:
                raise BadInput("empty file: nothing to analyse")
            fp: Any = io.BytesIO(src)
        elif isinstance(src, (str, os.PathLike)):
            if not Path(src).is_file():
                raise BadInput("the image file is missing (deleted while the job waited?); retry the job")
            fp = open(src, "rb")  # closed below: Pillow closes only what it opened itself
        elif hasattr(src, "read"):
            fp = src if _seekable(src) else io.BytesIO(src.read())
        else:
            raise BadInput(f"cannot read an image from a {type(src).__name__}")
        try:
            raw_fmt = _raw_format(fp)
            if raw_fmt is not None:  # camera RAW: the embedded preview or a demosaic, already oriented
                from pva.media.raw import decode

                img, _ = decode(src if isinstance(src, (str, os.PathLike)) else fp, raw_fmt, max_side=max_side,
                                max_pixels=max_pixels, draft=draft)
                exif_transpose = False
            else:
                img = _open_pillow(fp, draft, max_pixels)
        except BadInput:
            raise
        except MediaError as e:
            raise BadInput(str(e)) from None
        except Image.DecompressionBombError:
            raise BadInput("image too large to analyse (decompression-bomb protection, PVA_MAX_IMAGE_PIXELS)"
                           ) from None
        except UnidentifiedImageError:
            raise BadInput(_not_an_image(fp)) from None
        except (OSError, SyntaxError, ValueError, EOFError) as e:
            raise BadInput(f"unreadable or truncated image: {public_reason(e)}") from None
        finally:
            if isinstance(src, (str, os.PathLike)):
                fp.close()
    if exif_transpose:
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # a broken EXIF block must not stop the analysis: keep the stored orientation
            pass
    if max_side and max(img.size) > max_side:
        img.thumbnail((max_side, max_side))
    return img.convert("RGB") if rgb else img


def _open_pillow(fp, draft: tuple[int, int] | None, max_pixels: int | None):
    """Header pixel check, then Pillow's decode (JPEG at reduced scale when ``draft`` allows)."""
    from PIL import Image

    from pva.media.limits import check_image_header

    check_image_header(fp, max_pixels=max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        img = Image.open(fp)
        _check_size(img.size, max_pixels)
        if draft and img.format == "JPEG":
            img.draft("RGB", draft)
        img.load()
    return img


def _raw_format(fp):
    """The FormatInfo of a camera RAW photo (sniffed from the stream's head, position restored), else None."""
    from pva.media.detect import detect_file, is_raw

    info = detect_file(fp)
    return info if is_raw(info) else None


def _not_an_image(fp) -> str:
    """The reason ingest gives for the same bytes ("looks like a PDF document"...), else a plain one."""
    try:
        from pva.media.detect import HEAD_BYTES, unsupported_reason

        fp.seek(0)
        return f"not an image: {unsupported_reason(fp.read(HEAD_BYTES))}"
    except Exception:  # an unreadable stream: the plain reason
        return "not an image (or an unsupported image format)"


def _seekable(f: Any) -> bool:
    try:
        return bool(f.seekable())
    except Exception:
        return False


def _check_size(size: tuple[int, int], max_pixels: int | None) -> None:
    """The one pixel check of pva.media (same limit and words as ingest), as BadInput."""
    from pva.media.errors import MediaError
    from pva.media.limits import check_pixels

    w, h = size
    if w <= 0 or h <= 0:
        raise BadInput(f"image has no pixels ({w}x{h})")
    try:
        check_pixels(w, h, max_pixels=max_pixels)
    except MediaError as e:
        raise BadInput(str(e)) from None


def _is_ndarray(obj: Any) -> bool:
    return type(obj).__module__ == "numpy" and type(obj).__name__ == "ndarray"


def _from_array(arr: Any, max_pixels: int | None):
    from PIL import Image
    import numpy as np

    if arr.ndim == 2:
        arr = arr[:, :, None].repeat(3, axis=2)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise BadInput(f"expected an RGB image array HxWx3, got shape {arr.shape}")
    _check_size((arr.shape[1], arr.shape[0]), max_pixels)
    if arr.dtype != np.uint8:
        raise BadInput(f"expected a uint8 image array, got {arr.dtype}")
    return Image.fromarray(np.ascontiguousarray(arr[:, :, :3]), "RGB")


__all__ = ["ImageSource", "load_image"]
