"""Ingest on real Postgres, RabbitMQ and S3: every entry point, dedupe, bytes kept, bad input rejected cleanly."""
from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.parse
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import pika
import pytest

import media_fixtures as mf
from conftest import shared_path
from function_helpers import signed_headers

pytestmark = pytest.mark.usefixtures("services")


def sha512(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


@pytest.fixture
def owner(make_user):
    return make_user(f"ingest-{secrets.token_hex(3)}")


@pytest.fixture
def ingestor(services):
    from pva.services.ingest import Ingestor

    return Ingestor()


def media_row(media_id):
    from pva.infra import db

    return db.query_one("select * from media where id = %s", (media_id,))


def stored_bytes(bucket: str, key: str) -> bytes:
    from pva.infra.storage import get_storage

    return get_storage().get_bytes(bucket, key)


def count_rows(owner_id) -> int:
    from pva.infra import db

    return db.query_one("select count(*) n from media where owner_id = %s", (owner_id,))["n"]


def all_keys(bucket: str, prefix: str = "") -> set[str]:
    from pva.infra.storage import get_storage

    return {o.key for o in get_storage().list(bucket, prefix)}


# ---------------------------------------------------------------- photos and videos of every format
PHOTO_FORMATS = ["jpeg", "png", "webp", "gif", "tiff", "heic"]
VIDEO_CONTAINERS = ["mp4", "mov", "mkv", "avi", "webm"]


@pytest.mark.parametrize("fmt", PHOTO_FORMATS)
def test_photo_of_every_format_is_stored_byte_identical_with_thumbnails_and_queued_jobs(tmp_path, owner, ingestor,
                                                                                        buckets, fmt):
    from pva import jobs

    p = mf.make_photo(tmp_path / f"pic.{fmt}", fmt, size=(64, 48))
    data = p.read_bytes()
    res = ingestor.ingest_file(p, owner, f"album/pic-{fmt}.bin")  # extension lies: format comes from content
    assert res.status == "added", res.reason
    assert res.format == fmt
    row = media_row(res.media_id)
    assert row["kind"] == "photo" and row["format"] == fmt and row["size"] == len(data)
    assert bytes(row["sha512"]).hex() == sha512(data) == res.sha512
    assert row["storage_key"] == f"{owner['username']}/album/pic-{fmt}.bin"
    assert sha512(stored_bytes(buckets["originals"], row["storage_key"])) == sha512(data)
    thumb = stored_bytes(buckets["thumbs"], row["thumb_key"])
    assert thumb[:2] == b"\xff\xd8"
    assert {r["kind"]: r["status"] for r in jobs.for_media(res.media_id)} == \
        {"detect": "queued", "faces": "queued", "ocr": "queued"}


@pytest.mark.skipif(not mf.ffmpeg_available(), reason="ffmpeg is not installed (scripts/install.sh installs it)")
@pytest.mark.parametrize("container", VIDEO_CONTAINERS)
def test_video_of_every_container_is_stored_with_poster_keyframes_and_video_jobs(tmp_path, owner, ingestor, buckets,
                                                                               container):
    from pva import jobs

    p = mf.make_video(tmp_path / f"clip.{container}", duration=2.0, container=container, audio=True)
    data = p.read_bytes()
    res = ingestor.ingest_file(p, owner, f"clips/clip.{container}")
    assert res.status == "added", res.reason
    assert res.kind == "video" and res.format == container
    row = media_row(res.media_id)
    assert row["duration"] == pytest.approx(2.0, abs=0.3)
    assert (row["width"], row["height"]) == (160, 120)
    assert sha512(stored_bytes(buckets["originals"], row["storage_key"])) == sha512(data)
    kfs = row["metadata"]["keyframes"]
    assert len(kfs) >= 3 and all(0.0 <= kf["t"] <= 2.0 for kf in kfs)
    for kf in kfs:
        assert stored_bytes(buckets["thumbs"], kf["key"])[:2] == b"\xff\xd8"
    assert stored_bytes(buckets["thumbs"], row["thumb_key"])[:2] == b"\xff\xd8"
    assert {r["kind"] for r in jobs.for_media(res.media_id)} == {"transcribe", "detect", "faces", "transcode"}


@pytest.mark.skipif(not mf.ffmpeg_available(), reason="ffmpeg is not installed")
def test_video_gps_and_creation_time_are_recorded(tmp_path, owner, ingestor):
    p = mf.make_video(tmp_path / "geo.mp4", location="+48.8577+002.2950+035.000/",
                      creation_time="2024-06-01T10:20:30Z")
    res = ingestor.ingest_file(p, owner, "geo.mp4")
    assert res.status == "added", res.reason
    row = media_row(res.media_id)
    assert row["gps_lat"] == pytest.approx(48.8577, abs=1e-5)
    assert row["gps_lon"] == pytest.approx(2.2950, abs=1e-5)
    assert row["taken_at"].isoformat().startswith("2024-06-01T10:20:30")


def test_photo_exif_camera_date_gps_land_in_columns(tmp_path, owner, ingestor):
    p = mf.make_jpeg(tmp_path / "exif.jpg", make="Canon", model="EOS 5D", taken="2021:07:04 18:30:00",
                     offset="+02:00", gps=(-33.8688, 151.2093, 58.0), orientation=6, iso=200)
    res = ingestor.ingest_file(p, owner, "exif.jpg")
    assert res.status == "added", res.reason
    row = media_row(res.media_id)
    assert (row["camera_make"], row["camera_model"]) == ("Canon", "EOS 5D")
    assert row["gps_lat"] == pytest.approx(-33.8688, abs=1e-5)
    assert row["gps_lon"] == pytest.approx(151.2093, abs=1e-5)
    assert row["gps_alt"] == pytest.approx(58.0, abs=0.01)
    assert row["taken_at_offset"] == 120
    assert row["taken_at"].isoformat() == "2021-07-04T16:30:00+00:00"
    assert row["orientation"] == 6
    assert (row["width"], row["height"]) == (40, 80)  # as displayed: rotated
    assert row["metadata"]["exposure"]["iso"] == 200


def test_real_camera_photos_are_ingested_with_their_metadata(tmp_path, owner, ingestor):
    src = shared_path("fixtures", "exif-samples", "jpg", "gps", "DSCN0010.jpg")
    res = ingestor.ingest_file(src, owner, "gps/DSCN0010.jpg")
    assert res.status == "added", res.reason
    row = media_row(res.media_id)
    assert row["camera_make"] and row["gps_lat"] is not None and row["taken_at"] is not None
    heic = shared_path("fixtures", "exif-samples", "heic", "IMG_5195.HEIC")
    res = ingestor.ingest_file(heic, owner, "heic/IMG_5195.HEIC")
    assert res.status == "added", res.reason
    assert res.format == "heic"


# ---------------------------------------------------------------- dedupe
def test_same_bytes_under_another_name_is_a_duplicate_of_the_first_media(tmp_path, owner, ingestor, buckets):
    p = mf.make_jpeg(tmp_path / "a.jpg", make="X")
    first = ingestor.ingest_file(p, owner, "2020/a.jpg")
    second = ingestor.ingest_file(p, owner, "elsewhere/b-copy.jpg")
    assert first.status == "added"
    assert second.status == "duplicate" and second.media_id == first.media_id
    assert first.media_id in second.reason
    # the reason names the first file as the owner put it, not where it is stored
    assert "(2020/a.jpg)" in second.reason and first.storage_key not in second.reason
    assert count_rows(owner["id"]) == 1
    assert not any("b-copy" in k for k in all_keys(buckets["originals"], owner["username"] + "/"))


def test_dedupe_is_per_owner(tmp_path, make_user, ingestor):
    a, b = make_user(), make_user()
    p = mf.make_jpeg(tmp_path / "shared.jpg", make="Y")
    ra, rb = ingestor.ingest_file(p, a, "shared.jpg"), ingestor.ingest_file(p, b, "shared.jpg")
    assert ra.status == rb.status == "added" and ra.media_id != rb.media_id


def test_same_path_different_bytes_gets_a_distinct_key(tmp_path, owner, ingestor):
    r1 = ingestor.ingest_file(mf.make_jpeg(tmp_path / "1.jpg", make="A"), owner, "same/name.jpg")
    r2 = ingestor.ingest_file(mf.make_jpeg(tmp_path / "2.jpg", make="B"), owner, "same/name.jpg")
    assert r1.status == r2.status == "added"
    assert r1.storage_key != r2.storage_key and r2.storage_key.startswith(f"{owner['username']}/same/name~")


# ---------------------------------------------------------------- bad input
def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = mf.make_jpeg(tmp_path / "good-src.jpg", size=(200, 100))
    files = {
        "zero": tmp_path / "zero.jpg",
        "truncated": mf.truncated_copy(good, tmp_path / "trunc.jpg", keep=0.4),
        "text": tmp_path / "notes.jpg",
        "zip": tmp_path / "archive.jpg",
        "exe": tmp_path / "program.jpg",
    }
    files["zero"].write_bytes(b"")
    files["text"].write_text("hello, this is not a photo\n")
    with zipfile.ZipFile(files["zip"], "w") as z:
        z.writestr("a.txt", "x")
    files["exe"].write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 200)
    return files


