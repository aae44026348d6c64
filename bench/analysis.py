"""Throughput of the detect and ocr functions through the local runtime, beside the raw model call.

For each function, on the same images in the same run:
  raw      the model wrapper called directly, in 2 processes (Detector.detect / OcrEngine.recognize on the bytes)
  queue    jobs published with pva.jobs.publish_jobs, run by the function's rabbit-mq trigger with 2 workers:
           claim, download the original from S3, analyse, store the results and finish the job (real services)
  http     the same bytes POSTed to the function's http trigger (2 workers, 2 concurrent clients)
and prints images/s, CPU ms per image and the overhead ratios raw / path (aim: at most 1.1).
The three run interleaved for a few rounds and the best of each is kept, so other load on the machine does not
favour one of them.
OCR, the raw engine call on one core (issue 19): CPU seconds (median of the rounds) and character accuracy per
12 MP photo without text (photo-like: blotches, foliage, gravel and sky), with small text, and per real photo in
../shared, beside the aims (0.5 s without text, 1.5 s with); --ocr-before REF measures the engine as it was at a
git commit in the same process, interleaved, and prints now/before.

Runs on the embedded stack (`pva.stack.up()`) with a dedicated database, vhost and buckets, removed at the end.
Needs ../shared (bus.jpg, zidane.jpg, the dev YOLO model) for detect; OCR images are generated.

    .venv/bin/python bench/analysis.py [--detect-images 48] [--ocr-images 12]
    .venv/bin/python bench/analysis.py --ocr-only --ocr-before HEAD~1 --rounds 3
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))
from function_helpers import runtime_copy  # noqa: E402

SHARED = REPO.parent / "shared"
WORKERS = 2
RUN = secrets.token_hex(4)


# ------------------------------------------------------------------ environment
def _reload():
    from pva.infra import db, storage
    from pva.config import reload_settings

    db.close_pool()
    storage.reset()
    return reload_settings()


class BenchEnv:
    """The embedded stack with a database, RabbitMQ vhost and buckets of our own (removed on exit)."""

    def __enter__(self) -> "BenchEnv":

        from pva import stack
        from pva.infra.migrate import migrate

        self._old = {k: os.environ.get(k) for k in ("PVA_DATABASE_URL", "PVA_AMQP_URL", "PVA_BUCKET_ORIGINALS",
                                                    "PVA_BUCKET_THUMBS", "PVA_BUCKET_INBOX", "PVA_LOG_LEVEL")}
        os.environ["PVA_LOG_LEVEL"] = "WARNING"  # per-job info logs are not what we measure
        _reload()
        stack.up(log=lambda *a, **k: None)
        s = _reload()
        self.base_db = s.effective_database_url
        self.dbname = f"pva_bench_{RUN}"
        from pva.infra import db

        url = db.create_database(self.dbname, self.base_db)
        migrate(url, log=lambda *a: None)
        os.environ["PVA_DATABASE_URL"] = url
        amqp = s.effective_amqp_url
        self.vhost = None
        ctl = shutil.which("rabbitmqctl")
        if ctl and amqp.startswith("amqp://guest:guest@127.0.0.1"):
            vhost = f"pva-bench-{RUN}"
            ok = all(subprocess.run(c, capture_output=True, timeout=60).returncode == 0 for c in (
                [ctl, "add_vhost", vhost], [ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"]))
            if ok:
                self.vhost = vhost
                amqp = amqp.rstrip("/") + "/" + vhost
        os.environ["PVA_AMQP_URL"] = amqp
        for kind in ("originals", "thumbs", "inbox"):
            os.environ[f"PVA_BUCKET_{kind.upper()}"] = f"bench{RUN}-{kind}"
        _reload()
        from pva.infra.storage import get_storage

        get_storage().ensure_buckets()
        from pva.infra import db

        self.owner = db.query_one("insert into users(username, password_hash) values (%s, '!') returning id",
                                  (f"bench-{RUN}",))["id"]
        self.tmp = Path(tempfile.mkdtemp(prefix="pva-bench-"))
        return self

    def __exit__(self, *exc) -> None:
        from pva.infra import db
        from pva.config import get_settings
        from pva.infra.storage import get_storage

        s = get_settings()
        st = get_storage()
        for b in (s.bucket_originals, s.bucket_thumbs, s.bucket_inbox):
            try:
                st.remove_bucket(b)
            except Exception:  # best effort: a leftover scratch bucket harms nothing
                pass
        db.close_pool()
        db.drop_database(self.dbname, self.base_db)
        if self.vhost:
            subprocess.run([shutil.which("rabbitmqctl"), "delete_vhost", self.vhost], capture_output=True,
                           timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)
        for k, v in self._old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reload()

    def add_media(self, data: bytes, name: str, kind: str) -> uuid.UUID:
        """Store an original and its media row + queued job, as ingest does."""
        from pva.infra import db
        from pva.config import get_settings
        from pva.db import analysis as analysis_q
        from pva.db import media as media_q
        from pva.infra.storage import get_storage

        s = get_settings()
        mid = uuid.uuid4()
        key = f"bench/{mid}/{name}"
        get_storage().put(s.bucket_originals, key, data, length=len(data))
        fmt = ("png", "image/png") if name.endswith(".png") else ("jpeg", "image/jpeg")
        with db.transaction() as cur:
            # bench copies of the same picture: the digest includes the id so they are distinct media
            media_q.insert(cur, {"id": mid, "owner_id": self.owner, "kind": "photo", "format": fmt[0],
                                 "mime": fmt[1], "size": len(data), "storage_key": key, "original_path": key,
                                 "filename": name, "sha512": hashlib.sha512(data + mid.bytes).digest()})
            analysis_q.insert_queued(cur, mid, [kind])
        return mid


def function_copy(name: str, dst_root: Path) -> Path:
    """functions/<name> with WORKERS workers per trigger, an ephemeral HTTP port and a queue of its own."""
    return runtime_copy(REPO / "functions" / name, dst_root, workers=WORKERS, queue_suffix=f"-bench-{RUN}")


# ------------------------------------------------------------------ images
def detect_images(n: int) -> list[tuple[str, bytes]]:
    files = [SHARED / "fixtures" / "detect" / f for f in ("bus.jpg", "zidane.jpg")]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise SystemExit(f"detect bench needs ../shared: {', '.join(missing)} absent")
    data = [(f.name, f.read_bytes()) for f in files]
    return [data[i % len(data)] for i in range(n)]


def ocr_images(n: int) -> list[tuple[str, bytes]]:
    from PIL import Image, ImageDraw, ImageFont

    font_path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    font = ImageFont.truetype(str(font_path), 36) if font_path.is_file() else ImageFont.load_default()
    out = []
    for i in range(n):
        img = Image.new("RGB", (1400, 360), "white")
        d = ImageDraw.Draw(img)
        for j, line in enumerate([f"Receipt number {1000 + i} from the harbour cafe",
                                  f"Two coffees and {i % 7 + 1} croissants, total {i + 3}.50 euros",
                                  "Thank you for your visit, see you again soon"]):
            d.text((40, 40 + 100 * j), line, font=font, fill="black")
        buf = io.BytesIO()
        img.save(buf, "PNG")
        out.append((f"receipt{i}.png", buf.getvalue()))
    return out


# ------------------------------------------------------------------ raw model calls (2 processes)
_MODEL = None


def _init_raw(kind: str) -> None:
    global _MODEL
    if kind == "detect":
        from pva.ml.objects import Detector

        _MODEL = Detector().detect
    else:
        from pva.ml.ocr import create_engine

        _MODEL = create_engine().recognize  # the engine the ocr function runs (PVA_OCR_ENGINE)


def _raw_call(data: bytes) -> float:
    """Analyse one image; returns the CPU seconds it took (this process and its children: tesseract)."""
    t0 = os.times()
    _MODEL(data)
    t1 = os.times()
    return (t1.user - t0.user) + (t1.system - t0.system) + (t1.children_user - t0.children_user) \
        + (t1.children_system - t0.children_system)


def _cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these processes and their waited-for children (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def bench_raw(pool: ProcessPoolExecutor, images: list[tuple[str, bytes]]) -> tuple[float, float]:
    t0 = time.perf_counter()
    cpu = sum(pool.map(_raw_call, [d for _, d in images], chunksize=1))
    return len(images) / (time.perf_counter() - t0), cpu / len(images)


# ------------------------------------------------------------------ through the runtime
def _wait_done(ids: list, timeout: float) -> tuple[int, int]:
    from pva.infra import db

    deadline = time.monotonic() + timeout
    while True:
        row = db.query_one("""select count(*) filter (where status = 'done') done,
                                     count(*) filter (where status = 'failed') failed
                                from analysis where media_id = any(%s::uuid[])""", ([str(i) for i in ids],))
        if row["done"] + row["failed"] == len(ids):
            return row["done"], row["failed"]
        if time.monotonic() > deadline:
            raise SystemExit(f"jobs not finished after {timeout:.0f}s: {row}")
        time.sleep(0.05)


def bench_queue(env: BenchEnv, kind: str, images: list[tuple[str, bytes]], pids: list[int]) -> tuple[float, float]:
    from pva import jobs

    ids = [env.add_media(d, n, kind) for n, d in images]  # stored before the clock starts, as ingest would
    c0, t0 = _cpu(pids), time.perf_counter()
    jobs.publish_jobs([(m, kind) for m in ids])
    done, failed = _wait_done(ids, 600)
    rate, cpu = len(ids) / (time.perf_counter() - t0), (_cpu(pids) - c0) / len(ids)
    if failed:
        raise SystemExit(f"{failed} {kind} jobs failed")
    return rate, cpu


def bench_http(port: int, images: list[tuple[str, bytes]], pids: list[int]) -> tuple[float, float]:
    from pva.services import function_auth

    def post(data: bytes) -> None:  # signed as the gateway signs, for the bench's user (BenchEnv)
        auth = function_auth.sign("POST", "/", f"bench-{RUN}", data, content_type="application/octet-stream")
        req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=data, method="POST",
                                     headers={"Content-Type": "application/octet-stream", **auth})
        with urllib.request.urlopen(req, timeout=300) as r:
            json.loads(r.read())

    with ThreadPoolExecutor(WORKERS) as ex:
        c0, t0 = _cpu(pids), time.perf_counter()
        list(ex.map(post, [d for _, d in images]))
        return len(images) / (time.perf_counter() - t0), (_cpu(pids) - c0) / len(images)


def bench_function(env: BenchEnv, name: str, images: list[tuple[str, bytes]], rounds: int) -> dict:
    """Raw, queue and http runs interleaved for ``rounds`` rounds (the best of each is kept), so that load from
    anything else on the machine hits all three alike.  Besides images/s, the CPU seconds per image of the
    processes doing the work (raw: the pool; queue/http: the function's workers) give an overhead figure that
    other load on the machine does not distort."""
    from pva.runtime import Processor, load_function

    fdir = function_copy(name, env.tmp / name)
    rate = {"raw": 0.0, "queue": 0.0, "http": 0.0}
    cpu = {"raw": float("inf"), "queue": float("inf"), "http": float("inf")}
    warm = images[:WORKERS * 2]
    with ProcessPoolExecutor(WORKERS, initializer=_init_raw, initargs=(name,)) as pool, \
            Processor([load_function(fdir)], log_dir=env.tmp / name / "logs") as p:
        port = p.http_port(f"pva-{name}")
        qpids, hpids = p.worker_pids(f"pva-{name}", "queue"), p.worker_pids(f"pva-{name}", "http")
        runs = {"raw": lambda imgs: bench_raw(pool, imgs),
                "queue": lambda imgs: bench_queue(env, name, imgs, qpids),
                "http": lambda imgs: bench_http(port, imgs, hpids)}
        for fn in runs.values():  # first inferences are slow (allocations, caches): not measured
            fn(warm)
        for _ in range(rounds):
            for path, fn in runs.items():
                r, c = fn(images)
                rate[path], cpu[path] = max(rate[path], r), min(cpu[path], c)
    return {"function": name, "images": len(images), "rate": rate, "cpu": cpu}


OCR_AIMS = {"with text": 1.5, "without text": 0.5}  # CPU seconds per 12 MP photo, one core (issue 19)


def _engine_at(ref: str | None):
    """The OCR engine the settings name, or with ``ref`` the RapidOCR engine of pva/ml/ocr.py as it was at that git
    commit (loaded beside today's, so both are measured in the same process), at the detector side it had."""
    from pva.ml.ocr import create_engine

    if not ref:
        return create_engine()
    import importlib.util

    src = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:pva/ml/ocr.py"], capture_output=True, text=True,
                         check=True).stdout
    cfg = subprocess.run(["git", "-C", str(REPO), "show", f"{ref}:pva/config.py"], capture_output=True, text=True,
                         check=True).stdout
    side = next((int(line.split("default=")[1].split(",")[0]) for line in cfg.splitlines()
                 if "ocr_det_side" in line and "default=" in line), None)
    path = Path(tempfile.mkdtemp(prefix="pva-bench-ocr-")) / "ocr_at_ref.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("pva.ml.ocr_at_ref", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod.RapidOcrEngine(det_side=side)


def ocr_photos() -> list[tuple[str, str, object, object]]:
    """(name, "without text"|"with text"|"real", image source, expected text or None for a real photo): 12 MP JPEGs
    without text (photo-like: gradients, foliage, gravel and sky), one with a sign of small text pasted in (it must
    be found: the preview pass, then the finer pass on its region), and the real photos in ../shared."""
    import test_ocr_quality as q

    out = [(name, "without text", q.jpeg(img), "") for name, img in q.text_free_photos().items()]
    with_text = q.photo_background()
    with_text.paste(q.sign(px=30, bg=(250, 250, 250)), (2600, 2200))
    out.append(("small sign", "with text", q.jpeg(with_text), " ".join(q.SIGN)))
    out += [(Path(n).name, "real", q.SHARED / n, None) for n in q.REAL if (q.SHARED / n).is_file()]
    return out


def ocr_12mp(rounds: int, before: str | None = None) -> list[dict]:
    """CPU seconds of the raw OCR engine call per photo (median of ``rounds``, the engines interleaved) and its
    character accuracy; with ``before`` (a git ref), the same for the engine at that commit."""
    import statistics

    import test_ocr_quality as q

    engines = {"now": _engine_at(None)}
    if before:
        engines["before"] = _engine_at(before)
    photos = ocr_photos()
    for e in engines.values():
        for _, _, src, _ in photos:
            e.recognize(src)  # first inferences allocate: not measured
    times: dict = {}
    acc: dict = {}
    for _ in range(rounds):
        for name, kind, src, text in photos:
            for label, e in engines.items():
                t0 = time.process_time()  # this process's CPU, all its threads
                r = e.recognize(src)
                times.setdefault((name, label), []).append(time.process_time() - t0)
                if text == "":
                    acc[(name, label)] = 1.0 if not r.text else 0.0
                elif text is None:
                    acc[(name, label)] = q.score(r.text, next(n for n in q.REAL if n.endswith(name)))
                else:
                    acc[(name, label)] = q.char_accuracy(r.text.replace("\n", " "), text)
    return [{"name": name, "kind": kind, **{f"{label}_s": statistics.median(times[(name, label)])
                                             for label in engines},
             **{f"{label}_acc": acc[(name, label)] for label in engines}} for name, kind, _, _ in photos]


def print_ocr(rows: list[dict], rounds: int, before: str | None) -> None:
    from pva.config import get_settings

    s = get_settings()
    head = f"{'ocr raw engine call, photo':30} {'kind':12} {'CPU s':>6} {'acc':>5}"
    if before:
        head += f" {'before s':>8} {'acc':>5} {'now/before':>10}"
    print(head)
    for r in rows:
        line = f"{r['name']:30} {r['kind']:12} {r['now_s']:6.2f} {r['now_acc']:5.2f}"
        if before:
            line += f" {r['before_s']:8.2f} {r['before_acc']:5.2f} {r['now_s'] / r['before_s']:10.2f}"
        aim = OCR_AIMS.get(r["kind"])
        print(line + (f"  (aim <= {aim} s)" if aim else ""))
    print(f"(median of {rounds}; CPU seconds of this process, engine {s.ocr_engine}, {s.ocr_threads} thread, "
          f"detector side {s.ocr_det_side}; acc: character accuracy, 1 = a photo without text read as none"
          + (f"; before = pva/ml/ocr.py at {before}" if before else "") + ")")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--detect-images", type=int, default=24, help="images per round (default 24)")
    ap.add_argument("--ocr-images", type=int, default=6, help="images per round (default 6)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each is kept")
    ap.add_argument("--ocr-only", action="store_true", help="only the raw OCR engine call on 12 MP and real photos "
                    "(no stack, no functions)")
    ap.add_argument("--ocr-before", metavar="GIT_REF", help="also measure pva/ml/ocr.py as it was at this commit, "
                    "interleaved in the same process (e.g. HEAD~1)")
    args = ap.parse_args(argv)
    if args.ocr_only:
        print_ocr(ocr_12mp(args.rounds, args.ocr_before), args.rounds, args.ocr_before)
        return 0
    results = []
    with BenchEnv() as env:
        results.append(bench_function(env, "detect", detect_images(args.detect_images), args.rounds))
        results.append(bench_function(env, "ocr", ocr_images(args.ocr_images), args.rounds))
    print(f"{'function':8} {'path':6} {'images/s':>9} {'CPU ms/img':>11} {'overhead (rate)':>16} "
          f"{'overhead (CPU)':>15}")
    for r in results:
        for path in ("raw", "queue", "http"):
            rate, cpu = r["rate"][path], r["cpu"][path]
            o_rate, o_cpu = r["rate"]["raw"] / rate, cpu / r["cpu"]["raw"]
            print(f"{r['function']:8} {path:6} {rate:>9.2f} {cpu * 1000:>11.1f} {o_rate:>16.2f} {o_cpu:>15.2f}")
    print(f"({WORKERS} workers, {args.rounds} interleaved rounds, best of each; overhead (rate) = raw images/s / "
          f"path images/s, overhead (CPU) = path CPU per image / raw CPU per image; aim <= 1.10)")
    print_ocr(ocr_12mp(args.rounds, args.ocr_before), args.rounds, args.ocr_before)
    return 0


if __name__ == "__main__":
    sys.exit(main())
