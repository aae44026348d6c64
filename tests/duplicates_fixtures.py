"""Near-duplicate copies and different shots of a photo, generated from the real fixture photos (issue 21).

Copies (must match): resized, recompressed, slightly cropped (2-3 % each side, 4 % off one side), brightness and
contrast edited.  Different shots of the same scene (must not match): the camera panned 10-15 %, or zoomed in 20 %.
"""
from __future__ import annotations

import io

from PIL import Image, ImageEnhance, ImageOps


def displayed(path) -> Image.Image:
    with Image.open(path) as im:
        return ImageOps.exif_transpose(im).convert("RGB")


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def _crop(im: Image.Image, f: float) -> Image.Image:
    w, h = im.size
    return im.crop((int(w * f), int(h * f), w - int(w * f), h - int(h * f)))


def copies(im: Image.Image) -> dict[str, Image.Image]:
    w, h = im.size
    return {
        "resized to 50 %": im.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.LANCZOS),
        "resized to 25 %": im.resize((max(1, w // 4), max(1, h // 4)), Image.Resampling.LANCZOS),
        "recompressed q40": _jpeg(im, 40),
        "cropped 2 %": _crop(im, 0.02),
        "cropped 3 %": _crop(im, 0.03),
        "cropped 4 % off one side": im.crop((int(w * 0.04), 0, w, h)),
        "brightness +20 %": ImageEnhance.Brightness(im).enhance(1.2),
        "brightness -20 %": ImageEnhance.Brightness(im).enhance(0.8),
        "contrast +30 %": ImageEnhance.Contrast(im).enhance(1.3),
    }


def other_shots(im: Image.Image) -> dict[str, Image.Image]:
    w, h = im.size
    return {
        "panned 10 %": im.crop((int(w * 0.10), 0, w, int(h * 0.9))).resize((w, h)),
        "panned 15 %": im.crop((int(w * 0.15), 0, w, h)),
        "zoomed 20 %": _crop(im, 0.10),
    }


def to_jpeg_bytes(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
