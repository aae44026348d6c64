"""Ingest benchmark: generated 12 MP JPEGs with EXIF (and a few videos) through `pva load`, end to end, beside
  - the floor: SHA-512 + JPEG draft decode + both thumbnails encoded, for the same files in one process;
  - exiftool (metadata) + vipsthumbnail (both thumbnail sizes) on the same files, when installed.
Prints photos/s and the ratios.  Aim: load >= 0.6 x floor, and faster than exiftool + vipsthumbnail.

    .venv/bin/python bench/ingest.py [--photos 24] [--videos 2] [--workers 2]
"""
from __future__ import annotations

import argparse
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _env import REPO, isolated_env, make_user, table, vipsthumbnail_run

sys.path.insert(0, str(REPO / "tests"))


def make_12mp_jpeg(path: Path, i: int) -> None:
    """A 4000x3000 photo-like JPEG (smooth gradients plus noise, ~3-5 MB like a camera's) with camera EXIF."""
    import numpy as np
    import piexif
    from PIL import Image

    rng = np.random.default_rng(i)
    h, w = 3000, 4000
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = np.stack([(x * 200 + 30 * i) % 255 + 0 * y, (y * 180 + 50) + 0 * x, ((x + y) * 120) % 255], axis=2)
    noise = rng.normal(0, 18, (h // 4, w // 4, 3)).astype(np.float32)
    noise = np.repeat(np.repeat(noise, 4, axis=0), 4, axis=1)
    arr = np.clip(base + noise, 0, 255).astype(np.uint8)
    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"BenchCam", piexif.ImageIFD.Model: f"Model {i % 3}".encode(),
                piexif.ImageIFD.Orientation: 1},
        "Exif": {piexif.ExifIFD.DateTimeOriginal: f"2023:05:{1 + i % 28:02d} 12:00:00".encode(),
                 piexif.ExifIFD.OffsetTimeOriginal: b"+01:00", piexif.ExifIFD.ISOSpeedRatings: 100},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (i, 1)),
                piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((2, 1), (21, 1), (i, 1))},
    })
    Image.fromarray(arr).save(path, "JPEG", quality=92, exif=exif)


def floor_run(files: list[Path], sizes: dict[str, int]) -> float:
    """SHA-512 + draft decode + thumbnail encode in one process: what a file costs at the least."""
    from PIL import Image

    t0 = time.perf_counter()
    for p in files:
        h = hashlib.sha512()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        img = Image.open(p)
        big = max(sizes.values())
        img.draft("RGB", (big, big))
        img = img.convert("RGB")
        for size in sorted(sizes.values(), reverse=True):
            t = img.copy()
            t.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
            t.save(io.BytesIO(), "JPEG", quality=85)
    return time.perf_counter() - t0


def exiftool_vips_run(files: list[Path], sizes: dict[str, int], out: Path) -> float | None:
    if not (shutil.which("exiftool") and shutil.which("vipsthumbnail")):
        return None
    t0 = time.perf_counter()
    subprocess.run(["exiftool", "-j", "-n", "-fast", *map(str, files)], check=True, capture_output=True)
    return time.perf_counter() - t0 + vipsthumbnail_run(files, sizes, out)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()

    import media_fixtures as mf
    from pva.config import get_settings

    work = Path(tempfile.mkdtemp(prefix="pva-bench-ingest-"))
    src = work / "src"
    src.mkdir()
    print(f"generating {args.photos} 12 MP JPEGs and {args.videos} videos ...", flush=True)
    photos = []
    for i in range(args.photos):
        p = src / f"IMG_{i:04d}.jpg"
        make_12mp_jpeg(p, i)
        photos.append(p)
    videos = [mf.make_video(src / f"VID_{i}.mp4", duration=4.0 + i, size=(1280, 720), fps=25, audio=True)
              for i in range(args.videos)]
    total_mb = sum(p.stat().st_size for p in photos) / 1e6
    print(f"  {total_mb / max(1, len(photos)):.1f} MB per photo on average")

    with isolated_env("ingest") as env:
        s = get_settings()
        sizes = {"thumb": s.thumb_grid_px, "preview": s.thumb_preview_px}
        owner = make_user(f"bench-{env.run}")

        # floor (photos only), then exiftool + vips, then the real load — all in this run
        floor_s = floor_run(photos, sizes)
        vout = work / "vips"
        vout.mkdir()
        ev_s = exiftool_vips_run(photos, sizes, vout)

        load_dir = work / "load"
        shutil.copytree(src, load_dir)
        env_vars = dict(os.environ)
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "pva.cli", "load", str(load_dir), "--owner", owner["username"],
                            "--workers", str(args.workers), "--no-progress"], env=env_vars, capture_output=True,
                           text=True)
        load_s = time.perf_counter() - t0
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            return 1
        print("  " + r.stdout.strip().splitlines()[0])

        # photos only, measured in-process with the same workers (excludes process start-up)
        from pva.services.load import load

        load2 = work / "load2"
        load2.mkdir()
        for p in photos:  # new bytes (a different owner) so nothing is a duplicate
            shutil.copy(p, load2 / p.name)
        owner2 = make_user(f"bench2-{env.run}")
        t0 = time.perf_counter()
        summ = load(load2, owner2, workers=args.workers, progress=False)
        load_photos_s = time.perf_counter() - t0
        assert summ.counts["added"] == len(photos), summ

    n = len(photos)
    rows = [("floor: sha512 + draft decode + 2 thumbs (1 process)", f"{n / floor_s:.2f}", "1.00")]
    rows.append((f"pva load, photos only ({args.workers} workers, in-process)", f"{n / load_photos_s:.2f}",
                 f"{(n / load_photos_s) / (n / floor_s):.2f}"))
    rows.append((f"pva load CLI end to end, photos + {len(videos)} videos", f"{(n + len(videos)) / load_s:.2f}",
                 f"{((n + len(videos)) / load_s) / (n / floor_s):.2f}"))
    if ev_s:
        rows.append(("exiftool + vipsthumbnail (2 sizes)", f"{n / ev_s:.2f}", f"{(n / ev_s) / (n / floor_s):.2f}"))
    print()
    print(table(rows, ("ingest path", "files/s", "x floor")))
    if ev_s:
        print(f"\npva load is {(n / load_photos_s) / (n / ev_s):.2f}x the speed of exiftool + vipsthumbnail")
    print(f"load vs floor: {(n / load_photos_s) / (n / floor_s):.2f} (aim >= 0.6)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
