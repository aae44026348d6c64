"""The sync run: scan the roots, hash what changed (cached in the state database), ask the server in bulk what it
already has, upload the rest concurrently, record every outcome, and summarise.

    summary = run_sync(SyncOptions(roots=[Path("Pictures")], server="https://photos.home", token=token))
    print(summary.text()); sys.exit(summary.exit_code)

Outcomes per file: uploaded (new on the server), present (the server had the same bytes, or another file of this
run with the same bytes was uploaded: stored once), unchanged (recorded as done by an earlier run with the same
size and mtime: neither hashed nor sent), rejected (the server said why; not retried until the file changes),
failed (retried in this run, then left for the next).  Local files are only read, never modified or deleted.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .client import FILE_RETRIES, ConfigError, Stopped, SyncClient, SyncError, normalize_server
from .ignore import IgnoreRules
from .progress import NullReporter, Reporter
from .state import DONE, SyncState, account_of, default_state_path, path_key

RESOLVE_BATCH = 500     # files hashed before one bulk SHA-512 check ...
RESOLVE_SECONDS = 2.0   # ... or seconds of hashing (big videos: uploads start early)


@dataclass
class SyncOptions:
    roots: list[Path]
    server: str
    token: str
    album: str | None = None
    concurrency: int = 4
    dry_run: bool = False
    state_path: Path | None = None
    ca_cert: Path | None = None
    wait: float = 300.0
    settle: float = 5.0        # --watch: seconds a file's size and mtime must stay the same before upload

    def validate(self) -> None:
        if not self.roots:
            raise ConfigError("give at least one folder to sync")
        for r in self.roots:
            if not Path(r).expanduser().is_dir():
                raise ConfigError(f"{r}: not a folder (give the folders to sync)")
        if not 1 <= self.concurrency <= 64:
            raise ConfigError("--concurrency must be between 1 and 64")
        if self.wait < 0:
            raise ConfigError("--wait must be >= 0 seconds")
        if self.settle < 0:
            raise ConfigError("--settle must be >= 0 seconds")
        if self.album is not None and not 1 <= len(self.album.strip()) <= 200:
            raise ConfigError("--album: give a name of 1 to 200 characters")


@dataclass(frozen=True)
class LocalFile:
    path: Path      # absolute
    key: str        # state key (the absolute path as text)
    rel: str        # sent to the server: <root name>/<path inside the root>
    size: int
    mtime_ns: int


@dataclass
class Summary:
    counts: Counter = field(default_factory=Counter)
    problems: list[tuple[str, str, str]] = field(default_factory=list)   # (status, rel, reason)
    would_upload: list[str] = field(default_factory=list)
    bytes_uploaded: int = 0
    bytes_would: int = 0
    seconds: float = 0.0
    error: SyncError | None = None

    @property
    def exit_code(self) -> int:
        if self.error is not None:
            return self.error.exit_code
        return 1 if (self.counts["rejected"] or self.counts["failed"]) else 0

    def text(self, dry_run: bool = False, limit: int = 20) -> str:
        c = self.counts
        if self.error is not None and not any(c.values()):
            return f"pva sync: {self.error}"
        lines = []
        rate = c["uploaded"] / self.seconds if self.seconds > 0 else 0.0
        if dry_run:
            lines.append(f"dry run: {c['would_upload']} file(s) would be uploaded ({_human(self.bytes_would)})")
            lines += [f"  {r}" for r in self.would_upload[:limit]]
            if len(self.would_upload) > limit:
                lines.append(f"  ... and {len(self.would_upload) - limit} more")
        else:
            lines.append(f"uploaded {c['uploaded']} file(s), {_human(self.bytes_uploaded)} in {self.seconds:.1f} s"
                         f" ({rate:.1f} files/s)")
        parts = [f"{c['present']} already on the server" if c["present"] else "",
                 f"{c['copies']} identical cop{'y' if c['copies'] == 1 else 'ies'} of another file (stored once)"
                 if c["copies"] else "",
                 f"{c['unchanged']} unchanged since the last sync" if c["unchanged"] else "",
                 f"{c['skipped_rejected']} rejected earlier and unchanged (not sent again)"
                 if c["skipped_rejected"] else "",
                 f"{c['changed']} changed while being sent (sent again next run)" if c["changed"] else "",
                 f"{c['vanished']} vanished before upload" if c["vanished"] else "",
                 f"{c['rejected']} rejected" if c["rejected"] else "",
                 f"{c['failed']} failed (run again to retry)" if c["failed"] else ""]
        parts = [p for p in parts if p]
        if parts:
            lines.append("; ".join(parts))
        for status, rel, reason in self.problems[:limit]:
            lines.append(f"  {status}: {rel}: {reason}")
        if len(self.problems) > limit:
            lines.append(f"  ... and {len(self.problems) - limit} more")
        if self.error is not None:
            lines.append(f"stopped: {self.error}")
        return "\n".join(lines)


def _human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def hash_file(path: Path, on_bytes: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha512()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(1024 * 1024)
        view = memoryview(buf)
        while True:
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            if on_bytes:
                on_bytes(n)
    return h.hexdigest()


class Syncer:
    """One sync session (a run, or a --watch session made of many small runs).  Not reentrant: one thread calls
    process()/drain(); uploads run on a pool of `concurrency` threads."""

    def __init__(self, opts: SyncOptions, *, client: SyncClient | None = None, state: SyncState | None = None,
                 reporter: Reporter | None = None, on_result: Callable[[LocalFile, dict], None] | None = None,
                 stop: threading.Event | None = None):
        opts.validate()
        self.opts = opts
        self.stop = stop or threading.Event()
        self.reporter = reporter or NullReporter()
        self.server = normalize_server(opts.server)
        self.client = client or SyncClient(self.server, opts.token, ca_cert=opts.ca_cert, wait=opts.wait,
                                           concurrency=opts.concurrency, on_notice=self.reporter.notice,
                                           stop=self.stop)
        self.state = state or SyncState(opts.state_path or default_state_path(), self.server,
                                        account_of(opts.token))
        self.on_result = on_result
        self.roots = [Path(r).expanduser().resolve() for r in opts.roots]
        self.rules = {r: IgnoreRules.for_root(r) for r in self.roots}
        self.summary = Summary()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(opts.concurrency, thread_name_prefix="pva-sync")
        self._futures: set[Future] = set()
        self._leaders: dict[str, Future] = {}      # sha -> the upload of the first file with those bytes
        self._known: dict[str, str] = {}           # sha -> media id, learnt in this session
        self._fatal: SyncError | None = None
        self._t0 = time.monotonic()

    def close(self) -> None:
        self.stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()
        self.state.close()

    # ------------------------------------------------------------------ finding files
    def root_of(self, path: Path) -> Path | None:
        for r in self.roots:
            if path == r or r in path.parents:
                return r
        return None

    def local_file(self, path: Path, root: Path | None = None) -> LocalFile | None:
        """A LocalFile for a regular, not-ignored file under a root (None otherwise)."""
        path = Path(os.path.abspath(path))
        root = root or self.root_of(path)
        if root is None or path == root:
            return None
        inner = path.relative_to(root).as_posix()
        if self.rules[root].ignored(inner):
            return None
        try:
            st = path.stat()
        except OSError:
            return None
        if not path.is_file():
            return None
        rel = f"{root.name}/{inner}".encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return LocalFile(path, path_key(path), rel, st.st_size, st.st_mtime_ns)

    def scan(self, roots: Iterable[Path] | None = None) -> Iterator[LocalFile]:
        """Every file to consider under the roots (or under the given directories inside them), sorted, ignored
        directories pruned, symlinked directories not followed."""
        for top in roots or self.roots:
            top = Path(os.path.abspath(top))
            root = self.root_of(top)
            if root is None:
                continue
            rules = self.rules[root]
            for dirpath, dirnames, filenames in os.walk(top, followlinks=False,
                                                        onerror=lambda e: self._local_problem(e)):
                d = Path(dirpath)
                inner_dir = d.relative_to(root).as_posix()
                prefix = "" if inner_dir == "." else inner_dir + "/"
                if prefix and rules.ignored(inner_dir, is_dir=True):
                    dirnames[:] = []
                    continue
                dirnames[:] = sorted(x for x in dirnames if not rules.ignored_entry(prefix + x, True))
                for name in sorted(filenames):
                    if rules.ignored_entry(prefix + name, False):
                        continue
                    lf = self.local_file(d / name, root)
                    if lf is not None:
                        yield lf

    def _local_problem(self, err: OSError) -> None:
        self._count("failed", getattr(err, "filename", "?") or "?", f"cannot read: {err.strerror or err}")

    def _count(self, status: str, rel: str | None = None, reason: str | None = None) -> None:
        with self._lock:
            self.summary.counts[status] += 1
            if status in ("rejected", "failed") and rel is not None:
                self.summary.problems.append((status, rel, reason or ""))

    # ------------------------------------------------------------------ the pipeline
    def process(self, files: Iterable[LocalFile]) -> None:
        """Hash and check `files` in batches, queueing uploads as soon as a batch is resolved."""
        batch: list[tuple[LocalFile, str]] = []
        started = time.monotonic()
        for lf in files:
            self._check()
            rec = self.state.get(lf.key)
            if rec and rec.size == lf.size and rec.mtime_ns == lf.mtime_ns:
                if rec.status in DONE:
                    self._count("unchanged")
                    continue
                if rec.status == "rejected":
                    self._count("skipped_rejected")
                    continue
            sha = self.state.cached_hash(lf.key, lf.size, lf.mtime_ns)
            if sha is None:
                self.reporter.hash_start(lf.rel, lf.size)
                try:
                    sha = hash_file(lf.path, self.reporter.hash_bytes)
                except FileNotFoundError:
                    self._count("vanished")
                    continue
                except OSError as e:
                    self._count("failed", lf.rel, f"cannot read the file: {e.strerror or e}")
                    continue
                finally:
                    self.reporter.hash_done()
                self.state.put_hash(lf.key, lf.size, lf.mtime_ns, sha)
            if not batch:
                started = time.monotonic()
            batch.append((lf, sha))
            if len(batch) >= RESOLVE_BATCH or time.monotonic() - started > RESOLVE_SECONDS:
                self._resolve(batch)
                batch = []
        if batch:
            self._resolve(batch)
        self.state.flush()
        self._check()

    def _check(self) -> None:
        if self._fatal is not None:
            raise self._fatal
        if self.stop.is_set():
            raise Stopped("stopped")

    def _resolve(self, batch: list[tuple[LocalFile, str]]) -> None:
        self.state.flush()
        ask = sorted({sha for _, sha in batch if sha not in self._known and sha not in self._leaders})
        have = self.client.have(ask, album=None if self.opts.dry_run else self.opts.album) if ask else {}
        for lf, sha in batch:
            if sha in have and sha not in self._known:
                self._known[sha] = have[sha]
                self._finish(lf, sha, "present", have[sha], None)
            elif sha in self._known:
                self._finish(lf, sha, "present", self._known[sha], None, copy=True)
            elif self.opts.dry_run:
                with self._lock:
                    self.summary.counts["would_upload"] += 1
                    self.summary.would_upload.append(lf.rel)
                    self.summary.bytes_would += lf.size
                self._known[sha] = "(dry run)"
            elif sha in self._leaders:
                self._leaders[sha].add_done_callback(lambda fut, lf=lf, sha=sha: self._follow(fut, lf, sha))
            else:
                self.reporter.upload_queued(lf.size)
                fut = self._pool.submit(self._upload, lf, sha)
                fut.add_done_callback(self._watch_future)
                self._leaders[sha] = fut
                self._futures.add(fut)

    def _watch_future(self, fut: Future) -> None:
        exc = fut.exception() if not fut.cancelled() else None
        if isinstance(exc, SyncError) and self._fatal is None:
            self._fatal = exc
            self.stop.set()

    def _follow(self, fut: Future, lf: LocalFile, sha: str) -> None:
        """Another file with the same bytes as an upload of this run: it shares the leader's outcome."""
        if fut.cancelled() or fut.exception() is not None:
            return
        status, media_id, reason = fut.result()
        if status in DONE:
            self._finish(lf, sha, "present", media_id, None, copy=True)
        elif status in ("rejected", "failed"):
            self._finish(lf, sha, status, None, reason)

    def _finish(self, lf: LocalFile, sha: str, status: str, media_id: str | None, reason: str | None,
                copy: bool = False) -> None:
        if not self.opts.dry_run:
            self.state.record(lf.key, lf.size, lf.mtime_ns, sha, status, media_id, reason)
        self._count("copies" if copy else status, lf.rel, reason)

    def _upload(self, lf: LocalFile, sha: str) -> tuple[str, str | None, str | None]:
        opts = self.opts
        handle = self.reporter.upload_start(lf.rel, lf.size)
        res: dict = {}
        try:
            for attempt in range(FILE_RETRIES):
                res = self.client.upload(lf.path, lf.rel, album=opts.album,
                                         on_bytes=lambda n: self.reporter.upload_bytes(handle, n),
                                         on_retry=lambda: self.reporter.upload_reset(handle))
                if res.get("status") != "failed" or attempt + 1 == FILE_RETRIES:
                    break
                self.reporter.upload_reset(handle)
                if self.stop.wait(min(10.0, 1.0 * 2 ** attempt)):
                    raise Stopped("stopped")
        except FileNotFoundError:
            self.reporter.upload_done(handle, "vanished")
            self._count("vanished")
            return "vanished", None, None
        except PermissionError as e:
            res = {"status": "failed", "reason": f"cannot read the file: {e.strerror or e}"}
        except SyncError:
            self.reporter.upload_done(handle, "stopped")
            raise
        server_status = res.get("status")
        status = {"added": "uploaded", "duplicate": "present"}.get(server_status, server_status)
        if status not in ("uploaded", "present", "rejected", "failed"):
            status, res = "failed", {"reason": f"unexpected answer from the server: {server_status!r}"}
        media_id, reason = res.get("media_id"), res.get("reason")
        self.reporter.upload_done(handle, status, lf.rel, reason)
        try:
            st = lf.path.stat()
            changed = (st.st_size, st.st_mtime_ns) != (lf.size, lf.mtime_ns)
        except OSError:
            changed = False
        sent_sha = (res.get("sha512") or sha).lower()
        if changed or (status in DONE and sent_sha != sha):
            # what the server got is not the file we hashed: leave it for the next run / the watcher
            self._count("changed")
        else:
            self.state.record(lf.key, lf.size, lf.mtime_ns, sha, status, media_id, reason)
            self._count(status, lf.rel, reason)
            if status == "uploaded":
                with self._lock:
                    self.summary.bytes_uploaded += lf.size
        if media_id and status in DONE:
            self._known[sha] = media_id
        if self.on_result is not None:
            self.on_result(lf, res)
        return status, media_id, reason

    def drain(self) -> None:
        """Wait for every queued upload; raise the first fatal error (server gone, token refused, stop)."""
        while True:
            pending = [f for f in list(self._futures) if not f.done()]
            if not pending:
                break
            for f in pending:
                try:
                    f.result()
                except SyncError:
                    pass
                except Exception as e:  # a bug in one upload must not lose the others' results
                    self._count("failed", "?", f"internal error: {type(e).__name__}: {e}")
        self._futures = {f for f in self._futures if not f.done()}
        self._leaders = {k: v for k, v in self._leaders.items() if not v.done()}
        if self._fatal is not None:
            raise self._fatal

    def finish(self, error: SyncError | None = None) -> Summary:
        self.summary.seconds = time.monotonic() - self._t0
        if error is not None and self.summary.error is None:
            self.summary.error = error
        return self.summary

    # ------------------------------------------------------------------ one run
    def run_once(self) -> None:
        self.process(self.scan())
        self.drain()


def run_sync(opts: SyncOptions, *, reporter: Reporter | None = None,
             on_result: Callable[[LocalFile, dict], None] | None = None,
             stop: threading.Event | None = None, watch: bool = False,
             on_ready: Callable[[], None] | None = None) -> Summary:
    """A whole sync (and with watch=True, keep watching until `stop` is set).  Never raises a SyncError: the
    summary carries it (summary.error, summary.exit_code)."""
    reporter = reporter or NullReporter()
    try:
        syncer = Syncer(opts, reporter=reporter, on_result=on_result, stop=stop)
    except SyncError as e:
        s = Summary(error=e)
        return s
    except Exception as e:  # the state database could not be opened, etc.
        from .state import StateError

        if isinstance(e, StateError):
            return Summary(error=ConfigError(str(e)))
        raise
    error: SyncError | None = None
    reporter.start()
    try:
        if watch:
            from .watch import Watcher

            Watcher(syncer, settle=opts.settle).run(on_ready=on_ready)
        else:
            syncer.run_once()
    except SyncError as e:
        error = syncer._fatal or e
        if isinstance(error, Stopped) and watch:
            error = None  # a watcher stopped on request ends normally
    finally:
        reporter.stop()
        syncer.close()
    return syncer.finish(error)
