"""RAW thumbnail benchmark: time to make the grid + preview thumbnails of a 24-megapixel DNG (6000x4000, 12-bit)
  - from its embedded JPEG preview (1620x1080, what cameras embed; pva.media.raw uses it when >= 1024 px), and
  - by a LibRaw demosaic when there is no usable preview (half size: the thumbnails need far less than 24 MP),
beside, in the same run, a full-size demosaic (what a naive decoder does) and the metadata read at ingest
(exiftool + LibRaw reading the sensor data to refuse truncated files).  Each mode runs in its own process, so its
peak memory (max RSS) is its own.  Prints seconds per photo, the ratios and the peak memory.

    .venv/bin/python bench/raw_thumbs.py [--photos 3]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def make_raw(path: Path, i: int, preview: int | None) -> None:
    import numpy as np
    from PIL import Image

    import raw_samples

    rng = np.random.default_rng(i)
    h, w = 4000, 6000
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = np.stack([(x * 200 + 30 * i) % 255 + 0 * y, y * 180 + 50 + 0 * x, ((x + y) * 120) % 255], axis=2)
    noise = np.repeat(np.repeat(rng.normal(0, 18, (h // 8, w // 8, 3)).astype(np.float32), 8, 0), 8, 1)
    shown = Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8))
    raw_samples.make_dng(path, size=(w, h), orientation=1, preview=preview, displayed=shown)


def run_mode(mode: str, files: list[str]) -> dict:
    from pva.media import extract_photo, make_thumbnails

    t0 = time.perf_counter()
    for f in files:
        if mode in ("preview", "demosaic_half"):
            make_thumbnails(f)
        elif mode == "demosaic_full":
            import rawpy

            with rawpy.imread(f) as r:
                r.postprocess(use_camera_wb=True, output_bps=8)
        elif mode == "metadata":
            extract_photo(f)
    dt = (time.perf_counter() - t0) / len(files)
    return {"mode": mode, "s_per_photo": dt, "max_rss_mb": _peak_mb()}


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from the parent over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=3)
    ap.add_argument("--child", nargs="+")
    a = ap.parse_args()
    if a.child:
        print(json.dumps(run_mode(a.child[0], a.child[1:])))
        return
    with tempfile.TemporaryDirectory(prefix="pva-bench-raw-") as d:
        with_preview = [Path(d) / f"p{i}.dng" for i in range(a.photos)]
        without = [Path(d) / f"n{i}.dng" for i in range(a.photos)]
        for i in range(a.photos):
            make_raw(with_preview[i], i, 1620)
            make_raw(without[i], i, None)
        size = with_preview[0].stat().st_size / 1e6
        print(f"{a.photos} x 24 MP DNG ({size:.0f} MB each), thumbnails: grid + preview (settings)")
        results = {}
        for mode, files in (("preview", with_preview), ("demosaic_half", without), ("demosaic_full", without),
                            ("metadata", with_preview)):
            out = subprocess.run([sys.executable, __file__, "--child", mode, *map(str, files)], check=True,
                                 capture_output=True, text=True).stdout
            results[mode] = json.loads(out.strip().splitlines()[-1])
            r = results[mode]
            print(f"  {mode:15s} {r['s_per_photo']:7.3f} s/photo   peak {r['max_rss_mb']:6.0f} MB")
        base = results["preview"]["s_per_photo"]
        print(f"  demosaic (half) / embedded preview: {results['demosaic_half']['s_per_photo'] / base:.1f}x slower")
        print(f"  full demosaic / embedded preview:   {results['demosaic_full']['s_per_photo'] / base:.1f}x slower")


if __name__ == "__main__":
    main()
