"""The ocr function end to end on real services and the default engine (RapidOCR): stored text searchable through
its tsvector, the no-text skip recorded (never silent), photos only, and the function running in the local Nuclio
runtime; tesseract still behind PVA_OCR_ENGINE=tesseract."""
from __future__ import annotations

import hashlib
import io
import time
import uuid
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from conftest import REPO
from function_helpers import post, runtime_copy

pytestmark = pytest.mark.usefixtures("services")

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LINES = ["INVOICE 2024 for Zanzibar Tours", "Total amount due 1234 euros"]


# ------------------------------------------------------------------ helpers
def add_media(owner_id, data: bytes, *, kind: str = "photo", name: str = "page.png", kinds=("ocr",)) -> uuid.UUID:
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
    fmt = {"photo": ("png", "image/png"), "video": ("mp4", "video/mp4")}[kind]
    with db.transaction() as cur:
        media_q.insert(cur, {"id": media_id, "owner_id": owner_id, "sha512": hashlib.sha512(data).digest(),
                             "kind": kind, "format": fmt[0], "mime": fmt[1], "size": len(data),
                             "storage_key": key, "original_path": name, "filename": name})
        analysis_q.insert_queued(cur, media_id, kinds)
    return media_id


def job_row(media_id, kind: str = "ocr") -> dict:
    from pva.infra import db

    return db.query_one("select * from analysis where media_id = %s and kind = %s", (media_id, kind))


def ocr_row(media_id) -> dict | None:
    from pva.infra import db
    from pva.db import ocr as ocr_q

    with db.transaction() as cur:
        return ocr_q.get(cur, media_id)


