"""Where a backup lives: a local folder or an S3 bucket/prefix (any endpoint), behind one small interface.

Layout (the same in both):

    manifest.json            the latest complete backup (written last, atomically: a run that dies leaves the
                             previous one in place)
    manifests/<run>.json     every run's manifest
    db/<run>.dump            pg_dump custom-format archive of that run
    blobs/<ab>/<sha512 hex>  objects by content: an object is stored once however many keys or runs name it,
                             and is never overwritten, so an interrupted run cannot damage a previous backup

A blob is only ever visible complete: in a folder it is written to a temporary name, fsynced and renamed; on S3 a
PUT is atomic.  Its SHA-512 is checked while it is written, and a blob whose bytes do not match is not kept.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

MANIFEST = "manifest.json"


class BackupError(RuntimeError):
    """A backup or restore cannot go on; the message says what to do."""


class BlobMismatch(BackupError):
    def __init__(self, expected: str, actual: str, size: int):
        self.expected, self.actual, self.size = expected, actual, size
        super().__init__(f"content SHA-512 {actual[:16]}… ({size} bytes) is not the expected {expected[:16]}…")


def blob_path(sha: str) -> str:
    return f"blobs/{sha[:2]}/{sha}"


class _Hashing:
    """Reads a stream, hashing and counting every byte (the S3 upload consumes it)."""

    def __init__(self, stream: BinaryIO):
        self._s, self.h, self.n = stream, hashlib.sha512(), 0

    def read(self, n: int = -1) -> bytes:
        data = self._s.read(n)
        self.h.update(data)
        self.n += len(data)
        return data


class FolderStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).resolve()

    def describe(self) -> str:
        return str(self.root)

    def prepare(self) -> None:
        """Create the folder and take its lock (one backup or restore at a time: a second would take the first
        one's temporary files for leftovers); then remove what a killed run left half-written."""
        import fcntl

        try:
            (self.root / "blobs").mkdir(parents=True, exist_ok=True)
            self._lock = open(self.root / ".lock", "a+")
        except OSError as e:
            raise BackupError(f"cannot create the backup folder {self.root}: {e}; choose a writable folder") from e
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"another pva backup or restore is using {self.root}; wait for it to finish") from None
        for d in (self.root, self.root / "manifests", self.root / "db", *(self.root / "blobs").iterdir()):
            if d.is_dir():
                for e in os.scandir(d):
                    if e.name.startswith(".") and (".part-" in e.name or ".tmp-" in e.name):
                        os.unlink(e.path)

    def close(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is not None:
            lock.close()  # releases the flock
            self._lock = None

    def read(self, rel: str) -> bytes | None:
        try:
            return (self.root / rel).read_bytes()
        except FileNotFoundError:
            return None

    def write_atomic(self, rel: str, data: bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)

    def put_file(self, rel: str, src: Path) -> None:
        with open(src, "rb") as f:
            self._write_stream(self.root / rel, f)

    def get_file(self, rel: str, dst: Path) -> None:
        try:
            with open(self.root / rel, "rb") as f, open(dst, "wb") as out:
                while chunk := f.read(1 << 20):
                    out.write(chunk)
        except FileNotFoundError:
            raise BackupError(f"{self.root / rel} is missing: the backup is incomplete") from None

    def blobs(self) -> dict[str, int]:
        out: dict[str, int] = {}
        base = self.root / "blobs"
        if not base.is_dir():
            return out
        for shard in os.scandir(base):
            if shard.is_dir():
                for e in os.scandir(shard.path):
                    if not e.name.startswith("."):
                        out[e.name] = e.stat().st_size
        return out

    def write_blob(self, sha: str, stream: BinaryIO, length: int = -1) -> int:
        """Store a blob from `stream`, checking its SHA-512; returns its size.  Raises BlobMismatch (nothing kept).
        (`length` is for S3, which sends a stream of known length in one request.)"""
        return self._write_stream(self.root / blob_path(sha), stream, expect=sha)

    def open_blob(self, sha: str) -> BinaryIO:
        try:
            return open(self.root / blob_path(sha), "rb")
        except FileNotFoundError:
            raise BackupError(f"blob {sha[:16]}… is missing from {self.root}: the backup is incomplete") from None

    def _write_stream(self, path: Path, stream: BinaryIO, expect: str | None = None) -> int:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.part-{secrets.token_hex(4)}")
        h, n = hashlib.sha512(), 0
        try:
            with open(tmp, "wb") as f:
                while chunk := stream.read(1 << 20):
                    h.update(chunk)
                    n += len(chunk)
                    f.write(chunk)
                f.flush()
                os.fsync(f.fileno())
            if expect is not None and h.hexdigest() != expect:
                raise BlobMismatch(expect, h.hexdigest(), n)
            os.replace(tmp, path)
        finally:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
        return n


class S3Store:
    def __init__(self, url: str, endpoint: str | None = None, access_key: str | None = None,
                 secret_key: str | None = None):
        from ..config import get_settings
        from pva.infra.storage import Storage

        u = urlsplit(url)
        if u.scheme != "s3" or not u.netloc:
            raise BackupError(f"{url!r} is not s3://bucket[/prefix]")
        self.bucket, self.prefix = u.netloc, u.path.strip("/")
        s = get_settings()
        s = dataclasses.replace(s, s3_access_key=access_key or s.s3_access_key,
                                s3_secret_key=secret_key or s.s3_secret_key)
        self.st = Storage(s, endpoint=endpoint or s.effective_s3_endpoint)
        self.url = url

    def _k(self, rel: str) -> str:
        return f"{self.prefix}/{rel}" if self.prefix else rel

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix} at {self.st.endpoint}"

    def prepare(self) -> None:
        self.st.ensure_buckets([self.bucket])

    def close(self) -> None:
        pass

    def read(self, rel: str) -> bytes | None:
        from pva.infra.storage import NotFound

        try:
            return self.st.get_bytes(self.bucket, self._k(rel))
        except NotFound:
            return None

    def write_atomic(self, rel: str, data: bytes) -> None:
        self.st.put(self.bucket, self._k(rel), data, content_type="application/json")

    def put_file(self, rel: str, src: Path) -> None:
        self.st.put_file(self.bucket, self._k(rel), src, content_type="application/octet-stream")

    def get_file(self, rel: str, dst: Path) -> None:
        from pva.infra.storage import NotFound

        try:
            self.st.download(self.bucket, self._k(rel), dst)
        except NotFound:
            raise BackupError(f"{self.url}/{rel} is missing: the backup is incomplete") from None

    def blobs(self) -> dict[str, int]:
        from pva.infra.storage import NotFound

        base = self._k("blobs/")
        try:
            return {o.key.rsplit("/", 1)[-1]: o.size or 0 for o in self.st.list(self.bucket, base)}
        except NotFound:
            return {}

    def write_blob(self, sha: str, stream: BinaryIO, length: int = -1) -> int:
        key = self._k(blob_path(sha))
        hs = _Hashing(stream)
        self.st.put(self.bucket, key, hs, length=length)
        if hs.h.hexdigest() != sha:  # the PUT already happened: take the wrong bytes away again
            self.st.delete(self.bucket, key)
            raise BlobMismatch(sha, hs.h.hexdigest(), hs.n)
        return hs.n

    def open_blob(self, sha: str) -> BinaryIO:
        from pva.infra.storage import NotFound

        try:
            return self.st.get_stream(self.bucket, self._k(blob_path(sha)))
        except NotFound:
            raise BackupError(f"blob {sha[:16]}… is missing from {self.url}: the backup is incomplete") from None


def open_store(spec: str, endpoint: str | None = None, access_key: str | None = None,
               secret_key: str | None = None):
    """A FolderStore for a path, an S3Store for s3://bucket/prefix (endpoint and keys: arguments, else
    PVA_BACKUP_S3_ENDPOINT / PVA_BACKUP_S3_ACCESS_KEY / PVA_BACKUP_S3_SECRET_KEY, else the library's own S3)."""
    if spec.startswith("s3://"):
        return S3Store(spec, endpoint or os.environ.get("PVA_BACKUP_S3_ENDPOINT"),
                       access_key or os.environ.get("PVA_BACKUP_S3_ACCESS_KEY"),
                       secret_key or os.environ.get("PVA_BACKUP_S3_SECRET_KEY"))
    if "://" in spec:
        raise BackupError(f"{spec!r}: a backup goes to a folder or to s3://bucket/prefix")
    return FolderStore(spec)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


__all__ = ["BackupError", "BlobMismatch", "FolderStore", "S3Store", "open_store", "blob_path", "MANIFEST"]
