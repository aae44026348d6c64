"""Postgres access: a process-wide connection pool and transaction helpers.

    from pva import db
    with db.transaction() as cur:          # commits on success, rolls back on any exception
        cur.execute("select 1")
    rows = db.query("select ... where id = %s", (x,))   # short read in its own transaction

Queries are grouped by table in pva/db/<table>.py; routers and handlers never hold SQL.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from typing import Any, Iterator

import psycopg2
import psycopg2.extensions
import psycopg2.extras
import psycopg2.pool

from ..config import get_settings

psycopg2.extras.register_uuid()

_pool: psycopg2.pool.ThreadedConnectionPool | None = None
_pool_pid: int | None = None
_pool_url: str | None = None
_lock = threading.Lock()

RETRYABLE = (psycopg2.OperationalError, psycopg2.InterfaceError)


def _register_vector(conn) -> None:
    try:
        from pgvector.psycopg2 import register_vector

        register_vector(conn)
    except (ImportError, psycopg2.ProgrammingError):
        # vector extension not created yet (before migrations)
        conn.rollback()


def connect(url: str | None = None, **kw):
    url = url or get_settings().effective_database_url
    conn = psycopg2.connect(url, connect_timeout=10, application_name=kw.pop("application_name", "pva"), **kw)
    _register_vector(conn)
    conn.commit()
    return conn


def _admin_execute(sql: str, base_url: str | None) -> None:
    """One statement outside a transaction (CREATE/DROP DATABASE) on the server of base_url."""
    conn = psycopg2.connect(base_url or get_settings().effective_database_url, connect_timeout=10,
                            application_name="pva-admin")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def create_database(name: str, base_url: str | None = None) -> str:
    """Create an empty database on the server of `base_url` (default: the configured one); returns its URL.
    For test sessions, benchmarks and upgrade checks, which each want a database of their own."""
    from psycopg2.extensions import make_dsn

    base = base_url or get_settings().effective_database_url
    _admin_execute(f'create database "{name}"', base)
    return make_dsn(base, dbname=name)


def drop_database(name: str, base_url: str | None = None) -> None:
    """Drop a database made by create_database (its connections are closed first); no error when it is gone."""
    _admin_execute(f'drop database if exists "{name}" with (force)', base_url)


def pool(maxconn: int = 16) -> psycopg2.pool.ThreadedConnectionPool:
    """The per-process pool (recreated after fork and when the database URL changes)."""
    global _pool, _pool_pid, _pool_url
    url = get_settings().effective_database_url
    with _lock:
        if _pool is None or _pool_pid != os.getpid() or _pool_url != url:
            if _pool is not None and _pool_pid == os.getpid():
                _pool.closeall()
            _pool = _VectorPool(1, maxconn, url, connect_timeout=10, application_name="pva")
            _pool_pid, _pool_url = os.getpid(), url
        return _pool


class _VectorPool(psycopg2.pool.ThreadedConnectionPool):
    def _connect(self, key=None):
        conn = super()._connect(key)
        _register_vector(conn)
        conn.commit()
        return conn


def close_pool() -> None:
    global _pool
    with _lock:
        if _pool is not None and _pool_pid == os.getpid():
            _pool.closeall()
        _pool = None


@contextlib.contextmanager
def connection() -> Iterator[Any]:
    p = pool()
    conn = p.getconn()
    broken = False
    try:
        yield conn
    except RETRYABLE:
        broken = True
        raise
    finally:
        if conn.closed:
            broken = True
        elif not broken:
            try:
                if conn.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                    conn.rollback()
            except RETRYABLE:
                broken = True
        p.putconn(conn, close=broken)


@contextlib.contextmanager
def transaction(dict_rows: bool = True) -> Iterator[Any]:
    """A cursor inside one transaction: commit on success, rollback on exception."""
    with connection() as conn:
        factory = psycopg2.extras.RealDictCursor if dict_rows else None
        cur = conn.cursor(cursor_factory=factory)
        try:
            yield cur
            conn.commit()
        except BaseException:
            try:
                conn.rollback()
            except RETRYABLE:
                pass
            raise
        finally:
            cur.close()


def query(sql: str, params: Any = None) -> list[dict]:
    with transaction() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def query_one(sql: str, params: Any = None) -> dict | None:
    rows = query(sql, params)
    return rows[0] if rows else None


def execute(sql: str, params: Any = None) -> int:
    with transaction() as cur:
        cur.execute(sql, params)
        return cur.rowcount


def wait_ready(timeout: float = 30.0) -> None:
    """Block until the database answers (raises the last error after timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn = connect()
            conn.close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
