"""Videos play in the browser through the gateway (issue 22): uploaded through the API into the real ingest, their
transcode jobs run (pva.jobs.pipeline with the transcode function's Task), then ``/api/v1/media/{id}/playback``
answers the web preview (or the original that plays as stored) with Range requests for seeking, only to whoever
may see the item: its owner, a user the album is shared with, a public link of the album; another user gets 404.
"""
from __future__ import annotations

import shutil
import subprocess

import pytest

from test_gateway_helpers import client_for, new_user

pytestmark = pytest.mark.skipif(not shutil.which("ffmpeg"), reason="needs ffmpeg (Debian package)")

SRC = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=3",
       "-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-shortest"]


def _make(path, *codec) -> bytes:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *SRC, *codec, str(path)], check=True, timeout=120)
    return path.read_bytes()


@pytest.fixture(scope="module")
def world(services, tmp_path_factory):
    from gateway.app import create_app
    from gateway.routers import web
    from pva.jobs import pipeline
    from pva.jobs.tasks.transcode import TranscodeTask
    from pva.services import albums

    d = tmp_path_factory.mktemp("transcode-gw")
    avi = _make(d / "camera.avi", "-c:v", "mpeg4", "-c:a", "libmp3lame")
    mp4 = _make(d / "phone.mp4", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac")
    owner, other, friend = new_user(), new_user(), new_user()
    app = web.install(create_app())
    c_owner = client_for(app, owner)
    r = c_owner.post("/api/v1/media/upload", files=[("files", ("camera.avi", avi, "video/x-msvideo")),
                                                    ("files", ("phone.mp4", mp4, "video/mp4"))])
    assert r.status_code == 200, r.text
    ids = {x["name"]: x["media_id"] for x in r.json()["results"]}
    avi_id, mp4_id = ids["camera.avi"], ids["phone.mp4"]
    task = TranscodeTask()
    for mid in (avi_id, mp4_id):
        outcome, _ = pipeline.run_stored(task, mid)
        assert outcome == "done"
    album = albums.create(owner["id"], "Clips")
    albums.add_media(album["id"], owner["id"], [avi_id])
    albums.share(album["id"], owner["id"], friend["id"])
    return {"app": app, "owner": c_owner, "other": client_for(app, other), "friend": client_for(app, friend),
            "avi": avi_id, "mp4": mp4_id, "avi_bytes": avi, "mp4_bytes": mp4, "album": str(album["id"])}


def _preview_bytes(media_id) -> bytes:
    from pva.config import get_settings
    from pva.infra import db
    from pva.infra.storage import get_storage

    key = db.query_one("select web_video_key from media where id = %s", (media_id,))["web_video_key"]
    return get_storage().get_bytes(get_settings().bucket_thumbs, key)


def test_playback_of_an_old_camera_avi_is_its_h264_preview(world):
    r = world["owner"].get(f"/api/v1/media/{world['avi']}/playback")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    assert r.headers["accept-ranges"] == "bytes" and r.headers["etag"]
    assert r.content == _preview_bytes(world["avi"]) and r.content != world["avi_bytes"]
    assert b"ftyp" in r.content[:16]
    assert 'filename="camera.mp4"' in r.headers["content-disposition"]
    # the original is still there, byte for byte
    assert world["owner"].get(f"/api/v1/media/{world['avi']}/original").content == world["avi_bytes"]


def test_h264_mp4_is_served_as_stored(world):
    from pva.infra import db

    r = world["owner"].get(f"/api/v1/media/{world['mp4']}/playback")
    assert r.status_code == 200 and r.content == world["mp4_bytes"]
    assert r.headers["content-type"] == "video/mp4"
    job = db.query_one("select * from analysis where media_id = %s and kind = 'transcode'", (world["mp4"],))
    assert job["status"] == "done" and "plays as stored" in job["result_summary"]["reason"]


def test_range_requests_let_the_browser_seek(world):
    c, url = world["owner"], f"/api/v1/media/{world['avi']}/playback"
    full = _preview_bytes(world["avi"])
    size = len(full)
    etag = c.head(url).headers["etag"]
    r = c.get(url, headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == full[:100]
    assert r.headers["content-range"] == f"bytes 0-99/{size}" and r.headers["content-length"] == "100"
    mid = size // 2  # a jump into the middle, as a seek does
    r = c.get(url, headers={"Range": f"bytes={mid}-"})
    assert r.status_code == 206 and r.content == full[mid:]
    r = c.get(url, headers={"Range": "bytes=-50"})
    assert r.status_code == 206 and r.content == full[-50:]
    r = c.get(url, headers={"Range": "bytes=10-19", "If-Range": etag})
    assert r.status_code == 206 and r.content == full[10:20]
    r = c.get(url, headers={"Range": "bytes=10-19", "If-Range": '"another-version"'})
    assert r.status_code == 200 and r.content == full  # changed since: the whole file
    r = c.get(url, headers={"Range": f"bytes={size}-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{size}"
    assert c.get(url, headers={"If-None-Match": etag}).status_code == 304
    # the original answers ranges the same way
    r = c.get(f"/api/v1/media/{world['avi']}/original", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == world["avi_bytes"][100:200]


def test_another_user_gets_404_and_a_share_recipient_plays_it(world):
    for mid in (world["avi"], world["mp4"]):
        for what in ("playback", "original"):
            r = world["other"].get(f"/api/v1/media/{mid}/{what}", headers={"Range": "bytes=0-9"})
            assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
            assert world["other"].head(f"/api/v1/media/{mid}/{what}").status_code == 404
    r = world["friend"].get(f"/api/v1/media/{world['avi']}/playback", headers={"Range": "bytes=0-9"})
    assert r.status_code == 206 and r.content == _preview_bytes(world["avi"])[:10]
    assert world["friend"].get(f"/api/v1/media/{world['mp4']}/playback").status_code == 404  # not in the album
    anon = client_for(world["app"])
    assert anon.get(f"/api/v1/media/{world['avi']}/playback").status_code == 401


def test_public_link_plays_the_preview_of_its_album_only(world):
    r = world["owner"].post(f"/api/v1/albums/{world['album']}/links", json={})
    assert r.status_code == 201, r.text
    link = r.json()["url"]
    anon = client_for(world["app"])
    r = anon.get(f"{link}/media/{world['avi']}/playback", headers={"Range": "bytes=0-99"})
    assert r.status_code == 206 and r.content == _preview_bytes(world["avi"])[:100]
    assert r.headers["content-type"] == "video/mp4"
    assert anon.get(f"{link}/media/{world['mp4']}/playback").status_code == 404


def test_api_names_the_playback_url_and_hides_the_preview_key(world):
    d = world["owner"].get(f"/api/v1/media/{world['avi']}").json()
    assert d["video_url"] == f"/api/v1/media/{world['avi']}/playback" and "web_video_key" not in d
    items = world["owner"].get("/api/v1/media?kind=video").json()["items"]
    assert {i["video_url"] for i in items} == {f"/api/v1/media/{m}/playback" for m in (world["avi"], world["mp4"])}
    page = world["owner"].get(f"/media/{world['avi']}", headers={"Accept": "text/html"})
    assert f'src="/api/v1/media/{world["avi"]}/playback"' in page.text


def test_purge_removes_the_preview(world, tmp_path):
    from pva.config import get_settings
    from pva.infra import db
    from pva.infra.storage import get_storage

    c = world["owner"]
    clip = _make(tmp_path / "gone.avi", "-c:v", "mjpeg", "-an")
    r = c.post("/api/v1/media/upload", files=[("files", ("gone.avi", clip, "video/x-msvideo"))])
    mid = r.json()["results"][0]["media_id"]
    from pva.jobs import pipeline
    from pva.jobs.tasks.transcode import TranscodeTask

    assert pipeline.run_stored(TranscodeTask(), mid)[0] == "done"
    key = db.query_one("select web_video_key from media where id = %s", (mid,))["web_video_key"]
    assert get_storage().stat(get_settings().bucket_thumbs, key) is not None
    assert c.post(f"/api/v1/media/{mid}/trash").status_code == 200
    assert c.delete(f"/api/v1/media/{mid}").status_code == 204
    assert get_storage().stat(get_settings().bucket_thumbs, key) is None


def test_jobs_api_lists_a_running_transcode_with_progress_to_its_owner_only(world):
    from datetime import datetime, timedelta, timezone

    from pva.infra import db

    db.execute("""update analysis set status = 'running', progress = 0.25, started_at = %s,
                         lease_until = now() + interval '5 minutes'
                   where media_id = %s and kind = 'transcode'""",
               (datetime.now(timezone.utc) - timedelta(seconds=30), world["mp4"]))
    try:
        mine = world["owner"].get("/api/v1/jobs").json()
        (job,) = [j for j in mine["running"] if j["media_id"] == world["mp4"]]
        assert job["kind"] == "transcode" and job["progress"] == 0.25 and job["filename"] == "phone.mp4"
        assert 85 <= job["eta_seconds"] <= 120  # 30 s for a quarter: about 90 s left
        assert mine["kinds"]["transcode"]["running"] >= 1
        theirs = world["other"].get("/api/v1/jobs").json()
        assert all(j["media_id"] != world["mp4"] for j in theirs["running"])
    finally:
        db.execute("update analysis set status = 'done', progress = 1 where media_id = %s and kind = 'transcode'",
                   (world["mp4"],))
