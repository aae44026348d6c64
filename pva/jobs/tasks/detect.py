"""The detect function's Task: YOLO objects in photos and in the keyframes ingest stored for videos.

    task = DetectTask()                          # loads the model once (settings.effective_detect_model)
    outcome, results = pipeline.run_stored(task, media_id)

Results are a :class:`DetectResults`; stored rows replace the media's previous detections in the job-finishing
transaction, tagged with the model name and version (``video_time`` = keyframe second for videos, null for photos).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from ...db import detections as detections_q
from ...ml.objects import Detection, Detector
from ..pipeline import Inputs, Task

NO_KEYFRAMES = "video has no keyframes (ingest could not decode a frame); re-ingest the file to retry"


@dataclass
class DetectResults:
    items: list[tuple[float | None, Detection]] = field(default_factory=list)  # (video_time, detection)
    frames: int = 1
    skipped_reason: str | None = None

    def rows(self) -> list[dict]:
        return [{**d.as_dict(), "video_time": t} for t, d in self.items]


class DetectTask(Task):
    kind = "detect"
    media_kinds = ("photo", "video")

    def __init__(self, detector: Detector | None = None):
        self.detector = detector or Detector()
        self.model = self.detector

    # ------------------------------------------------------------------ analyse
    def analyze(self, inputs: Inputs, job) -> DetectResults:
        if inputs.kind == "photo":
            # the analysis preview, decoded at reduced size; the model letterboxes it to its input size
            img = inputs.preview(at_least=getattr(self.detector, "imgsz", None) or None)
            return DetectResults([(None, d) for d in self.detector.detect(img)])
        frames = inputs.images()
        if not frames:
            return DetectResults([], 0, NO_KEYFRAMES)
        items: list[tuple[float | None, Detection]] = []
        for i, (t, img) in enumerate(frames):
            items += [(t, d) for d in self.detector.detect(img)]
            if job is not None:
                job.progress((i + 1) / len(frames))
        return DetectResults(items, len(frames))

    def analyze_bytes(self, data: bytes, content_type: str) -> DetectResults:
        return DetectResults([(None, d) for d in self.detector.detect(data)])

    # ------------------------------------------------------------------ results
    def to_json(self, results: DetectResults) -> list[dict]:
        return results.rows()

    def summary(self, results: DetectResults) -> dict[str, Any]:
        labels = Counter(d.label for _, d in results.items)
        out: dict[str, Any] = {"count": len(results.items), "labels": dict(sorted(labels.items()))}
        if results.frames != 1:
            out["frames"] = results.frames
        if results.skipped_reason:
            out["skipped_reason"] = results.skipped_reason
        return out

    def store(self, cur, media: dict, results: DetectResults) -> None:
        detections_q.replace(cur, media["id"], results.rows(), self.model_name, self.model_version)


__all__ = ["DetectTask", "DetectResults", "NO_KEYFRAMES"]
