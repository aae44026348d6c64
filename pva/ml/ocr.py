"""Text recognition with tesseract (through pytesseract).

    engine = OcrEngine()                     # language settings.ocr_lang, noise cut settings.ocr_min_conf
    r = engine.recognize(pil_image_or_bytes)
    r.text            # lines joined with "\\n"
    r.words           # [{"text", "conf", "x", "y", "w", "h"}], box normalized 0..1 (left, top, width, height)
    r.rotation        # clockwise degrees the image was turned to read it (0, 90, 180, 270)
    r.skipped_reason  # "no text-like regions" when the pre-check found nothing worth reading, else None

Boxes are relative to the image as displayed (EXIF orientation applied, as :func:`pva.media.image.load_image`
returns it), before any OCR rotation, so they overlay the thumbnail directly.

Tesseract runs as a subprocess with OMP_THREAD_LIMIT=1 (its OpenMP threads only slow it down when several
workers share the cores); set OMP_THREAD_LIMIT yourself to override.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import asdict, dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from . import AnalysisError, BadInput, ImageSource, ModelNotFound, load_image
from .base import Model

SKIPPED_NO_TEXT = "no text-like regions"
OSD_MIN_CONF = 1.5        # tesseract's orientation confidence below which we keep the image as it is
MAX_SIDE = 4096           # larger images are downscaled before OCR (tesseract time grows with pixels)
MIN_SIDE = 1000           # smaller images are upscaled 2x: tesseract reads small glyphs better
PRECHECK_MIN_EDGES = 12   # fewer edge pixels than this (at OCR resolution): not even one small character
TIMEOUT_S = 300


@dataclass
class OcrResult:
    text: str
    words: list[dict] = field(default_factory=list)
    rotation: int = 0
    language: str = "eng"
    skipped_reason: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def _pytesseract():
    import pytesseract

    return pytesseract


def _ensure_env() -> None:
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@lru_cache(maxsize=1)
def tesseract_version() -> str:
    pt = _pytesseract()
    try:
        return str(pt.get_tesseract_version())
    except pt.TesseractNotFoundError:
        raise ModelNotFound("tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-eng "
                            "(or put the tesseract binary on PATH)") from None


def installed_languages() -> list[str]:
    """The traineddata installed for tesseract (e.g. ['eng', 'osd']); [] when tesseract is missing."""
    pt = _pytesseract()
    if not shutil.which(pt.pytesseract.tesseract_cmd):
        return []
    try:
        return sorted(pt.get_languages(config=""))
    except Exception:
        return []


def has_text_like_regions(gray: np.ndarray) -> bool:
    """Cheap, conservative test: False only for images with (almost) no edges at all — blank pages, plain
    sky, smooth gradients.  Any image with strokes, whatever their polarity (dark on light or light on dark)
    or size, passes.  Run it at the resolution tesseract will see: downscaling first would erase small text."""
    edges = cv2.Canny(gray, 20, 40)  # low thresholds: faint (low-contrast) strokes count too
    return int(cv2.countNonZero(edges)) >= PRECHECK_MIN_EDGES


class OcrEngine(Model):
    """Tesseract OCR; create once per worker, call :meth:`recognize` per image."""

    name = "tesseract"

    def __init__(self, lang: str | None = None, min_conf: float | None = None, *, precheck: bool = True,
                 osd: bool = True, timeout: float = TIMEOUT_S):
        from pva.config import get_settings

        s = get_settings()
        _ensure_env()
        self.lang = lang or s.ocr_lang
        self.min_conf = float(s.ocr_min_conf if min_conf is None else min_conf)
        self.precheck = precheck
        self.osd = osd
        self.timeout = timeout
        self.load()
        have = set(installed_languages())
        missing = [lg for lg in self.lang.split("+") if lg not in have]
        if missing:
            raise ModelNotFound(f"tesseract language(s) {', '.join(missing)} not installed (have: "
                                f"{', '.join(sorted(have)) or 'none'}): apt-get install "
                                f"{' '.join('tesseract-ocr-' + m.lower().replace('_', '-') for m in missing)} "
                                f"or set PVA_OCR_LANG")
        if self.osd and "osd" not in have:
            self.osd = False  # orientation detection needs osd.traineddata; read as-is without it

    def _load(self) -> None:
        # tesseract is an external program: nothing stays in memory; checking it runs is the load
        self.version = tesseract_version()

    # ------------------------------------------------------------------ API
    def recognize(self, image: ImageSource) -> OcrResult:
        """Read the text in one image.  Raises :class:`pva.errors.BadInput` when it is not a usable image."""
        img = load_image(image)
        gray = self._gray(img)
        h0, w0 = gray.shape
        side = max(h0, w0)
        if side > MAX_SIDE:
            f = MAX_SIDE / side
            gray = cv2.resize(gray, (max(1, round(w0 * f)), max(1, round(h0 * f))), interpolation=cv2.INTER_AREA)
        if self.precheck and not has_text_like_regions(gray):
            return OcrResult("", [], 0, self.lang, SKIPPED_NO_TEXT)
        if side < MIN_SIDE:
            gray = cv2.resize(gray, (w0 * 2, h0 * 2), interpolation=cv2.INTER_CUBIC)
        rotation = self._orientation(gray) if self.osd else 0
        upright = {0: gray, 90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180,
                   270: cv2.ROTATE_90_COUNTERCLOCKWISE}[rotation]
        if rotation:
            upright = cv2.rotate(gray, upright)
        data = self._run("image_to_data", upright, "--psm 3", lang=self.lang)
        text, words = self._collect(data, rotation, gray.shape[1], gray.shape[0])
        return OcrResult(text, words, rotation, self.lang, None)

    predict = recognize

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _gray(img) -> np.ndarray:
        try:
            if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
                from PIL import Image

                rgba = img.convert("RGBA")
                bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                img = Image.alpha_composite(bg, rgba)
            if img.mode != "L":
                img = img.convert("L")
            return np.asarray(img)
        except (OSError, ValueError) as e:
            raise BadInput(f"unreadable or truncated image: {e}") from None

    def _run(self, fn: str, gray: np.ndarray, config: str, **kw):
        from PIL import Image

        pt = _pytesseract()
        _ensure_env()
        pil = Image.fromarray(gray, "L")
        pil.format = "PPM"  # pytesseract writes a temp file in this format: PGM is the cheapest to write/read
        try:
            return getattr(pt, fn)(pil, config=config, output_type=pt.Output.DICT, timeout=self.timeout, **kw)
        except pt.TesseractNotFoundError:
            raise ModelNotFound("tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-eng") \
                from None
        except RuntimeError as e:  # pytesseract's timeout
            if "timeout" in str(e).lower():
                raise AnalysisError(f"tesseract took longer than {self.timeout:.0f}s") from None
            raise

    def _orientation(self, gray: np.ndarray) -> int:
        pt = _pytesseract()
        try:
            osd = self._run("image_to_osd", gray, "--psm 0")
        except pt.TesseractError:
            return 0  # too few characters to tell: read the image as it is
        try:
            rotate = int(osd.get("rotate", 0)) % 360
            conf = float(osd.get("orientation_conf", 0.0))
        except (TypeError, ValueError):
            return 0
        return rotate if rotate in (90, 180, 270) and conf >= OSD_MIN_CONF else 0

    def _collect(self, data: dict, rotation: int, w: int, h: int) -> tuple[str, list[dict]]:
        lines: dict[tuple[int, int, int], list[str]] = {}
        words: list[dict] = []
        for i, raw in enumerate(data.get("text", [])):
            t = (raw or "").strip()
            if not t:
                continue
            try:
                conf = float(data["conf"][i])
            except (TypeError, ValueError):
                continue
            if conf < self.min_conf:
                continue
            bx, by, bw, bh = (int(data[k][i]) for k in ("left", "top", "width", "height"))
            x, y, ww, hh = _unrotate(bx, by, bw, bh, rotation, w, h)
            words.append({"text": t, "conf": round(conf, 1), "x": x / w, "y": y / h, "w": ww / w, "h": hh / h})
            key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
            lines.setdefault(key, []).append(t)
        text = "\n".join(" ".join(ws) for ws in lines.values())
        return text, words


def _unrotate(x: int, y: int, w: int, h: int, rotation: int, W: int, H: int) -> tuple[int, int, int, int]:
    """Map a box found in the image turned ``rotation`` degrees clockwise back to the original W x H image."""
    if rotation == 90:
        return y, H - (x + w), h, w
    if rotation == 180:
        return W - (x + w), H - (y + h), w, h
    if rotation == 270:
        return W - (y + h), x, h, w
    return x, y, w, h


__all__ = ["OcrEngine", "OcrResult", "SKIPPED_NO_TEXT", "installed_languages", "tesseract_version",
           "has_text_like_regions"]
