"""The embedded stack for one machine: Postgres (pgserver), RabbitMQ and S3 (SeaweedFS) — `pva up / down / status`.

    from pva import stack
    state = stack.up()        # idempotent: resolves or starts each service, creates the database schema and buckets
    stack.status()            # [{"service", "url", "answers", "detail", "pid", "started_by_us", "log"}, ...]
    stack.down()              # stops only what `up` started

What was resolved is recorded in settings.stack_file (<data_dir>/run/stack.json) as
{"postgres"|"rabbitmq"|"s3": {"url", "pid", "started_by_us", "log", ...}}; pva.config reads the URLs from there.
Logs go to <data_dir>/logs, pid files to <data_dir>/run.
"""
from __future__ import annotations

import contextlib
import fcntl
import json
import os
from typing import Callable, Iterable

from ..config import get_settings
from . import nginx, postgres, rabbit, seaweed
from .proc import StackError, same_process, tail

__all__ = ["up", "down", "status", "StackError", "SERVICES"]

SERVICES = ("postgres", "rabbitmq", "s3")
_MODULES = {"postgres": postgres, "rabbitmq": rabbit, "s3": seaweed}
_MARKERS = {"postgres": None, "rabbitmq": rabbit.MARKER, "s3": seaweed.MARKER}

Log = Callable[[str], None]


def _pick(only: Iterable[str] | None) -> list[str]:
    if not only:
        return list(SERVICES)
    only = list(only)
    bad = [s for s in only if s not in SERVICES]
    if bad:
        raise StackError(f"unknown service(s) {', '.join(bad)}: choose from {', '.join(SERVICES)}")
    return [s for s in SERVICES if s in only]


def read_state(settings=None) -> dict:
    settings = settings or get_settings()
    try:
        data = json.loads(settings.stack_file.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_state(settings, state: dict) -> None:
    run = settings.run_dir
    run.mkdir(parents=True, exist_ok=True)
    for name in SERVICES:
        pidf = run / f"{name}.pid"
        entry = state.get(name) or {}
        if entry.get("started_by_us") and entry.get("pid"):
            pidf.write_text(f"{entry['pid']}\n")
        else:
            pidf.unlink(missing_ok=True)
    if not state:
        settings.stack_file.unlink(missing_ok=True)
        return
    tmp = settings.stack_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, settings.stack_file)


@contextlib.contextmanager
def _locked(settings):
    """One `up`/`down` at a time per data dir."""
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.run_dir / "stack.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def redact(url: str | None) -> str:
    return rabbit._redact(url) if url else ""


def up(settings=None, log: Log = print, only: Iterable[str] | None = None) -> dict:
    """Resolve or start each service, record it in stack.json, create the schema and the buckets.

    Idempotent: services that already answer are left alone.  Raises StackError naming every service that could
    not be brought up (with the tail of its log); what did come up stays recorded so `down` can stop it.
    """
    settings = settings or get_settings()
    names = _pick(only)
    for d in (settings.data_dir, settings.run_dir, settings.data_dir / "logs"):
        d.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    with _locked(settings):
        state = read_state(settings)
        for name in names:
            prev = state.get(name) or {}
            try:
                entry = _MODULES[name].ensure(settings, prev, log)
            except OSError as e:  # a data dir we cannot create or write, a binary we cannot run
                e = StackError(f"{type(e).__name__}: {e}")
                errors.append(f"{name}: {e}")
                log(f"{name}: FAILED: {e}")
                continue
            except StackError as e:
                errors.append(f"{name}: {e}")
                log(f"{name}: FAILED: {str(e).splitlines()[0]}")
                continue
            same = bool(prev) and entry.get("url") == prev.get("url") and entry.get("pid") == prev.get("pid")
            state[name] = entry
            _write_state(settings, state)
            how = ("already up" if same else "started" if entry.get("started_by_us") else "using")
            log(f"{name}: {how} {redact(entry['url'])}")
            after = getattr(_MODULES[name], "after_up", None)
            if after is not None:
                try:
                    after(settings, entry, log)
                except StackError as e:
                    errors.append(f"{name}: {e}")
                    log(f"{name}: FAILED: {str(e).splitlines()[0]}")
        if "rabbitmq" in names and "rabbitmq" in state and not any(e.startswith("rabbitmq:") for e in errors):
            _declare_queues(settings, state["rabbitmq"]["url"], errors, log)
        if "s3" in names and "s3" in state and not any(e.startswith("s3:") for e in errors):
            from pva.infra.storage import Storage, StorageError

            try:
                Storage(settings, endpoint=state["s3"]["url"]).ensure_buckets()
            except StorageError as e:
                errors.append(f"s3: could not create the buckets: {e}")
        if not only:
            nginx.on_up(settings, log)  # TLS in front of the gateway; reports, never fails `up`
    if errors:
        raise StackError("\n".join(errors))
    return state