def test_bad_files_are_rejected_with_a_reason_and_leave_no_rows_or_objects(tmp_path, owner, ingestor, buckets):
    from pva.infra import db

    before = all_keys(buckets["originals"], owner["username"] + "/")
    for name, p in _bad_files(tmp_path).items():
        res = ingestor.ingest_file(p, owner, f"bad/{p.name}")
        assert res.status == "rejected", (name, res)
        assert res.reason and len(res.reason) > 10, name
    assert count_rows(owner["id"]) == 0
    assert all_keys(buckets["originals"], owner["username"] + "/") == before
    reasons = db.query("select name, reason from rejections where owner_id = %s", (owner["id"],))
    assert len(reasons) == 5


def test_decompression_bomb_is_rejected(tmp_path, owner, ingestor, monkeypatch):
    from pva.config import reload_settings

    p = mf.make_photo(tmp_path / "big.png", "png", size=(3000, 3000))
    monkeypatch.setenv("PVA_MAX_IMAGE_PIXELS", "1000000")
    reload_settings()
    try:
        from pva.services.ingest import Ingestor

        res = Ingestor().ingest_file(p, owner, "big.png")
    finally:
        monkeypatch.delenv("PVA_MAX_IMAGE_PIXELS")
        reload_settings()
    assert res.status == "rejected" and "pixel" in res.reason.lower()


