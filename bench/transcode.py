"""Web previews of videos: seconds of video made playable per second of work, beside plain ffmpeg.

Inputs are generated with ffmpeg (moving test pattern + tone), 1920x1080 at 30 fps: an old camera's MPEG-4 part 2
AVI, and with --hevc also a phone's HEVC MP4.  In the same run, best of --rounds each, alternating:
  ffmpeg     plain ffmpeg with exactly the preview's command line (pva.media.transcode.command, no -progress),
             file to file
  helper     pva.media.transcode.transcode: the same ffmpeg with -progress read by Python (job progress)
  job        the transcode function's whole job: the original downloaded from S3, probed, transcoded, the preview
             put back to S3, the job row finished (pva.jobs.pipeline.run_stored with TranscodeTask)
and prints seconds of video per wall second (x real time) and each one's ratio to plain ffmpeg (aim >= 0.95x), and
the same ratio in CPU seconds (this process and its children: steadier than wall time on a shared machine).
Then memory: the peak RSS of ffmpeg and of the Python process around it for a 4K clip of --mem-seconds and of four
times that (it must not grow with the length: ffmpeg streams file to file).

    .venv/bin/python bench/transcode.py [--seconds 8] [--rounds 2] [--hevc] [--mem-seconds 2]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _env import isolated_env, table  # noqa: E402  (bench/_env.py, beside this file)

SOURCES = {
    "mpeg4.avi": ("avi", "video/x-msvideo", ["-c:v", "mpeg4", "-q:v", "3", "-c:a", "libmp3lame"]),
    "hevc.mp4": ("mp4", "video/mp4", ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=none",
                                      "-tag:v", "hvc1", "-c:a", "aac"]),
}


def make_source(d: Path, name: str, seconds: float, size: str = "1920x1080", rate: int = 30) -> Path:
    out = d / name
    codec = SOURCES[name][2]
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}",
                    "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds), *codec, str(out)],
                   check=True, timeout=600)
    return out


def plain_ffmpeg(src: Path, dst: Path, container: str) -> float:
    from pva.jobs.tasks.transcode import encoding
    from pva.media import transcode as tc
    from pva.media.video import ffprobe_json

    p = tc.plan(ffprobe_json(src), container=container, enc=encoding())
    cmd = tc.command(src, dst, p, encoding(), progress=False)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return time.perf_counter() - t0


def helper(src: Path, dst: Path, container: str) -> float:
    from pva.jobs.tasks.transcode import encoding
    from pva.media import transcode as tc
    from pva.media.video import ffprobe_json

    t0 = time.perf_counter()
    p = tc.plan(ffprobe_json(src), container=container, enc=encoding())
    seen = []
    tc.transcode(src, dst, p, encoding(), progress=seen.append)
    assert seen, "no progress was reported"
    return time.perf_counter() - t0


def store(owner: dict, src: Path, fmt: str, mime: str) -> uuid.UUID:
    from pva.config import get_settings
    from pva.db import analysis as analysis_q
    from pva.db import media as media_q
    from pva.infra import db
    from pva.infra.storage import get_storage

    media_id = uuid.uuid4()
    key = f"{owner['username']}/{media_id.hex}/{src.name}"
    get_storage().put_file(get_settings().bucket_originals, key, src, content_type=mime)
    with db.transaction() as cur:
        media_q.insert(cur, {"id": media_id, "owner_id": owner["id"],
                             "sha512": hashlib.sha512(media_id.bytes).digest(), "kind": "video", "format": fmt,
                             "mime": mime, "size": src.stat().st_size, "storage_key": key,
                             "original_path": src.name, "filename": src.name, "source": "upload"})
        analysis_q.insert_queued(cur, media_id, ["transcode"])
    return media_id


def job(task, owner: dict, src: Path, fmt: str, mime: str) -> float:
    from pva.jobs import pipeline

    media_id = store(owner, src, fmt, mime)
    t0 = time.perf_counter()
    outcome, _ = pipeline.run_stored(task, media_id)
    took = time.perf_counter() - t0
    assert outcome == "done", outcome
    return took


MEM_PROBE = """
import json, resource, sys
from pva.jobs.tasks.transcode import encoding
from pva.media import transcode as tc
from pva.media.video import ffprobe_json
src, dst = sys.argv[1], sys.argv[2]
p = tc.plan(ffprobe_json(src), container="avi", enc=encoding())
tc.transcode(src, dst, p, encoding(), progress=lambda f: None)
print(json.dumps({"ffmpeg_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
                  "python_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def peak_rss(src: Path, dst: Path) -> dict:
    """Peak RSS of the transcode's ffmpeg (the largest child: ffprobe is far smaller) and of its Python process."""
    out = subprocess.run([sys.executable, "-c", MEM_PROBE, str(src), str(dst)], check=True, capture_output=True,
                         text=True, cwd=REPO, timeout=1800).stdout
    return json.loads(out.strip().splitlines()[-1])


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (ffmpeg, ffprobe) so far."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def timed(fn, *a) -> tuple[float, float]:
    c0 = cpu_seconds()
    wall = fn(*a)
    return wall, cpu_seconds() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=8, help="length of each 1080p input (default 8)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--hevc", action="store_true", help="also an HEVC MP4 input (its encoding takes a while)")
    ap.add_argument("--mem-seconds", type=float, default=2, help="the short 4K clip (the long one is 4x)")
    args = ap.parse_args()

    from pva.jobs.tasks.transcode import TranscodeTask, encoding
    from pva.services import auth

    print(f"preview settings: {encoding().signature()}; {os.cpu_count()} cores")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-transcode-") as tmp, isolated_env("transcode") as _env:
        d = Path(tmp)
        owner = auth.create_user(f"bench-{uuid.uuid4().hex[:6]}", "bench password 1")
        task = TranscodeTask()
        for name, (fmt, mime, _) in SOURCES.items():
            if name.startswith("hevc") and not args.hevc:
                continue
            src = make_source(d, name, args.seconds)
            runs = {"ffmpeg": (plain_ffmpeg, src, d / "plain.mp4", fmt), "helper": (helper, src, d / "helper.mp4", fmt),
                    "job": (job, task, owner, src, fmt, mime)}
            best = {k: (float("inf"), float("inf")) for k in runs}
            for _ in range(args.rounds):  # alternating, so a busy moment of the machine hits all three alike
                for what, (fn, *a) in runs.items():
                    wall, cpu = timed(fn, *a)
                    best[what] = (min(best[what][0], wall), min(best[what][1], cpu))
            base_wall, base_cpu = best["ffmpeg"]
            for what, (wall, cpu) in best.items():
                rows.append((name, what, f"{wall:.2f}", f"{args.seconds / wall:.2f}x", f"{base_wall / wall:.3f}",
                             f"{cpu:.2f}", f"{base_cpu / cpu:.3f}"))
        print(table(rows, ("input 1080p30", "path", "wall s", "x real time", "ratio to ffmpeg", "cpu s",
                           "cpu ratio")))

        mem_rows = []
        for seconds in (args.mem_seconds, args.mem_seconds * 4):
            src = d / f"4k-{seconds:g}.avi"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=30",
                            "-f", "lavfi", "-i", "sine=frequency=440", "-t", str(seconds), "-c:v", "mpeg4",
                            "-q:v", "5", "-c:a", "libmp3lame", str(src)], check=True, timeout=1800)
            t0 = time.perf_counter()
            rss = peak_rss(src, d / "mem.mp4")
            took = time.perf_counter() - t0
            mem_rows.append((f"4K {seconds:g} s", f"{src.stat().st_size / 1e6:.0f} MB", f"{took:.1f}",
                             f"{rss['ffmpeg_kb'] / 1024:.0f} MB", f"{rss['python_kb'] / 1024:.0f} MB"))
        print()
        print(table(mem_rows, ("input (MPEG-4 AVI)", "size", "seconds", "ffmpeg peak RSS", "python peak RSS")))


if __name__ == "__main__":
    main()
