"""The detect function end to end on real services: stored jobs (photos, video keyframes), idempotent reruns,
bad input failing the job with its reason, and the function running in the local Nuclio runtime."""
from __future__ import annotations

import hashlib
import io
import json
import struct
import time
import uuid
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from conftest import REPO, shared_path
from function_helpers import post, runtime_copy

pytestmark = pytest.mark.usefixtures("services")


# ------------------------------------------------------------------ helpers
def add_media(owner_id, data: bytes, *, kind: str = "photo", name: str = "photo.jpg", metadata: dict | None = None,
              kinds=("detect",)) -> uuid.UUID:
    """Store ``data`` as an original and record the media row with queued analysis rows (what ingest does)."""
    from pva.infra import db
    from pva.config import get_settings
    from pva.db import analysis as analysis_q
    from pva.db import media as media_q
    from pva.infra.storage import get_storage

    s = get_settings()
    media_id = uuid.uuid4()
    key = f"test/{media_id}/{name}"
    get_storage().put(s.bucket_originals, key, data, length=len(data))
    fmt = {"photo": ("jpeg", "image/jpeg"), "video": ("mp4", "video/mp4")}[kind]
    with db.transaction() as cur:
        media_q.insert(cur, {"id": media_id, "owner_id": owner_id, "sha512": hashlib.sha512(data).digest(),
                             "kind": kind, "format": fmt[0], "mime": fmt[1], "size": len(data),
                             "storage_key": key, "original_path": name, "filename": name,
                             "metadata": metadata or {}})
        analysis_q.insert_queued(cur, media_id, kinds)
    return media_id


def job_row(media_id, kind: str = "detect") -> dict:
    from pva.infra import db

    return db.query_one("select * from analysis where media_id = %s and kind = %s", (media_id, kind))


def stored(media_id) -> list[dict]:
    from pva.infra import db
    from pva.db import detections as detections_q

    with db.transaction() as cur:
        return detections_q.for_media(cur, media_id)


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def huge_png_header(w: int = 30000, h: int = 30000) -> bytes:
    """A PNG that claims w x h pixels (900 Mpx) in a few bytes: must be refused before decoding."""
    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))


def scene_jpeg() -> bytes:
    """A generated image (no people or buses): something valid that needs no fixture."""
    img = Image.new("RGB", (320, 240), (90, 140, 200))
    ImageDraw.Draw(img).rectangle((40, 60, 200, 180), fill=(230, 200, 40))
    return jpeg(img)


@pytest.fixture(scope="module")
def model_path() -> Path:
    return shared_path("models", "yolov8n_int8.onnx")


@pytest.fixture(scope="module")
def bus_bytes() -> bytes:
    return shared_path("fixtures", "detect", "bus.jpg").read_bytes()


@pytest.fixture(scope="module")
def task(services, model_path):
    from pva.ml.objects import Detector
    from pva.jobs.tasks.detect import DetectTask

    return DetectTask(Detector(model_path))


def assert_bus_scene(rows: list[dict]) -> None:
    persons = [r for r in rows if r["label"] == "person"]
    buses = [r for r in rows if r["label"] == "bus"]
    assert len(persons) >= 3, rows
    assert any(b["confidence"] > 0.5 for b in buses), rows
    for r in rows:
        assert 0 <= r["x"] <= 1 and 0 <= r["y"] <= 1 and 0 < r["w"] <= 1 and 0 < r["h"] <= 1, r
        assert r["x"] + r["w"] <= 1.0001 and r["y"] + r["h"] <= 1.0001, r


