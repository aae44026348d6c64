"""The local state database of `pva sync` (SQLite, default ``~/.local/state/pva-sync/state.db``).

Two tables:
- ``hashes``: SHA-512 of a local file at a given (size, mtime): an unchanged file is never hashed twice, whichever
  server it goes to.  Written as soon as a file is hashed, so an interrupted run does not redo the work.
- ``files``: what happened to a file on one server for one account (a token's fingerprint): uploaded/present (with
  the media id), rejected (with the reason, not retried until the file changes) or failed (retried next run).

Thread-safe (one connection, one lock); WAL mode, so a killed process loses at most the record being written.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

DONE = ("uploaded", "present")

_SCHEMA = """
create table if not exists hashes (
    path     text primary key,
    size     integer not null,
    mtime_ns integer not null,
    sha512   text not null
);
create table if not exists files (
    server     text not null,
    account    text not null,
    path       text not null,
    size       integer not null,
    mtime_ns   integer not null,
    sha512     text,
    status     text not null check (status in ('uploaded', 'present', 'rejected', 'failed')),
    media_id   text,
    reason     text,
    updated_at real not null,
    primary key (server, account, path)
);
create index if not exists files_sha on files(server, account, sha512);
"""


def default_state_path() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "pva-sync" / "state.db"


def account_of(token: str) -> str:
    """A stable, non-secret fingerprint of a token (the state never stores the token itself)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:16]


def path_key(path: Path | str) -> str:
    """A text key for a local path (undecodable bytes escaped, so any file name can be recorded)."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha512: str | None
    status: str
    media_id: str | None
    reason: str | None


class StateError(RuntimeError):
    """The state database cannot be opened or is not ours; the message says what to do."""


class SyncState:
    def __init__(self, path: Path, server: str, account: str):
        self.path = Path(path)
        self.server = server
        self.account = account
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None,
                                       timeout=30)
            self._db.execute("pragma journal_mode=wal")
            self._db.execute("pragma synchronous=normal")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as e:
            raise StateError(f"cannot use the sync state database {self.path}: {e} "
                             "(choose another file with --state PATH)") from None
        self._pending_hashes: list[tuple] = []
        self._last_flush = time.monotonic()

    def close(self) -> None:
        with self._lock:
            self._flush_hashes()
            self._db.close()

    # ------------------------------------------------------------------ hashes
    def cached_hash(self, path: str, size: int, mtime_ns: int) -> str | None:
        with self._lock:
            row = self._db.execute("select sha512 from hashes where path = ? and size = ? and mtime_ns = ?",
                                   (path, size, mtime_ns)).fetchone()
        return row[0] if row else None

    def put_hash(self, path: str, size: int, mtime_ns: int, sha512: str) -> None:
        """Remember a hash (written in small batches: at most ~1 s of hashing is redone after a crash)."""
        with self._lock:
            self._pending_hashes.append((path, size, mtime_ns, sha512))
            if len(self._pending_hashes) >= 200 or time.monotonic() - self._last_flush > 1.0:
                self._flush_hashes()

    def flush(self) -> None:
        with self._lock:
            self._flush_hashes()

    def _flush_hashes(self) -> None:
        if self._pending_hashes:
            self._db.execute("begin")
            self._db.executemany("insert or replace into hashes(path, size, mtime_ns, sha512) values (?,?,?,?)",
                                 self._pending_hashes)
            self._db.execute("commit")
            self._pending_hashes.clear()
        self._last_flush = time.monotonic()

    # ------------------------------------------------------------------ per-server records
    def get(self, path: str) -> FileRecord | None:
        with self._lock:
            row = self._db.execute(
                "select path, size, mtime_ns, sha512, status, media_id, reason from files "
                "where server = ? and account = ? and path = ?", (self.server, self.account, path)).fetchone()
        return FileRecord(*row) if row else None

    def record(self, path: str, size: int, mtime_ns: int, sha512: str | None, status: str,
               media_id: str | None = None, reason: str | None = None) -> None:
        with self._lock:
            self._db.execute(
                "insert or replace into files(server, account, path, size, mtime_ns, sha512, status, media_id, "
                "reason, updated_at) values (?,?,?,?,?,?,?,?,?,?)",
                (self.server, self.account, path, size, mtime_ns, sha512, status, media_id, reason, time.time()))

    def records(self, status: str | None = None) -> list[FileRecord]:
        with self._lock:
            rows = self._db.execute(
                "select path, size, mtime_ns, sha512, status, media_id, reason from files "
                "where server = ? and account = ? and (? is null or status = ?) order by path",
                (self.server, self.account, status, status)).fetchall()
        return [FileRecord(*r) for r in rows]
