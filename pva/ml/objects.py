"""Object detection with YOLO.

Default backend: a model in Ultralytics' ONNX export format run on onnxruntime (no torch):
input ``images`` float32 1x3x640x640 RGB 0..1 letterboxed with pad 114, output 1x84x8400
(cx, cy, w, h + one score per class), class names in the model metadata ``names``.
Optional backend: a ``.pt`` model through the ``ultralytics`` package when it is installed.

Threads: onnxruntime runs ``threads`` intra-op threads (constructor argument, else the environment variable
``PVA_DETECT_THREADS``, default 1 — one per worker process; scale with more workers).

    det = Detector()                       # model from settings.effective_detect_model
    for d in det.detect(pil_image_or_bytes):
        d.label, d.confidence, d.x, d.y, d.w, d.h    # box normalized to 0..1, left/top/width/height
"""
from __future__ import annotations

import ast
import hashlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from . import BadInput, ImageSource, ModelError, ModelNotFound, load_image
from .base import Model

MISSING_MODEL_MESSAGE = ("no YOLO model found: run `pva models pull` or set "
                         "PVA_DETECT_MODEL=/path/to/model.onnx")
DEFAULT_THREADS_ENV = "PVA_DETECT_THREADS"  # intra-op threads per worker; default 1
MAX_DETECTIONS = 300
PAD_VALUE = 114


@dataclass(frozen=True, slots=True)
class Detection:
    label: str
    confidence: float
    x: float  # left, normalized 0..1 of the displayed image width
    y: float  # top
    w: float
    h: float

    def as_dict(self) -> dict:
        return asdict(self)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _threads(threads: int | None) -> int:
    if threads is not None:
        return max(1, int(threads))
    from pva.config import SettingsError, get_settings

    try:
        return max(1, int(get_settings().detect_threads))
    except SettingsError as e:
        raise ModelError(str(e)) from None


def parse_names(raw: str | None) -> dict[int, str]:
    """Class names from Ultralytics' metadata string ``"{0: 'person', 1: 'bicycle', ...}"``."""
    if not raw:
        return {}
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError) as e:
        raise ModelError(f"model metadata 'names' is not readable: {e}") from None
    if isinstance(value, (list, tuple)):
        value = dict(enumerate(value))
    if not isinstance(value, dict):
        raise ModelError("model metadata 'names' is not a mapping of class index to name")
    return {int(k): str(v) for k, v in value.items()}


