"""Text recognition: RapidOCR (PP-OCR on onnxruntime, the default) or tesseract (PVA_OCR_ENGINE=tesseract).

    engine = create_engine()                 # settings.ocr_engine: "rapidocr" or "tesseract"
    r = engine.recognize(pil_image_or_bytes_or_path)
    r = engine.recognize(preview, original=fetch)  # RapidOCR: a reduced copy, and the photo itself (or a callable
                                                   # returning it) asked for only when small text needs it
    r.text            # lines joined with "\\n" (what search indexes)
    r.lines           # [{"text", "conf", "x", "y", "w", "h"}]: one per line of text
    r.words           # [{"text", "conf", "x", "y", "w", "h"}], box normalized 0..1 (left, top, width, height)
    r.rotation        # clockwise degrees the image was (or its text mostly is) turned to read it (0/90/180/270)
    r.skipped_reason  # "no text-like regions" when the text detector (or tesseract's pre-check) found nothing
    r.language        # what the recognizer reads: "multi" (the PP-OCRv6 model) or tesseract's languages

Boxes are relative to the image as displayed (EXIF orientation applied, as :func:`pva.media.image.load_image`
returns it), before any OCR rotation, so they overlay the thumbnail directly.  ``conf`` is 0..100 for both
engines.

RapidOCR (:class:`RapidOcrEngine`) reads text in scenes: signs, posters, screens, crates at night.  Tesseract
with its page-layout analysis is built for scanned pages and read almost nothing on such photos (issue 19).
The detection, direction and recognition models ship inside the ``rapidocr`` wheel and are loaded from there by
path: nothing is downloaded, ever.  How a photo is read:

1. the text detector runs once on a bounded preview (long side ``settings.ocr_det_side``, 1024; a JPEG is
   decoded at reduced size for it; a dark picture is brightened for the detector, which misses dim print):
   a photo without text costs that one pass and is recorded as "ran, found none";
2. where it finds small text (boxes under SMALL_TEXT_PX in the preview, or faint blobs), the detector runs
   again on those regions and a few text heights around them (labels beside a label), on the full-resolution
   photo scaled so the smallest text there is REFINE_TEXT_PX high: small print in a 12 MP photo is found and
   boxed tightly.  The full-resolution photo is ``original`` when given (fetched only now), else the image;
   a JPEG is decoded at half size (still twice the preview's detail, a third of a full decode's CPU);
3. each line is cut out (a perspective crop along its box) from the preview when it is tall enough there, else
   from the full-resolution photo, turned by the direction classifier when upside down (tall crops are turned
   a quarter first), and recognized in batches; word boxes come from the recognizer's character positions.

onnxruntime keeps its memory arena between calls (a third less CPU per detection pass than rapidocr's default).

Tesseract (:class:`TesseractEngine`) runs as a subprocess with OMP_THREAD_LIMIT=1 (its OpenMP threads only slow
it down when several workers share the cores); set OMP_THREAD_LIMIT yourself to override.  onnxruntime runs
``settings.ocr_threads`` intra-op threads per worker (1: one worker per core scales best).
"""
from __future__ import annotations

import math
import os
import shutil
import types
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Callable

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
    lines: list[dict] = field(default_factory=list)

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


class TesseractEngine(Model):
    """Tesseract OCR (PVA_OCR_ENGINE=tesseract: scanned pages, languages the PP-OCR model lacks); create once per
    worker, call :meth:`recognize` per image."""

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
        text, words, lines = self._collect(data, rotation, gray.shape[1], gray.shape[0])
        return OcrResult(text, words, rotation, self.lang, None, lines)

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

    def _collect(self, data: dict, rotation: int, w: int, h: int) -> tuple[str, list[dict], list[dict]]:
        lines: dict[tuple[int, int, int], list[dict]] = {}
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
            word = {"text": t, "conf": round(conf, 1), "x": x / w, "y": y / h, "w": ww / w, "h": hh / h}
            words.append(word)
            key = (int(data["block_num"][i]), int(data["par_num"][i]), int(data["line_num"][i]))
            lines.setdefault(key, []).append(word)
        out = [_line(" ".join(x["text"] for x in ws), sum(x["conf"] for x in ws) / len(ws),
                     [(x["x"], x["y"], x["x"] + x["w"], x["y"] + x["h"]) for x in ws]) for ws in lines.values()]
        return "\n".join(x["text"] for x in out), words, out


