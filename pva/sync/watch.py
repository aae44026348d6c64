"""`pva sync --watch`: after the first pass, upload new and changed files as they appear.

The watchdog observer starts before the first pass, so nothing created meanwhile is missed.  A file is uploaded
only once its size and mtime have stayed the same for `settle` seconds (a camera import or a download still
being written is left alone); ignored names (.pvaignore and the defaults, e.g. *.part, *.crdownload) never are.
Deletions and renames away are ignored: sync never deletes anything, locally or on the server.
"""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

TICK = 0.25


class _Collector(FileSystemEventHandler):
    def __init__(self):
        self.lock = threading.Lock()
        self.files: set[str] = set()
        self.dirs: set[str] = set()

    def _add(self, path, is_dir: bool) -> None:
        path = os.fsdecode(path)
        with self.lock:
            (self.dirs if is_dir else self.files).add(path)

    def on_created(self, event: FileSystemEvent) -> None:
        self._add(event.src_path, event.is_directory)

    def on_modified(self, event: FileSystemEvent) -> None:
        if not event.is_directory:
            self._add(event.src_path, False)

    def on_closed(self, event: FileSystemEvent) -> None:
        self._add(event.src_path, False)

    def on_moved(self, event: FileSystemEvent) -> None:
        self._add(event.dest_path, event.is_directory)

    def take(self) -> tuple[set[str], set[str]]:
        with self.lock:
            files, dirs = self.files, self.dirs
            self.files, self.dirs = set(), set()
        return files, dirs


class Watcher:
    def __init__(self, syncer, settle: float = 5.0):
        self.syncer = syncer
        self.settle = float(settle)
        self.collector = _Collector()
        self.pending: dict[Path, tuple[int, int, float]] = {}   # path -> (size, mtime_ns, unchanged since)

    def run(self, on_ready: Callable[[], None] | None = None) -> None:
        """The first pass, then watch until syncer.stop is set (raises what the syncer raises)."""
        s = self.syncer
        observer = Observer()
        for root in s.roots:
            observer.schedule(self.collector, str(root), recursive=True)
        observer.start()
        try:
            s.run_once()
            s.reporter.notice(f"watching {', '.join(str(r) for r in s.roots)} for new files (Ctrl-C to stop)")
            if on_ready:
                on_ready()
            while not s.stop.wait(TICK):
                self._tick()
            s._check()
        finally:
            observer.stop()
            observer.join(timeout=5)

    def _tick(self) -> None:
        files, dirs = self.collector.take()
        now = time.monotonic()
        for d in dirs:  # a folder moved or copied in: its files may not have events of their own
            for lf in self.syncer.scan([Path(d)]):
                files.add(str(lf.path))
        for f in files:
            p = Path(f)
            if self.syncer.root_of(p) is None:
                continue
            try:
                st = p.stat()
            except OSError:
                self.pending.pop(p, None)
                continue
            prev = self.pending.get(p)
            if prev is None or (prev[0], prev[1]) != (st.st_size, st.st_mtime_ns):
                self.pending[p] = (st.st_size, st.st_mtime_ns, now)
        ready = []
        for p, (size, mtime_ns, since) in list(self.pending.items()):
            try:
                st = p.stat()
            except OSError:
                del self.pending[p]
                continue
            if (st.st_size, st.st_mtime_ns) != (size, mtime_ns):
                self.pending[p] = (st.st_size, st.st_mtime_ns, now)
            elif now - since >= self.settle:
                del self.pending[p]
                lf = self.syncer.local_file(p)
                if lf is not None:
                    ready.append(lf)
        if ready:
            ready.sort(key=lambda lf: lf.rel)
            self.syncer.process(ready)
            self.syncer.drain()
