"""Pure model wrappers (no database, object store or bus), each a :class:`pva.ml.base.Model`:

- :mod:`pva.ml.objects`    — YOLO object detection (ONNX on onnxruntime; ultralytics optional for .pt).  Named
  "objects", not "detect", because pva.media.detect is format sniffing: one word, one meaning.
- :mod:`pva.ml.faces`      — face boxes and 128-d embeddings (dlib via face_recognition), clustering helpers
- :mod:`pva.ml.ocr`        — OCR: RapidOCR (PP-OCR on onnxruntime) by default, tesseract as a setting
- :mod:`pva.ml.transcribe` — speech to text (faster-whisper or Vosk)

This module stays light (no numpy/onnxruntime import) so the CLI starts fast.  It re-exports the errors the
wrappers raise (defined in pva.errors so pva.media can raise them too) and the image decoder they share.
"""
from __future__ import annotations

from pva.errors import AnalysisError, BadInput, ModelError, ModelNotFound
from pva.media.image import ImageSource, load_image

from .base import Model

__all__ = ["AnalysisError", "BadInput", "ModelNotFound", "ModelError", "ImageSource", "Model", "load_image"]