@pytest.mark.parametrize("name", ["../escape.jpg", "/etc/passwd.jpg", "a\x00b.jpg", "ctl\x07.jpg",
                                  "x" * 300 + ".jpg", "dir/../../up.jpg"])
def test_hostile_names_are_rejected_with_a_reason(tmp_path, owner, ingestor, name):
    p = mf.make_jpeg(tmp_path / "ok.jpg", make=secrets.token_hex(4))
    res = ingestor.ingest_file(p, owner, name)
    assert res.status == "rejected" and res.reason


def test_real_corrupt_fixtures_are_rejected_or_ingested_with_a_recorded_reason(owner, ingestor):
    base = shared_path("fixtures", "exif-samples", "jpg")
    for p in [base / "corrupted.jpg", *sorted((base / "invalid").glob("*.jpg"))]:
        res = ingestor.ingest_file(p, owner, f"corrupt/{p.name}")
        assert res.status in ("rejected", "added", "duplicate"), res
        if res.status == "rejected":
            assert res.reason
        elif res.status == "added":
            assert media_row(res.media_id) is not None


# ---------------------------------------------------------------- streams and events
def test_stream_ingest_hashes_while_storing_and_leaves_no_temporary_file(owner, buckets, tmp_path):
    import dataclasses

    from pva.config import get_settings
    from pva.services.ingest import Ingestor

    scratch = tmp_path / "scratch"
    ingestor = Ingestor(dataclasses.replace(get_settings(), scratch_dir=str(scratch)))
    data = mf.make_jpeg(tmp_path / "s.jpg", make="Stream").read_bytes()
    res = ingestor.ingest_stream(io.BytesIO(data), owner, "upload/s.jpg", source="upload")
    assert res.status == "added" and res.sha512 == sha512(data)
    assert stored_bytes(buckets["originals"], res.storage_key) == data
    bad = ingestor.ingest_stream(io.BytesIO(b"junk"), owner, "upload/junk.jpg", source="upload")
    assert bad.status == "rejected"
    assert scratch.is_dir() and list(scratch.iterdir()) == []


