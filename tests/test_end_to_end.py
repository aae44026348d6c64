"""The whole pipeline on real services: `pva load` a folder, the functions (run by the local Nuclio-compatible
runtime from the same function.yaml files) analyse everything, and every analysis ends done exactly once."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

import media_fixtures as mf
from conftest import REPO, SHARED
from function_helpers import runtime_copy

pytestmark = [pytest.mark.usefixtures("services"), pytest.mark.slow]

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def _text_photo(path: Path) -> Path:
    img = Image.new("RGB", (900, 300), "white")
    d = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 48) if os.path.exists(FONT) else ImageFont.load_default()
    d.text((30, 40), "HARBOUR MARKET", fill="black", font=font)
    d.text((30, 150), "open daily 0800", fill="black", font=font)
    img.save(path, "JPEG", quality=92)
    return path


def _speech_video(path: Path) -> Path | None:
    if not (shutil.which("espeak-ng") and shutil.which("ffmpeg")):
        return None
    wav = path.parent.parent.parent / "speech.wav"  # outside the load folder
    subprocess.run(["espeak-ng", "-s", "150", "-w", str(wav), "the quick brown fox jumps over the lazy dog"],
                   check=True, capture_output=True)
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "testsrc=size=160x120:rate=10", "-i", str(wav), "-shortest", "-c:v", "libx264",
                    "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)], check=True, capture_output=True)
    return path


@pytest.fixture(scope="module")
def runtime(services, tmp_path_factory):
    """All functions of the repository, served by `pva functions serve` with free HTTP ports."""
    from pva.config import get_settings
    from pva.runtime import ServeProcess

    if get_settings().effective_detect_model is None:
        pytest.skip("no YOLO model here (../shared/models is absent and none was pulled with `pva models pull`): "
                    "functions/detect cannot start, so a folder cannot be fully analysed")

    fdir = tmp_path_factory.mktemp("functions")
    for src in sorted((REPO / "functions").iterdir()):
        if (src / "function.yaml").exists():  # the session's own vhost: queue names as they are
            runtime_copy(src, fdir, workers=None, queue_suffix="", cron="2s")
    env = dict(os.environ, PVA_REQUEUE_AFTER_SECONDS="5")
    # seven functions (13 workers) load their models at once: on a busy 2-core machine that takes over a minute
    with ServeProcess(fdir, [], env=env, log_dir=fdir / "logs", ready_timeout=180) as proc:
        yield proc


def test_loaded_folder_is_fully_analysed_once(runtime, make_user, tmp_path):
    from pva.infra import db

    owner = make_user(f"e2e-{secrets.token_hex(3)}")
    load = tmp_path / "load"
    (load / "trip").mkdir(parents=True)
    _text_photo(load / "trip" / "sign.jpg")
    mf.make_jpeg(load / "trip" / "gps.jpg", make="E2E", gps=(51.5, -0.12, 10.0))
    bus = SHARED / "fixtures" / "detect" / "bus.jpg"
    if bus.exists():
        shutil.copy(bus, load / "trip" / "bus.jpg")
    video = _speech_video(load / "trip" / "speech.mp4")
    expected = len(list(load.rglob("*.*")))
    r = subprocess.run([sys.executable, "-m", "pva.cli", "load", str(load), "--owner", owner["username"],
                        "--no-progress"], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert r.returncode == 0, r.stdout + r.stderr
    rows = db.query("select id, filename, kind from media where owner_id = %s", (owner["id"],))
    assert len(rows) == expected
    ids = [r["id"] for r in rows]

    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        pending = db.query("select kind, status, error from analysis where media_id = any(%s::uuid[]) "
                           "and status not in ('done', 'failed')", ([str(i) for i in ids],))
        if not pending:
            break
        time.sleep(0.5)
    jobs = db.query("select m.filename, a.kind, a.status, a.error, a.attempts from analysis a "
                    "join media m on m.id = a.media_id where a.media_id = any(%s::uuid[])", ([str(i) for i in ids],))
    assert all(j["status"] == "done" for j in jobs), [j for j in jobs if j["status"] != "done"]
    videos = sum(r["kind"] == "video" for r in rows)
    assert len(jobs) == 3 * expected + videos  # photos: detect faces ocr; videos: transcribe detect faces transcode

    by_name = {r["filename"]: r["id"] for r in rows}
    ocr = db.query_one("select text from ocr where media_id = %s", (by_name["sign.jpg"],))
    assert "HARBOUR" in ocr["text"].upper() and "MARKET" in ocr["text"].upper()
    hit = db.query("select media_id from ocr where text_tsv @@ plainto_tsquery('simple', 'harbour') "
                   "and media_id = any(%s::uuid[])", ([str(i) for i in ids],))
    assert len(hit) == 1
    if bus.exists():
        labels = [d["label"] for d in db.query("select label from detections where media_id = %s and "
                                                "confidence > 0.5", (by_name["bus.jpg"],))]
        assert labels.count("person") >= 3 and "bus" in labels
    if video:
        t = db.query_one("select text, segments, engine from transcripts where media_id = %s",
                         (by_name["speech.mp4"],))
        assert "fox" in t["text"].lower() and t["segments"]
    # exactly one set of results per (media, kind): no duplicates from redeliveries or reconcile
    dup = db.query("select media_id, count(*) from ocr where media_id = any(%s::uuid[]) group by 1 "
                   "having count(*) > 1", ([str(i) for i in ids],))
    assert dup == []
