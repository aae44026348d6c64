"""Sync benchmark: `pva sync` of N small photos (a few KB each, unique EXIF) to a real gateway (uvicorn in a
subprocess, dedicated database and buckets), in three situations:
  - none on the server: hash, bulk check, upload and ingest every file;
  - all on the server, fresh state: hash every file and ask the server (nothing sent);
  - all on the server, same state (a rerun): nothing hashed, nothing sent;
beside the floor: the same files ingested in-process (no HTTP, no client), the server-side cost per file.
Prints files/s and the ratios.

    .venv/bin/python bench/sync.py [--files 1000] [--concurrency 4]
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from _env import REPO, isolated_env, make_user, table

sys.path.insert(0, str(REPO / "tests"))
from net_helpers import http_service  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()

    import logging

    from media_fixtures import make_jpeg

    logging.getLogger("httpx").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="pva-bench-sync-"))
    root = work / "Photos"
    root.mkdir(parents=True)
    print(f"generating {args.files} small JPEGs ...", flush=True)
    for i in range(args.files):
        make_jpeg(root / f"IMG_{i:05d}.jpg",
                  size=(160, 120), model=f"cam-{secrets.token_hex(6)}", taken="2024:05:01 10:20:30")
    size_kb = sum(p.stat().st_size for p in root.iterdir()) / args.files / 1024
    print(f"  {size_kb:.1f} KiB per photo on average")

    with isolated_env("sync") as env:
        from pva.services.auth import create_token
        from pva.services import ingest as service
        from pva.sync.engine import SyncOptions, run_sync

        def gateway(port: int) -> list[str]:
            return [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory", "--host", "127.0.0.1",
                    "--port", str(port), "--log-level", "warning", "--no-access-log"]

        with http_service(gateway, env={**os.environ, "PVA_LOG_LEVEL": "WARNING"}, log_path=work / "gateway.log",
                          cwd=REPO, timeout=60, what="the gateway") as (url, _):
            user = make_user(f"bench-{env.run}")
            token, _ = create_token(user["id"], ["upload"], name="bench")

            def sync(state: Path):
                opts = SyncOptions(roots=[root], server=url, token=token, state_path=state,
                                   concurrency=args.concurrency, wait=60)
                t0 = time.perf_counter()
                s = run_sync(opts)
                dt = time.perf_counter() - t0
                if s.exit_code != 0:
                    raise SystemExit(f"sync failed:\n{s.text()}")
                return dt, s

            t_new, s_new = sync(work / "state.db")
            assert s_new.counts["uploaded"] == args.files, s_new.text()
            t_have, s_have = sync(work / "fresh-state.db")
            assert s_have.counts["present"] == args.files, s_have.text()
            t_rerun, s_rerun = sync(work / "state.db")
            assert s_rerun.counts["unchanged"] == args.files, s_rerun.text()

            # floor: the server's own per-file cost, in-process, for the same bytes (another user: no dedupe)
            floor_user = make_user(f"bench-floor-{env.run}")
            ing = service.get_ingestor()
            files = sorted(root.iterdir())
            t0 = time.perf_counter()
            for p in files:
                r = ing.ingest_file(p, floor_user, f"Photos/{p.name}", source="upload")
                assert r.status == "added", r
            t_floor = time.perf_counter() - t0

    n = args.files
    rows = [
        ("none on the server (upload all)", f"{t_new:.1f}", f"{n / t_new:.0f}", f"{t_floor / t_new:.2f}x floor"),
        ("all on the server, fresh state (hash + ask)", f"{t_have:.2f}", f"{n / t_have:.0f}", ""),
        ("all on the server, rerun (state)", f"{t_rerun:.2f}", f"{n / t_rerun:.0f}", ""),
        ("floor: in-process ingest, 1 thread", f"{t_floor:.1f}", f"{n / t_floor:.0f}", ""),
    ]
    print(f"\n{n} photos, concurrency {args.concurrency}, {os.cpu_count()} CPUs (gateway on the same machine)")
    print(table(rows, ("case", "seconds", "files/s", "ratio")))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
