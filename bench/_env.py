"""Shared set-up for benchmarks: the embedded stack, a dedicated database and buckets, torn down afterwards.

    with isolated_env("ingest") as env:   # env.db_url, env.buckets
        ...
"""
from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


@contextlib.contextmanager
def isolated_env(name: str, keep: bool = False):
    from pva.infra import db
    from pva import stack
    from pva.config import get_settings, reload_settings
    from pva.infra.migrate import migrate

    stack.up(log=lambda *a, **k: None)
    reload_settings()
    run = secrets.token_hex(3)
    base = get_settings().effective_database_url
    dbname = f"pva_bench_{name}_{run}"
    url = db.create_database(dbname, base)
    migrate(url, log=lambda *a: None)
    saved = {k: os.environ.get(k) for k in ("PVA_DATABASE_URL", "PVA_BUCKET_ORIGINALS", "PVA_BUCKET_THUMBS",
                                             "PVA_BUCKET_INBOX")}
    os.environ["PVA_DATABASE_URL"] = url
    buckets = {}
    for kind in ("originals", "thumbs", "inbox"):
        buckets[kind] = f"bench-{run}-{kind}"
        os.environ[f"PVA_BUCKET_{kind.upper()}"] = buckets[kind]
    db.close_pool()
    reload_settings()
    from pva.infra import storage

    storage.reset()
    st = storage.get_storage()
    st.ensure_buckets()
    try:
        yield SimpleNamespace(db_url=url, buckets=buckets, run=run)
    finally:
        db.close_pool()
        if not keep:
            for b in buckets.values():
                try:
                    st.remove_bucket(b)
                except Exception:  # best effort: a leftover scratch bucket harms nothing
                    pass
            db.drop_database(dbname, base)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reload_settings()
        storage.reset()


def make_user(username: str) -> dict:
    from pva.infra import db

    return db.query_one("insert into users(username, password_hash) values (%s, '!') returning id, username",
                        (username,))


def table(rows: list[tuple], headers: tuple) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*headers), fmt.format(*["-" * w for w in widths])]
    out += [fmt.format(*[str(x) for x in r]) for r in rows]
    return "\n".join(out)


def vipsthumbnail_run(files, sizes: dict[str, int], out: Path) -> float | None:
    """Seconds for vipsthumbnail to make every size of every file (the reference thumbnailer), None without it."""
    import shutil
    import subprocess
    import time

    if not shutil.which("vipsthumbnail"):
        return None
    t0 = time.perf_counter()
    for p in files:
        for name, size in sizes.items():
            subprocess.run(["vipsthumbnail", str(p), "-s", str(size), "-o", str(out / f"{p.stem}-{name}.jpg[Q=85]")],
                           check=True, capture_output=True)
    return time.perf_counter() - t0
