"""Batch load: `pva load DIR --owner USER`.

Each file under DIR is ingested (key = owner/relative/path) and leaves DIR only after its object and database row
are committed.  Outcomes:
- added: stored; the file is removed from DIR (it now lives in the originals bucket, byte-identical);
- duplicate: the same bytes are already stored; the file moves to DIR/duplicates/ with a .reason.txt beside it;
- rejected: the file moves to DIR/rejected/ with a .reason.txt beside it (never deleted);
- failed: a service error; the file stays in DIR and a rerun picks it up.
A rerun after a crash or Ctrl-C continues: files already committed by the earlier run are recognised by their
SHA-512 and original path and simply leave DIR.
Each run declares DIR (resolved) as a load root of the owner: media.ingest messages with a "path" are honoured
only for files under such roots (see pva.services.inbox).
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from ..db import load_roots as load_roots_q
from ..db import media as media_q
from ..db import users as users_q
from ..infra import db
from .ingest import IngestResult, get_ingestor, resolve_owner

SPECIAL_DIRS = ("rejected", "duplicates")
REASON_SUFFIX = ".reason.txt"


@dataclass
class LoadSummary:
    total: int = 0
    counts: Counter = field(default_factory=Counter)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    bytes: int = 0

    @property
    def files_per_second(self) -> float:
        return self.total / self.seconds if self.seconds else 0.0


def iter_files(root: Path):
    """Regular files under root (sorted, stable), skipping our rejected/ and duplicates/ folders and symlinks."""
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = Path(dirpath).relative_to(root)
        if rel_dir == Path("."):
            dirnames[:] = [d for d in dirnames if d not in SPECIAL_DIRS]
        dirnames.sort()
        for name in sorted(filenames):
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            yield p, str(rel_dir / name) if str(rel_dir) != "." else name


def _move_aside(root: Path, path: Path, rel: str, folder: str, reason: str) -> None:
    dest = root / folder / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        dest = dest.with_name(f"{dest.name}.{int(time.time())}")
    os.replace(path, dest)
    with open(str(dest) + REASON_SUFFIX, "w", encoding="utf-8", errors="replace") as f:
        f.write(reason.rstrip() + "\n")


def settle(root: Path, path: Path, rel: str, res: IngestResult) -> str:
    """Move the file according to its outcome; returns the outcome to count."""
    if res.status == "added":
        path.unlink()
        return "added"
    if res.status == "duplicate":
        with db.transaction() as cur:
            row = media_q.get(cur, res.media_id)
        if row and row["original_path"] == res.name:
            path.unlink()  # committed by an earlier (interrupted) run of the same load
            return "added"
        _move_aside(root, path, rel, "duplicates", res.reason or "duplicate")
        return "duplicate"
    if res.status == "rejected":
        _move_aside(root, path, rel, "rejected", res.reason or "rejected")
        return "rejected"
    return "failed"


# --- worker side (one Ingestor per process)
_owner: dict | None = None


def _init_worker(owner: dict) -> None:
    global _owner
    from ..log import setup_logging

    setup_logging(level="WARNING")
    _owner = owner


def _work(path: str, rel: str) -> IngestResult:
    return get_ingestor().ingest_file(Path(path), _owner, rel, source="load")


def default_owner() -> str:
    """The username of the only user, the owner `pva load` takes when none is named; LookupError saying what to do
    when there is no user or there are several."""
    with db.transaction() as cur:
        users = users_q.list_all(cur)
    if len(users) == 1:
        return users[0]["username"]
    if not users:
        raise LookupError("there is no user yet; create one with `pva users create NAME`")
    raise LookupError("there are several users; say which one owns the files with --owner USER")


def load(root: Path, owner, workers: int | None = None, progress: bool = True, console=None) -> LoadSummary:
    root = Path(root).resolve()
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    owner = resolve_owner(owner)
    with db.transaction() as cur:
        load_roots_q.declare(cur, owner["id"], os.path.realpath(root))
    files = list(iter_files(root))
    summary = LoadSummary(total=len(files))
    workers = workers or max(1, min(len(files), (os.cpu_count() or 2)))
    t0 = time.perf_counter()
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    columns = [TextColumn("[bold]loading"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:>7.1f} files/s"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=not progress, transient=False) as bar:
        task = bar.add_task("load", total=len(files), rate=0.0)
        if workers == 1:
            for p, rel in files:
                res = get_ingestor().ingest_file(p, owner, rel, source="load")
                _account(summary, root, p, rel, res, bar, task, t0)
        else:
            ctx = mp.get_context("spawn")
            with cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                                        initargs=(owner,)) as pool:
                futs = {pool.submit(_work, str(p), rel): (p, rel) for p, rel in files}
                try:
                    for fut in cf.as_completed(futs):
                        p, rel = futs[fut]
                        try:
                            res = fut.result()
                        except Exception as e:  # a worker died: the file stays for the next run
                            res = IngestResult("failed", rel, reason=f"worker error: {e}")
                        _account(summary, root, p, rel, res, bar, task, t0)
                except KeyboardInterrupt:
                    for f in futs:
                        f.cancel()
                    raise
    summary.seconds = time.perf_counter() - t0
    return summary


def _account(summary: LoadSummary, root, p, rel, res: IngestResult, bar, task, t0) -> None:
    try:
        outcome = settle(root, p, rel, res)
    except OSError as e:
        outcome, res.reason = "failed", f"stored, but could not move the file out of the load folder: {e}"
    summary.counts[outcome] += 1
    summary.bytes += res.size or 0
    if outcome == "rejected":
        summary.rejected.append((rel, res.reason or ""))
    elif outcome == "failed":
        summary.failed.append((rel, res.reason or ""))
    done = sum(summary.counts.values())
    bar.update(task, advance=1, rate=done / max(1e-6, time.perf_counter() - t0))
