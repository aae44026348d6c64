"""What backup, restore and the library check share: the progress bar over bytes, a bucket listing that treats a
missing bucket as empty, and the reader that proves a blob matches its manifest entry while it is uploaded."""
from __future__ import annotations

import hashlib
import threading

from .backup_store import BackupError


class ByteProgress:
    """A rich progress bar over bytes (rate in MB/s, objects done, ETA), as `pva load` shows one over files."""

    def __init__(self, label: str, total_bytes: int, total_objects: int, enabled: bool, console=None):
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)

        self._lock = threading.Lock()
        self.done_objects = 0
        self.total_objects = total_objects
        self.bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                            TextColumn("{task.fields[objects]}"), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), console=console, disable=not enabled, transient=False)
        if not total_objects:  # nothing to copy (an incremental run with nothing new): no empty bar
            self.bar.disable = True
        self.task = self.bar.add_task(label, total=max(total_bytes, 1), objects=f"0/{total_objects} objects")

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        self.bar.__exit__(*exc)

    def advance(self, nbytes: int) -> None:
        with self._lock:
            self.done_objects += 1
            self.bar.update(self.task, advance=nbytes,
                            objects=f"{self.done_objects}/{self.total_objects} objects")


def list_quiet(st, bucket: str):
    """Every object of `bucket`; none when the bucket does not exist (a fresh or wiped stack)."""
    from pva.infra.storage import NotFound

    try:
        yield from st.list(bucket, "")
    except NotFound:
        return


class VerifyingReader:
    """Passes a blob to the S3 upload, hashing it: restore proves each object matches the manifest."""

    def __init__(self, stream, entry: dict):
        self._s, self.e, self.h, self.n = stream, entry, hashlib.sha512(), 0

    def read(self, n: int = -1) -> bytes:
        data = self._s.read(n)
        self.h.update(data)
        self.n += len(data)
        return data

    def check(self) -> None:
        if self.n != self.e["size"] or self.h.hexdigest() != self.e["sha512"]:
            raise BackupError(f"the backup's copy of {self.e['bucket']}/{self.e['key']} is damaged (its SHA-512 or "
                              "size differs from the manifest); restore from another backup")
