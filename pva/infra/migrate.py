"""Numbered SQL migrations (pva/infra/migrations/NNN_name.sql), applied in order, each in its own transaction,
recorded in schema_migrations with a checksum.  Safe to rerun; concurrent runs are serialised by an advisory lock.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .db import connect

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{3,})_([a-z0-9_]+)\.sql$")
_LOCK_ID = 7_412_553_001


class MigrationError(RuntimeError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    out = []
    for p in sorted(directory.glob("*.sql")):
        m = _NAME.match(p.name)
        if not m:
            raise MigrationError(f"{p}: migration file names must look like 001_name.sql")
        out.append(Migration(int(m.group(1)), m.group(2), p))
    versions = [m.version for m in out]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"duplicate migration numbers in {directory}")
    return out


def migrate(url: str | None = None, directory: Path = MIGRATIONS_DIR, log=print) -> list[int]:
    """Apply pending migrations; returns the versions applied now."""
    conn = connect(url, application_name="pva-migrate")
    applied_now: list[int] = []
    try:
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_lock(%s)", (_LOCK_ID,))
            cur.execute(
                """create table if not exists schema_migrations (
                     version int primary key, name text not null, checksum text not null,
                     applied_at timestamptz not null default now())""")
            conn.commit()
            cur.execute("select version, checksum from schema_migrations")
            done = dict(cur.fetchall())
        for m in discover(directory):
            if m.version in done:
                if done[m.version] != m.checksum:
                    log(f"warning: migration {m.path.name} changed after it was applied (checksum differs)")
                continue
            try:
                with conn.cursor() as cur:
                    cur.execute(m.sql)
                    cur.execute("insert into schema_migrations(version, name, checksum) values (%s,%s,%s)",
                                (m.version, m.name, m.checksum))
                conn.commit()
            except Exception as e:
                conn.rollback()
                raise MigrationError(f"migration {m.path.name} failed: {e}".strip()) from e
            applied_now.append(m.version)
            log(f"applied {m.path.name}")
        with conn.cursor() as cur:
            cur.execute("select pg_advisory_unlock(%s)", (_LOCK_ID,))
        conn.commit()
    finally:
        conn.close()
    return applied_now


def status(url: str | None = None) -> list[tuple[Migration, bool]]:
    conn = connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute("select to_regclass('schema_migrations')")
            exists = cur.fetchone()[0] is not None
            done = set()
            if exists:
                cur.execute("select version from schema_migrations")
                done = {r[0] for r in cur.fetchall()}
        return [(m, m.version in done) for m in discover()]
    finally:
        conn.close()
