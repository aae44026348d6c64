"""Photos to load and the checks every fault test ends with: nothing lost, nothing duplicated, nothing orphaned."""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
import zlib
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from conftest import REPO, SHARED

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
PHOTO_KINDS = ("detect", "faces", "ocr")


def _base_images() -> dict[str, Image.Image]:
    out = {}
    for name, size in (("bus", (200, 270)), ("zidane", (320, 180))):
        p = SHARED / "fixtures" / "detect" / f"{name}.jpg"
        if p.exists():
            out[name] = Image.open(p).convert("RGB").resize(size)
    return out


def make_photos(root: Path, n: int, prefix: str = "") -> dict[str, str]:
    """n small unique photos under root in a few folders: text signs (OCR), a bus scene (objects) and a football
    scene (objects and faces) when ../shared has them.  Returns {relative path: sha512 hex}."""
    font = ImageFont.truetype(FONT, 28) if os.path.exists(FONT) else ImageFont.load_default()
    bases = _base_images()
    kinds = ["text", "text"] + sorted(bases)
    out = {}
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == "text":
            im = Image.new("RGB", (300, 64), "white")
            ImageDraw.Draw(im).text((8, 14), f"DOCK {prefix}{i:05d}", fill="black", font=font)
        else:
            im = bases[kind].copy()
            d = ImageDraw.Draw(im)  # a small stamp in a corner makes the bytes unique
            tag = zlib.crc32(prefix.encode())
            d.rectangle([0, 0, 10, 4], fill=((i * 37) % 256, (i * 91) % 256, tag % 256))
            d.rectangle([0, 6, 10, 9], fill=((i >> 8) % 256, (tag >> 8) % 256, (tag >> 16) % 256))
            d.point([(i % 10, 5)], fill=(255, 255, 255))
        rel = f"{kind}/{i // 100:02d}/{prefix}{kind}-{i:05d}.jpg"
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        im.save(p, "JPEG", quality=85)
        out[rel] = hashlib.sha512(p.read_bytes()).hexdigest()
    return out


def run_load(env: dict, root: Path, owner: str, workers: int = 1, timeout: float = 1800,
             prefix: list[str] | tuple = ()) -> dict:
    """`pva load` in a subprocess (after `prefix`, e.g. `ip netns exec NS`: the loader on another host);
    returns {"rc", "added", "duplicate", "rejected", "failed", "out"}."""
    r = subprocess.run([*prefix, sys.executable, "-m", "pva.cli", "load", str(root), "--owner", owner, "--no-progress",
                        "--workers", str(workers)], cwd=REPO, env=env, capture_output=True, text=True,
                       timeout=timeout)
    m = re.search(r"(\d+) added, (\d+) duplicate, (\d+) rejected, (\d+) failed", r.stdout)
    counts = dict(zip(("added", "duplicate", "rejected", "failed"), map(int, m.groups()))) if m else {}
    return {"rc": r.returncode, **counts, "out": r.stdout[-4000:] + r.stderr[-4000:]}


def load_until_done(env: dict, root: Path, owner: str, rounds: int = 5, **kw) -> list[dict]:
    """Run the load again while files are left as 'failed' (a service was down): the documented recovery."""
    runs = []
    for _ in range(rounds):
        runs.append(run_load(env, root, owner, **kw))
        if runs[-1].get("failed", 1) == 0 and runs[-1]["rc"] == 0:
            break
        time.sleep(2)
    return runs


def wait_analysed(owner_id, timeout: float, poll: float = 1.0) -> dict:
    """Wait until no analysis of the owner is queued or running; returns {status: count}."""
    from pva.infra import db

    deadline = time.monotonic() + timeout
    while True:
        try:
            rows = db.query("""select a.status, count(*) n from analysis a join media m on m.id = a.media_id
                                where m.owner_id = %s group by 1""", (owner_id,))
            counts = {r["status"]: r["n"] for r in rows}
            if not counts.get("queued") and not counts.get("running"):
                return counts
        except Exception:  # noqa: BLE001 - the database may be restarting
            counts = {}
        if time.monotonic() > deadline:
            return counts
        time.sleep(poll)