def _declare_queues(settings, url: str, errors: list[str], log: Log) -> None:
    """Declare every function's queue and bindings now, so that work published before `pva functions serve`
    starts waits in its queue instead of being dropped by the exchange."""
    from pva.infra.bus import BusError, Publisher
    from ..config import REPO_ROOT

    functions_dir = REPO_ROOT / "functions"
    if not functions_dir.is_dir():
        return
    pub = Publisher(url=url, exchange=settings.amqp_exchange, retry_seconds=5)
    try:
        queues = pub.declare_topology(functions_dir)
        log(f"rabbitmq: declared queues {', '.join(queues)}")
    except (BusError, ValueError) as e:
        errors.append(f"rabbitmq: could not declare the function queues: {e}")
    finally:
        pub.close()


def down(settings=None, log: Log = print, only: Iterable[str] | None = None) -> dict:
    """Stop what `up` started (never a server it merely found), newest first.  Returns {service: outcome}."""
    settings = settings or get_settings()
    names = _pick(only)
    outcome: dict[str, str] = {}
    failures: list[str] = []
    with _locked(settings):
        if not only:
            nginx.on_down(settings, log)
        state = read_state(settings)
        for name in reversed(names):
            entry = state.get(name)
            if not entry:
                continue
            if entry.get("started_by_us"):
                try:
                    outcome[name] = _MODULES[name].stop(entry, settings, log)
                except (StackError, OSError) as e:
                    failures.append(f"{name}: {e}")
                    outcome[name] = f"failed: {e}"
                    continue
                log(f"{name}: {outcome[name]}")
            else:
                outcome[name] = "left running (not started by pva up)"
            state.pop(name, None)
            _write_state(settings, state)
    if failures:
        raise StackError("could not stop " + "; ".join(failures))
    return outcome


def status(settings=None) -> list[dict]:
    """One dict per service: service, url, answers (bool), detail, pid, running (our process alive),
    started_by_us, log (path) and log_tail (when it does not answer)."""
    settings = settings or get_settings()
    state = read_state(settings)
    out = []
    for name in SERVICES:
        entry = state.get(name) or {}
        url = entry.get("url")
        if not url:
            if name == "postgres":
                url = settings.database_url or None
            elif name == "rabbitmq":
                url = settings.effective_amqp_url
            else:
                url = settings.effective_s3_endpoint
        if url:
            answers, detail = _MODULES[name].check(url)
        else:
            answers, detail = False, "not started: run `pva up`"
        running = None
        if entry.get("started_by_us"):
            running = same_process(entry, _MARKERS[name] or entry.get("pgdata")) is not None
            if not running:
                detail += "; the process `pva up` started is gone"
        row = {"service": name, "url": url, "answers": answers, "detail": detail, "pid": entry.get("pid"),
               "running": running, "started_by_us": bool(entry.get("started_by_us")), "log": entry.get("log")}
        if not answers and entry.get("log"):
            row["log_tail"] = tail(entry["log"], 10)
        out.append(row)
    return out + nginx.status_rows(settings)  # a row only when `pva up` started nginx