def _line(text: str, conf: float, boxes: list[tuple[float, float, float, float]]) -> dict:
    """A line entry: its text, mean confidence and the normalized box around ``boxes`` (x0, y0, x1, y1)."""
    x0, y0 = min(b[0] for b in boxes), min(b[1] for b in boxes)
    x1, y1 = max(b[2] for b in boxes), max(b[3] for b in boxes)
    return {"text": text, "conf": round(conf, 1), "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}


# ---------------------------------------------------------------------------------------------------- RapidOCR
RAPID_MIN_SCORE = 0.5          # lines the recognizer is less sure of are dropped (texture read as letters)
DET_THRESH, DET_BOX_THRESH = 0.3, 0.5  # the detector's pixel and box scores for text it reports (rapidocr's)
CANDIDATE_THRESH, CANDIDATE_BOX_THRESH = 0.15, 0.25  # in the preview, a faint small blob worth a closer look
SMALL_TEXT_PX = 24             # a line lower than this in the preview (its box) is detected again, finer
REC_HEIGHT = 48                # the recognizer's input height: a line this tall in the preview is read there
REC_MIN_WIDTH = 160            # a batch of lines is padded at least this wide (rapidocr: 320): a photo's short
                               # labels ("KIRIN", one kanji) were read at 320 x 48 each, the recognizer's CPU
                               # 0.75x; on the bench and test photos the same accuracy, 4 of 15 with a short line
                               # read differently (as often better as worse)
REC_BATCH = 1                  # lines per recognizer call (rapidocr: 6, each padded to the widest of its batch):
                               # the recognizer's CPU grows with the padded width and a batch saves nothing per
                               # line, so a line is read at its own width (a bus sign's 6 lines: 0.37 -> 0.22 s)
REFINE_MARGIN = 4.0            # a small-text region reaches this many text heights around its boxes
MAX_REFINE_PIXELS = 1_000_000  # pixels the second detection pass may look at, per photo
REFINE_MIN_GAIN = 1.5           # a second pass less than this much finer than the preview is not worth it
REFINE_TEXT_PX = 32            # the second pass sees the smallest text of a region this high (or at full resolution)
DETAIL_DRAFT = 2                # the full-resolution detail may be decoded at 1/2 (JPEG DCT scaling)
NO_SHRINK = 4 / 3              # an image at most this much larger than the preview is detected as it is: its
                               # small print stays legible, and it costs less than a 12 MP photo's second pass
MIN_DET_SIDE = 736             # small images are enlarged to this shortest side for the detector (rapidocr's)
FLAT_FRACTION = 0.5            # a detector map this full is no text but a flat picture (it sees text everywhere)
DARK_MEAN, DARK_TARGET, MIN_GAMMA = 0.3, 0.35, 0.5  # a picture darker than this is brightened to be detected
WIDE_RATIO, MIN_HEIGHT = 8, 30  # very wide or low images are padded to this ratio / height first (rapidocr's)


def rapidocr_models(rec_model: str = "") -> dict | None:
    """The models RapidOCR runs with, found without importing it (``pva status`` stays fast): {"version", "det",
    "cls", "rec"} (paths; ``rec_model`` replaces the recognizer shipped in the wheel), or None when the package
    is missing.  A path that does not exist is returned as it is: the caller says what is missing."""
    import importlib.metadata
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("rapidocr")
    if spec is None or not spec.origin:
        return None
    models = Path(spec.origin).parent / "models"

    def pick(kind: str) -> Path:
        found = sorted(models.glob(f"*_{kind}_*.onnx"))
        return found[-1] if found else models / f"(no {kind} model in the rapidocr wheel)"

    return {"version": importlib.metadata.version("rapidocr"), "det": pick("det"), "cls": pick("cls"),
            "rec": Path(rec_model) if rec_model else pick("rec")}


class RapidOcrEngine(Model):
    """PP-OCR detection, direction and recognition models (RapidOCR on onnxruntime); create once per worker,
    call :meth:`recognize` per image.  See the module docstring for how a photo is read."""

    name = "rapidocr"

    def __init__(self, min_conf: float | None = None, *, det_side: int | None = None, threads: int | None = None,
                 rec_model: str | None = None):
        from pva.config import get_settings

        s = get_settings()
        self.min_score = RAPID_MIN_SCORE if min_conf is None else float(min_conf) / 100
        self.det_side = int(det_side or s.ocr_det_side)
        self.threads = int(threads or s.ocr_threads)
        self.rec_model = s.ocr_rec_model if rec_model is None else rec_model
        self.load()

    def _load(self) -> None:
        models = rapidocr_models(self.rec_model)
        if models is None:
            raise ModelNotFound("rapidocr is not installed: pip install -e . (or set PVA_OCR_ENGINE=tesseract)")
        missing = [str(models[k]) for k in ("det", "cls", "rec") if not models[k].is_file()]
        if missing:
            raise ModelNotFound(f"OCR model file(s) missing: {', '.join(missing)} (reinstall rapidocr, or fix "
                                f"PVA_OCR_REC_MODEL)")
        from rapidocr import RapidOCR
        from rapidocr.cal_rec_boxes import CalRecBoxes

        try:
            # every model by path: rapidocr never looks for (or downloads) one of its own
            ocr = RapidOCR(params={
                "Global.log_level": "warning",
                "Det.model_path": str(models["det"]), "Cls.model_path": str(models["cls"]),
                "Rec.model_path": str(models["rec"]),
                "EngineConfig.onnxruntime.intra_op_num_threads": self.threads,
                # onnxruntime's memory arena keeps the detector's large buffers between calls: a third less CPU
                # per detection pass than allocating them anew each time (rapidocr turns it off by default)
                "EngineConfig.onnxruntime.enable_cpu_mem_arena": True,
                "EngineConfig.onnxruntime.inter_op_num_threads": 1})
            self._det, self._cls, self._rec = ocr._load_det_model(), ocr._load_cls_model(), ocr._load_rec_model()
            c, h, _ = self._rec.rec_image_shape  # a batch of short lines is padded to REC_MIN_WIDTH, not 320
            self._rec.rec_image_shape = [c, h, REC_MIN_WIDTH]
            self._rec.rec_batch_num = REC_BATCH
            post = self._det.postprocess_op  # its contour loop, the same boxes and scores at a fraction of the CPU
            post.boxes_from_bitmap = types.MethodType(_boxes_from_bitmap, post)
        except Exception as e:  # a damaged file or an onnxruntime that cannot run it
            raise ModelNotFound(f"cannot load the OCR models ({models['rec'].name}): {e}") from None
        if not self._rec.session.have_key():
            raise ModelNotFound(f"{models['rec']} carries no character list: not a PP-OCR recognition model "
                                f"exported for rapidocr")
        self._word_boxes = CalRecBoxes()
        self.models = {k: models[k].stem for k in ("det", "cls", "rec")}
        self.version = f"{models['version']} {self.models['det']}+{self.models['cls']}+{self.models['rec']}"
        # what the stored rows say the text was read as: the multilingual model shipped in the wheel reads
        # Chinese, Japanese, English and the Latin-script languages; another recognizer is named by its file
        self.language = "multi" if not self.rec_model else self.models["rec"]

    # ------------------------------------------------------------------ API
    def recognize(self, image: ImageSource, original: ImageSource | Callable[[], ImageSource] | None = None
                  ) -> OcrResult:
        """Read the text in one image.  Raises :class:`pva.errors.BadInput` when it is not a usable image.

        ``original``: where more detail than ``image`` holds comes from, when ``image`` is a reduced copy (an
        analysis preview) of a larger photo — the photo itself (path, bytes, PIL image) or a callable returning
        it, called only when small text needs a closer look (never for a photo without text).  Boxes are
        normalised to ``image``, which shows the same scene as ``original`` (orientation applied).  Without it,
        ``image`` at full resolution is the detail."""
        if hasattr(image, "read"):
            image = image.read()  # decoded twice at most (preview, full resolution): keep the bytes
        preview_img = load_image(image, draft=(self.det_side, self.det_side))
        W, H = _displayed_size(image, preview_img)
        if (preview_img.width > preview_img.height) != (W > H) and W != H:
            W, H = H, W  # EXIF orientation the decoder could not apply: the preview is what we read
        preview = decoded = _bgr(preview_img)
        side = max(preview.shape[:2])
        if side > self.det_side and max(W, H) > self.det_side * NO_SHRINK:
            f = self.det_side / side
            preview = cv2.resize(preview, (max(1, round(preview.shape[1] * f)), max(1, round(preview.shape[0] * f))),
                                 interpolation=cv2.INTER_AREA)
        scale = preview.shape[1] / W  # preview pixels per displayed pixel (1.0: the image is small)
        if not has_text_like_regions(cv2.cvtColor(preview, cv2.COLOR_BGR2GRAY)):  # no edges at all: no detector
            return OcrResult("", [], 0, self.language, SKIPPED_NO_TEXT)
        detail: list[tuple[np.ndarray, float]] = []  # (pixels, their scale to the displayed image), when needed

        def full_image() -> tuple[np.ndarray, float]:
            if not detail:
                if original is not None:  # the photo itself: a JPEG decoded at half size, as below
                    arr = _bgr(_load_detail(original() if callable(original) else original))
                    detail.append((arr, arr.shape[1] / W))
                elif scale >= 1:
                    detail.append((preview, 1.0))
                elif preview_img.size == (-(-W // DETAIL_DRAFT), -(-H // DETAIL_DRAFT)):
                    detail.append((decoded, decoded.shape[1] / W))  # the preview's decode was that already
                else:  # a JPEG decoded at half size when that is still twice the preview (a third of the CPU)
                    arr = _bgr(_load_detail(image))
                    detail.append((arr, arr.shape[1] / W))
            return detail[0]

        small_scale = scale >= 1  # the image is read as it is: it is the finest there is
        boxes, scores, faint = self._detect(preview, small=small_scale, candidates=not small_scale)
        if not len(boxes) and not len(faint):
            return OcrResult("", [], 0, self.language, SKIPPED_NO_TEXT)
        small = [i for i, b in enumerate(boxes) if not small_scale and _quad_height(b) < SMALL_TEXT_PX]
        keep = [(boxes[i] / scale, scores[i]) for i in range(len(boxes)) if i not in small]
        looks = [(boxes[i] / scale, scores[i]) for i in small]
        # a faint blob of any height: small lines too close together in the preview blur into one
        looks += [(b / scale, 0.0) for b in faint if not any(_overlaps(b / scale, k) for k, _ in keep + looks)]
        if looks and not any(self._worth_a_closer_look(b, scale) for b, _ in looks):
            # every region is too large to be detected finer than the preview was (a faint blob over the whole
            # photo): what _refine would keep, without fetching or decoding the full-resolution photo for it
            keep += [(b, sc) for b, sc in looks if sc >= DET_BOX_THRESH and not any(_overlaps(b, q) for q, _ in keep)]
        elif looks:
            full, k = full_image()
            found = self._refine(full, [b * k for b, _ in looks], [sc for _, sc in looks], scale / k)
            keep += [(b / k, sc) for b, sc in found if not any(_overlaps(b / k, q) for q, _ in keep)]
        if not keep:
            return OcrResult("", [], 0, self.language, None)
        quads = self._det.sorted_boxes(np.array([q for q, _ in keep], dtype=np.float32))
        return self._read(quads, preview, scale, full_image, W, H)

    predict = recognize

    # ------------------------------------------------------------------ internals
    def _detect(self, bgr: np.ndarray, *, small: bool, candidates: bool = False) -> tuple[np.ndarray, list, list]:
        """Text boxes (4 points each, in ``bgr``'s pixels), their scores and, with ``candidates``, the faint
        blobs a lenient reading of the same probability map adds (small text the preview barely shows).
        ``small``: an image smaller than the preview is enlarged for the detector, as rapidocr does, towards a
        shortest side of MIN_DET_SIDE but never beyond the preview's size (a wide strip would cost seconds);
        anything else is detected as given."""
        from rapidocr.utils.process_img import apply_vertical_padding

        h, w = bgr.shape[:2]
        img, record = apply_vertical_padding(bgr, {}, WIDE_RATIO, MIN_HEIGHT)
        top = record["padding_1"]["top"]
        f = max(1.0, min(MIN_DET_SIDE / min(img.shape[:2]), self.det_side / max(img.shape[:2]))) if small else 1.0
        if f > 1:
            img = cv2.resize(img, (round(img.shape[1] * f), round(img.shape[0] * f)), interpolation=cv2.INTER_CUBIC)
        det = self._det
        det.limit_type, det.limit_side_len = "max", max(img.shape[:2])
        pre = det.get_preprocess()
        resized = pre.resize(img)  # to multiples of 32, as rapidocr does; normalized in float32 here (its own
        if resized is None:        # normalization computes in float64: a tenth of a second on a preview)
            return np.zeros((0, 4, 2), np.float32), [], []
        mean, std = float(pre.mean[0]), float(pre.std[0])  # the same for the three channels (0.5, 0.5)
        pred = det.session(cv2.dnn.blobFromImage(_brighten(resized), 1 / (255 * std), mean=(255 * mean,) * 3))
        if float((pred > DET_THRESH).mean()) > FLAT_FRACTION:  # a plain, flat picture: the map is "text" everywhere
            return np.zeros((0, 4, 2), np.float32), [], []
        post = det.postprocess_op

        def boxes_at(thresh: float, box_thresh: float, min_size: int = 3) -> tuple[list, list]:
            post.thresh, post.box_thresh, post.min_size = thresh, box_thresh, min_size
            found, scores = post(pred, img.shape[:2])
            out = []
            for b in found:
                b = np.asarray(b, dtype=np.float32) / f
                b[:, 1] -= top
                b[:, 0], b[:, 1] = b[:, 0].clip(0, w), b[:, 1].clip(0, h)
                out.append(b)
            return out, list(scores)

        boxes, scores = boxes_at(DET_THRESH, DET_BOX_THRESH)
        faint = boxes_at(CANDIDATE_THRESH, CANDIDATE_BOX_THRESH, 1)[0] if candidates else []
        post.thresh, post.box_thresh, post.min_size = DET_THRESH, DET_BOX_THRESH, 3
        return np.array(boxes, dtype=np.float32).reshape(-1, 4, 2), scores, faint

    def _worth_a_closer_look(self, box: np.ndarray, scale: float) -> bool:
        """False when no region of :meth:`_refine` holding ``box`` (in displayed pixels; ``scale``: preview pixels
        per displayed pixel) can be detected finer than REFINE_MIN_GAIN times the preview: a region is at least
        the box's bounding rectangle, and its detection scale at most the side and pixel-budget caps of that
        rectangle, whatever the full-resolution photo's size (those caps do not depend on it; the one that does,
        never beyond full resolution, only lowers it).  Then the photo need not be fetched nor decoded."""
        w, h = float(box[:, 0].max() - box[:, 0].min()), float(box[:, 1].max() - box[:, 1].min())
        if w <= 0 or h <= 0:
            return True
        bound = min(self.det_side * 1.5 / max(w, h), float(np.sqrt(MAX_REFINE_PIXELS / (w * h))))
        return bound * 1.02 >= REFINE_MIN_GAIN * scale  # 2%: the regions' whole-pixel rounding

    def _refine(self, full: np.ndarray, boxes: list[np.ndarray], scores: list[float], scale: float) -> list:
        """Detect again, finer, in the regions around small boxes found in the preview: small print is found
        there (or turns out not to be text), and so is smaller print beside it (a label's small lines).  A region
        is detected at the scale that makes its smallest text REFINE_TEXT_PX high (at most full resolution):
        finer costs more and finds no more.  Regions beyond the pixel budget keep the preview's boxes that were
        sure enough."""
        H, W = full.shape[:2]
        rects = []
        for b in boxes:
            m = REFINE_MARGIN * max(_quad_height(b), 4.0)
            rects.append([max(0, b[:, 0].min() - m), max(0, b[:, 1].min() - m),
                          min(W, b[:, 0].max() + m), min(H, b[:, 1].max() + m)])
        regions = _merge_rects(rects)
        regions.sort(key=lambda r: (r[2] - r[0]) * (r[3] - r[1]))  # many small regions before one large
        out, budget = [], MAX_REFINE_PIXELS
        for x0, y0, x1, y1 in regions:
            x0, y0, x1, y1 = int(x0), int(y0), int(np.ceil(x1)), int(np.ceil(y1))
            inside = [i for i, b in enumerate(boxes) if x0 <= b[:, 0].mean() <= x1 and y0 <= b[:, 1].mean() <= y1]
            low = min((_quad_height(boxes[i]) for i in inside), default=REFINE_TEXT_PX)
            f = min(1.0, max(REFINE_TEXT_PX / max(low, 1.0), 2 * scale), self.det_side * 1.5 / max(x1 - x0, y1 - y0))
            f = min(f, float(np.sqrt(budget / ((x1 - x0) * (y1 - y0)))))  # a large region: as fine as the budget lets
            area = (x1 - x0) * (y1 - y0) * f * f  # what the detector will look at
            if f < REFINE_MIN_GAIN * scale or min(x1 - x0, y1 - y0) * f < 8:
                out += [(boxes[i], scores[i]) for i in inside if scores[i] >= DET_BOX_THRESH]
                continue
            budget -= area
            crop = np.ascontiguousarray(full[y0:y1, x0:x1])
            if f < 1:
                crop = cv2.resize(crop, (max(1, round(crop.shape[1] * f)), max(1, round(crop.shape[0] * f))),
                                  interpolation=cv2.INTER_AREA)
            found, sc, _ = self._detect(crop, small=False)
            for b, s in zip(found, sc):
                b = b / f
                b[:, 0] += x0
                b[:, 1] += y0
                out.append((b, s))
        return out

    def _read(self, quads: np.ndarray, preview: np.ndarray, scale: float, full_image, W: int, H: int) -> OcrResult:
        from rapidocr.ch_ppocr_rec import TextRecInput
        from rapidocr.utils.process_img import get_rotate_crop_image

        crops, frame_quads, factors = [], [], []
        for q in quads:
            if scale >= 1 or _quad_height(q) * scale >= REC_HEIGHT:  # tall enough in the preview: read it there
                src, fq, k = preview, q * scale, scale
            else:  # from the full-resolution photo (``k``: its pixels per displayed pixel)
                src, k = full_image()
                fq = q * k
            fq = fq.astype(np.float32)
            crop = get_rotate_crop_image(src, fq.copy())
            if crop.size == 0 or min(crop.shape[:2]) < 2:
                continue
            crops.append(crop)
            frame_quads.append(fq)
            factors.append(k)
        if not crops:
            return OcrResult("", [], 0, self.language, None)
        cls = self._cls(crops)
        flipped = [("180" in label and score > self._cls.cls_thresh) for label, score in cls.cls_res]
        rec = self._rec(TextRecInput(img=cls.img_list, return_word_box=True))
        # the box of an upside-down line, read from its other end: word positions map back the right way round
        box_frames = [np.roll(fq, 2, axis=0) if f else fq for fq, f in zip(frame_quads, flipped)]
        keep = [i for i, (t, sc) in enumerate(zip(rec.txts, rec.scores)) if t.strip() and sc >= self.min_score]
        if not keep:
            return OcrResult("", [], 0, self.language, None)
        rec.txts = tuple(rec.txts[i] for i in keep)
        rec.scores = tuple(rec.scores[i] for i in keep)
        rec.word_results = tuple(rec.word_results[i] for i in keep)
        placed = self._word_boxes([cls.img_list[i] for i in keep], [box_frames[i].copy() for i in keep], rec)
        read, votes = [], {0: 0, 90: 0, 180: 0, 270: 0}
        for n, i in enumerate(keep):
            k = factors[i]
            text, conf = rec.txts[n].strip(), float(rec.scores[n]) * 100
            line_words = []
            for wtext, wconf, pts in (placed.word_results[n] if n < len(placed.word_results) else ()):
                wtext = str(wtext).strip()
                if not wtext:
                    continue
                pts = np.asarray(pts, dtype=np.float32) / k
                line_words.append(_word(wtext, float(wconf) * 100, pts, W, H))
            if not line_words:  # no character positions: the whole line is one box
                line_words = [_word(text, conf, quads[i], W, H)]
            read.append((_line(text, conf, [(w["x"], w["y"], w["x"] + w["w"], w["y"] + w["h"]) for w in line_words]
                               + [_norm_box(quads[i], W, H)]), line_words))
            tall = _is_tall(quads[i])  # read turned a quarter anticlockwise (get_rotate_crop_image)
            votes[(270 if tall else 0) if not flipped[i] else (90 if tall else 180)] += len(text)
        rotation = max(votes, key=votes.get) if sum(votes.values()) else 0
        if rotation:  # text mostly turned: lines in the order one reads them with the photo turned upright
            read.sort(key=lambda lw: _upright(lw[0], rotation))
        lines, words = [x for x, _ in read], [w for _, ws in read for w in ws]
        return OcrResult("\n".join(x["text"] for x in lines), words, rotation, self.language, None, lines)


def _boxes_from_bitmap(post, pred: np.ndarray, bitmap: np.ndarray, dest_width: int, dest_height: int):
    """rapidocr's DBPostProcess.boxes_from_bitmap (its "fast" score) giving the same boxes and scores, cheaper: a
    photo's noise leaves hundreds of specks in the lenient candidate map, and rapidocr spent a fifth of a
    no-text photo's OCR CPU in numpy calls on Python scalars for each.  A contour's short side is read from its
    rotated rectangle before the corners are sorted (the specks stop there), and the score's bounding box is
    taken with Python numbers; everything else is rapidocr's own code, in its order."""
    height, width = bitmap.shape
    contours = cv2.findContours((bitmap * 255).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2]
    h, w = pred.shape[:2]
    boxes, scores = [], []
    for contour in contours[:post.max_candidates]:
        if min(cv2.minAreaRect(contour)[1]) < post.min_size:  # get_mini_boxes' sside
            continue
        points, _ = post.get_mini_boxes(contour)
        box = points.reshape(-1, 2).copy()
        xs, ys = box[:, 0], box[:, 1]
        xmin, xmax = min(max(math.floor(xs.min()), 0), w - 1), min(max(math.ceil(xs.max()), 0), w - 1)
        ymin, ymax = min(max(math.floor(ys.min()), 0), h - 1), min(max(math.ceil(ys.max()), 0), h - 1)
        mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), dtype=np.uint8)
        box[:, 0] -= xmin
        box[:, 1] -= ymin
        cv2.fillPoly(mask, box.reshape(1, -1, 2).astype(np.int32), 1)
        score = cv2.mean(pred[ymin:ymax + 1, xmin:xmax + 1], mask)[0]
        if post.box_thresh > score:
            continue
        box, sside = post.get_mini_boxes(post.unclip(points))
        if sside < post.min_size + 2:
            continue
        box[:, 0] = np.clip(np.round(box[:, 0] / width * dest_width), 0, dest_width)
        box[:, 1] = np.clip(np.round(box[:, 1] / height * dest_height), 0, dest_height)
        boxes.append(box.astype(np.int32))
        scores.append(score)
    return np.array(boxes, dtype=np.int32), scores


def _load_detail(src):
    """The full-resolution detail: a JPEG file or bytes decoded at 1/DETAIL_DRAFT of its size (DCT scaling: a
    third of the CPU of a full decode, and what the second pass reads is never finer than that), anything else as
    it is.  The draft box is square, the stored image's short side over DETAIL_DRAFT: Pillow compares it with the
    stored (not the displayed) size, so a (width, height) box taken from the displayed size of a photo stored
    turned (EXIF orientation 6, a phone in portrait) asked for a full decode."""
    if isinstance(src, (str, bytes, bytearray, memoryview)) or hasattr(src, "__fspath__"):
        import io

        from PIL import Image

        try:
            with Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray, memoryview)) else src) as im:
                short = min(im.size)
        except Exception:  # load_image says what is wrong with it
            short = 0
        if short >= 2 * DETAIL_DRAFT:
            return load_image(src, draft=(short // DETAIL_DRAFT, short // DETAIL_DRAFT))
    return load_image(src)


def _displayed_size(image, preview_img) -> tuple[int, int]:
    """The (width, height) of the image as displayed at full resolution: the preview of a JPEG file may have
    been decoded smaller (draft), so a file or bytes is asked for its header's size and EXIF orientation."""
    if not isinstance(image, (str, bytes, bytearray, memoryview)) and not hasattr(image, "__fspath__"):
        return preview_img.size  # a PIL image or an array: decoded as it is
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(image) if isinstance(image, (bytes, bytearray, memoryview)) else image) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception:  # load_image read it: this cannot fail in practice, and the preview's size is a fallback
        return preview_img.size
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _bgr(img) -> np.ndarray:
    """RGB(A) or grey PIL image -> BGR array (transparent pixels on white, as the tesseract path reads them)."""
    try:
        if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
            from PIL import Image

            rgba = img.convert("RGBA")
            bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            img = Image.alpha_composite(bg, rgba)
        rgb = np.asarray(img.convert("RGB"))
    except (OSError, ValueError) as e:
        raise BadInput(f"unreadable or truncated image: {e}") from None
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def _brighten(bgr: np.ndarray) -> np.ndarray:
    """A dark picture (a night street) lifted by a gamma curve towards a mean brightness of DARK_TARGET: the
    detector misses dim text (the crates' "KIRIN" at night) unless it is brighter.  Others are left as they are."""
    m = float(cv2.mean(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))[0]) / 255
    if m >= DARK_MEAN or m <= 0:
        return bgr
    gamma = max(MIN_GAMMA, np.log(DARK_TARGET) / np.log(m))
    lut = (255 * (np.arange(256) / 255) ** gamma).round().astype(np.uint8)
    return cv2.LUT(bgr, lut)


