"""OCR's CPU per photo, pipeline path against the raw call, on bench/library.py's 12 MP photos (issue 20).

For each content kind bench/library.py generates (faces: zidane; objects: bus, stored turned with EXIF
orientation 6; text: the Japanese shop; nothing: a blank background), in one process, interleaved:
  - pipeline: OcrTask.analyze on an Inputs whose analysis preview is the one ingest makes (make_thumbnails) and
    whose original is the photo on disk (what a worker has once it downloaded them; download time not counted);
  - raw: OcrTask.analyze_bytes on the original's bytes (bench/library.py's raw call).
Prints CPU seconds (time.process_time: every thread of the process) per call, the pipeline / raw ratio per kind
and overall, and the text each path read (they should agree).

    .venv/bin/python bench/ocr_cost.py [--rounds 3] [--photos 8] [--kinds faces,objects,text,nothing]
    .venv/bin/python bench/ocr_cost.py --against HEAD~1   # also the engine and task of that commit, same process
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))


def _photos(work: Path, kinds: list[str], n: int = 4) -> dict[str, tuple[Path, bytes]]:
    """{name: (the 12 MP original's path, its analysis preview JPEG as ingest makes it)}: bench/library.py's first
    ``n`` photos of the given kinds (each has a background and a patch of its own), named content-index."""
    from library import CONTENTS, make_photo

    from pva import jobs
    from pva.media.thumbs import make_thumbnails

    out = {}
    for i in range(n):
        content = CONTENTS[i % len(CONTENTS)]
        if content not in kinds:
            continue
        p = work / f"IMG_{i:05d}.jpg"
        make_photo(p, i)
        prev = make_thumbnails(p, {"a": jobs.ANALYSIS_PREVIEW_PX}, qualities={"a": jobs.ANALYSIS_PREVIEW_QUALITY},
                               draft_fraction=jobs.ANALYSIS_PREVIEW_DRAFT)["a"]
        out[f"{content}-{i}"] = (p, prev)
    return out


def _inputs(path: Path, preview: bytes):
    """A pipeline Inputs holding what a worker has fetched: the preview's bytes and the original's file."""
    from pva.jobs.pipeline import Inputs

    class Fetching(Inputs):
        def original_path(self):
            self.fetched.append(("original", self.media["storage_key"]))
            return super().original_path()

    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
    inp = Fetching(media={"id": "bench", "kind": "photo", "storage_key": path.name, "width": w, "height": h,
                        "metadata": {"analysis_preview": {"key": "bench", "width": 0, "height": 0}}}, _tmp=[])
    inp._preview_jpeg = preview
    inp._original = path
    return inp


def _task_at(rev: str):
    """An OcrTask built from pva/ml/ocr.py and pva/jobs/tasks/ocr.py as they were at ``rev`` (git show), loaded
    beside the current ones: before/after in one process, on the same photos."""
    import importlib.util
    import subprocess

    mods = {}
    for name, path in (("pva.ml._ocr_before", "pva/ml/ocr.py"), ("pva.jobs.tasks._ocr_before", "pva/jobs/tasks/ocr.py")):
        src = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:{path}"], check=True, capture_output=True,
                             text=True).stdout
        f = Path(tempfile.mkdtemp()) / Path(path).name
        f.write_text(src)
        spec = importlib.util.spec_from_file_location(name, f)
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        if name.endswith("tasks._ocr_before"):  # its engine from the same commit
            spec.loader.exec_module(mod)
            mod.RapidOcrEngine, mod.create_engine = mods["ml"].RapidOcrEngine, mods["ml"].create_engine
        else:
            spec.loader.exec_module(mod)
        mods["ml" if ".ml." in name else "task"] = mod
    return mods["task"].OcrTask()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--kinds", default="faces,objects,text,nothing")
    ap.add_argument("--against", metavar="REV", help="also measure the OCR engine and task of this git revision")
    ap.add_argument("--photos", type=int, default=8, help="bench/library.py's first N photos (they cycle through "
                    "the kinds)")
    args = ap.parse_args(argv)
    import logging

    logging.disable(logging.WARNING)
    from pva.jobs.tasks.ocr import OcrTask

    tasks = {"now": OcrTask()}
    if args.against:
        tasks[args.against] = _task_at(args.against)
    ways = [(t, way) for t in tasks for way in ("pipeline", "raw")]
    kinds = args.kinds.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        photos = _photos(Path(tmp), kinds, args.photos)
        cpu = {(name, t, way): [] for name in photos for t, way in ways}
        texts, fetched = {}, {}
        for rnd in range(args.rounds + 1):  # round 0: first inferences (arena, lazy imports), not counted
            for name, (path, prev) in photos.items():
                for t, way in ways:
                    inp, data = _inputs(path, prev), path.read_bytes()
                    t0 = time.process_time()
                    r = tasks[t].analyze(inp, None) if way == "pipeline" else tasks[t].analyze_bytes(data, "")
                    if rnd:
                        cpu[name, t, way].append(time.process_time() - t0)
                    texts[name, t, way] = r.text
                    fetched[name, t, way] = bool(inp.fetched)
    print(f"load {os.getloadavg()[0]:.2f} at the end; CPU s/photo, median of {args.rounds} rounds (process_time: "
          f"all threads); pipeline = analyze (preview + original when fetched), raw = analyze_bytes (original)")
    med = {k: statistics.median(v) for k, v in cpu.items()}
    head = "  ".join(f"{t + ' ' + way:>16}" for t, way in ways)
    print(f"{'photo':<11} {head}  {'pipe/raw':>8}" + ("  now/before (pipe, raw)" if len(tasks) > 1 else "")
          + "  original fetched  chars (pipe/raw)")
    by_kind: dict[str, dict] = {}
    for name in photos:
        kind = name.split("-")[0]
        for key in ways:
            by_kind.setdefault(kind, {}).setdefault(key, []).append(med[(name, *key)])
        row = "  ".join(f"{med[(name, *key)]:16.3f}" for key in ways)
        extra = ""
        if len(tasks) > 1:
            extra = (f"  {med[name, 'now', 'pipeline'] / med[name, args.against, 'pipeline']:10.2f} "
                     f"{med[name, 'now', 'raw'] / med[name, args.against, 'raw']:5.2f}")
        print(f"{name:<11} {row}  {med[name, 'now', 'pipeline'] / med[name, 'now', 'raw']:8.2f}{extra}  "
              f"{' '.join(t for t in tasks if fetched[name, t, 'pipeline']) or '-':<16}  "
              + " ".join(f"{len(texts[name, t, 'pipeline'])}/{len(texts[name, t, 'raw'])}" for t in tasks))
    print("mean per kind, and over all photos:")
    for kind, v in list(by_kind.items()) + [("all", {k: [x for d in by_kind.values() for x in d[k]] for k in ways})]:
        m = {k: sum(x) / len(x) for k, x in v.items()}
        row = "  ".join(f"{m[k]:16.3f}" for k in ways)
        extra = ""
        if len(tasks) > 1:
            extra = (f"  {m['now', 'pipeline'] / m[args.against, 'pipeline']:10.2f} "
                     f"{m['now', 'raw'] / m[args.against, 'raw']:5.2f}")
        print(f"{kind:<11} {row}  {m['now', 'pipeline'] / m['now', 'raw']:8.2f}{extra}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
