"""One Task per analysis kind (pva.jobs.pipeline.Task): which model runs, on what, and how its results are stored.

- :mod:`pva.jobs.tasks.detect`     — YOLO objects (pva.ml.objects) in photos and video keyframes
- :mod:`pva.jobs.tasks.faces`      — faces and people (pva.ml.faces, pva.services.people_match)
- :mod:`pva.jobs.tasks.ocr`        — text in photos (pva.ml.ocr)
- :mod:`pva.jobs.tasks.transcribe` — speech in videos (pva.ml.transcribe)

To add an analysis: a wrapper in pva/ml, a Task here, a functions/<kind>/handler.py that calls pipeline.handle.
"""