def check_library(owner: dict, expected: dict[str, str] | None = None) -> dict:
    """The invariants after any fault: every originals object of the owner has a media row and vice versa, each
    original is byte-identical (SHA-512 of the stored bytes = the row's), thumbnails exist; when `expected`
    ({relative path: sha512}) is given, every expected file is stored.  Returns counts and a list of problems."""
    from pva.infra import db
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    s, st = get_settings(), get_storage()
    rows = db.query("""select id, storage_key, original_path, sha512, thumb_key, preview_key from media
                        where owner_id = %s""", (owner["id"],))
    keys = {o.key for o in st.list(s.bucket_originals, owner["username"] + "/")}
    problems = []
    by_key = {r["storage_key"]: r for r in rows}
    orphans = sorted(keys - set(by_key))
    missing = sorted(set(by_key) - keys)
    problems += [f"orphan object (no media row): {k}" for k in orphans]
    problems += [f"media row without its object: {k}" for k in missing]
    thumb_keys = {o.key.split("/")[0] for o in st.list(s.bucket_thumbs, "")}
    all_ids = {str(r["id"]) for r in db.query("select id from media")}
    orphan_thumbs = sorted(thumb_keys - all_ids - {"faces"})
    problems += [f"orphan derived objects (no media row): {k}/..." for k in orphan_thumbs[:20]]
    for r in rows:
        if r["storage_key"] in keys:
            data = st.get_bytes(s.bucket_originals, r["storage_key"])
            if hashlib.sha512(data).digest() != bytes(r["sha512"]):
                problems.append(f"not byte-identical: {r['storage_key']}")
        if r["thumb_key"] and str(r["id"]) not in thumb_keys:
            problems.append(f"thumbnail missing: {r['thumb_key']}")
    stored_sha = {bytes(r["sha512"]).hex(): r for r in rows}
    lost = []
    if expected is not None:
        lost = [rel for rel, sha in expected.items() if sha not in stored_sha]
        problems += [f"lost: {rel}" for rel in lost[:20]]
    return {"rows": len(rows), "objects": len(keys), "orphans": len(orphans) + len(orphan_thumbs),
            "missing_objects": len(missing), "lost": len(lost), "problems": problems}


def check_analyses_once(owner_id) -> dict:
    """Every photo's analyses done, none failed, and exactly one set of results per (media, kind)."""
    from pva.infra import db

    jobs = db.query("""select a.kind, a.status, count(*) n from analysis a join media m on m.id = a.media_id
                        where m.owner_id = %s group by 1, 2""", (owner_id,))
    media_n = db.query_one("select count(*) n from media where owner_id = %s", (owner_id,))["n"]
    by = {(j["kind"], j["status"]): j["n"] for j in jobs}
    problems = []
    for kind in PHOTO_KINDS:
        if by.get((kind, "done"), 0) != media_n:
            problems.append(f"{kind}: {by.get((kind, 'done'), 0)} done of {media_n} "
                            f"({ {k[1]: v for k, v in by.items() if k[0] == kind} })")
    failed = db.query("""select m.original_path, a.kind, a.error, a.attempts from analysis a join media m
                          on m.id = a.media_id where m.owner_id = %s and a.status = 'failed' limit 10""", (owner_id,))
    problems += [f"failed: {f['original_path']} {f['kind']} after {f['attempts']}: {f['error']}" for f in failed]
    # one set of results: OCR one row per photo; no detection or face box twice; one face write per photo
    ocr_n = db.query_one("select count(*) n from ocr o join media m on m.id = o.media_id where m.owner_id = %s",
                         (owner_id,))["n"]
    if ocr_n != media_n:
        problems.append(f"ocr rows {ocr_n} for {media_n} photos")
    dup_det = db.query("""select d.media_id, d.label, count(*) n from detections d join media m on m.id = d.media_id
                           where m.owner_id = %s group by d.media_id, d.label, d.x, d.y, d.w, d.h
                           having count(*) > 1 limit 5""", (owner_id,))
    problems += [f"detection stored twice: {d}" for d in dup_det]
    dup_faces = db.query("""select media_id, count(distinct created_at) sets from faces where owner_id = %s
                             group by media_id having count(distinct created_at) > 1 limit 5""", (owner_id,))
    problems += [f"two sets of faces: {d}" for d in dup_faces]
    det_media = db.query_one("""select count(distinct d.media_id) n from detections d join media m
                                 on m.id = d.media_id where m.owner_id = %s""", (owner_id,))["n"]
    face_media = db.query_one("select count(distinct media_id) n from faces where owner_id = %s", (owner_id,))["n"]
    done = sum(by.get((k, "done"), 0) for k in PHOTO_KINDS)
    return {"media": media_n, "done": done, "failed": sum(v for (k, s), v in by.items() if s == "failed"),
            "media_with_detections": det_media, "media_with_faces": face_media, "problems": problems}
