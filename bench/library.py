"""A new library, fully analysed: N 12 MP photos (faces, objects, text, nothing) loaded with `pva load` into a fresh
database while the analysis functions run with their default workers (as `pva functions serve` starts them),
then every analysis through the real queues and functions (issue 20).

Prints, for the same photos in the same run:
  - photos fully analysed per hour (from the start of `pva load` to the last analysis done) and the projected
    time for 100,000 photos (from that rate, and from the CPU seconds per photo on 2 cores);
  - when each stage finished (ingest: browsable; detect/faces; ocr) — the priorities at work;
  - CPU seconds per photo for ingest and for each analysis (the function's queue workers, /proc, up to the
    moment that analysis is done for every photo);
  - the share of the analyses' job time spent downloading, decoding, in the model, storing and elsewhere (claim,
    finish), summed from the "analysis timings" lines the pipeline logs for each job;
  - the ratio to the raw model calls on the same original photos (each task's analyze_bytes, 2 processes):
    CPU (analyses / raw, and ingest + analyses / raw) and wall time (pipeline / raw).
Then (``--videos``) short videos are loaded and analysed on their own, and their time is printed.

Runs on the embedded stack with a database, RabbitMQ vhost and buckets of its own, removed at the end.  Needs
../shared (the fixtures and the YOLO model).

    .venv/bin/python bench/library.py [--photos 24] [--videos 2]      # about 3 minutes on 2 busy cores
    .venv/bin/python bench/library.py --photos 200                      # a larger library
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from analysis import RUN, SHARED, BenchEnv, _cpu  # noqa: E402  (bench/analysis.py: the isolated environment)

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from function_helpers import runtime_copy  # noqa: E402

PHOTO_KINDS = ("detect", "faces", "ocr")
FUNCTIONS = ("detect", "faces", "ocr", "transcribe")
CONTENTS = ("faces", "objects", "text", "nothing")


# ------------------------------------------------------------------ the library
def _background(rng, h: int = 3000, w: int = 4000):
    """A photo-like background: smooth gradients plus blocky noise (compresses like a camera JPEG)."""
    import numpy as np

    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    shift = float(rng.integers(0, 200))
    base = np.stack([(x * 200 + shift) % 255 + 0 * y, (y * 180 + 50) + 0 * x, ((x + y) * 120) % 255], axis=2)
    noise = rng.normal(0, 14, (h // 4, w // 4, 3)).astype(np.float32)
    noise = np.repeat(np.repeat(noise, 4, axis=0), 4, axis=1)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def make_photo(path: Path, i: int) -> str:
    """One 12 MP JPEG (4000x3000 as displayed) with camera EXIF; what it shows cycles through CONTENTS:
    the zidane fixture (two faces, people), the bus fixture (people, a bus; stored turned, EXIF orientation 6),
    the Japanese shop fixture (signs with text), or nothing.  Each photo has a patch of its own (no duplicates)."""
    import numpy as np
    import piexif
    from PIL import Image

    rng = np.random.default_rng(i)
    content = CONTENTS[i % len(CONTENTS)]
    canvas = Image.fromarray(_background(rng))
    orientation = 1
    if content == "faces":
        canvas.paste(Image.open(SHARED / "fixtures/detect/zidane.jpg").convert("RGB").resize((4000, 2250)), (0, 375))
    elif content == "objects":
        canvas.paste(Image.open(SHARED / "fixtures/detect/bus.jpg").convert("RGB").resize((2250, 3000)), (875, 0))
    elif content == "text":
        shop = Image.open(SHARED / "fixtures/ocr/japanese-shop.jpg").convert("RGB")
        canvas.paste(shop.crop((0, 0, 4000, min(3000, shop.height))), (0, 0))
    patch = rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)
    canvas.paste(Image.fromarray(patch), (8, 8))
    if content == "objects":  # stored as a phone in portrait would: turned, with orientation 6
        canvas = canvas.transpose(Image.Transpose.ROTATE_90)
        orientation = 6
    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"BenchCam", piexif.ImageIFD.Model: f"Model {i % 3}".encode(),
                piexif.ImageIFD.Orientation: orientation},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: f"2023:05:{1 + i % 28:02d} 12:00:00".encode()},
    })
    canvas.save(path, "JPEG", quality=90, exif=exif)
    return content


def library(work: Path, n: int) -> list[tuple[Path, str]]:
    src = work / "photos"
    src.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = src / f"IMG_{i:05d}.jpg"
        out.append((p, make_photo(p, i)))
    return out


# ------------------------------------------------------------------ raw model calls (2 processes)
_TASKS: dict = {}


def _init_raw() -> None:
    import logging

    logging.disable(logging.WARNING)
    from pva.jobs.tasks.detect import DetectTask
    from pva.jobs.tasks.faces import FacesTask
    from pva.jobs.tasks.ocr import OcrTask

    _TASKS.update(detect=DetectTask(), faces=FacesTask(), ocr=OcrTask())


def _raw_call(args: tuple[str, str]) -> tuple[str, float]:
    """One task's analyze_bytes on the original file's bytes (decode included); its CPU seconds."""
    kind, path = args
    data = Path(path).read_bytes()
    t0 = os.times()
    _TASKS[kind].analyze_bytes(data, "image/jpeg")
    t1 = os.times()
    return kind, (t1.user - t0.user) + (t1.system - t0.system) + (t1.children_user - t0.children_user) \
        + (t1.children_system - t0.children_system)


def raw_run(photos: list[Path]) -> tuple[float, dict[str, float]]:
    """(wall seconds, CPU seconds per kind) of the raw calls of every photo analysis, on 2 processes."""
    with ProcessPoolExecutor(2, initializer=_init_raw) as pool:
        list(pool.map(_raw_call, [(k, str(photos[0])) for k in PHOTO_KINDS] * 2))  # first inferences: not measured
        t0 = time.perf_counter()
        cpu: dict[str, float] = defaultdict(float)
        for kind, c in pool.map(_raw_call, [(k, str(p)) for p in photos for k in PHOTO_KINDS], chunksize=1):
            cpu[kind] += c
        return time.perf_counter() - t0, dict(cpu)


# ------------------------------------------------------------------ through the functions
def _states(owner) -> dict[str, dict[str, int]]:
    from pva.infra import db

    rows = db.query("""select a.kind, a.status, count(*) n from analysis a join media m on m.id = a.media_id
                        where m.owner_id = %s group by a.kind, a.status""", (owner,))
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        out[r["kind"]][r["status"]] = r["n"]
    return out


def _load(src: Path, username: str) -> tuple[subprocess.Popen, float]:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen([sys.executable, "-m", "pva.cli", "load", str(src), "--owner", username,
                             "--no-progress"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, ru.ru_utime + ru.ru_stime


def run_library(env: BenchEnv, src: Path, expected: dict[str, int], pids: dict[str, list[int]],
                timeout: float) -> dict:
    """`pva load src` while the functions run; waits until every expected job is done or failed.
    Returns wall times (load, each kind finished, all), CPU per function and of the load."""
    from pva.infra import db

    username = db.query_one("select username from users where id = %s", (env.owner,))["username"]
    c0 = {f: _cpu(p) for f, p in pids.items()}
    t0 = time.perf_counter()
    proc, ru0 = _load(src, username)
    finished: dict[str, float] = {}
    cpu_done: dict[str, float] = {}
    load_s = None
    deadline = time.monotonic() + timeout
    while True:
        if load_s is None and proc.poll() is not None:
            load_s = time.perf_counter() - t0
            out, err = proc.communicate()
            if proc.returncode != 0:
                raise SystemExit(f"pva load failed: {out}\n{err}")
            ru = resource.getrusage(resource.RUSAGE_CHILDREN)
            load_cpu = ru.ru_utime + ru.ru_stime - ru0
        st = _states(env.owner)
        for kind, n in expected.items():
            ended = st.get(kind, {}).get("done", 0) + st.get(kind, {}).get("failed", 0)
            if kind not in finished and ended >= n:
                finished[kind] = time.perf_counter() - t0
                if kind in pids:  # its workers' CPU up to now: not their idle polling while the others finish
                    cpu_done[kind] = _cpu(pids[kind]) - c0[kind]
        if load_s is not None and len(finished) == len(expected):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"analyses not finished after {timeout:.0f}s: {dict(st)}")
        time.sleep(0.1)
    failed = {k: v.get("failed", 0) for k, v in st.items() if v.get("failed")}
    return {"wall": time.perf_counter() - t0, "load_s": load_s, "load_cpu": load_cpu, "finished": finished,
            "cpu": {f: cpu_done.get(f, _cpu(p) - c0[f]) for f, p in pids.items()}, "failed": failed}


def job_times(log_dir: Path) -> dict[str, dict[str, float]]:
    """Per kind: summed seconds of the jobs (the function's "analysis" line) and of their parts ("analysis
    timings": download, decode, model, store), from the functions' JSON logs."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for f in log_dir.glob("*.queue.*.log"):
        for line in f.read_text(errors="replace").splitlines():
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("msg") == "analysis timings":
                for part in ("download", "decode", "model", "store"):
                    out[rec["kind"]][part] += float(rec.get(f"{part}_s") or 0)
            elif rec.get("msg") == "analysis" and "seconds" in rec:
                out[rec["kind"]]["job"] += float(rec["seconds"])
                out[rec["kind"]]["jobs"] += 1
    return out


# ------------------------------------------------------------------ faces: recall on a bounded image
def _recall_canvases():
    """12 MP canvases of real photos at many sizes (faces from ~30 to ~400 px): the astronaut and the cameraman
    (scikit-image), zidane and bus (../shared)."""
    import skimage.data as skd
    from PIL import Image

    srcs = {"astronaut": Image.fromarray(skd.astronaut()), "camera": Image.fromarray(skd.camera()).convert("RGB"),
            "zidane": Image.open(SHARED / "fixtures/detect/zidane.jpg").convert("RGB"),
            "bus": Image.open(SHARED / "fixtures/detect/bus.jpg").convert("RGB")}
    plan = [("zidane", 1800), ("astronaut", 900), ("astronaut", 600), ("camera", 600), ("bus", 1200),
            ("zidane", 1200), ("astronaut", 420), ("camera", 420), ("astronaut", 300), ("camera", 300),
            ("zidane", 800), ("bus", 800), ("astronaut", 220), ("camera", 220)]
    canvases, x, y, rowh = [], 0, 0, 0
    cur = Image.new("RGB", (4000, 3000), (120, 130, 140))
    for name, w in plan:
        im = srcs[name]
        h = round(im.height * w / im.width)
        if x + w > 4000:
            x, y, rowh = 0, y + rowh, 0
        if y + h > 3000:
            canvases.append(cur)
            cur, x, y, rowh = Image.new("RGB", (4000, 3000), (120, 130, 140)), 0, 0, 0
        cur.paste(im.resize((w, h), Image.Resampling.LANCZOS), (x, y))
        x, rowh = x + w, max(rowh, h)
    canvases.append(cur)
    return canvases, srcs


def faces_recall() -> None:
    """Faces found on the analysis preview (and other bounded images) against HOG on the full 12 MP image."""
    import io

    from PIL import Image

    from pva.jobs import ANALYSIS_PREVIEW_DRAFT, ANALYSIS_PREVIEW_PX, ANALYSIS_PREVIEW_QUALITY
    from pva.media.image import load_image
    from pva.media.thumbs import make_thumbnails
    from pva.ml.faces import FaceEngine, box_iou

    canvases, srcs = _recall_canvases()
    jpegs = []
    for c in canvases:
        buf = io.BytesIO()
        c.save(buf, "JPEG", quality=92)
        jpegs.append(buf.getvalue())
    full = FaceEngine(detect_max_side=100000)
    truth = [[f.box for f in full.detect(load_image(j, rgb=True))] for j in jpegs]
    n_truth = sum(len(t) for t in truth)
    previews = []
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for i, j in enumerate(jpegs):  # made as ingest makes it: from the file, JPEG draft decode
            (Path(tmp) / f"{i}.jpg").write_bytes(j)
            previews.append(make_thumbnails(Path(tmp) / f"{i}.jpg", {"a": ANALYSIS_PREVIEW_PX},
                                            qualities={"a": ANALYSIS_PREVIEW_QUALITY},
                                            draft_fraction=ANALYSIS_PREVIEW_DRAFT)["a"])
    side = max(Image.open(io.BytesIO(previews[0])).size)
    configs = [("before: original, HOG at 1600", FaceEngine(), lambda j, p: load_image(j, max_side=4096, rgb=True)),
               (f"analysis preview {side}, HOG at 1600", FaceEngine(), lambda j, p: load_image(p, rgb=True)),
               (f"analysis preview {side}, HOG at 1280", FaceEngine(detect_max_side=1280),
                lambda j, p: load_image(p, rgb=True)),
               (f"analysis preview {side}, HOG at {side}, no upsampling", FaceEngine(upsample=0, detect_max_side=side),
                lambda j, p: load_image(p, rgb=True))]
    print(f"\nfaces recall against HOG on the full 12 MP image ({n_truth} faces on {len(jpegs)} canvases of real "
          "photos at many sizes)")
    rows = []
    for name, engine, image in configs:
        found = hit = 0
        cpu = 0.0
        largest = None
        for j, p, t in zip(jpegs, previews, truth):
            t0 = os.times()
            faces = engine.detect(image(j, p))
            t1 = os.times()
            cpu += (t1.user - t0.user) + (t1.system - t0.system)
            found += len(faces)
            for g in t:
                if any(box_iou(g, f.box) >= 0.3 for f in faces):
                    hit += 1
                elif largest is None or g[2] > largest:
                    largest = g[2]
        rows.append((name, f"{hit}/{n_truth}", f"{found}", f"{cpu / len(jpegs):.2f}",
                     f"{largest * 4000:.0f} px" if largest else "-"))
    print(_table(rows, ("faces on", "recall", "found", "CPU s/photo", "widest face missed (of 4000 px)")))
    counts = []
    for name, im in srcs.items():
        counts.append((name, str(len(FaceEngine().detect(im)))))
    print("faces in the real photos themselves: " + ", ".join(f"{n} {c}" for n, c in counts))


# ------------------------------------------------------------------ main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--photos", type=int, default=24, help="12 MP photos (default 24)")
    ap.add_argument("--videos", type=int, default=2, help="short videos loaded after the photos (default 2)")
    ap.add_argument("--no-raw", action="store_true", help="skip the raw model calls (no ratios)")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--faces-recall", action="store_true",
                    help="only measure face recall on bounded images against the full resolution (no services)")
    args = ap.parse_args(argv)
    import signal

    # `timeout` or Ctrl-C: leave through the finally blocks, which remove the database, vhost and buckets
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.faces_recall:
        faces_recall()
        return 0
    for f in ("detect/zidane.jpg", "detect/bus.jpg", "ocr/japanese-shop.jpg"):
        if not (SHARED / "fixtures" / f).is_file():
            raise SystemExit(f"bench/library.py needs ../shared/fixtures/{f}")
    import tempfile

    from pva.runtime import Processor, load_function

    work = Path(tempfile.mkdtemp(prefix="pva-bench-library-"))
    try:
        print(f"generating {args.photos} 12 MP photos ...", flush=True)
        photos = library(work, args.photos)
        mix = {c: sum(1 for _, k in photos if k == c) for c in CONTENTS}
        keep = work / "keep"  # pva load moves the files away: the raw calls read these copies
        shutil.copytree(work / "photos", keep)
        with BenchEnv() as env:
            saved_level = os.environ.get("PVA_LOG_LEVEL")
            os.environ["PVA_LOG_LEVEL"] = "INFO"  # the workers log each job's timings
            try:
                fdirs = [runtime_copy(REPO / "functions" / f, work / "functions", workers=None,
                                      queue_suffix=f"-bench-{RUN}") for f in FUNCTIONS]
                log_dir = work / "logs"
                with Processor([load_function(d) for d in fdirs], log_dir=log_dir) as p:
                    pids = {f: p.worker_pids(f"pva-{f}", "queue") for f in FUNCTIONS}
                    workers = {f: len(v) for f, v in pids.items()}
                    print(f"functions ready ({', '.join(f'{f} x{n}' for f, n in workers.items())}); loading ...",
                          flush=True)
                    res = run_library(env, work / "photos", {k: args.photos for k in PHOTO_KINDS}, pids,
                                      args.timeout)
                    times = job_times(log_dir)
                    vres = None
                    if args.videos:
                        import media_fixtures as mf

                        vdir = work / "videos"
                        vdir.mkdir()
                        for i in range(args.videos):
                            mf.make_video(vdir / f"VID_{i}.mp4", duration=4.0 + i, size=(1280, 720), fps=25,
                                          audio=True)
                        vres = run_library(env, vdir, {"transcribe": args.videos, "detect": args.photos + args.videos,
                                                       "faces": args.photos + args.videos}, pids, args.timeout)
            finally:
                if saved_level is None:
                    os.environ.pop("PVA_LOG_LEVEL", None)
                else:
                    os.environ["PVA_LOG_LEVEL"] = saved_level
        raw = None if args.no_raw else raw_run([keep / p.name for p, _ in photos])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(args, mix, workers, res, times, raw, vres)
    return 1 if res["failed"] else 0


