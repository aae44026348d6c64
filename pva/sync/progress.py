"""Progress display of a sync run: total bytes with rate and ETA, one line per file being sent (rich, on stderr
and only on a terminal); notices and problems printed as lines either way."""
from __future__ import annotations

import threading


class Reporter:
    """What a sync run reports; this base class ignores everything."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def notice(self, msg: str) -> None: ...
    def hash_start(self, rel: str, size: int) -> None: ...
    def hash_bytes(self, n: int) -> None: ...
    def hash_done(self) -> None: ...
    def upload_queued(self, size: int) -> None: ...
    def upload_start(self, rel: str, size: int) -> object: return None
    def upload_bytes(self, handle: object, n: int) -> None: ...
    def upload_reset(self, handle: object) -> None: ...
    def upload_done(self, handle: object, status: str, rel: str = "", reason: str | None = None) -> None: ...


NullReporter = Reporter


def _short(rel: str, width: int = 48) -> str:
    return rel if len(rel) <= width else "…" + rel[-(width - 1):]


class RichReporter(Reporter):
    def __init__(self, console=None, show_progress: bool = True):
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                                   TransferSpeedColumn)

        self.console = console or Console(stderr=True)
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(binary_units=True),
                                 TransferSpeedColumn(), TimeRemainingColumn(), console=self.console,
                                 disable=not (show_progress and self.console.is_terminal),
                                 transient=False)
        self._lock = threading.Lock()
        self._hash_task = None
        self._total_task = None
        self._queued = 0
        self._done = 0
        self._hashed = 0
        self._bytes_total = 0
        self._handles: dict[int, tuple[int, int]] = {}  # task id -> (sent bytes, size)

    def start(self) -> None:
        self.progress.start()
        self._hash_task = self.progress.add_task("hashing", total=None)
        self._total_task = self.progress.add_task("uploading 0/0 files", total=0)

    def stop(self) -> None:
        self.progress.stop()

    def notice(self, msg: str) -> None:
        from rich.markup import escape

        self.progress.console.print(f"[yellow]{escape(msg)}[/yellow]", highlight=False)

    def hash_start(self, rel: str, size: int) -> None:
        self.progress.update(self._hash_task, description=f"hashing {_short(rel, 36)}")

    def hash_bytes(self, n: int) -> None:
        self.progress.advance(self._hash_task, n)

    def hash_done(self) -> None:
        with self._lock:
            self._hashed += 1
            n = self._hashed
        self.progress.update(self._hash_task, description=f"hashed {n} file(s)")

    def _total_desc(self) -> str:
        return f"uploading {self._done}/{self._queued} files"

    def upload_queued(self, size: int) -> None:
        with self._lock:
            self._queued += 1
            self._bytes_total += size
            self.progress.update(self._total_task, total=self._bytes_total, description=self._total_desc())

    def upload_start(self, rel: str, size: int) -> object:
        task = self.progress.add_task(f"  {_short(rel)}", total=max(size, 1))
        with self._lock:
            self._handles[task] = (0, size)
        return task

    def upload_bytes(self, handle, n: int) -> None:
        with self._lock:
            sent, size = self._handles.get(handle, (0, 0))
            step = max(0, min(n, size - sent))
            self._handles[handle] = (sent + step, size)
        self.progress.advance(handle, step)
        self.progress.advance(self._total_task, step)

    def upload_reset(self, handle) -> None:
        with self._lock:
            sent, size = self._handles.get(handle, (0, 0))
            self._handles[handle] = (0, size)
        self.progress.update(handle, completed=0)
        self.progress.advance(self._total_task, -sent)

    def upload_done(self, handle, status: str, rel: str = "", reason: str | None = None) -> None:
        with self._lock:
            sent, size = self._handles.pop(handle, (0, 0))
            self._done += 1
            desc = self._total_desc()
        self.progress.advance(self._total_task, size - sent)
        self.progress.update(self._total_task, description=desc)
        self.progress.remove_task(handle)
        if status in ("rejected", "failed"):
            from rich.markup import escape

            self.progress.console.print(f"[red]{status}[/red]: {escape(rel)}: {escape(reason or '')}",
                                        highlight=False)
