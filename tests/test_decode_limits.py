"""One pixel limit for every entry point, read from the header before any decode (issue 16, finding 5).

The header probe (pva.media.limits) against Pillow for every photo format; the same photo refused with the same
reason, or accepted, by upload, the ingest core, the analysis functions (posted bytes and stored media) and
faces/similar; Pillow's process-wide guard never refusing what the setting allows; the 14000 x 14000 JPEG bomb of
the issue decoded at the face detector's scale in bounded memory, a few at a time."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from PIL import Image

import hostile_corpus as hc

REPO = Path(__file__).resolve().parent.parent


def _encode(fmt: str, size=(320, 120), **kw) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.fixture
def limit_env(monkeypatch):
    """Set PVA_MAX_IMAGE_PIXELS for one test; settings reloaded before and after."""
    from pva.config import reload_settings

    def apply(value: int):
        monkeypatch.setenv("PVA_MAX_IMAGE_PIXELS", str(value))
        return reload_settings()

    yield apply
    monkeypatch.undo()
    reload_settings()


# ---------------------------------------------------------------- the header probe
@pytest.mark.parametrize("fmt,kw", [
    ("JPEG", {}), ("JPEG", {"progressive": True}), ("PNG", {}), ("GIF", {}), ("WEBP", {}),
    ("WEBP", {"lossless": True}), ("WEBP", {"exif": b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"}),
    ("TIFF", {}), ("TIFF", {"compression": "tiff_lzw", "big_tiff": True}), ("HEIF", {}), ("AVIF", {}),
], ids=lambda v: v if isinstance(v, str) else "-".join(map(str, v)) or "plain")
def test_header_probe_reads_the_size_pillow_reads_for_every_photo_format(fmt, kw):
    from pva.media import image_size

    try:
        data = _encode(fmt, **kw)
    except (KeyError, OSError, TypeError) as e:  # an encoder this Pillow build lacks
        pytest.skip(f"cannot write {fmt} {kw}: {e}")
    assert image_size(data) == Image.open(io.BytesIO(data)).size == (320, 120)


def test_header_probe_finds_the_bomb_in_every_format_without_decoding_it():
    from pva.media import ImageTooLargeError, check_image_header

    bombs = {c.id: c.data for c in hc.content_cases("probe")
             if c.id in ("png-huge-dimensions", "png-deflate-bomb", "gif-huge-screen", "jpeg-huge-sof", "tiff-huge",
                         "webp-huge-canvas", "heif-huge-ispe")}
    assert len(bombs) == 7
    for cid, data in bombs.items():
        with pytest.raises(ImageTooLargeError, match=r"megapixels, over the limit of 200\.0 megapixels"):
            check_image_header(data)
    # a file object keeps its position: the caller reads on from where it was
    f = io.BytesIO(bombs["tiff-huge"])
    f.seek(5)
    with pytest.raises(ImageTooLargeError):
        check_image_header(f)
    assert f.tell() == 5


# ---------------------------------------------------------------- one limit everywhere
class _SizeTask:
    """The pipeline's decode paths (pva.media.image.load_image for posted bytes and stored media), no model: what
    is tested is which photos reach analysis."""

    def __new__(cls, kind: str = "detect"):
        from pva.jobs.pipeline import Task
        from pva.media.image import load_image

        class SizeTask(Task):
            def analyze(self, inputs, job):  # stored media, decoded as the real tasks do
                return [img.size for _, img in inputs.images(max_side=4096)]

            def analyze_bytes(self, data, content_type):  # posted bytes: one image, decoded whole
                return [load_image(data, rgb=True).size]

        task = SizeTask()
        task.kind = kind
        return task


class _RecordingEngine:
    """A face engine that records the image it was handed and finds no face (the decode is what is tested)."""
    detect_max_side = 1600

    def __init__(self):
        self.seen: list[tuple[int, int]] = []

    def detect(self, image):
        self.seen.append(image.size)
        return []


def _entry_points(tmp_path, owner, data: bytes, name: str) -> dict[str, str | None]:
    """{entry point: the reason it refused the photo, or None when it took it}."""
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from pva import media
    from pva.services import people_similar
    from pva.ml import BadInput, load_image
    from pva.services.ingest import get_ingestor
    from test_gateway_helpers import token_for

    out: dict[str, str | None] = {}
    ing = get_ingestor()
    res = ing.ingest_stream(io.BytesIO(data), owner, name, source="http", relative_path=f"stream/{name}")
    out["Ingestor.ingest_stream"] = res.reason if res.status == "rejected" else None
    path = tmp_path / name
    path.write_bytes(data)
    res = ing.ingest_file(path, owner, f"load/{name}", source="load")
    out["Ingestor.ingest_file (pva load)"] = res.reason if res.status == "rejected" else None
    for label, call in [("analysis load_image", lambda: load_image(data)),
                        ("analysis posted bytes", lambda: _SizeTask().analyze_bytes(data, "image/jpeg")),
                        ("analysis stored media", lambda: load_image(path, max_side=4096, rgb=True)),
                        ("people_similar.similar_to_image",
                         lambda: people_similar.similar_to_image(owner["id"], data, engine=_RecordingEngine()))]:
        try:
            call()
            out[label] = None
        except BadInput as e:
            out[label] = None if str(e).startswith("no face found") else str(e)
    try:
        media.extract_photo(path)
        out["media.extract_photo"] = None
    except media.MediaError as e:
        out["media.extract_photo"] = str(e)
    client = TestClient(create_app(), raise_server_exceptions=False)
    client.headers["Authorization"] = f"Bearer {token_for(owner)}"
    r = client.post("/api/v1/media/upload", files=[("files", (f"up-{name}", data, "image/png"))])
    res = r.json()["results"][0]
    out["POST /media/upload"] = res["reason"] if res["status"] == "rejected" else None
    return out


def test_the_same_photo_is_refused_with_the_same_reason_or_taken_at_every_entry_point(tmp_path, services, limit_env):
    """Before: ingest allowed 200 MP, analysis 178.96 MP (Pillow's default) and faces/similar 400 MP, so a photo
    could be stored and then fail every analysis forever."""
    from test_gateway_helpers import new_user

    limit_env(1_000_000)
    owner = new_user(f"limits-{uuid.uuid4().hex[:6]}")
    over = _entry_points(tmp_path, owner, hc.photo("over", (1001, 1000), "PNG"), "over.png")
    reasons = set(over.values())
    assert len(reasons) == 1 and None not in reasons, json.dumps(over, indent=1)
    assert reasons.pop().startswith("image is too large: 1001x1000 = 1.0 megapixels, over the limit of 1.0 megapixels")
    at = _entry_points(tmp_path, owner, hc.photo("at", (1000, 1000), "PNG"), "at.png")
    assert set(at.values()) == {None}, json.dumps(at, indent=1)


def test_stored_media_over_a_lowered_limit_fails_its_job_with_the_reason(tmp_path, services, limit_env):
    """A photo stored under a larger limit: its analysis fails at once with the reason (no retries, no decode)."""
    from pva.infra import db
    from pva.jobs.pipeline import run_stored
    from pva.db import analysis as analysis_q
    from pva.services.ingest import get_ingestor
    from test_gateway_helpers import new_user

    owner = new_user(f"lowered-{uuid.uuid4().hex[:6]}")
    path = tmp_path / "big.png"
    path.write_bytes(hc.photo("lowered", (1200, 1000), "PNG"))
    res = get_ingestor().ingest_file(path, owner, "big.png")
    assert res.status == "added", res
    limit_env(1_000_000)
    outcome, results = run_stored(_SizeTask("detect"), uuid.UUID(res.media_id), force=True)
    with db.transaction() as cur:
        row = analysis_q.get(cur, uuid.UUID(res.media_id), "detect")
    assert outcome != "done" and results is None
    assert row["status"] == "failed" and "1200x1000 = 1.2 megapixels, over the limit" in row["error"], row


def test_pillow_default_guard_never_refuses_a_photo_the_setting_allows(monkeypatch):
    """The 196 MP bomb is under the 200 MP default: every entry point takes it (at reduced scale), where Pillow's
    own default guard (178.96 MP) used to refuse it in the analysis functions only."""
    from pva.ml import load_image

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 89_478_485)  # Pillow's default: errors above 178.96 MP
    img = load_image(hc.jpeg_bomb("guard"), draft=(1600, 1600))
    assert img.size == (1750, 1750)  # 14000 / 8: DCT scaling, ~9 MB instead of ~600 MB


# ---------------------------------------------------------------- faces/similar: memory and concurrency
_BOMB_RUN = r"""
import io, json, sys, threading, time
sys.path.insert(0, "tests")
from fastapi.testclient import TestClient
import hostile_corpus as hc
from gateway.app import create_app

def status():
    d = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "VmHWM")):
            k, v = line.split(":")
            d[k] = int(v.split()[0]) // 1024
    return d

