"""A live photo's motion clip plays in every browser (issue 22), on real Postgres and S3: an iPhone's HEVC MOV
paired with its still gets a transcode job at ingest, the transcode function makes an H.264/AAC MP4 of the clip,
and /files/motion?playable=1 serves it (with Range) while /files/motion stays the clip byte for byte; purge and
backup know it.  An H.264 MP4 clip (an Android motion photo) is served as stored with no job; a photo without a
motion clip still gets transcode's refusal."""
from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import shared_path

pytestmark = [pytest.mark.usefixtures("services"),
              pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("exiftool")),
                                 reason="ffmpeg and exiftool (Debian's ffmpeg, libimage-exiftool-perl) make the "
                                        "live photo fixtures")]


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def hevc_mov(path: Path, content_id: str) -> Path:
    """An iPhone-like live photo clip: HEVC video and AAC audio in a MOV carrying the content identifier."""
    _run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=1.5",
          "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100:duration=1.5", "-c:v", "libx265",
          "-x265-params", "log-level=error", "-pix_fmt", "yuv420p", "-tag:v", "hvc1", "-c:a", "aac", "-shortest",
          "-movflags", "use_metadata_tags", "-metadata", f"com.apple.quicktime.content.identifier={content_id}",
          str(path)])
    return path


def probe(data: bytes, tmp_path: Path) -> dict:
    f = tmp_path / f"probe-{secrets.token_hex(3)}"
    f.write_bytes(data)
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(f)],
                         capture_output=True, check=True, timeout=60).stdout
    return json.loads(out)


@pytest.fixture
def owner(make_user):
    return make_user(f"motionweb-{secrets.token_hex(3)}")


@pytest.fixture
def client(owner):
    from gateway.app import create_app
    from test_gateway_helpers import client_for

    return client_for(create_app(), owner)


def motion_file(media_id) -> dict:
    from pva.infra import db

    return db.query_one("select * from media_files where media_id = %s and role = 'motion'", (media_id,))


def transcode_job(media_id) -> dict | None:
    from pva.infra import db

    return db.query_one("select * from analysis where media_id = %s and kind = 'transcode'", (media_id,))


@pytest.mark.parametrize("order", ["still_first", "mov_first"])
def test_an_hevc_motion_clip_gets_an_h264_mp4_preview_that_the_motion_route_serves(tmp_path, owner, ingestor,
                                                                                    client, shared, order):
    from test_companions import HEIC_WITH_ID, make_still

    from pva.db import backup as backup_q
    from pva.infra import db
    from pva.infra.storage import get_storage
    from pva.jobs import pipeline
    from pva.jobs.tasks.transcode import TranscodeTask
    from pva.media import motion
    from pva.services import media as media_service

    still = make_still(tmp_path / "IMG_0101.JPG", shared_path(*HEIC_WITH_ID))
    mov = hevc_mov(tmp_path / "IMG_0101.MOV", motion.still_content_id(still))
    arrivals = [(still, "IMG_0101.JPG"), (mov, "IMG_0101.MOV")]
    if order == "mov_first":
        arrivals.reverse()
    results = [ingestor.ingest_file(p, owner, rel) for p, rel in arrivals]
    item = next(r.media_id for r in results if r.kind == "photo")
    f = motion_file(item)
    assert f["metadata"]["web"]["action"] == "transcode" and "HEVC" in f["metadata"]["web"]["reason"], f["metadata"]
    assert transcode_job(item)["status"] == "queued"
    # before the job: ?playable=1 falls back to the clip as stored
    assert client.get(f"/api/v1/media/{item}/files/motion?playable=1").content == mov.read_bytes()

    outcome, res = pipeline.run_stored(TranscodeTask(), item)
    assert outcome == "done", transcode_job(item)
    key = motion_file(item)["metadata"]["web_video_key"]
    assert key == f"{item}/motion-web.mp4" and res.key == key
    assert db.query_one("select web_video_key from media where id = %s", (item,))["web_video_key"] is None

    r = client.get(f"/api/v1/media/{item}/files/motion?playable=1")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    info = probe(r.content, tmp_path)
    assert "mp4" in info["format"]["format_name"]
    assert [s["codec_name"] for s in info["streams"]] == ["h264", "aac"]
    part = client.get(f"/api/v1/media/{item}/files/motion?playable=1", headers={"Range": "bytes=4-11"})
    assert part.status_code == 206 and part.content == r.content[4:12] == b"ftypisom"
    # without ?playable the route still gives the clip byte for byte (downloads, the detail page)
    assert client.get(f"/api/v1/media/{item}/files/motion").content == mov.read_bytes()

    with db.transaction() as cur:
        refs = {(o["bucket"], o["key"]) for o in backup_q.referenced_objects(cur)}
    assert ("thumbs", key) in refs
    st = get_storage()
    assert st.stat(st.thumbs, key) is not None
    media_service.trash(item, owner["id"])
    media_service.purge_one(item, owner["id"])
    assert st.stat(st.thumbs, key) is None


def test_an_h264_mp4_motion_clip_is_served_as_stored_with_no_job(tmp_path, owner, ingestor, client):
    from test_companions import make_motion_photo

    path, mp4 = make_motion_photo(tmp_path / "PXL_0101.MP.jpg")
    r = ingestor.ingest_file(path, owner, "PXL_0101.MP.jpg")
    f = motion_file(r.media_id)
    assert f["metadata"]["web"]["action"] == "as_stored", f["metadata"]
    assert transcode_job(r.media_id) is None
    got = client.get(f"/api/v1/media/{r.media_id}/files/motion?playable=1")
    assert got.status_code == 200 and got.content == mp4


def test_a_photo_without_a_motion_clip_is_not_queued_and_is_refused(tmp_path, owner, ingestor):
    from test_companions import make_still

    from pva.db import analysis as analysis_q
    from pva.infra import db
    from pva.jobs import pipeline
    from pva.jobs.tasks.transcode import TranscodeTask

    r = ingestor.ingest_file(make_still(tmp_path / "plain.jpg", None), owner, "plain.jpg")
    assert r.kind == "photo" and transcode_job(r.media_id) is None
    with db.transaction() as cur:  # queued by hand (ingest did not): the job itself refuses a plain photo
        analysis_q.insert_queued(cur, r.media_id, ["transcode"])
    outcome, _ = pipeline.run_stored(TranscodeTask(), r.media_id)
    assert outcome == "failed"
    assert transcode_job(r.media_id)["error"] == "transcode applies to videos only, not to a photo"