def _quad_height(q: np.ndarray) -> float:
    return float(min(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]),
                     max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3]))))


def _overlaps(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether half of the smaller of two boxes' bounding rectangles lies in the other (the same text)."""
    ax0, ay0, ax1, ay1 = a[:, 0].min(), a[:, 1].min(), a[:, 0].max(), a[:, 1].max()
    bx0, by0, bx1, by1 = b[:, 0].min(), b[:, 1].min(), b[:, 0].max(), b[:, 1].max()
    iw, ih = min(ax1, bx1) - max(ax0, bx0), min(ay1, by1) - max(ay0, by0)
    if iw <= 0 or ih <= 0:
        return False
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    return iw * ih >= 0.5 * max(smaller, 1e-6)


def _upright(box: dict, rotation: int) -> tuple[float, float]:
    """Where a box's centre is (y, x) once the image is turned ``rotation`` degrees clockwise."""
    x, y = box["x"] + box["w"] / 2, box["y"] + box["h"] / 2
    return {90: (x, 1 - y), 180: (1 - y, 1 - x), 270: (1 - x, y)}.get(rotation, (y, x))


def _is_tall(q: np.ndarray) -> bool:
    """rapidocr's test for a crop it turns a quarter before reading (a line of text running up or down)."""
    w = max(np.linalg.norm(q[0] - q[1]), np.linalg.norm(q[2] - q[3]))
    h = max(np.linalg.norm(q[0] - q[3]), np.linalg.norm(q[1] - q[2]))
    return bool(h >= 1.5 * max(w, 1e-6))


def _norm_box(pts, W: int, H: int) -> tuple[float, float, float, float]:
    pts = np.asarray(pts, dtype=np.float32)
    x0, y0 = max(0.0, float(pts[:, 0].min()) / W), max(0.0, float(pts[:, 1].min()) / H)
    x1, y1 = min(1.0, float(pts[:, 0].max()) / W), min(1.0, float(pts[:, 1].max()) / H)
    return x0, y0, max(x1, x0), max(y1, y0)


def _word(text: str, conf: float, pts, W: int, H: int) -> dict:
    x0, y0, x1, y1 = _norm_box(pts, W, H)
    return {"text": text, "conf": round(conf, 1), "x": x0, "y": y0, "w": x1 - x0, "h": y1 - y0}


def _merge_rects(rects: list[list[float]]) -> list[list[float]]:
    """Union overlapping rectangles (x0, y0, x1, y1) until none overlap."""
    out = [list(r) for r in rects]
    merged = True
    while merged:
        merged = False
        for i in range(len(out)):
            for j in range(i + 1, len(out)):
                a, b = out[i], out[j]
                if a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]:
                    out[i] = [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]
                    del out[j]
                    merged = True
                    break
            if merged:
                break
    return out