def png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def text_image(lines=LINES) -> bytes:
    if not FONT.is_file():
        pytest.skip(f"{FONT} is absent: apt-get install fonts-dejavu-core")
    font = ImageFont.truetype(str(FONT), 40)
    img = Image.new("RGB", (1200, 80 + 70 * len(lines)), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((40, 40 + 70 * i), line, font=font, fill="black")
    return png(img)


def blank_image() -> bytes:
    return png(Image.new("RGB", (800, 600), (250, 250, 250)))


@pytest.fixture(scope="module")
def task(services):
    from pva.jobs.tasks.ocr import OcrTask

    return OcrTask()


# ------------------------------------------------------------------ stored jobs
def test_text_photo_stores_words_and_text_searchable_by_tsvector(task, make_user):
    from pva.infra import db
    from pva.jobs.pipeline import run_stored

    mid = add_media(make_user()["id"], text_image())
    outcome, result = run_stored(task, mid)
    assert outcome == "done"
    row = ocr_row(mid)
    assert "Zanzibar" in row["text"] and "1234" in row["text"], row["text"]
    assert row["model"] == "rapidocr" and row["model_version"] == task.model_version
    assert "PP-OCR" in row["model_version"] and row["language"] == "multi" and row["rotation"] == 0
    words = {w["text"]: w for w in row["words"]}
    assert {"INVOICE", "Zanzibar", "Total"} <= set(words)
    z = words["Zanzibar"]
    assert 0 < z["x"] < 1 and 0 < z["y"] < 0.5 and 0 < z["w"] < 0.5 and z["conf"] > 50
    hits = db.query("select media_id from ocr where text_tsv @@ plainto_tsquery('simple', %s)", ("zanzibar tours",))
    assert [h["media_id"] for h in hits] == [mid]
    assert db.query("select 1 from ocr where media_id = %s and to_tsvector('simple', text) @@ "
                    "to_tsquery('simple', 'invoice & euros')", (mid,))
    job = job_row(mid)
    assert job["status"] == "done" and job["model"] == "rapidocr"
    assert job["result_summary"]["words"] == len(row["words"]) and "skipped_reason" not in job["result_summary"]
    assert task.to_json(result)["text"] == row["text"]


def test_rerun_replaces_the_single_ocr_row(task, make_user):
    from pva.infra import db
    from pva.jobs.pipeline import run_stored

    mid = add_media(make_user()["id"], text_image(["Second pass keeps one row"]))
    assert run_stored(task, mid)[0] == "done"
    first = ocr_row(mid)
    assert run_stored(task, mid, force=True)[0] == "done"
    assert db.query_one("select count(*) n from ocr where media_id = %s", (mid,))["n"] == 1
    second = ocr_row(mid)
    assert second["text"] == first["text"] and second["created_at"] > first["created_at"]


def test_blank_photo_records_the_skip_and_an_empty_row(task, make_user):
    from pva.ml.ocr import SKIPPED_NO_TEXT
    from pva.jobs.pipeline import run_stored

    mid = add_media(make_user()["id"], blank_image())
    assert run_stored(task, mid)[0] == "done"
    row = ocr_row(mid)
    assert row is not None and row["text"] == "" and row["words"] == []
    job = job_row(mid)
    assert job["status"] == "done"
    assert job["result_summary"]["skipped_reason"] == SKIPPED_NO_TEXT
    assert job["result_summary"]["words"] == 0


def test_bad_or_non_photo_input_fails_the_job_with_its_reason(task, make_user):
    from pva.jobs.pipeline import run_stored

    user = make_user()
    bad = add_media(user["id"], b"plain text, not a picture")
    assert run_stored(task, bad)[0] == "failed"
    job = job_row(bad)
    # the reason comes from the decoder (the original) or from making the analysis preview (issue 20)
    assert job["status"] == "failed" and job["attempts"] == 1
    assert "not an image" in job["error"] or "not a supported photo" in job["error"], job["error"]
    video = add_media(user["id"], b"video bytes", kind="video", name="clip.mp4")
    assert run_stored(task, video)[0] == "failed"
    assert "photos only" in job_row(video)["error"]
    assert ocr_row(bad) is None and ocr_row(video) is None


# ------------------------------------------------------------------ through the local runtime
@pytest.fixture(scope="module")
def ocr_runtime(services, tmp_path_factory):
    from pva.runtime import Processor, load_function

    fdir = runtime_copy(REPO / "functions" / "ocr", tmp_path_factory.mktemp("functions"))
    with Processor([load_function(fdir)], log_dir=fdir / "logs") as p:
        yield p


def test_runtime_runs_a_published_ocr_job_and_answers_posted_bytes(ocr_runtime, make_user):
    from pva import jobs

    mid = add_media(make_user()["id"], text_image())
    assert jobs.publish_jobs([(mid, "ocr")]) == 1
    deadline = time.monotonic() + 60  # seconds of CPU at most, but the machine may be shared
    while job_row(mid)["status"] not in ("done", "failed") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert job_row(mid)["status"] == "done", job_row(mid)
    assert "Zanzibar" in ocr_row(mid)["text"]

    port = ocr_runtime.http_port("pva-ocr")
    status, body = post(port, text_image(["Posted bytes are read"]), "image/png")
    assert status == 200, body
    assert body["kind"] == "ocr" and body["model"] == "rapidocr"
    assert "Posted bytes are read" in body["results"]["text"]
    assert body["results"]["skipped_reason"] is None
    status, body = post(port, blank_image(), "image/png")
    assert status == 200 and body["results"]["skipped_reason"]
    status, body = post(port, b"\xff\xd8\xff truncated", "image/jpeg")
    assert status == 422 and body["error"]


def test_tesseract_engine_is_kept_behind_the_setting(make_user, monkeypatch):
    from pva.config import reload_settings
    from pva.jobs.pipeline import run_stored
    from pva.jobs.tasks.ocr import OcrTask
    from pva.ml import ModelNotFound

    monkeypatch.setenv("PVA_OCR_ENGINE", "tesseract")
    reload_settings()
    try:
        try:
            task = OcrTask()
        except ModelNotFound as e:
            pytest.skip(str(e))
        mid = add_media(make_user()["id"], text_image())
        assert run_stored(task, mid)[0] == "done"
        row = ocr_row(mid)
        assert row["model"] == "tesseract" and row["language"] == "eng" and "Zanzibar" in row["text"]
    finally:
        monkeypatch.delenv("PVA_OCR_ENGINE")
        reload_settings()
