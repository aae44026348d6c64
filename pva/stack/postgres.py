"""Postgres for the embedded stack: PVA_DATABASE_URL when set, else pgserver's bundled Postgres 16 + pgvector,
run with its own pg_ctl as a detached server (data under <data_dir>/pg, Unix socket only).

Run as root, Postgres refuses to start, so (like pgserver itself) the server runs as the system user `pgserver`,
created when missing.
"""
from __future__ import annotations

import importlib.util
import os
import pwd
import stat
import subprocess
from pathlib import Path

import psycopg2

from .proc import StackError, identity, same_process, tail

SYSTEM_USER = "pgserver"
APP_DB = "pva"
SOCKET_PORT = 5432  # only names the socket file (.s.PGSQL.5432); no TCP listener is opened


def pg_bin() -> Path:
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the pgserver package is not installed: run `make install` "
                         "(or set PVA_DATABASE_URL to an existing Postgres with pgvector)")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


def pgdata_dir(settings) -> Path:
    return settings.data_dir / "pg"


def log_path(settings) -> Path:
    return settings.data_dir / "logs" / "postgres.log"


def check(url: str, timeout: int = 3) -> tuple[bool, str]:
    """(answers, detail) for a connection attempt with a short timeout."""
    try:
        conn = psycopg2.connect(url, connect_timeout=timeout, application_name="pva-stack")
    except psycopg2.Error as e:
        return False, (str(e).strip().splitlines() or ["no answer"])[0]
    try:
        with conn.cursor() as cur:
            cur.execute("select 1")
        return True, "answers"
    except psycopg2.Error as e:
        return False, str(e).strip()
    finally:
        conn.close()


def _run_as() -> str | None:
    return SYSTEM_USER if os.geteuid() == 0 else None


def _ensure_user() -> None:
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        r = subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
                           capture_output=True, text=True)
        if r.returncode != 0 and "already exists" not in r.stderr:
            raise StackError(f"could not create the system user {SYSTEM_USER!r} for Postgres: {r.stderr.strip()}")


def _allow_traverse(path: Path) -> None:
    """Let the `pgserver` user reach `path`: add the x bit for group and others on each parent directory."""
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
            want = mode | stat.S_IXGRP | stat.S_IXOTH
            if want != mode:
                parent.chmod(want)
        except OSError:
            pass


def _socket_dir(pgdata: Path) -> Path:
    # Unix socket paths are limited to ~107 bytes; fall back to a short directory named after the data dir
    if len(str(pgdata / f".s.PGSQL.{SOCKET_PORT}")) < 100:
        return pgdata
    import hashlib

    d = Path("/tmp") / f"pva-pg-{hashlib.sha256(str(pgdata).encode()).hexdigest()[:12]}"
    d.mkdir(mode=0o700, exist_ok=True)
    user = _run_as()
    if user:
        pw = pwd.getpwnam(user)
        os.chown(d, pw.pw_uid, pw.pw_gid)
    return d


def _postmaster(pgdata: Path) -> dict | None:
    """Contents of postmaster.pid: pid, socket_dir, status — or None when there is none."""
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    if len(lines) < 5:
        return None
    try:
        pid = int(lines[0])
    except ValueError:
        return None
    return {"pid": pid, "socket_dir": lines[4].strip() or None, "port": (lines[3].strip() or str(SOCKET_PORT)),
            "status": lines[7].strip() if len(lines) > 7 else ""}


def url_for(socket_dir: str | Path, dbname: str = APP_DB) -> str:
    return f"postgresql://postgres@/{dbname}?host={socket_dir}"


def _pg(cmd: str, args: list[str], log: Path, timeout: float) -> subprocess.CompletedProcess:
    user = _run_as()
    with open(log, "ab") as out:
        return subprocess.run([str(pg_bin() / cmd), *args], stdin=subprocess.DEVNULL, stdout=out,
                              stderr=subprocess.STDOUT, user=user, cwd="/", timeout=timeout,
                              start_new_session=True)


def _prepare(settings) -> tuple[Path, Path]:
    pgdata, logf = pgdata_dir(settings), log_path(settings)
    pgdata.mkdir(parents=True, exist_ok=True)
    logf.parent.mkdir(parents=True, exist_ok=True)
    logf.touch(exist_ok=True)
    user = _run_as()
    if user:
        _ensure_user()
        pw = pwd.getpwnam(user)
        for p in (pgdata, logf):
            if p.stat().st_uid != pw.pw_uid:
                os.chown(p, pw.pw_uid, pw.pw_gid)
        _allow_traverse(pgdata.parent)
        _allow_traverse(logf.parent)
        _allow_traverse(pg_bin())
    pgdata.chmod(0o700)
    return pgdata, logf