def report(args, mix, workers, res, times, raw, vres) -> None:
    n = args.photos
    rate_h = n / res["wall"] * 3600
    analysis_cpu = {k: res["cpu"][k] / n for k in PHOTO_KINDS}
    total_cpu = res["load_cpu"] / n + sum(analysis_cpu.values())
    print(f"\n{n} photos of 12 MP ({', '.join(f'{v} {k}' for k, v in mix.items())}), default workers "
          f"({', '.join(f'{f} x{w}' for f, w in workers.items())}), {os.cpu_count()} cores")
    print(f"fully analysed: {rate_h:,.0f} photos/hour ({n / res['wall']:.2f}/s; aim >= 2.3/s)")
    print(f"100,000 photos: {100000 / rate_h:.1f} h at this rate; {100000 * total_cpu / (os.cpu_count() or 2) / 3600:.1f} h "
          f"from the CPU per photo on {os.cpu_count()} cores (aim < 12 h)")
    fin = res["finished"]
    print(f"timeline: load done {res['load_s']:.1f}s (browsable), detect {fin['detect']:.1f}s, faces "
          f"{fin['faces']:.1f}s, ocr {fin['ocr']:.1f}s, all {res['wall']:.1f}s")
    if res["failed"]:
        print(f"FAILED jobs: {res['failed']}")
    print("\nCPU seconds per photo")
    rows = [("ingest (pva load)", f"{res['load_cpu'] / n:.3f}", "", "")]
    for k in PHOTO_KINDS:
        r = raw[1].get(k, 0) / n if raw else None
        rows.append((k, f"{analysis_cpu[k]:.3f}", f"{r:.3f}" if r else "-", f"{analysis_cpu[k] / r:.2f}" if r else "-"))
    if raw:
        raw_cpu = sum(raw[1].values()) / n
        rows.append(("analyses", f"{sum(analysis_cpu.values()):.3f}", f"{raw_cpu:.3f}",
                     f"{sum(analysis_cpu.values()) / raw_cpu:.2f}"))
        rows.append(("ingest + analyses", f"{total_cpu:.3f}", f"{raw_cpu:.3f}", f"{total_cpu / raw_cpu:.2f}"))
    print(_table(rows, ("", "pipeline", "raw call", "ratio")))
    if raw:
        print(f"wall: pipeline (load + every analysis) {res['wall']:.1f}s, raw calls on 2 processes {raw[0]:.1f}s: "
              f"ratio {res['wall'] / raw[0]:.2f} (aim <= 1.1; the analyses' workers run niced, so other load on the "
              "machine slows them and not the raw calls: quote the CPU ratios on a shared machine)")
    print("\nwhere the analyses' job time goes (share of the summed job seconds)")
    rows = []
    for k in PHOTO_KINDS:
        t = times.get(k) or {}
        job = t.get("job") or 1e-9
        parts = [t.get(p, 0.0) for p in ("download", "decode", "model", "store")]
        rows.append((k, f"{int(t.get('jobs', 0))}", f"{job / max(1, t.get('jobs', 1)):.3f}",
                     *[f"{100 * x / job:.0f}%" for x in parts], f"{100 * max(0.0, job - sum(parts)) / job:.0f}%"))
    print(_table(rows, ("kind", "jobs", "s/job", "download", "decode", "model", "store", "other")))
    print("(decode: the analysis preview or the original read by the pipeline; OCR decodes inside its model call)")
    if vres:
        print(f"\n{args.videos} videos: load {vres['load_s']:.1f}s, all analyses {vres['wall']:.1f}s; transcribe "
              f"{vres['cpu']['transcribe'] / args.videos:.2f} CPU s per video")


def _table(rows, headers) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers), fmt.format(*["-" * w for w in widths])]
                     + [fmt.format(*[str(x) for x in r]) for r in rows])


if __name__ == "__main__":
    sys.exit(main())