def letterbox(rgb: np.ndarray, size: int = 640) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping the aspect ratio and pad to size x size with gray 114 (Ultralytics' LetterBox, centred).

    Returns (padded HxWx3 uint8, scale, (pad_left, pad_top)).
    """
    h, w = rgb.shape[:2]
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    if (nw, nh) != (w, h):
        rgb = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    dw, dh = (size - nw) / 2, (size - nh) / 2
    top, left = int(round(dh - 0.1)), int(round(dw - 0.1))
    out = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    out[top:top + nh, left:left + nw] = rgb
    return out, r, (left, top)


class Detector(Model):
    """A YOLO detector; load once per worker and call :meth:`detect` per image."""

    def __init__(self, model_path: str | os.PathLike | None = None, conf: float | None = None,
                 iou: float | None = None, threads: int | None = None):
        from pva.config import get_settings

        s = get_settings()
        path = Path(model_path) if model_path else s.effective_detect_model
        if path is None or not Path(path).is_file():
            msg = MISSING_MODEL_MESSAGE if path is None else f"{MISSING_MODEL_MESSAGE} (not a file: {path})"
            raise ModelNotFound(msg)
        self.model_path = Path(path)
        self.conf = float(s.detect_conf if conf is None else conf)
        self.iou = float(s.detect_iou if iou is None else iou)
        self.threads = _threads(threads)
        self.sha256 = file_sha256(self.model_path)
        self.name = self.model_path.stem
        self._yolo = None  # ultralytics backend
        self._session = None
        self.load()

    def _load(self) -> None:
        if self.model_path.suffix.lower() == ".pt":
            self._init_ultralytics()
        else:
            self._init_onnx()

    # ------------------------------------------------------------------ backends
    def _init_onnx(self) -> None:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.log_severity_level = 3
        try:
            sess = ort.InferenceSession(str(self.model_path), sess_options=so,
                                        providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types
            raise ModelError(f"cannot load {self.model_path} as an ONNX model: {e}") from None
        inp = sess.get_inputs()[0]
        shape = inp.shape
        if len(shape) != 4 or (isinstance(shape[1], int) and shape[1] != 3):
            raise ModelError(f"{self.model_path}: expected a YOLO input Nx3xHxW, got {inp.name} {shape}")
        self.imgsz = shape[2] if isinstance(shape[2], int) else 640
        self._batch = shape[0] if isinstance(shape[0], int) else None  # None: dynamic batch
        self._input = inp.name
        self._output = sess.get_outputs()[0].name
        meta = sess.get_modelmeta()
        cm = meta.custom_metadata_map or {}
        self.names = parse_names(cm.get("names"))
        out_shape = sess.get_outputs()[0].shape
        n_cls = out_shape[1] - 4 if len(out_shape) == 3 and isinstance(out_shape[1], int) else None
        if not self.names and n_cls:
            self.names = {i: str(i) for i in range(n_cls)}
        if n_cls is not None and n_cls != len(self.names):
            raise ModelError(f"{self.model_path}: output has {n_cls} classes but metadata names {len(self.names)}")
        if str(cm.get("end2end", "False")).lower() == "true" or str(cm.get("nms", "")).lower() == "true":
            raise ModelError(f"{self.model_path}: end-to-end/NMS exports are not supported; "
                             "export with nms=False (the default)")
        self.version = f"{cm.get('version') or 'onnx'}+{self.sha256[:12]}"
        self.backend = "onnxruntime"
        self._labels = [self.names.get(i, str(i)) for i in range(max(self.names) + 1 if self.names else 0)]
        self._session = sess

    def _init_ultralytics(self) -> None:
        try:
            from ultralytics import YOLO  # type: ignore[import-not-found]
        except ImportError:
            raise ModelError(f"{self.model_path} is a PyTorch (.pt) model, which needs the optional `ultralytics` "
                             "package; install it (pip install ultralytics) or use an ONNX export "
                             "(`yolo export model=... format=onnx`, or `pva models pull`)") from None
        try:
            self._yolo = YOLO(str(self.model_path), task="detect")
        except Exception as e:
            raise ModelError(f"cannot load {self.model_path} with ultralytics: {e}") from None
        self.names = {int(k): str(v) for k, v in self._yolo.names.items()}
        self.imgsz = 640
        self._batch = None
        try:
            import ultralytics

            uver = ultralytics.__version__
        except Exception:
            uver = "ultralytics"
        self.version = f"{uver}+{self.sha256[:12]}"
        self.backend = "ultralytics"

    # ------------------------------------------------------------------ API
    def detect(self, image: ImageSource) -> list[Detection]:
        """Objects in one image, best first.  ``image``: PIL image, RGB array, bytes, path or file object.

        Raises :class:`pva.errors.BadInput` when it is not a usable image.
        """
        return self.detect_batch([image])[0]

    predict = detect

    def detect_batch(self, images: Sequence[ImageSource] | Iterable[ImageSource]) -> list[list[Detection]]:
        """Detections for each image, in order (one inference per image for a fixed-batch model)."""
        rgbs = [self._prepare(img) for img in images]
        if not rgbs:
            return []
        if self._yolo is not None:
            return [self._detect_ultralytics(rgb) for rgb in rgbs]
        out: list[list[Detection]] = []
        step = self._batch or min(len(rgbs), 8)
        for i in range(0, len(rgbs), step):
            chunk = rgbs[i:i + step]
            boxes = [letterbox(rgb, self.imgsz) for rgb in chunk]
            blob = cv2.dnn.blobFromImages([b[0] for b in boxes], scalefactor=1 / 255.0)  # NCHW float32 RGB
            if self._batch and blob.shape[0] < self._batch:  # fixed batch > 1: pad with gray
                blob = np.concatenate([blob, np.full((self._batch - blob.shape[0],) + blob.shape[1:],
                                                     PAD_VALUE / 255.0, np.float32)])
            pred = self._session.run([self._output], {self._input: blob})[0]
            for j, (rgb, (_, r, pad)) in enumerate(zip(chunk, boxes)):
                out.append(self._postprocess(pred[j], rgb.shape[1], rgb.shape[0], r, pad))
        return out

    # ------------------------------------------------------------------ internals
    def _prepare(self, image: ImageSource) -> np.ndarray:
        draft = (self.imgsz, self.imgsz)
        img = load_image(image, draft=draft)
        if img.mode != "RGB":
            try:
                img = img.convert("RGB")
            except Exception as e:
                raise BadInput(f"cannot convert image mode {img.mode} to RGB: {e}") from None
        try:
            return np.asarray(img)
        except Exception as e:  # lazy decoders may fail here on a truncated file
            raise BadInput(f"unreadable or truncated image: {e}") from None

    def _postprocess(self, pred: np.ndarray, w0: int, h0: int, r: float, pad: tuple[int, int]) -> list[Detection]:
        # pred: (4 + nc, N) -> keep the candidates above the threshold before transposing anything big
        scores_all = pred[4:]
        cls = scores_all.argmax(axis=0)
        scores = scores_all[cls, np.arange(scores_all.shape[1])]
        keep = scores > self.conf
        if not keep.any():
            return []
        cls, scores = cls[keep], scores[keep]
        cx, cy, bw, bh = pred[:4, keep]
        # to original pixel coordinates
        left = (cx - bw / 2 - pad[0]) / r
        top = (cy - bh / 2 - pad[1]) / r
        bw, bh = bw / r, bh / r
        boxes = np.stack([left, top, bw, bh], axis=1)
        idx = cv2.dnn.NMSBoxesBatched(boxes.tolist(), scores.tolist(), cls.tolist(), self.conf, self.iou)
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        if idx.size == 0:
            return []
        idx = idx[np.argsort(-scores[idx], kind="stable")][:MAX_DETECTIONS]
        return [self._make(self._labels[int(cls[i])] if int(cls[i]) < len(self._labels) else str(int(cls[i])),
                           float(scores[i]), *boxes[i], w0, h0) for i in idx]

    @staticmethod
    def _make(label: str, conf: float, x: float, y: float, bw: float, bh: float, w0: int, h0: int) -> Detection:
        x1 = min(max(x, 0.0), w0)
        y1 = min(max(y, 0.0), h0)
        x2 = min(max(x + bw, 0.0), w0)
        y2 = min(max(y + bh, 0.0), h0)
        return Detection(label, round(min(max(float(conf), 0.0), 1.0), 4), float(x1 / w0), float(y1 / h0),
                         float((x2 - x1) / w0), float((y2 - y1) / h0))

    def _detect_ultralytics(self, rgb: np.ndarray) -> list[Detection]:
        h0, w0 = rgb.shape[:2]
        res = self._yolo.predict(rgb[:, :, ::-1], conf=self.conf, iou=self.iou, imgsz=self.imgsz,
                                 verbose=False, max_det=MAX_DETECTIONS)[0]  # ultralytics expects BGR arrays
        b = res.boxes
        xyxy = b.xyxy.cpu().numpy()
        confs = b.conf.cpu().numpy()
        classes = b.cls.cpu().numpy().astype(int)
        dets = [self._make(self.names.get(int(c), str(int(c))), float(p), x1, y1, x2 - x1, y2 - y1, w0, h0)
                for (x1, y1, x2, y2), p, c in zip(xyxy, confs, classes)]
        dets.sort(key=lambda d: -d.confidence)
        return dets

    def __repr__(self) -> str:
        return (f"Detector(name={self.name!r}, version={self.version!r}, backend={self.backend!r}, "
                f"conf={self.conf}, iou={self.iou}, threads={self.threads})")


__all__ = ["Detector", "Detection", "MISSING_MODEL_MESSAGE", "letterbox", "parse_names", "file_sha256"]