def _ensure_app_db(socket_dir) -> None:
    conn = psycopg2.connect(url_for(socket_dir, "postgres"), connect_timeout=10, application_name="pva-stack")
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", (APP_DB,))
            if cur.fetchone() is None:
                cur.execute(f'create database "{APP_DB}"')
    finally:
        conn.close()


def _migrate(url: str, log) -> None:
    from pva.infra.migrate import migrate

    try:
        migrate(url, log=log)
    except Exception as e:  # MigrationError, psycopg2.Error
        raise StackError(f"database migrations failed on {url}: {e}") from e


def ensure(settings, prev: dict, log) -> dict:
    """Resolve or start Postgres; create the `pva` database and apply migrations.  Returns the stack entry."""
    if settings.database_url:
        ok, detail = check(settings.database_url)
        if not ok:
            raise StackError(f"PVA_DATABASE_URL does not answer ({detail}); start that server or unset "
                             "PVA_DATABASE_URL to use the embedded one")
        return {"url": settings.database_url, "pid": None, "started_by_us": False, "log": None}

    pgdata, logf = _prepare(settings)
    pm = _postmaster(pgdata)
    if pm and pm["socket_dir"] and same_process({"pid": pm["pid"]}, marker=str(pgdata)):
        url = url_for(pm["socket_dir"])
        ok, _ = check(url_for(pm["socket_dir"], "postgres"))
        if ok:
            return {"url": url, **identity(pm["pid"]), "started_by_us": True, "log": str(logf),
                    "pgdata": str(pgdata)}

    if not (pgdata / "PG_VERSION").exists():
        log(f"postgres: initialising {pgdata}")
        r = _pg("initdb", ["-D", str(pgdata), "--auth=trust", "--auth-local=trust", "--encoding=utf8",
                           "-U", "postgres"], logf, timeout=180)
        if r.returncode != 0:
            raise StackError(f"postgres initdb failed (exit {r.returncode}); log {logf}:\n{tail(logf)}")

    sock = _socket_dir(pgdata)
    log(f"postgres: starting (data {pgdata})")
    try:
        r = _pg("pg_ctl", ["-D", str(pgdata), "-w", "-t", "60", "-l", str(logf),
                           "-o", f'-h "" -k {sock} -p {SOCKET_PORT} ' + " ".join(
                               f"-c {k}={v}" for k, v in settings.pg_memory_settings().items()),
                           "start"], logf, timeout=90)
    except subprocess.TimeoutExpired:
        raise StackError(f"postgres did not start within 90 s; log {logf}:\n{tail(logf)}") from None
    if r.returncode != 0:
        raise StackError(f"postgres failed to start (pg_ctl exit {r.returncode}); log {logf}:\n{tail(logf)}")
    pm = _postmaster(pgdata)
    if not pm:
        raise StackError(f"postgres started but wrote no postmaster.pid in {pgdata}; log {logf}:\n{tail(logf)}")
    ok, detail = check(url_for(sock, "postgres"), timeout=10)
    if not ok:
        raise StackError(f"postgres started but does not answer ({detail}); log {logf}:\n{tail(logf)}")
    url = url_for(sock)
    return {"url": url, **identity(pm["pid"]), "started_by_us": True, "log": str(logf), "pgdata": str(pgdata)}


def after_up(settings, entry: dict, log) -> None:
    """Once the server is recorded: create the application database when missing, apply migrations."""
    if entry.get("started_by_us"):
        _ensure_app_db(_socket_of(entry["url"]))
    _migrate(entry["url"], log)


def _socket_of(url: str) -> str:
    from urllib.parse import parse_qs, urlsplit

    return parse_qs(urlsplit(url).query)["host"][0]


def stop(entry: dict, settings, log) -> str:
    pgdata = Path(entry.get("pgdata") or pgdata_dir(settings))
    proc = same_process(entry, marker=str(pgdata))
    if proc is None:
        return "not running"
    logf = log_path(settings)
    try:
        r = _pg("pg_ctl", ["-D", str(pgdata), "-m", "fast", "-w", "-t", "30", "stop"], logf, timeout=45)
        if r.returncode == 0 and same_process(entry) is None:
            return "stopped"
    except (subprocess.TimeoutExpired, OSError):
        pass
    from .proc import terminate

    log("postgres: pg_ctl stop did not stop it; signalling the postmaster")
    return terminate(proc, timeout=15, group=False)
