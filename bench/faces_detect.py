"""Faces: what a bounded image costs in detection recall, against dlib HOG on the full-resolution original.

The recall set (issue 20: "HOG on a bounded image; measure detection recall against full resolution on real photos
with small faces before and after"):

- real photos with faces: zidane.jpg and bus.jpg (../shared/fixtures/detect), the exif-samples photo with a boy's
  face (../shared/fixtures/exif-samples/jpg/invalid/image00971.jpg) and scikit-image's astronaut, each as it is
  (small originals: analysed from the original) and enlarged into a 12 MP frame (as bench/library.py does);
- generated 12 MP scenes (4000x3000): real backgrounds (photos from ../shared, scikit-image's coffee, chelsea,
  rocket, ...) with the real faces of those photos pasted at face sizes from 40 to 400 px in the
  12 MP frame (mirrored, turned a few degrees, lighter or darker, some grey; a feathered edge), six a scene.

Reference: HOG with one upsampling on the decoded 12 MP original (dlib's detector at 8000x6000: faces down to
~40 px), cached by the JPEG's hash.  Every setting runs on the analysis preview made as ingest makes it (a 12 MP
JPEG decodes at half scale, 2000x1500) and is judged against the reference: a reference face counts as found when
a box of the setting overlaps it (IoU >= 0.3).  Recall is bucketed by the reference box's side in the 12 MP
frame.  CPU seconds are process time on one core (time.process_time: the machine may be busy), for the detection
step of each setting (resize, grey conversion, dlib's HOG), with ratios to "before" (FaceEngine's detection
before issue 20: shrunk to 1600 px, RGB, dlib upsampling once) in the same run.  The settings are
PVA_FACE_DETECT_SIDE x 2**PVA_FACE_UPSAMPLE, grey or RGB (pva.ml.faces.detection_image) for HOG, and for the
YuNet CNN (PVA_FACE_DETECTOR=yunet, the default) the side it reads and its confidence cut.  "extra" counts boxes
matching no reference face: faces HOG cannot find (turned, side-on, blurred in a crowd) and false ones.  --engine adds
FaceEngine.detect() with the settings in the environment (detection + 128-d encodings and crops, the same cost
per face found for every setting) and prints that cost per face.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python bench/faces_detect.py [--scenes 40] [--seed 1] [--only NAME,...]
        [--engine]

Needs ../shared (the real photos and backgrounds) and scikit-image (dev extra); no services.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import REPO, table  # noqa: E402

SHARED = REPO.parent / "shared"
FIX = SHARED / "fixtures"
W12, H12 = 4000, 3000
SIZES = (40, 50, 60, 70, 80, 90, 100, 115, 130, 150, 175, 200, 250, 300, 400)  # face box side, 12 MP frame
BUCKETS = ((0, 60), (60, 80), (80, 100), (100, 130), (130, 170), (170, 250), (250, 100000))
FACES_PER_SCENE = 6
CACHE = Path(tempfile.gettempdir()) / "pva-faces-detect-ref"


# ------------------------------------------------------------------ the recall set
def _open(path):
    from PIL import Image, ImageOps

    im = ImageOps.exif_transpose(Image.open(path))
    im.load()
    return im.convert("RGB")


def real_photos() -> dict:
    """{name: RGB image}: the real photos with faces, as they are."""
    import skimage.data as skd
    from PIL import Image

    return {"zidane": _open(FIX / "detect/zidane.jpg"), "bus": _open(FIX / "detect/bus.jpg"),
            "boy (exif-samples image00971)": _open(FIX / "exif-samples/jpg/invalid/image00971.jpg"),
            "astronaut": Image.fromarray(skd.astronaut())}


def backgrounds() -> list:
    """Real photos to paste faces on (bus.jpg brings its own two faces, which the reference counts too)."""
    import skimage.data as skd
    from PIL import Image

    out = [_open(FIX / p) for p in ("ocr/japanese-shop.jpg", "exif-samples/jpg/mobile/jolla.jpg",
                                     "exif-samples/jpg/tests/35-empty.jpg", "exif-samples/jpg/gps/DSCN0010.jpg",
                                     "exif-samples/jpg/gps/DSCN0021.jpg",
                                     "exif-samples/jpg/orientation/landscape_1.jpg", "detect/bus.jpg")]
    for name in ("coffee", "chelsea", "rocket", "hubble_deep_field", "retina", "grass", "brick"):
        out.append(Image.fromarray(getattr(skd, name)()).convert("RGB"))
    return out


def face_sources(detector) -> list[tuple]:
    """(image, (l, t, r, b) of its face, longest side it may be enlarged to) for every real face the reference
    finds in the real photos (the astronaut's mission patch, a weak hit, is left out)."""
    out = []
    for name, im in real_photos().items():
        rects, scores, _ = detector.run(np.asarray(im), 1, 0.0)
        for r, s in zip(rects, scores):
            if name == "astronaut" and s < max(scores):  # the patch on her suit
                continue
            out.append((im, (r.left(), r.top(), r.right() + 1, r.bottom() + 1), name))
    return out


def _paste_face(canvas, src, box, side: int, rng) -> tuple[float, float, float, float] | None:
    """Paste the face `box` of `src` (with its surroundings) so that the face is `side` px; returns the pasted
    face's box in canvas pixels, or None when there was no room."""
    from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

    l, t, r, b = box
    fw = r - l
    m = 0.9 * fw
    region = src.crop((int(max(0, l - m)), int(max(0, t - m)), int(min(src.width, r + m)), int(min(src.height, b + m))))
    off = (l - max(0, l - m), t - max(0, t - m))  # face corner inside the region
    if rng.random() < 0.5:
        region = ImageOps.mirror(region)
        off = (region.width - off[0] - fw, off[1])
    angle = float(rng.uniform(-7, 7))
    region = region.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=(128, 128, 128))
    region = ImageEnhance.Brightness(region).enhance(float(rng.uniform(0.75, 1.25)))
    region = ImageEnhance.Contrast(region).enhance(float(rng.uniform(0.8, 1.2)))
    if rng.random() < 0.15:
        region = region.convert("L").convert("RGB")
    f = side / fw
    region = region.resize((max(1, round(region.width * f)), max(1, round(region.height * f))),
                           Image.Resampling.LANCZOS)
    fx, fy = off[0] * f, off[1] * f
    mask = Image.new("L", region.size, 0)
    pad = max(2, int(0.06 * min(region.size)))
    ImageDraw.Draw(mask).ellipse((pad, pad, region.width - pad, region.height - pad), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(pad / 2))
    for _ in range(60):
        x = int(rng.integers(0, max(1, canvas.width - region.width)))
        y = int(rng.integers(0, max(1, canvas.height - region.height)))
        rect = (x, y, x + region.width, y + region.height)
        if all(rect[2] <= o[0] or rect[0] >= o[2] or rect[3] <= o[1] or rect[1] >= o[3]
               for o in canvas.info.setdefault("pva_taken", [])):
            canvas.paste(region, (x, y), mask)
            canvas.info["pva_taken"].append(rect)
            return (x + fx, y + fy, x + fx + side, y + fy + side)
    return None


