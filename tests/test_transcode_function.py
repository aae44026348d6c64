"""The transcode function end to end (issue 22, "any video plays"): videos generated with ffmpeg in the formats
cameras and phones make, stored in real S3 + Postgres, their jobs run through functions/transcode/handler.py as the
runtime loads it.  A video no browser can be trusted with gets an H.264/AAC MP4 preview (faststart, bounded,
rotation applied) next to its untouched original; an H.264/AAC MP4 plays as stored; a truncated file fails its job
with the reason and the next job runs.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from function_helpers import load_handler

pytestmark = pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("ffprobe")),
                                reason="needs ffmpeg and ffprobe (Debian package ffmpeg)")

REPO = Path(__file__).resolve().parent.parent
FUNCTION_DIR = REPO / "functions" / "transcode"
SRC = ["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
       "-f", "lavfi", "-i", "sine=frequency=440:duration=2"]
# name: (format as ingest detects it, mime, ffmpeg codec arguments)
SAMPLES = {
    "hevc.mp4": ("mp4", "video/mp4", ["-c:v", "libx265", "-x265-params", "log-level=none", "-tag:v", "hvc1",
                                      "-c:a", "aac"]),
    "mpeg4.avi": ("avi", "video/x-msvideo", ["-c:v", "mpeg4", "-c:a", "libmp3lame"]),
    "mjpeg.avi": ("avi", "video/x-msvideo", ["-c:v", "mjpeg", "-c:a", "pcm_s16le"]),
    "vp9.mkv": ("mkv", "video/x-matroska", ["-c:v", "libvpx-vp9", "-deadline", "realtime", "-c:a", "libopus"]),
    "h264.mp4": ("mp4", "video/mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                                      "-c:a", "aac"]),
    "h264.mov": ("mov", "video/quicktime", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                                            "-c:a", "aac"]),
}


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def probe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
                          str(path)], capture_output=True, check=True, timeout=60).stdout
    return json.loads(out)


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("transcode-fn")
    out = {}
    for name, (_, _, codec) in SAMPLES.items():
        _ffmpeg(*SRC, *codec, "-shortest", str(d / name))
        out[name] = d / name
    # a phone video held upright: 640x360 stored, a 90° display rotation in its container
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2", "-c:v", "mpeg4", str(d / "flat.mp4"))
    _ffmpeg("-i", str(d / "flat.mp4"), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(d / "rotated.mp4"))
    out["rotated.mp4"] = d / "rotated.mp4"
    # an HEVC file cut in half (its index is at the end): looks like a video, cannot be read
    data = out["hevc.mp4"].read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    out["truncated.mp4"] = d / "truncated.mp4"
    return out


@pytest.fixture(scope="module")
def fn(services):
    """functions/transcode/handler.py loaded the way the runtime loads it, init_context run once."""
    return load_handler("transcode")


def store_video(owner: dict, path: Path, fmt: str | None = None, mime: str | None = None) -> uuid.UUID:
    """A video as ingest leaves it: the original in the originals bucket, its media row, a queued transcode job."""
    from pva.config import get_settings
    from pva.db import analysis as analysis_q
    from pva.db import media as media_q
    from pva.infra import db
    from pva.infra.storage import get_storage

    fmt, mime = (fmt, mime) if fmt else SAMPLES.get(path.name, ("mp4", "video/mp4", None))[:2]
    data = path.read_bytes()
    media_id = uuid.uuid4()
    key = f"{owner['username']}/{media_id.hex[:8]}/{path.name}"
    get_storage().put(get_settings().bucket_originals, key, data, content_type=mime)
    with db.transaction() as cur:
        media_q.insert(cur, {"id": media_id, "owner_id": owner["id"],
                             "sha512": hashlib.sha512(data + media_id.bytes).digest(), "kind": "video",
                             "format": fmt, "mime": mime, "size": len(data), "storage_key": key,
                             "original_path": path.name, "filename": path.name, "source": "upload"})
        analysis_q.insert_queued(cur, media_id, ["transcode"])
    return media_id


def job(media_id) -> dict:
    from pva.infra import db

    return db.query_one("select * from analysis where media_id = %s and kind = 'transcode'", (media_id,))


def media_row(media_id) -> dict:
    from pva.infra import db

    return db.query_one("select * from media where id = %s", (media_id,))


def wake(media_id) -> bytes:
    return json.dumps({"media_id": str(media_id), "kind": "transcode", "attempt": 1}).encode()


def fetch(bucket_attr: str, key: str, dst: Path) -> Path:
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    get_storage().download(getattr(get_settings(), bucket_attr), key, dst)
    return dst


def assert_web_mp4(path: Path, *, audio: bool = True) -> dict:
    """H.264 (yuv420p) + AAC in MP4 with its index before its media data (faststart)."""
    info = probe(path)
    assert "mp4" in info["format"]["format_name"]
    v = [s for s in info["streams"] if s["codec_type"] == "video"]
    a = [s for s in info["streams"] if s["codec_type"] == "audio"]
    assert len(v) == 1 and v[0]["codec_name"] == "h264" and v[0]["pix_fmt"] == "yuv420p", v
    assert [s["codec_name"] for s in a] == (["aac"] if audio else [])
    head = path.read_bytes()[:65536]
    assert head.find(b"moov") != -1 and (head.find(b"mdat") == -1 or head.find(b"moov") < head.find(b"mdat")), \
        "the index (moov) must come first so a browser can start playing before the whole file is there"
    return v[0]


# ------------------------------------------------------------------------------------------------- queue
@pytest.mark.parametrize("name", ["hevc.mp4", "mpeg4.avi", "mjpeg.avi", "vp9.mkv", "h264.mov"])
def test_video_a_browser_cannot_play_gets_an_h264_aac_mp4_preview_and_the_original_stays(
        fn, samples, make_user, tmp_path, name):
    owner = make_user()
    media_id = store_video(owner, samples[name])
    before = media_row(media_id)
    assert fn("rabbit-mq", wake(media_id)) == {"media_id": str(media_id), "kind": "transcode", "outcome": "done"}
    j = job(media_id)
    assert j["status"] == "done" and j["progress"] == 1 and j["error"] is None and j["model"] == "ffmpeg"
    summary = j["result_summary"]
    assert summary["action"] == ("remux" if name == "h264.mov" else "transcode") and summary["reason"]
    after = media_row(media_id)
    assert after["web_video_key"] == f"{media_id}/web.mp4"
    video = assert_web_mp4(fetch("bucket_thumbs", after["web_video_key"], tmp_path / "web.mp4"))
    assert (video["width"], video["height"]) == (320, 240)
    original = fetch("bucket_originals", after["storage_key"], tmp_path / name)
    assert original.read_bytes() == samples[name].read_bytes()  # never modified
    assert after["storage_key"] == before["storage_key"] and after["size"] == before["size"]


def test_an_ingested_h264_mp4_is_judged_from_ingests_probe_without_downloading_it(fn, samples, make_user,
                                                                                   monkeypatch):
    """Ingest records its ffprobe at metadata.raw; the job plans from that and never reads the original."""
    from pva.infra.storage import get_storage
    from pva.services.ingest import Ingestor

    res = Ingestor(publish=False).ingest_file(samples["h264.mp4"], make_user(), "clips/h264.mp4")
    assert res.status == "added", res.reason
    reads = []
    storage = get_storage()
    real_download = storage.download
    monkeypatch.setattr(storage, "download", lambda bucket, key, *a, **k: (reads.append(key),
                                                                          real_download(bucket, key, *a, **k))[1])
    assert fn("rabbit-mq", wake(uuid.UUID(res.media_id)))["outcome"] == "done"
    assert job(uuid.UUID(res.media_id))["result_summary"]["action"] == "as_stored"
    assert reads == []


def test_h264_aac_mp4_plays_as_stored_without_a_preview(fn, samples, make_user):
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    media_id = store_video(make_user(), samples["h264.mp4"])
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "done"
    j = job(media_id)
    assert j["status"] == "done" and j["result_summary"]["action"] == "as_stored"
    assert "plays as stored" in j["result_summary"]["reason"]
    assert media_row(media_id)["web_video_key"] is None
    assert get_storage().stat(get_settings().bucket_thumbs, f"{media_id}/web.mp4") is None


def test_preview_is_bounded_and_turned_upright(fn, samples, make_user, tmp_path, monkeypatch):
    from pva.config import reload_settings

    monkeypatch.setenv("PVA_TRANSCODE_MAX_SIDE", "320")
    reload_settings()
    try:
        media_id = store_video(make_user(), samples["rotated.mp4"])
        assert fn("rabbit-mq", wake(media_id))["outcome"] == "done"
    finally:
        monkeypatch.delenv("PVA_TRANSCODE_MAX_SIDE")
        reload_settings()
    summary = job(media_id)["result_summary"]
    assert summary["rotation"] in (90, 270)
    assert (summary["width"], summary["height"]) == (360, 640)  # as displayed
    out = tmp_path / "web.mp4"
    video = assert_web_mp4(fetch("bucket_thumbs", media_row(media_id)["web_video_key"], out), audio=False)
    # 640x360 turned upright is 360x640, bounded to 320 on its long side; no rotation left for the player to apply
    assert (video["width"], video["height"]) == (180, 320)
    assert not any("rotation" in sd for sd in video.get("side_data_list") or [])
    assert "rotate" not in (video.get("tags") or {})
    assert "320px" in job(media_id)["model_version"]


def test_truncated_hevc_fails_with_a_clear_reason_and_the_next_video_is_done(fn, samples, make_user):
    owner = make_user()
    bad = store_video(owner, samples["truncated.mp4"])
    good = store_video(owner, samples["mpeg4.avi"])
    assert fn("rabbit-mq", wake(bad))["outcome"] == "failed"
    j = job(bad)
    assert j["status"] == "failed" and j["attempts"] == 1  # permanent: retrying cannot help
    assert "damaged or truncated" in j["error"], j["error"]
    assert "/tmp" not in j["error"] and str(bad) not in j["error"]  # no server paths
    assert media_row(bad)["web_video_key"] is None
    assert fn("rabbit-mq", wake(good))["outcome"] == "done"
    assert media_row(good)["web_video_key"]


def test_rerun_replaces_the_preview_and_a_duplicate_wakeup_does_nothing(fn, samples, make_user):
    user = make_user()
    media_id = store_video(user, samples["mjpeg.avi"])
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "done"
    first = job(media_id)
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "skipped"
    resp = fn("http", {"media_id": str(media_id)}, "application/json", user["username"])
    payload = json.loads(resp.body)
    assert resp.status_code == 200 and payload["outcome"] == "done", payload
    assert payload["results"]["plan"]["action"] == "transcode"
    assert payload["results"]["key"] == f"{media_id}/web.mp4"
    assert job(media_id)["finished_at"] > first["finished_at"]
    assert media_row(media_id)["web_video_key"] == f"{media_id}/web.mp4"


def _rerun(fn, user, media_id) -> dict:
    resp = fn("http", {"media_id": str(media_id)}, "application/json", user["username"])
    payload = json.loads(resp.body)
    assert resp.status_code == 200 and payload["outcome"] == "done", payload
    return payload["results"]


def test_a_rerun_deletes_the_preview_an_earlier_run_named_under_another_key(fn, samples, make_user):
    """The row names a preview under a key this version does not use (an earlier run's): the rerun's new preview
    replaces it and the old object goes, once the new key is committed."""
    from pva.config import get_settings
    from pva.db import transcode as transcode_q
    from pva.infra import db
    from pva.infra.storage import get_storage

    st, bucket = get_storage(), get_settings().bucket_thumbs
    user = make_user()
    media_id = store_video(user, samples["mjpeg.avi"])
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "done"
    old = f"{media_id}/web-old.mp4"
    st.copy(bucket, f"{media_id}/web.mp4", bucket, old)
    with db.transaction() as cur:
        transcode_q.set_web_video(cur, media_id, old)
    assert _rerun(fn, user, media_id)["key"] == f"{media_id}/web.mp4"
    assert media_row(media_id)["web_video_key"] == f"{media_id}/web.mp4"
    assert st.stat(bucket, f"{media_id}/web.mp4") is not None
    assert st.stat(bucket, old) is None, "the earlier preview was left in the bucket, named by nothing"


def test_a_rerun_planned_as_stored_deletes_the_preview_of_the_earlier_run(fn, samples, make_user):
    """An H.264/AAC MP4 with a preview from an earlier run (made when it was planned otherwise, or restored with
    its derived objects): the rerun plans "as stored", the row names no preview and the object is gone too."""
    from pva.config import get_settings
    from pva.db import transcode as transcode_q
    from pva.infra import db
    from pva.infra.storage import get_storage

    st, bucket = get_storage(), get_settings().bucket_thumbs
    user = make_user()
    media_id = store_video(user, samples["h264.mp4"])
    key = f"{media_id}/web.mp4"
    st.put(bucket, key, samples["h264.mp4"].read_bytes(), content_type="video/mp4")
    with db.transaction() as cur:
        transcode_q.set_web_video(cur, media_id, key)
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "done"
    assert job(media_id)["result_summary"]["action"] == "as_stored"
    assert media_row(media_id)["web_video_key"] is None
    assert st.stat(bucket, key) is None, "the earlier preview was left in the bucket, named by nothing"


def test_a_rerun_of_a_motion_clip_deletes_the_preview_its_file_named_before(fn, make_user, tmp_path):
    """A live photo's motion clip: the same rule on its motion file's web_video_key."""
    from pva.config import get_settings
    from pva.db import transcode as transcode_q
    from pva.infra import db
    from pva.infra.storage import get_storage
    from pva.services.ingest import Ingestor
    from test_companions import _cid, make_mov, make_still
    from conftest import shared_path

    source = shared_path("fixtures", "exif-samples", "heic", "IMG_5195.HEIC")  # a skip when ../shared is absent

    user = make_user()
    ing = Ingestor(publish=False)
    still = make_still(tmp_path / "IMG_0009.JPG", source)
    ing.ingest_file(make_mov(tmp_path / "IMG_0009.MOV", _cid(still)), user, "IMG_0009.MOV")
    media_id = uuid.UUID(ing.ingest_file(still, user, "IMG_0009.JPG").media_id)
    st, bucket = get_storage(), get_settings().bucket_thumbs
    old = f"{media_id}/motion-web-old.mp4"
    st.put(bucket, old, b"an earlier preview", content_type="video/mp4")
    with db.transaction() as cur:
        transcode_q.set_motion_web_video(cur, media_id, old)
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "done"
    f = db.query_one("select metadata from media_files where media_id = %s and role = 'motion'", (media_id,))
    assert f["metadata"]["web_video_key"] == f"{media_id}/motion-web.mp4"
    assert st.stat(bucket, old) is None


def test_photo_is_refused_with_the_reason(fn, samples, make_user):
    from pva.infra import db

    media_id = store_video(make_user(), samples["h264.mp4"])
    db.execute("update media set kind = 'photo' where id = %s", (media_id,))
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "failed"
    assert job(media_id)["error"] == "transcode applies to videos only, not to a photo"


# -------------------------------------------------------------------------------------------------- HTTP
def test_http_post_of_video_bytes_answers_the_plan_without_storing(fn, samples):
    from pva.config import get_settings

    resp = fn("http", samples["mpeg4.avi"].read_bytes(), "video/x-msvideo")
    payload = json.loads(resp.body)
    assert resp.status_code == 200, payload
    assert payload["results"]["plan"]["action"] == "transcode" and payload["results"]["key"] is None
    assert payload["results"]["output"]["width"] == 320 and payload["results"]["output"]["size"] > 0
    resp = fn("http", samples["h264.mp4"].read_bytes(), "video/mp4")
    assert json.loads(resp.body)["results"]["plan"]["action"] == "as_stored"
    resp = fn("http", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "image/png")
    assert resp.status_code == 422 and "not a video" in json.loads(resp.body)["error"]
    tmp = get_settings().tmp_dir
    assert not list(tmp.glob("transcode-*")) and not list(tmp.glob("web-*"))  # temp files gone


# ------------------------------------------------------------------------------------------------ progress
def test_progress_of_a_transcode_reaches_the_job_row(fn, make_user, tmp_path):
    """ffmpeg's -progress lines become job.progress calls (the jobs page shows them), in order, ending at 1."""
    from pva import jobs
    from pva.infra import db
    from pva.jobs.pipeline import Inputs

    clip = tmp_path / "long.avi"  # 12 s: enough progress lines, quick to encode at this size
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=12", "-c:v", "mpeg4", str(clip))
    media_id = store_video(make_user(), clip, "avi", "video/x-msvideo")
    claimed = jobs.claim(media_id, "transcode")
    seen: list[float] = []

    class RecordingJob(jobs.Job):
        def progress(self, fraction: float) -> None:
            seen.append(fraction)
            super().progress(fraction)

    j = RecordingJob(**{f.name: getattr(claimed, f.name) for f in dataclasses.fields(jobs.Job)})
    j._last_beat = 0.0  # the first report is written at once
    inputs = Inputs(db.query_one("select * from media where id = %s", (media_id,)), [])
    try:
        fn.task.analyze(inputs, j)
    finally:
        inputs.cleanup()
    assert seen and seen == sorted(seen) and 0 <= seen[0] < 0.99 and all(f <= 0.99 for f in seen)
    row = job(media_id)
    assert row["status"] == "running" and 0 <= row["progress"] < 1


def test_temp_files_are_removed_after_a_job(fn, samples, make_user):
    from pva.config import get_settings

    media_id = store_video(make_user(), samples["vp9.mkv"])
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "done"
    tmp = get_settings().tmp_dir
    assert not list(tmp.glob(f"{media_id}-*")) and not list(tmp.glob("web-*"))
    assert os.path.isdir(tmp)


# ------------------------------------------------------------------------------------------------- memory
MEM_PROBE = """
import json, resource, sys
from pva.jobs.tasks.transcode import encoding
from pva.media import transcode as tc
from pva.media.video import ffprobe_json
p = tc.plan(ffprobe_json(sys.argv[1]), container="avi", enc=encoding())
tc.transcode(sys.argv[1], sys.argv[2], p, encoding(), progress=lambda f: None)
print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  resource.getrusage(resource.RUSAGE_SELF).ru_maxrss]))
"""


def test_memory_does_not_grow_with_the_length_of_the_video(tmp_path):
    """ffmpeg streams file to file and Python only reads its progress lines: a clip ten times longer peaks at
    the same RSS (bench/transcode.py measures 4K; a 10-minute 4K clip peaks where a 2-second one does)."""
    import sys

    peaks = {}
    for seconds in (6, 60):
        clip = tmp_path / f"{seconds}.avi"
        _ffmpeg("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=25:duration={seconds}", "-f", "lavfi", "-i",
                f"sine=frequency=440:duration={seconds}", "-c:v", "mpeg4", "-c:a", "libmp3lame", str(clip))
        out = subprocess.run([sys.executable, "-c", MEM_PROBE, str(clip), str(tmp_path / "out.mp4")], cwd=REPO,
                             capture_output=True, text=True, check=True, timeout=600).stdout
        peaks[seconds] = json.loads(out.strip().splitlines()[-1])
        assert abs(float(probe(tmp_path / "out.mp4")["format"]["duration"]) - seconds) < 0.5  # all of it
    (short_ff, short_py), (long_ff, long_py) = peaks[6], peaks[60]
    assert long_ff <= short_ff * 1.25 + 20_000, peaks  # kB
    assert long_py <= short_py + 15_000, peaks


def test_reanalyse_gives_videos_ingested_before_transcode_existed_a_job(fn, samples, make_user):
    """A library from before this function: its videos have no transcode row; re-analysing adds one (queued and
    published), and running it makes the preview."""
    from pva import jobs
    from pva.infra import db

    owner = make_user()
    media_id = store_video(owner, samples["vp9.mkv"])
    db.execute("delete from analysis where media_id = %s", (media_id,))
    assert jobs.reanalyse(kind="transcode", owner_id=owner["id"]) == 1
    assert job(media_id)["status"] == "queued"
    assert jobs.reanalyse(kind="transcode", owner_id=owner["id"]) == 0  # queued already: nothing new
    assert fn("rabbit-mq", wake(media_id))["outcome"] == "done" and media_row(media_id)["web_video_key"]


def test_plan_reads_codecs_container_and_size():
    """The decision alone, from ffprobe-like JSON: what plays as stored, what is copied, what is encoded."""
    from pva.media.transcode import Encoding, plan

    def probe_of(codec, *, pix="yuv420p", profile="High", audio="aac", w=1920, h=1080, kbps=None, rotation=None):
        v = {"codec_type": "video", "codec_name": codec, "pix_fmt": pix, "profile": profile, "width": w, "height": h}
        if kbps:
            v["bit_rate"] = str(kbps * 1000)
        if rotation is not None:
            v["side_data_list"] = [{"side_data_type": "Display Matrix", "rotation": rotation}]
        streams = [v] + ([{"codec_type": "audio", "codec_name": audio}] if audio else [])
        return {"format": {"duration": "10.0"}, "streams": streams}

    enc = Encoding(max_side=1280, max_kbps=4000)
    assert plan(probe_of("h264"), container="mp4", enc=enc).action == "as_stored"
    assert plan(probe_of("h264", audio=None), container="mp4", enc=enc).action == "as_stored"
    # a heavy 4K H.264: served as stored in MP4, made lighter rather than copied out of a MOV
    big = probe_of("h264", w=3840, h=2160, kbps=50000)
    assert plan(big, container="mp4", enc=enc).action == "as_stored"
    assert plan(big, container="mov", enc=enc).action == "transcode"
    assert plan(probe_of("h264"), container="mkv", enc=enc).action == "remux"
    ten_bit = plan(probe_of("h264", pix="yuv420p10le", profile="High 10"), container="mp4", enc=enc)
    assert ten_bit.action == "transcode" and not ten_bit.copy_video
    pcm = plan(probe_of("h264", audio="pcm_s16le"), container="mov", enc=enc)
    assert pcm.action == "transcode" and pcm.copy_video and not pcm.copy_audio  # only the audio is encoded
    for codec, words in (("hevc", "HEVC"), ("prores", "ProRes"), ("wmv3", "WMV"), ("vp9", "VP9")):
        p = plan(probe_of(codec), container="mov", enc=enc)
        assert p.action == "transcode" and words in p.reason
    upright = plan(probe_of("hevc", w=1920, h=1080, rotation=-90), container="mov", enc=enc)
    assert (upright.width, upright.height, upright.rotation) == (1080, 1920, 90)
    with pytest.raises(ValueError, match="no video stream"):
        plan({"format": {}, "streams": [{"codec_type": "audio", "codec_name": "aac"}]}, container="mp4")


def test_http_post_of_a_truncated_video_is_422_with_the_reason(fn, samples):
    resp = fn("http", samples["truncated.mp4"].read_bytes(), "video/mp4")
    payload = json.loads(resp.body)
    assert resp.status_code == 422 and "damaged or truncated" in payload["error"], payload
