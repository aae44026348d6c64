"""Backup benchmark: `pva backup` of a library of N ingested photos (noise JPEGs, so they do not compress, of a few
hundred KB each, plus their thumbnails and previews) to a folder and to an S3 bucket, beside a plain copy of the
same objects in the same run (an S3 GET + file write loop, one thread and as many threads as the backup uses;
for the S3 destination an S3 GET + PUT loop).
The backup's extra work is the database dump, the SHA-512 of every byte, fsync and the manifest.  Prints MB/s,
objects/s, the ratios, and the time of an incremental rerun that has nothing new to copy.

    .venv/bin/python bench/backup.py [--photos 150] [--side 1024] [--jobs 4]
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _env import REPO, isolated_env, make_user, table

sys.path.insert(0, str(REPO / "tests"))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=150)
    ap.add_argument("--side", type=int, default=1024, help="long side of the generated photos (pixels)")
    ap.add_argument("--jobs", type=int, default=4)
    args = ap.parse_args()

    import numpy as np
    from PIL import Image

    from media_fixtures import make_jpeg

    work = Path(tempfile.mkdtemp(prefix="pva-bench-backup-"))
    rng = np.random.default_rng(7)
    print(f"generating {args.photos} noise JPEGs of {args.side}x{args.side * 3 // 4} ...", flush=True)
    src = work / "src"
    src.mkdir()
    for i in range(args.photos):
        px = rng.integers(0, 256, (args.side * 3 // 4, args.side, 3), dtype=np.uint8)
        make_jpeg(src / f"IMG_{i:05d}.jpg", image=Image.fromarray(px), model=f"cam-{i}")

    with isolated_env("backup") as env:
        from pva.infra import db
        from pva.db import backup as backup_q
        from pva.services.ingest import Ingestor
        from pva.services.backup import backup
        from pva.infra.storage import get_storage

        owner = make_user(f"bench-{env.run}")
        ing = Ingestor(publish=False)
        t0 = time.perf_counter()
        for p in sorted(src.iterdir()):
            res = ing.ingest_file(p, owner, p.name)
            assert res.status == "added", res
        print(f"  ingested in {time.perf_counter() - t0:.1f} s", flush=True)

        st = get_storage()
        with db.transaction() as cur:
            refs = backup_q.referenced_objects(cur)
        objects = [(st.originals if r["bucket"] == "originals" else st.thumbs, r["key"]) for r in refs]

        def plain_copy(dest: Path, threads: int) -> tuple[float, int]:
            def one(obj):
                bucket, key = obj
                path = dest / bucket / key
                path.parent.mkdir(parents=True, exist_ok=True)
                n = 0
                with st.get_stream(bucket, key) as body, open(path, "wb") as f:
                    for chunk in body:
                        f.write(chunk)
                        n += len(chunk)
                return n

            t = time.perf_counter()
            with cf.ThreadPoolExecutor(max_workers=threads) as pool:
                total = sum(pool.map(one, objects))
            return time.perf_counter() - t, total

        rows = []

        def row(name, seconds, nbytes, nobj, ref=None):
            rows.append((name, f"{seconds:.2f}", f"{nbytes / 1e6:.1f}", f"{nbytes / 1e6 / seconds:.1f}",
                         f"{nobj / seconds:.0f}", f"{ref / seconds:.2f}" if ref else "1.00"))

        out = work / "plain1"
        plain1_s, nbytes = plain_copy(out, 1)
        shutil.rmtree(out)
        out = work / "plainN"
        plainN_s, _ = plain_copy(out, args.jobs)
        shutil.rmtree(out)
        row("plain copy (S3 get + write), 1 thread", plain1_s, nbytes, len(objects))
        row(f"plain copy, {args.jobs} threads", plainN_s, nbytes, len(objects), plain1_s)

        folder = work / "backup"
        r = backup(str(folder), jobs=args.jobs, progress=False)
        assert r.ok and r.copied == len(objects), r
        row(f"pva backup -> folder, {args.jobs} jobs (dump {r.dump_bytes / 1e6:.1f} MB incl.)", r.seconds,
            r.bytes_copied, r.copied, plain1_s)
        again = backup(str(folder), jobs=args.jobs, progress=False)
        assert again.copied == 0
        rerun_s = again.seconds

        bucket = f"bench-{env.run}-{secrets.token_hex(2)}-dest"
        try:
            st.ensure_buckets([bucket])

            def s3_one(obj):
                b, key = obj
                data = st.get_bytes(b, key)
                st.put(bucket, f"plain/{b}/{key}", data)
                return len(data)

            t = time.perf_counter()
            with cf.ThreadPoolExecutor(max_workers=args.jobs) as pool:
                s3_bytes = sum(pool.map(s3_one, objects))
            plain_s3_s = time.perf_counter() - t
            row(f"plain copy S3 get + S3 put, {args.jobs} threads", plain_s3_s, s3_bytes, len(objects), plain1_s)
            r3 = backup(f"s3://{bucket}/nightly", jobs=args.jobs, progress=False)
            row(f"pva backup -> s3:// (same server), {args.jobs} jobs", r3.seconds, r3.bytes_copied, r3.copied,
                plain1_s)
        finally:
            st.remove_bucket(bucket)

    print()
    print(table(rows, ("copy", "seconds", "MB", "MB/s", "objects/s", "speed vs plain 1-thread")))
    print(f"\n{len(objects)} objects ({args.photos} originals + thumbnails/previews), {nbytes / 1e6:.1f} MB")
    print(f"backup/plain-copy time ratio: {r.seconds / plain1_s:.2f}x (1 thread), {r.seconds / plainN_s:.2f}x "
          f"({args.jobs} threads)")
    print(f"backup to S3 / plain S3 copy time ratio: {r3.seconds / plain_s3_s:.2f}x")
    print(f"incremental rerun with nothing new: {rerun_s:.2f} s (dump + listing + manifest)")
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PVA_LOG_LEVEL", "WARNING")
    sys.exit(main())
