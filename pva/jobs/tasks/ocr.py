"""The ocr function's Task: text with line and word boxes, photos only, read by the engine the settings name
(PVA_OCR_ENGINE: RapidOCR by default, tesseract for scanned pages).

A photo is read from its analysis preview (``Inputs.preview``, where the pipeline has one), with the original
fetched only when the engine finds small text that needs more detail than the preview holds.

When the text detector (tesseract: its pre-check) finds nothing text-like (blank page, sky), an empty row is
still stored and the job summary says why (``skipped_reason``): the job ran and found no text, never silently.
"""
from __future__ import annotations

from typing import Any

from ...db import ocr as ocr_q
from ...errors import BadInput
from ...ml.base import Model
from ...ml.ocr import OcrResult, RapidOcrEngine, create_engine
from ..pipeline import Inputs, Task


class OcrTask(Task):
    kind = "ocr"
    media_kinds = ("photo",)

    def __init__(self, engine: Model | None = None):
        self.engine = engine or create_engine()
        self.model = self.engine

    def analyze(self, inputs: Inputs, job) -> OcrResult:
        if inputs.kind not in self.media_kinds:
            raise BadInput(f"ocr applies to photos only, not to a {inputs.kind}")
        preview = getattr(inputs, "preview", None)  # the analysis preview made at ingest (issue 20)
        if preview is not None and isinstance(self.engine, RapidOcrEngine):
            # the text detector reads the preview; the original is downloaded only when small text needs a closer
            # look (never for a photo without text).  Tesseract reads the original as it always did.
            return self.engine.recognize(preview(), original=inputs.original_path)
        return self.engine.recognize(inputs.original_path())

    def analyze_bytes(self, data: bytes, content_type: str) -> OcrResult:
        return self.engine.recognize(data)

    def to_json(self, results: OcrResult) -> dict:
        return results.as_dict()

    def summary(self, results: OcrResult) -> dict[str, Any]:
        out: dict[str, Any] = {"lines": len(results.lines), "words": len(results.words), "chars": len(results.text),
                               "rotation": results.rotation, "language": results.language}
        if results.skipped_reason:
            out["skipped_reason"] = results.skipped_reason
        return out

    def store(self, cur, media: dict, results: OcrResult) -> None:
        ocr_q.upsert(cur, media["id"], text=results.text, words=results.words, language=results.language,
                     rotation=results.rotation, model=self.model_name, model_version=self.model_version)


__all__ = ["OcrTask"]