def scenes(n: int, seed: int, detector) -> list[tuple[str, bytes, list]]:
    """[(name, 12 MP JPEG, pasted face boxes in px)]: the real photos enlarged into the 12 MP frame, then n
    generated scenes."""
    from PIL import Image

    out = []
    for name, im in real_photos().items():
        f = min(W12 / im.width, H12 / im.height)
        canvas = Image.new("RGB", (W12, H12), (118, 124, 130))
        big = im.resize((round(im.width * f), round(im.height * f)), Image.Resampling.LANCZOS)
        canvas.paste(big, ((W12 - big.width) // 2, (H12 - big.height) // 2))
        out.append((f"{name} in 12 MP", _jpeg(canvas), []))
    rng = np.random.default_rng(seed)
    bgs, srcs = backgrounds(), face_sources(detector)
    sizes: list[int] = []
    for i in range(n):
        bg = bgs[i % len(bgs)]
        # a 4:3 crop of the background, enlarged to 4000x3000 (flipped every other round)
        cw = min(bg.width, round(bg.height * 4 / 3))
        ch = round(cw * 3 / 4)
        x0 = int(rng.integers(0, bg.width - cw + 1))
        y0 = int(rng.integers(0, bg.height - ch + 1))
        canvas = bg.crop((x0, y0, x0 + cw, y0 + ch)).resize((W12, H12), Image.Resampling.BICUBIC)
        if (i // len(bgs)) % 2:
            canvas = canvas.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        pasted = []
        for _ in range(FACES_PER_SCENE):
            if not sizes:
                sizes = list(rng.permutation(SIZES))
            side = int(sizes.pop())
            fits = [s for s in srcs if side / (s[1][2] - s[1][0]) <= 4.5]  # enlarged at most 4.5x
            im, box, _src = fits[int(rng.integers(0, len(fits)))]
            got = _paste_face(canvas, im, box, side, rng)
            if got:
                pasted.append(got)
        canvas.info.pop("pva_taken", None)
        out.append((f"scene {i}", _jpeg(canvas), pasted))
    return out


def _jpeg(im, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def analysis_preview(jpeg: bytes):
    """The analysis preview as ingest makes it (pva.jobs), or the original when that is smaller (as the faces
    task reads it: RGB, at most encode_max_side)."""
    from pva.jobs import ANALYSIS_PREVIEW_DRAFT, ANALYSIS_PREVIEW_PX, ANALYSIS_PREVIEW_QUALITY
    from pva.media.image import load_image
    from pva.media.thumbs import make_thumbnails

    with tempfile.TemporaryDirectory() as tmp:
        p = Path(tmp) / "x.jpg"
        p.write_bytes(jpeg)
        prev = make_thumbnails(p, {"a": ANALYSIS_PREVIEW_PX}, qualities={"a": ANALYSIS_PREVIEW_QUALITY},
                               draft_fraction=ANALYSIS_PREVIEW_DRAFT)["a"]
    from PIL import Image

    if max(Image.open(io.BytesIO(prev)).size) < ANALYSIS_PREVIEW_PX * ANALYSIS_PREVIEW_DRAFT:
        prev = jpeg
    return load_image(prev, max_side=4096, rgb=True)


def reference(detector, jpeg: bytes) -> list[tuple[float, float, float, float]]:
    """Normalized (x, y, w, h) of HOG with one upsampling on the full decoded original (cached by hash)."""
    from pva.media.image import load_image

    CACHE.mkdir(parents=True, exist_ok=True)
    f = CACHE / (hashlib.sha256(jpeg).hexdigest()[:24] + ".json")
    if f.is_file():
        return [tuple(b) for b in json.loads(f.read_text())]
    im = load_image(jpeg, rgb=True)
    rects, _, _ = detector.run(np.asarray(im), 1, 0.0)
    W, H = im.size
    boxes = [(r.left() / W, r.top() / H, (r.width()) / W, (r.height()) / H) for r in rects]
    f.write_text(json.dumps(boxes))
    return boxes


# ------------------------------------------------------------------ the settings
def before_setting(detector, side: int = 1600, upsample: int = 1):
    """Detection as FaceEngine did it before (issue 20): the image shrunk to `side` (never enlarged), RGB, and dlib
    upsampling it `upsample` times itself."""
    from PIL import Image

    def run(img):
        w, h = img.size
        f = min(1.0, side / max(w, h))
        det = img if f == 1 else img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BILINEAR)
        rects, _, _ = detector.run(np.asarray(det), upsample, 0.0)
        return [(r.left() / f / w, r.top() / f / h, r.width() / f / w, r.height() / f / h) for r in rects]

    return run


def hog_setting(detector, side: int, upsample: int, gray: bool):
    """Detection as FaceEngine does it (pva.ml.faces.detection_image): one resize of the (grey) image to `side`
    x 2**upsample, HOG without dlib's upsampling."""
    from pva.ml.faces import detection_image

    def run(img):
        w, h = img.size
        det, f = detection_image(img, side, upsample, gray)
        rects, _, _ = detector.run(np.asarray(det), 0, 0.0)
        return [(r.left() / f / w, r.top() / f / h, r.width() / f / w, r.height() / f / h) for r in rects]

    return run


def yunet_setting(side: int, conf: float = 0.7):
    """libfacedetection's CNN (YuNet, the yuface wheel; PVA_FACE_DETECTOR=yunet) on the preview shrunk to `side`,
    boxes as it draws them (FaceEngine brings them to HOG's shape afterwards, which IoU >= 0.3 does not need)."""
    import warnings

    import yuface
    from PIL import Image

    warnings.filterwarnings("ignore", module="yuface")

    def run(img):
        w, h = img.size
        f = min(1.0, side / max(w, h))
        det = img if f == 1 else img.resize((max(1, round(w * f)), max(1, round(h * f))), Image.Resampling.BILINEAR)
        arr = np.ascontiguousarray(np.asarray(det)[:, :, ::-1])
        confs, boxes, _ = yuface.detect(arr, conf=conf)
        return [(x / f / w, y / f / h, bw / f / w, bh / f / h) for x, y, bw, bh in boxes.tolist()]

    return run


def _engine_setting_name(engine) -> str:
    """The name of the setting row that detects as `engine` does."""
    if engine.detector == "yunet":
        return f"yunet {engine.detect_max_side}, confidence >= {engine.min_score:g}"
    return (f"{engine.detect_max_side} x{2 ** engine.upsample} = {engine.detect_max_side * 2 ** engine.upsample}, "
            f"{'grey' if engine.gray else 'RGB'}")


def engine_setting(engine):
    def run(img):
        return [f.box for f in engine.detect(img)]
    return run


def _bucket(side_px: float) -> int:
    return next(i for i, (lo, hi) in enumerate(BUCKETS) if lo <= side_px < hi)


def _bucket_name(i: int) -> str:
    lo, hi = BUCKETS[i]
    return f"<{hi}" if lo == 0 else (f">={lo}" if hi >= 100000 else f"{lo}-{hi}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenes", type=int, default=40, help="generated 12 MP scenes (default 40, 6 faces each)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", default="", help="comma-separated parts of setting names to run (default: all; "
                    "'before' always runs)")
    ap.add_argument("--engine", action="store_true", help="also time FaceEngine.detect() with the settings in the "
                    "environment (detection + 128-d encodings and crops)")
    args = ap.parse_args(argv)
    if not (FIX / "detect/zidane.jpg").is_file():
        print(f"needs the shared fixtures ({FIX}): absent, nothing measured")
        return 2
    import logging

    logging.disable(logging.WARNING)
    import dlib

    from pva.ml.faces import box_iou

    detector = dlib.get_frontal_face_detector()
    t0 = time.perf_counter()
    items = scenes(args.scenes, args.seed, detector)
    real = real_photos()
    print(f"recall set: {len(real)} real photos as they are, {len(real)} enlarged to 12 MP, {args.scenes} generated "
          f"12 MP scenes ({sum(len(p) for _, _, p in items)} real faces pasted, {SIZES[0]}-{SIZES[-1]} px); "
          f"made in {time.perf_counter() - t0:.0f} s", flush=True)

    # the reference, and the previews the settings read
    t0 = time.perf_counter()
    refs, previews, ref_cpu = [], [], 0.0
    for name, jpeg, _ in items:
        c0 = time.process_time()
        refs.append(reference(detector, jpeg))
        ref_cpu += time.process_time() - c0
        previews.append(analysis_preview(jpeg))
    small = [(name, im, [(r.left() / im.width, r.top() / im.height, r.width() / im.width, r.height() / im.height)
                         for r in detector.run(np.asarray(im), 1, 0.0)[0]]) for name, im in real.items()]
    n_ref = sum(len(r) for r in refs)
    print(f"reference (HOG upsample 1 on the 12 MP original): {n_ref} faces, {time.perf_counter() - t0:.0f} s "
          f"(CPU {ref_cpu:.0f} s; cached in {CACHE})", flush=True)

    # how many of the pasted faces the reference itself finds, per pasted size
    per = {s: [0, 0] for s in SIZES}
    for (name, _, pasted), ref in zip(items, refs):
        for (l, t, r, b) in pasted:
            g = (l / W12, t / H12, (r - l) / W12, (b - t) / H12)
            side = round(r - l)
            per[side][0] += 1
            per[side][1] += any(box_iou(g, x) >= 0.3 for x in ref)
    print("pasted faces the reference finds, by pasted size: " +
          ", ".join(f"{s} px {f}/{n}" for s, (n, f) in per.items()))

    settings = {"before: 1600, dlib upsampling 1, RGB": before_setting(detector)}
    for side, up, gray in ((1600, 1, False), (1600, 1, True), (1500, 1, True), (1400, 1, True), (1333, 1, True),
                           (1200, 1, True), (2000, 0, False), (2000, 0, True)):
        settings[f"{side} x{2 ** up} = {side * 2 ** up}, {'grey' if gray else 'RGB'}"] = hog_setting(detector, side,
                                                                                                   up, gray)
    for side, conf in ((960, 0.7), (1024, 0.7), (1152, 0.7), (1280, 0.5), (1280, 0.6), (1280, 0.7), (1280, 0.8),
                       (1600, 0.7)):
        settings[f"yunet {side}, confidence >= {conf}"] = yunet_setting(side, conf)
    if args.only:
        keep = [s.strip() for s in args.only.split(",")]
        settings = {k: v for k, v in settings.items() if k.startswith("before") or any(s in k for s in keep)}
    if args.engine:
        from pva.ml.faces import FaceEngine

        engine = FaceEngine()
        settings[f"FaceEngine() with the settings ({_engine_setting_name(engine)}) + 128-d encodings"] = \
            engine_setting(engine)

    rows, real_rows, per_setting = [], [], {}
    base_cpu = None
    for sname, run in settings.items():
        hit = [0] * len(BUCKETS)
        tot = [0] * len(BUCKETS)
        extra = found = 0
        cpu = 0.0
        for ref, img in zip(refs, previews):
            c0 = time.process_time()
            boxes = run(img)
            cpu += time.process_time() - c0
            found += len(boxes)
            matched = set()
            for g in ref:
                b = _bucket(g[2] * W12)
                tot[b] += 1
                js = [j for j, x in enumerate(boxes) if box_iou(g, x) >= 0.3]
                if js:
                    hit[b] += 1
                    matched.update(js)
            extra += len(boxes) - len(matched)
        per_photo = cpu / len(previews)
        per_setting[sname] = (per_photo, found / len(previews))
        if base_cpu is None:
            base_cpu = per_photo
        n60 = sum(h for h, (lo, _) in zip(hit, BUCKETS) if lo >= 60)
        t60 = sum(t for t, (lo, _) in zip(tot, BUCKETS) if lo >= 60)
        rows.append((sname, f"{per_photo:.3f}", f"{per_photo / base_cpu:.2f}",
                     *[f"{h}/{t}" for h, t in zip(hit, tot)], f"{n60}/{t60} ({n60 / max(1, t60):.0%})",
                     f"{sum(hit)}/{sum(tot)}", str(extra)))
        counts = []
        for name, im, ref in small:
            boxes = run(im)
            ok = sum(any(box_iou(g, x) >= 0.3 for x in boxes) for g in ref)
            counts.append(f"{ok}/{len(ref)}" + (f" +{len(boxes) - ok}" if len(boxes) > ok else ""))
        real_rows.append((sname, *counts))
        print(f"  {sname}: {per_photo:.3f} CPU s/photo, {sum(hit)}/{sum(tot)}", flush=True)
    print(f"\nrecall against the reference by face size in the 12 MP frame (px), CPU s/photo of the detection step "
          f"on one core (ratio to the first row, same run); {len(previews)} photos")
    print(table(rows, ("setting", "CPU s", "ratio", *[_bucket_name(i) for i in range(len(BUCKETS))], ">=60 px",
                       "all", "extra")))
    if args.engine:
        eng = next(k for k in per_setting if k.startswith("FaceEngine"))
        same = _engine_setting_name(engine)
        if same in per_setting:
            (e_cpu, e_n), (d_cpu, _) = per_setting[eng], per_setting[same]
            print(f"FaceEngine.detect(): {e_cpu:.3f} CPU s/photo = detection {d_cpu:.3f} + 128-d encodings and crops "
                  f"{(e_cpu - d_cpu) / max(e_n, 1e-9):.3f} s per face found ({e_n:.1f} faces/photo here)")
    print("\nreal photos as they are (small originals, read whole): reference faces found (+ other boxes)")
    print(table(real_rows, ("setting", *[n for n, _, _ in small])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
