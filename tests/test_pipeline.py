"""The analysis pipeline's own rules (pva.jobs.pipeline), without models or services: the stack is replaced by
stand-ins for the job claim and the media row.  Each function's tests (test_<kind>_function.py) run it for real."""
from __future__ import annotations

import uuid

import pytest

from pva.errors import BadInput
from pva.jobs import pipeline


def _task(cls):
    return object.__new__(cls)  # the wording needs no model: skip __init__, which loads one


def test_the_reason_for_media_a_task_does_not_analyse_is_the_one_each_task_recorded():
    from pva.jobs.tasks.detect import DetectTask
    from pva.jobs.tasks.faces import FacesTask
    from pva.jobs.tasks.transcribe import TranscribeTask

    class PhotosOnly(pipeline.Task):  # as OCR is (its task keeps its own check too)
        kind = "ocr"
        media_kinds = ("photo",)

    assert _task(DetectTask).not_applicable("audio") == "detect does not apply to a audio"
    assert _task(FacesTask).not_applicable("audio") == "faces does not apply to a audio"
    assert PhotosOnly().not_applicable("video") == "ocr applies to photos only, not to a video"
    assert _task(TranscribeTask).not_applicable("photo") == "transcribe applies to videos only, not to a photo"


class _Job:
    def __init__(self, media_id):
        self.media_id = media_id


class _VideoOnly(pipeline.Task):
    kind = "transcribe"
    media_kinds = ("video",)

    def __init__(self):
        self.analysed = []

    def analyze(self, inputs, job):
        self.analysed.append(inputs.media["id"])
        return "results"


@pytest.fixture
def stand_ins(monkeypatch):
    """run_stored over one media row of the given kind; returns what work(job) raised."""
    raised = []

    def run(media_id, kind, work, force=False):
        try:
            work(_Job(media_id))
        except Exception as e:  # what jobs.run would record as the job's error
            raised.append(e)
            return "failed"
        return "done"

    def use(media_kind):
        monkeypatch.setattr(pipeline, "_load_media", lambda media_id, owner_id=None: {"id": media_id,
                                                                                     "kind": media_kind})
        monkeypatch.setattr(pipeline.jobs, "run", run)
        return raised

    return use


def test_run_stored_fails_media_of_another_kind_before_the_task_sees_it(stand_ins):
    raised = stand_ins("photo")
    task = _VideoOnly()
    outcome, results = pipeline.run_stored(task, uuid.uuid4())
    assert (outcome, results) == ("failed", None) and task.analysed == []
    assert isinstance(raised[0], BadInput)  # permanent: the job fails at once, no retries
    assert str(raised[0]) == "transcribe applies to videos only, not to a photo"