client = TestClient(create_app(), raise_server_exceptions=False)
client.headers["Authorization"] = "Bearer " + sys.argv[1]
warm = client.post("/api/v1/faces/similar", content=hc.photo("warm", (64, 64)), headers={"Content-Type": "image/jpeg"})
open("/proc/self/clear_refs", "w").write("5")  # peak RSS from here on
before, answers, t0 = status(), [], time.perf_counter()

def one(i):
    r = client.post("/api/v1/faces/similar", content=hc.jpeg_bomb(f"bomb{i}"), headers={"Content-Type": "image/jpeg"})
    answers.append((r.status_code, r.json().get("message", "")))

threads = [threading.Thread(target=one, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"warm": warm.status_code, "before": before, "after": status(), "answers": answers,
                  "seconds": round(time.perf_counter() - t0, 2)}))
"""


def test_four_jpeg_bombs_at_once_to_faces_similar_stay_in_bounded_memory(services):
    """Issue 16: one 14000 x 14000 bomb grew a gateway worker from 328 MB to 1.8 GB in 18 s, four reached
    4.9 GB.  Measured here in a fresh process (its own peak RSS): four at once now add well under 500 MB."""
    from test_gateway_helpers import new_user, token_for

    token = token_for(new_user(f"bombs-{uuid.uuid4().hex[:6]}"))
    proc = subprocess.run([sys.executable, "-c", _BOMB_RUN, token], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    if m["warm"] == 503:
        pytest.skip("face recognition is not installed here")
    assert [a[0] for a in m["answers"]] == [400] * 4, m
    assert all(a[1].startswith("no face found") for a in m["answers"]), m
    growth = m["after"]["VmHWM"] - m["before"]["VmRSS"]
    assert growth < 500, f"peak RSS grew by {growth} MB for four bombs: {m}"
    assert m["seconds"] < 60, m
    print(f"four 14000x14000 JPEG bombs at once: +{growth} MB peak RSS, {m['seconds']} s")


def test_faces_similar_answers_503_with_retry_after_while_every_decode_slot_stays_taken(services, monkeypatch):
    from gateway.app import create_app
    from pva.services import people_similar
    from test_gateway_helpers import client_for, new_user

    client = client_for(create_app(), new_user(f"slots-{uuid.uuid4().hex[:6]}"))
    monkeypatch.setattr(people_similar, "QUERY_WAIT_SECONDS", 0.2)
    held = 0
    try:
        while people_similar._query_slots.acquire(blocking=False):
            held += 1
        assert held == people_similar.QUERY_DECODE_SLOTS
        r = client.post("/api/v1/faces/similar", content=hc.photo("busy", (64, 64)),
                        headers={"Content-Type": "image/jpeg"})
    finally:
        for _ in range(held):
            people_similar._query_slots.release()
    assert r.status_code == 503 and r.headers.get("retry-after") == "5", r.text
    assert "busy" in r.json()["message"]


class _EndlessJunk(io.RawIOBase):
    """A client that would send junk forever: counts what the server read."""

    def __init__(self, first: bytes = b""):
        self.first, self.read_bytes = first, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = len(b)
        chunk = (self.first[self.read_bytes:] + b"\x5a" * n)[:n]
        b[:n] = chunk
        self.read_bytes += n
        return n


@pytest.mark.parametrize("first,reason", [
    (b"", "not a supported photo or video format (looks like a text file)"),
    (hc.png(100_000, 100_000, b""), "image is too large: 100000x100000"),
], ids=["junk", "png-bomb-header"])
def test_a_stream_is_refused_from_its_first_64_kb_without_reading_the_rest(services, first, reason):
    """The ingest trigger's stream path: a file whose head already says no is not received in full."""
    from pva.services.ingest import get_ingestor
    from pva.media import HEAD_BYTES
    from test_gateway_helpers import new_user

    stream = _EndlessJunk(first)
    res = get_ingestor().ingest_stream(io.BufferedReader(stream, 1 << 16), new_user(f"s-{uuid.uuid4().hex[:6]}"),
                                       "endless.jpg", source="http")
    assert res.status == "rejected" and res.reason.startswith(reason), res
    assert stream.read_bytes <= 2 * HEAD_BYTES
