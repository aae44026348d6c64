"""Thumbnail benchmark: pva.media.make_thumbnails (+ extract_photo) on 12 MP JPEGs beside
  - the floor: the same JPEG draft decode and the two JPEG encodes in plain Pillow (no orientation, no colour
    management, bilinear), i.e. the least a Python thumbnailer can cost;
  - no-draft: full-resolution decode then resize (what skipping DCT scaling costs);
  - vipsthumbnail (libvips, both sizes) when installed.
Prints photos/s and the ratios.  Aim: make_thumbnails >= 0.6 x floor and far ahead of no-draft.

    .venv/bin/python bench/thumbs_floor.py [--photos 6]
"""
from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

from _env import vipsthumbnail_run


def make_photo(path: Path, i: int) -> None:
    """A 4000x3000 camera-like JPEG (gradients plus block noise, ~3 MB) with EXIF orientation and an sRGB ICC."""
    import numpy as np
    import piexif
    from PIL import Image, ImageCms

    rng = np.random.default_rng(i)
    h, w = 3000, 4000
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, w, dtype=np.float32)[None, :]
    base = np.stack([(x * 200 + 30 * i) % 255 + 0 * y, y * 180 + 50 + 0 * x, ((x + y) * 120) % 255], axis=2)
    noise = np.repeat(np.repeat(rng.normal(0, 18, (h // 4, w // 4, 3)).astype(np.float32), 4, 0), 4, 1)
    arr = np.clip(base + noise, 0, 255).astype(np.uint8)
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"BenchCam", piexif.ImageIFD.Orientation: 6},
                        "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2023:05:01 12:00:00"}})
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(arr).save(path, "JPEG", quality=92, exif=exif, icc_profile=icc)


def floor(files, sizes) -> float:
    from PIL import Image

    t0 = time.perf_counter()
    for p in files:
        img = Image.open(p)
        big = max(sizes.values())
        img.draft("RGB", (big, big))
        img = img.convert("RGB")
        for size in sorted(sizes.values(), reverse=True):
            img.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
            img.save(io.BytesIO(), "JPEG", quality=85)
    return time.perf_counter() - t0


def no_draft(files, sizes) -> float:
    from PIL import Image

    t0 = time.perf_counter()
    for p in files:
        img = Image.open(p).convert("RGB")
        for size in sorted(sizes.values(), reverse=True):
            img.thumbnail((size, size), Image.Resampling.LANCZOS)
            img.save(io.BytesIO(), "JPEG", quality=85)
    return time.perf_counter() - t0


def ours(files, sizes) -> float:
    from pva.media import extract_photo, make_thumbnails

    t0 = time.perf_counter()
    for p in files:
        extract_photo(p)
        make_thumbnails(p, sizes)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=6)
    args = ap.parse_args()
    from pva.config import get_settings

    s = get_settings()
    sizes = {"thumb": s.thumb_grid_px, "preview": s.thumb_preview_px}
    with tempfile.TemporaryDirectory(prefix="pva-bench-thumbs-") as tmp:
        work = Path(tmp)
        files = []
        for i in range(args.photos):
            p = work / f"IMG_{i:04d}.jpg"
            make_photo(p, i)
            files.append(p)
        ours(files[:1], sizes)  # warm up imports and LittleCMS
        results = {"floor (Pillow draft + encode)": floor(files, sizes),
                   "pva.media extract_photo + make_thumbnails": ours(files, sizes),
                   "no draft (full decode + resize)": no_draft(files, sizes)}
        v = vipsthumbnail_run(files, sizes, work)
        if v is not None:
            results["vipsthumbnail (both sizes)"] = v
    n = len(files)
    base = results["floor (Pillow draft + encode)"]
    print(f"{n} photos of 4000x3000, sizes {sizes}")
    print(f"{'run':45s} {'photos/s':>9s} {'x floor':>8s}")
    for name, secs in results.items():
        print(f"{name:45s} {n / secs:9.2f} {base / secs:8.2f}")
    ratio = base / results["pva.media extract_photo + make_thumbnails"]
    print(f"pva.media / floor throughput ratio: {ratio:.2f} (aim >= 0.6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