# ------------------------------------------------------------------ stored jobs
def test_stored_photo_job_stores_labelled_boxes_with_model_and_summary(task, make_user, bus_bytes):
    from pva.jobs.pipeline import run_stored

    mid = add_media(make_user()["id"], bus_bytes, name="bus.jpg")
    outcome, results = run_stored(task, mid)
    assert outcome == "done"
    rows = stored(mid)
    assert_bus_scene(rows)
    assert {(r["model"], r["model_version"]) for r in rows} == {(task.model_name, task.model_version)}
    assert task.model_name == "yolov8n_int8" and task.model_version
    assert all(r["video_time"] is None for r in rows)
    job = job_row(mid)
    assert job["status"] == "done" and job["error"] is None and job["attempts"] == 1
    assert job["model"] == task.model_name and job["model_version"] == task.model_version
    summary = job["result_summary"]
    assert summary["count"] == len(rows)
    assert summary["labels"]["person"] == sum(r["label"] == "person" for r in rows)
    assert sum(summary["labels"].values()) == len(rows)
    out = task.to_json(results)
    assert [d["confidence"] for d in out] == sorted((d["confidence"] for d in out), reverse=True)
    key = lambda r: (r["label"], round(r["confidence"], 3), round(r["x"], 4), round(r["w"], 4))  # noqa: E731
    assert sorted(map(key, out)) == sorted(map(key, rows))
    assert all(d["video_time"] is None for d in out)


def test_rerunning_a_job_replaces_its_detections(task, make_user, bus_bytes):
    from pva.jobs.pipeline import run_stored

    mid = add_media(make_user()["id"], bus_bytes, name="bus.jpg")
    assert run_stored(task, mid)[0] == "done"
    first = stored(mid)
    assert run_stored(task, mid)[0] == "skipped"  # a duplicate wake-up for a finished job does nothing
    assert run_stored(task, mid, force=True)[0] == "done"
    second = stored(mid)
    assert len(second) == len(first) > 0
    assert not {r["id"] for r in first} & {r["id"] for r in second}  # the old set is gone, not added to
    key = lambda r: (r["label"], round(r["confidence"], 3), round(r["x"], 3), round(r["y"], 3))  # noqa: E731
    assert sorted(map(key, first)) == sorted(map(key, second))
    assert job_row(mid)["attempts"] == 2


