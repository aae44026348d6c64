"""Fixtures of the fault-injection suite (`make test-faults`, `pytest -m faults`).

Everything runs on an ISOLATED stack: its own data dir (under /tmp, not pytest's basetemp, which the pgserver user
could not enter), free ports, its own Postgres, its own local RabbitMQ node and its own SeaweedFS — so restarting
or stopping them never touches the machine's shared services.

- ``iso``: the isolated stack (package scope); ``iso.restart("rabbitmq")``, ``iso.stop("s3")`` / ``iso.start``;
  ``iso.user()`` makes a user with an API token; ``iso.env`` is the environment for subprocesses.
- ``serve_functions(iso, names)``: the repository's functions on the local runtime (ephemeral HTTP ports, the
  reconcile cron every 2 s), as a context manager yielding the ServeProcess.
- ``gateway_server(iso)``: the gateway on a real uvicorn process; yields its base URL.
- ``fault_report``: rows for the summary table printed at the end of the run (and written to
  artifacts/faults-summary.json, which bench/faults_summary.py prints again).
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import REPO, SHARED, _reload
from function_helpers import runtime_copy
from net_helpers import http_service

SUMMARY_FILE = REPO / "artifacts" / "faults-summary.json"
_ROWS: list[dict] = []

# Short leases so reconcile takes back a killed worker's job within seconds (a lost lease is republished at once).
# PVA_REQUEUE_AFTER_SECONDS is also the back-off between retries of a failed attempt: 20 s keeps production's
# ratio (3 attempts outlast a 30 s outage) while unpicked wake-ups are still republished quickly.
FAULT_SETTINGS = {
    "PVA_JOB_LEASE_SECONDS": "10",
    "PVA_REQUEUE_AFTER_SECONDS": "20",
    "PVA_LOG_JSON": "false",
    "PVA_LOG_LEVEL": "WARNING",
}


@dataclass
class IsoStack:
    root: Path
    data_dir: Path
    env: dict[str, str]
    log: list[str] = field(default_factory=list)

    def _log(self, msg: str) -> None:
        self.log.append(f"{time.strftime('%H:%M:%S')} {msg}")

    def stop(self, service: str) -> None:
        from pva import stack

        stack.down(only=[service], log=self._log)

    def start(self, service: str) -> None:
        from pva import stack

        stack.up(only=[service], log=self._log)

    def restart(self, service: str, down_seconds: float = 0.0) -> float:
        """Stop the service, wait, start it again; returns the seconds it was away."""
        t0 = time.monotonic()
        self.stop(service)
        time.sleep(down_seconds)
        self.start(service)
        return time.monotonic() - t0

    def user(self, name: str | None = None) -> dict:
        """A new user with an API token (read, write, upload) in ``["token"]``."""
        import secrets

        from pva.services import auth

        user = auth.create_user(name or f"f{secrets.token_hex(4)}", "correct horse battery", is_admin=False)
        user["token"], _ = auth.create_token(user["id"], ["read", "write", "upload"], name="faults")
        return user


@pytest.fixture(scope="package")
def iso():
    from test_stack import stack_env

    from pva import stack

    root = Path(tempfile.mkdtemp(prefix="pva-faults-", dir="/tmp"))
    root.chmod(0o755)
    env = stack_env(root / "data", local_rabbit=True)
    env.update(FAULT_SETTINGS)
    saved = {k: v for k, v in os.environ.items() if k.startswith("PVA_")}
    for k in saved:
        os.environ.pop(k)
    os.environ.update({k: v for k, v in env.items() if k.startswith("PVA_")})
    _reload()
    iso = IsoStack(root, root / "data", env)
    try:
        stack.up(log=iso._log)
        _reload()
        # the subprocesses (load, runtime, gateway) see exactly this environment
        iso.env = {**{k: v for k, v in os.environ.items() if not k.startswith("PVA_")},
                   **{k: v for k, v in env.items() if k.startswith("PVA_")}}
        yield iso
    finally:
        try:
            stack.down(log=iso._log)
        finally:
            from pva.infra import db

            db.close_pool()
            for k in [k for k in os.environ if k.startswith("PVA_")]:
                os.environ.pop(k)
            os.environ.update(saved)
            _reload()
            shutil.rmtree(root, ignore_errors=True)


def require_shared() -> None:
    if not (SHARED / "models" / "yolov8n_int8.onnx").exists():
        pytest.skip("../shared/models/yolov8n_int8.onnx is absent: the detect function has no model to serve")


@contextlib.contextmanager
def serve_functions(iso: IsoStack, names: list[str] | None = None, cron: str = "2s", env: dict | None = None,
                    queue_workers: dict[str, int] | None = None):
    """The repository's functions (all, or `names`) on the local runtime, with ephemeral HTTP ports, the
    reconcile cron every `cron`, and optionally more queue workers for some functions ({"ocr": 2})."""
    from pva.runtime import ServeProcess

    fdir = Path(tempfile.mkdtemp(prefix="functions-", dir=iso.root))
    for src in sorted((REPO / "functions").iterdir()):
        if not (src / "function.yaml").exists() or (names and f"pva-{src.name}" not in names
                                                     and src.name not in names):
            continue
        runtime_copy(src, fdir, workers=None, queue_suffix="", cron=cron,
                     queue_workers=(queue_workers or {}).get(src.name))
    proc = ServeProcess(fdir, [], env={**iso.env, **(env or {})}, log_dir=fdir / "logs", ready_timeout=180,
                        drain_timeout=10)
    with proc:
        yield proc


@contextlib.contextmanager
def gateway_server(iso: IsoStack, workers: int = 1):
    """The gateway app on a real uvicorn process; yields the base URL."""
    def command(port: int) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory", "--host", "127.0.0.1",
                "--port", str(port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"]

    with http_service(command, env=iso.env, log_path=iso.root / "gateway.log", cwd=REPO, timeout=60,
                      what="gateway") as (url, _):
        yield url


@pytest.fixture
def fault_report(request):
    """report(fault=..., injected=N, files_in=..., stored=..., rejected=..., analyses=..., lost=...)."""
    def report(**row):
        row.setdefault("test", request.node.name)
        _ROWS.append(row)
    return report


COLUMNS = [("fault", "fault"), ("injected", "injected"), ("files_in", "files in"), ("stored", "stored"),
           ("rejected", "rejected"), ("analyses", "analyses done"), ("failed", "failed"), ("lost", "lost"),
           ("note", "note")]


def format_table(rows: list[dict]) -> str:
    table = [[str(r.get(k, "")) for k, _ in COLUMNS] for r in rows]
    widths = [max(len(h), *(len(t[i]) for t in table)) for i, (_, h) in enumerate(COLUMNS)]
    line = "  ".join(h.ljust(w) for (_, h), w in zip(COLUMNS, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(t, widths)) for t in table]
    return "\n".join(out)


def pytest_terminal_summary(terminalreporter):
    if not _ROWS:
        return
    terminalreporter.write_sep("=", "fault injection summary")
    terminalreporter.write_line(format_table(_ROWS))
    lost = sum(int(r.get("lost") or 0) for r in _ROWS)
    terminalreporter.write_line(f"total lost: {lost} (must be 0)")
    SUMMARY_FILE.parent.mkdir(parents=True, exist_ok=True)
    SUMMARY_FILE.write_text(json.dumps({"rows": _ROWS, "lost": lost}, indent=1, default=str))