def test_analysis_wakeups_are_published_to_the_exchange(services, owner, ingestor, tmp_path):
    from pva.config import get_settings

    s = get_settings()
    conn = pika.BlockingConnection(pika.URLParameters(s.effective_amqp_url))
    ch = conn.channel()
    ch.exchange_declare(s.amqp_exchange, "topic", durable=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, s.amqp_exchange, "analysis.*")
    res = ingestor.ingest_file(mf.make_jpeg(tmp_path / "w.jpg", make="Wake"), owner, "w.jpg")
    got = []
    for _ in range(50):
        m, props, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            if len(got) >= 3:
                break
            conn.sleep(0.1)
            continue
        msg = json.loads(body)
        if msg["media_id"] == res.media_id:
            got.append((m.routing_key, msg, props.delivery_mode, props.message_id))
    conn.close()
    assert sorted(g[0] for g in got) == ["analysis.detect", "analysis.faces", "analysis.ocr"]
    for rk, msg, mode, mid in got:
        assert msg == {"media_id": res.media_id, "kind": rk.split(".")[1], "attempt": 1}
        assert mode == 2 and mid


def test_drop_event_in_minio_format_ingests_and_clears_the_inbox(owner, buckets, tmp_path):
    from pva.services import inbox as events
    from pva.infra.storage import get_storage

    st = get_storage()
    data = mf.make_jpeg(tmp_path / "d.jpg", make="Drop").read_bytes()
    key = f"{owner['username']}/phone dump/IMG 1.jpg"
    st.put(buckets["inbox"], key, data, length=len(data), content_type="image/jpeg")
    event = {"EventName": "s3:ObjectCreated:Put", "Key": f"{buckets['inbox']}/{key}",
             "Records": [{"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": "s3:ObjectCreated:Put",
                          "s3": {"bucket": {"name": buckets["inbox"]},
                                 "object": {"key": urllib.parse.quote_plus(key), "size": len(data)}}}]}
    results = events.handle_message("storage.inbox", event)
    assert [r["status"] for r in results] == ["added"]
    assert results[0]["name"] == "phone dump/IMG 1.jpg"
    assert st.stat(buckets["inbox"], key) is None
    # a second delivery of the same event is harmless
    assert events.handle_message("storage.inbox", event) == []


def test_drop_of_a_bad_file_is_moved_aside_with_its_reason(owner, buckets):
    from pva.services import inbox as events
    from pva.infra.storage import get_storage

    st = get_storage()
    key = f"{owner['username']}/junk.txt"
    st.put(buckets["inbox"], key, b"not media", length=9, content_type="text/plain")
    ev = {"Records": [{"eventName": "s3:ObjectCreated:Put",
                       "s3": {"bucket": {"name": buckets["inbox"]}, "object": {"key": key}}}]}
    [res] = events.handle_message("storage.inbox", ev)
    assert res["status"] == "rejected"
    assert st.stat(buckets["inbox"], key) is None
    assert st.get_bytes(buckets["inbox"], "rejected/" + key) == b"not media"
    assert st.get_bytes(buckets["inbox"], "rejected/" + key + ".reason.txt").strip()


def test_http_ingest_answers_json_per_outcome(owner, tmp_path):
    from pva.services import inbox as events

    def signed(body: bytes, query: dict | None = None) -> dict:
        return signed_headers(body, "image/jpeg", owner=owner["username"], scopes=["upload"], query=query)

    data = mf.make_jpeg(tmp_path / "h.jpg", make="Http").read_bytes()
    code, body = events.handle_http(data, {**signed(data), "X-PVA-Filename": "h.jpg"}, {})
    assert code == 201 and body["status"] == "added"
    code, body2 = events.handle_http(data, signed(data, {"name": "again.jpg"}), {"name": "again.jpg"})
    assert code == 200 and body2["status"] == "duplicate" and body2["media_id"] == body["media_id"]
    code, body3 = events.handle_http(b"nope", signed(b"nope"), {})
    assert code == 422 and body3["reason"]
    assert events.handle_http(data, {}, {})[0] == 401
    assert events.handle_http(data, {"X-PVA-Owner": owner["username"]}, {})[0] == 401  # a name is no credential