# ---------------------------------------------------------------------------------------------------- choosing
ENGINES = ("rapidocr", "tesseract")


def create_engine(engine: str | None = None, **kw) -> Model:
    """The OCR engine the settings name (PVA_OCR_ENGINE, default rapidocr), built once per worker."""
    from pva.config import get_settings

    name = (engine or get_settings().ocr_engine or "rapidocr").strip().lower()
    if name == "rapidocr":
        return RapidOcrEngine(**kw)
    if name == "tesseract":
        return TesseractEngine(**kw)
    raise ModelNotFound(f"unknown OCR engine {name!r} (PVA_OCR_ENGINE): use one of {', '.join(ENGINES)}")


def engine_status(settings) -> tuple[bool, str]:
    """For ``pva status``: whether OCR can run as configured, and what it runs with (models, versions, languages
    installed) or what to do.  Tesseract is checked whichever engine is chosen: it is the other setting, and a
    language asked for in PVA_OCR_LANG that is not installed is a mistake either way."""
    name = (settings.ocr_engine or "rapidocr").strip().lower()
    parts, ok = [], name in ENGINES
    if not ok:
        parts.append(f"PVA_OCR_ENGINE={settings.ocr_engine!r} is unknown: use one of {', '.join(ENGINES)}")
    models = rapidocr_models(settings.ocr_rec_model)
    if models is None:
        ok = ok and name != "rapidocr"
        parts.append("rapidocr is not installed: pip install -e . (scripts/install.sh does it)")
    else:
        missing = [str(models[k]) for k in ("det", "cls", "rec") if not models[k].is_file()]
        ok = ok and not (missing and name == "rapidocr")
        rec_langs = "reads Chinese, Japanese, English and Latin-script languages" if not settings.ocr_rec_model \
            else f"recognizer {settings.ocr_rec_model}"
        parts.append(f"rapidocr {models['version']}{' (in use)' if name == 'rapidocr' else ''}: "
                     f"{models['det'].stem}, {models['cls'].stem}, {models['rec'].stem} ({rec_langs}; "
                     f"{settings.ocr_threads} onnxruntime thread(s) per worker)"
                     + (f" — MISSING {', '.join(missing)}" if missing else ""))
    langs = installed_languages()
    if not langs:
        ok = ok and name != "tesseract"
        parts.append("tesseract is not installed: apt-get install tesseract-ocr tesseract-ocr-eng (make run does it)")
    else:
        wanted = [x for x in settings.ocr_lang.split("+") if x]
        missing = [x for x in wanted if x not in langs]
        detail = (f"tesseract {tesseract_version()}{' (in use)' if name == 'tesseract' else ''}, traineddata "
                  f"installed: {', '.join(langs)}; using {settings.ocr_lang}")
        if missing:
            ok = False
            detail += f" — MISSING {', '.join(missing)}: apt-get install " + " ".join(
                f"tesseract-ocr-{m}" for m in missing)
        parts.append(detail)
    return ok, "; ".join(parts)


def _unrotate(x: int, y: int, w: int, h: int, rotation: int, W: int, H: int) -> tuple[int, int, int, int]:
    """Map a box found in the image turned ``rotation`` degrees clockwise back to the original W x H image."""
    if rotation == 90:
        return y, H - (x + w), h, w
    if rotation == 180:
        return W - (x + w), H - (y + h), w, h
    if rotation == 270:
        return W - (y + h), x, h, w
    return x, y, w, h


__all__ = ["RapidOcrEngine", "TesseractEngine", "OcrResult", "SKIPPED_NO_TEXT", "create_engine", "engine_status",
           "installed_languages", "rapidocr_models", "tesseract_version", "has_text_like_regions"]