@pytest.mark.parametrize("data, reason", [
    (b"these bytes are not a picture at all", "not an image"),
    (None, "truncated"),
    (huge_png_header(), "too large"),
], ids=["not-an-image", "truncated", "huge"])
def test_bad_input_fails_the_job_at_once_with_its_reason_and_the_next_job_works(task, make_user, data, reason):
    from pva.jobs.pipeline import run_stored

    if data is None:  # a real JPEG cut in the middle of its scan data
        whole = jpeg(Image.effect_noise((640, 480), 60).convert("RGB"))
        data = whole[: len(whole) // 2]
    user = make_user()
    bad = add_media(user["id"], data, name="broken.jpg")
    outcome, results = run_stored(task, bad)
    assert outcome == "failed" and results is None
    job = job_row(bad)
    assert job["status"] == "failed" and job["attempts"] == 1  # permanent: no pointless retries
    assert reason in job["error"], job["error"]
    assert stored(bad) == []

    good = add_media(user["id"], scene_jpeg(), name="scene.jpg")
    assert run_stored(task, good)[0] == "done"
    assert job_row(good)["status"] == "done"


def test_video_detections_come_from_the_stored_keyframes_with_their_times(task, make_user, bus_bytes):
    from pva.jobs.pipeline import run_stored
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    s = get_settings()
    mid = uuid.uuid4()
    frames = {1.5: jpeg(Image.open(io.BytesIO(bus_bytes))), 4.0: scene_jpeg()}
    keyframes = []
    for i, (t, data) in enumerate(frames.items()):
        key = f"test/{mid}/keyframes/{i:03d}.jpg"
        get_storage().put(s.bucket_thumbs, key, data, length=len(data), content_type="image/jpeg")
        keyframes.append({"t": t, "key": key})
    mid = add_media(make_user()["id"], b"not decoded: videos are analysed through their keyframes",
                    kind="video", name="clip.mp4", metadata={"keyframes": keyframes})
    assert run_stored(task, mid)[0] == "done"
    rows = stored(mid)
    assert_bus_scene(rows)
    assert {r["video_time"] for r in rows} == {1.5}  # nothing detectable in the 4.0 s frame
    summary = job_row(mid)["result_summary"]
    assert summary["frames"] == 2 and summary["count"] == len(rows)


def test_video_without_keyframes_records_why_nothing_was_found(task, make_user):
    from pva.jobs.pipeline import run_stored
    from pva.jobs.tasks.detect import NO_KEYFRAMES

    mid = add_media(make_user()["id"], b"undecodable video", kind="video", name="broken.mp4",
                    metadata={"keyframes": []})
    assert run_stored(task, mid)[0] == "done"
    assert stored(mid) == []
    assert job_row(mid)["result_summary"] == {"count": 0, "labels": {}, "frames": 0, "skipped_reason": NO_KEYFRAMES}


# ------------------------------------------------------------------ through the local runtime
def wait_for_job(media_id, kind: str, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = job_row(media_id, kind)
        if row["status"] in ("done", "failed") or time.monotonic() > deadline:
            return row
        time.sleep(0.1)


@pytest.fixture(scope="module")
def detect_runtime(services, model_path, tmp_path_factory):
    from pva.runtime import Processor, load_function

    fdir = runtime_copy(REPO / "functions" / "detect", tmp_path_factory.mktemp("functions"))
    with Processor([load_function(fdir)], log_dir=fdir / "logs") as p:
        yield p


def test_runtime_runs_published_detect_jobs_to_done(detect_runtime, make_user, bus_bytes):
    from pva import jobs

    user = make_user()
    good = add_media(user["id"], bus_bytes, name="bus.jpg")
    bad = add_media(user["id"], b"GIF89a but nothing after", name="bad.gif")
    assert jobs.publish_jobs([(bad, "detect"), (good, "detect")]) == 2
    assert wait_for_job(good, "detect")["status"] == "done"
    assert_bus_scene(stored(good))
    failed = wait_for_job(bad, "detect")
    assert failed["status"] == "failed" and failed["error"], failed
    assert detect_runtime.worker_pids("pva-detect", "queue")  # the worker lived on


def test_runtime_http_answers_json_for_posted_bytes_and_stored_media(detect_runtime, make_user, bus_bytes):
    port = detect_runtime.http_port("pva-detect")
    status, body = post(port, bus_bytes, "image/jpeg")
    assert status == 200, body
    assert body["kind"] == "detect" and body["model"] == "yolov8n_int8"
    assert_bus_scene(body["results"])

    status, body = post(port, b"\x00\x01 not an image", "application/octet-stream")
    assert status == 422 and "not an image" in body["error"]

    owner = make_user()
    mid = add_media(owner["id"], bus_bytes, name="bus.jpg")
    status, body = post(port, json.dumps({"media_id": str(mid)}).encode(), "application/json",
                        owner=owner["username"])
    assert status == 200 and body["outcome"] == "done", body
    assert len(body["results"]) == len(stored(mid)) >= 4
    status, body = post(port, json.dumps({"media_id": str(uuid.uuid4())}).encode(), "application/json",
                        owner=owner["username"])
    assert status == 404


# ------------------------------------------------------------------ media as ingest stores it
def test_ingested_video_and_heic_photo_are_analysed(task, make_user, tmp_path):
    import shutil
    import subprocess

    from pva.jobs.pipeline import run_stored
    from pva.services.ingest import Ingestor

    if not shutil.which("ffmpeg"):
        pytest.skip("ffmpeg is absent: apt-get install ffmpeg")
    bus = shared_path("fixtures", "detect", "bus.jpg")
    heic = shared_path("fixtures", "exif-samples", "heic", "IMG_5195.HEIC")
    video = tmp_path / "bus.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-loop", "1", "-i", str(bus), "-t", "2", "-r", "5",
                    "-vf", "scale=540:720", "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast",
                    str(video)], check=True, timeout=60)
    user = make_user()
    ing = Ingestor(publish=False)
    for path in (video, heic):
        r = ing.ingest_file(path, user, path.name)
        assert r.status == "added", r
        assert run_stored(task, r.media_id)[0] == "done", job_row(r.media_id)
        rows = stored(r.media_id)
        if r.kind == "video":
            assert_bus_scene([x for x in rows if x["video_time"] == rows[0]["video_time"]])
            assert all(x["video_time"] is not None and 0 <= x["video_time"] <= 2 for x in rows)
            assert job_row(r.media_id)["result_summary"]["frames"] >= 1
        else:
            assert all(x["video_time"] is None for x in rows)
            assert job_row(r.media_id)["result_summary"]["count"] == len(rows)