# ---------------------------------------------------------------- batch load
def _load_tree(root: Path) -> dict[str, bytes]:
    (root / "2019" / "summer").mkdir(parents=True)
    files = {
        "2019/summer/beach.jpg": mf.make_jpeg(root / "2019" / "summer" / "beach.jpg", make="Beach").read_bytes(),
        "2019/city.png": mf.make_photo(root / "2019" / "city.png", "png").read_bytes(),
        "top.webp": mf.make_photo(root / "top.webp", "webp").read_bytes(),
    }
    (root / "2019" / "readme.txt").write_text("not a photo")
    shutil.copy(root / "top.webp", root / "2019" / "top-copy.webp")
    return files


def test_load_moves_files_keeping_hierarchy_and_sets_aside_rejected_and_duplicates(tmp_path, owner, buckets):
    from pva.services.load import load

    root = tmp_path / "load"
    files = _load_tree(root)
    summary = load(root, owner, workers=1, progress=False)
    assert summary.total == 5
    assert summary.counts["added"] == 3 and summary.counts["rejected"] == 1 and summary.counts["duplicate"] == 1
    for rel, data in files.items():
        assert not (root / rel).exists()
        assert stored_bytes(buckets["originals"], f"{owner['username']}/{rel}") == data
    assert (root / "rejected" / "2019" / "readme.txt").read_text() == "not a photo"
    assert (root / "rejected" / "2019" / "readme.txt.reason.txt").read_text().strip()
    assert (root / "duplicates" / "2019" / "top-copy.webp").exists()
    # a rerun finds nothing new and duplicates nothing
    again = load(root, owner, workers=1, progress=False)
    assert again.total == 0 and count_rows(owner["id"]) == 3


def test_load_rerun_after_a_crash_continues_without_duplicates(tmp_path, owner, ingestor):
    from pva.services.load import iter_files, load

    root = tmp_path / "load"
    _load_tree(root)
    # the earlier run committed two files but died before moving them out of the folder
    done = [(p, rel) for p, rel in iter_files(root) if rel.endswith((".jpg", ".png"))]
    for p, rel in done:
        assert ingestor.ingest_file(p, owner, rel).status == "added"
    summary = load(root, owner, workers=2, progress=False)
    assert summary.counts["added"] == 3 and summary.counts["duplicate"] == 1
    assert count_rows(owner["id"]) == 3
    assert not (root / "duplicates" / "2019" / "summer").exists()


def test_pva_load_cli_prints_a_summary_and_exit_code(tmp_path, owner, services):
    root = tmp_path / "cli"
    root.mkdir()
    mf.make_jpeg(root / "one.jpg", make="Cli")
    (root / "bad.jpg").write_bytes(b"")
    env = dict(os.environ)
    r = subprocess.run([sys.executable, "-m", "pva.cli", "load", str(root), "--owner", owner["username"],
                        "--no-progress", "--workers", "1"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "1 added, 0 duplicate, 1 rejected, 0 failed" in r.stdout
    assert "empty file" in r.stdout


@pytest.mark.skipif(not mf.ffmpeg_available(), reason="ffmpeg is not installed")
def test_avi_camera_clock_is_stored_as_local_time_without_an_offset(tmp_path, owner, ingestor):
    from test_media_metadata_gaps import avi_with_idit

    res = ingestor.ingest_file(avi_with_idit(tmp_path / "camera.avi"), owner, "old/camera.avi")
    assert res.status == "added", res.reason
    row = media_row(res.media_id)
    # the wall clock the camera recorded, as a photo without OffsetTime keeps it: no UTC label invented
    assert row["taken_at_local"] == datetime(2003, 3, 10, 15, 4, 43) and row["taken_at_offset"] is None


@pytest.mark.skipif(not mf.ffmpeg_available(), reason="ffmpeg is not installed")
def test_matroska_with_unreadable_streams_is_kept_with_its_container_date_and_a_warning(tmp_path, owner, ingestor):
    from test_media_metadata_gaps import damaged_mkv

    res = ingestor.ingest_file(damaged_mkv(tmp_path / "clip.mkv", where="codec"), owner, "clip.mkv")
    assert res.status == "added", res.reason
    row = media_row(res.media_id)
    assert row["duration"] == pytest.approx(2.0, abs=0.05)
    assert row["taken_at"] == datetime(2021, 7, 4, 10, 11, 12, tzinfo=timezone.utc)
    warnings = row["metadata"]["warnings"]
    assert any("streams could not be read" in w for w in warnings)
    assert "no frame could be decoded for a poster" in warnings and row["thumb_key"] is None
