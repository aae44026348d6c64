"""The local processor: a supervisor that runs ``numWorkers`` worker processes per trigger of each function.

* Workers are fresh interpreters (``python -m pva.runtime.worker``) with spec.env in their environment.
* HTTP triggers: the supervisor binds the listening socket once and every worker of the trigger inherits it
  (``pass_fds``), so the kernel spreads connections over the workers.  A port left out of function.yaml gets an
  ephemeral one (see ``http_port()`` / the ready file).
* A worker that dies (crash, SIGKILL, OOM) is restarted, with exponential backoff when it keeps dying.
* Readiness: each worker reports on a pipe once its handler is imported, ``init_context`` ran and its trigger is
  consuming/listening.  When all are ready the supervisor logs ``ready`` and (re)writes the ready file: JSON with
  the supervisor pid and per trigger its kind, port and worker pids.
* ``stop()`` drains: SIGTERM to every worker (the current event finishes, nothing new is taken), then SIGKILL
  after ``drain_timeout``.

Use in-process (``with Processor(specs) as p: ...``) or as a subprocess (``ServeProcess``, which runs
``pva functions serve`` and waits for its ready file).
"""
from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..config import REPO_ROOT
from .spec import FunctionSpec, SpecError, TriggerSpec, discover, select as select_specs

log = logging.getLogger("pva.runtime")


class ProcessorError(RuntimeError):
    """The processor could not start (a worker failed to initialise, a port is taken, ...)."""


@dataclass
class _Handle:
    spec: FunctionSpec
    trigger: TriggerSpec
    worker_id: int
    proc: subprocess.Popen | None = None
    ready_r: int | None = None
    ready: bool = False
    ever_ready: bool = False
    started_at: float = 0.0
    restart_at: float | None = None
    backoff: float = 0.5
    restarts: int = 0
    log_path: Path | None = None
    buf: bytes = field(default=b"", repr=False)

    @property
    def label(self) -> str:
        return f"{self.spec.name}/{self.trigger.name}#{self.worker_id}"


class Processor:
    def __init__(self, specs: list[FunctionSpec], *, host: str = "127.0.0.1", log_dir: str | Path | None = None,
                 ready_file: str | Path | None = None, drain_timeout: float = 30.0,
                 python: str = sys.executable, reply_dir: str | Path | None = None):
        if not specs:
            raise ProcessorError("no functions to serve")
        self.specs = specs
        self.host = host
        self.log_dir = Path(log_dir) if log_dir else None
        self.ready_file = Path(ready_file) if ready_file else None
        self.drain_timeout = drain_timeout
        self.python = python
        # where workers record each reply as Nuclio's processor would read it (worker.py _record_reply); the
        # PVA_FUNCTIONS_REPLY_DIR environment variable does the same for `pva functions serve`
        self.reply_dir = str(reply_dir) if reply_dir else None
        self.handles: list[_Handle] = [_Handle(s, t, i) for s in specs for t in s.triggers.values()
                                       for i in range(t.num_workers)]
        self._sockets: dict[tuple[str, str], socket.socket] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready_evt = threading.Event()
        self._startup_error: str | None = None
        self._thread: threading.Thread | None = None
        self._cron_base = time.time()
        self._announced_pids: tuple = ()
        self.stopped = threading.Event()

    # ------------------------------------------------------------------ public
    def start(self, timeout: float = 120.0) -> "Processor":
        """Start every worker and wait until all are ready; raises ProcessorError naming the failing worker."""
        if self.log_dir:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        for s in self.specs:
            for t in s.triggers.values():
                if t.kind == "http":
                    port = int(t.attributes.get("port") or 0)
                    try:
                        sock = socket.create_server((self.host, port), backlog=256)
                    except OSError as e:
                        self._close_sockets()
                        raise ProcessorError(f"{s.name}: trigger {t.name}: cannot listen on {self.host}:{port}: "
                                             f"{e.strerror or e} (stop the other process or change "
                                             f"spec.triggers.{t.name}.attributes.port)") from None
                    self._sockets[(s.name, t.name)] = sock
        self._thread = threading.Thread(target=self._supervise, name="pva-supervisor", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._ready_evt.wait(0.05):
            if self._startup_error or time.monotonic() > deadline or not self._thread.is_alive():
                with self._lock:
                    waiting = ", ".join(h.label for h in self.handles if not h.ready)
                hint = f" (see {self.log_dir})" if self.log_dir else " (see the log above; is RabbitMQ reachable?)"
                err = self._startup_error or f"workers not ready after {timeout:.0f}s: {waiting}{hint}"
                self.stop()
                raise ProcessorError(err)
        return self

    def stop(self, timeout: float | None = None) -> None:
        """Drain and stop every worker (SIGTERM, then SIGKILL after the drain timeout)."""
        if timeout is not None:
            self.drain_timeout = timeout
        self._stop.set()
        if self._thread and self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(self.drain_timeout + 10)
        self._close_sockets()

    def __enter__(self) -> "Processor":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until every worker is ready again (e.g. after a crashed one was replaced)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if all(h.ready for h in self.handles):
                    return
            time.sleep(0.05)
        raise ProcessorError(f"workers not ready after {timeout:.0f}s: "
                             + ", ".join(h.label for h in self.handles if not h.ready))

    def http_port(self, function: str, trigger: str | None = None) -> int:
        for (fn, tn), sock in self._sockets.items():
            if fn == function and (trigger is None or tn == trigger):
                return sock.getsockname()[1]
        raise KeyError(f"{function} has no http trigger {trigger or ''}".strip())

    def worker_pids(self, function: str | None = None, trigger: str | None = None) -> list[int]:
        with self._lock:
            return [h.proc.pid for h in self.handles if h.proc and h.proc.poll() is None
                    and (function is None or h.spec.name == function)
                    and (trigger is None or h.trigger.name == trigger)]

    def status(self) -> dict:
        out: dict = {"pid": os.getpid(), "functions": {}}
        with self._lock:
            for h in self.handles:
                f = out["functions"].setdefault(h.spec.name, {"triggers": {}})
                t = f["triggers"].setdefault(h.trigger.name, {"kind": h.trigger.kind, "workers": []})
                if (h.spec.name, h.trigger.name) in self._sockets:
                    t["port"] = self._sockets[(h.spec.name, h.trigger.name)].getsockname()[1]
                t["workers"].append({"id": h.worker_id, "pid": h.proc.pid if h.proc else None,
                                     "ready": h.ready, "restarts": h.restarts})
        return out

    # ------------------------------------------------------------------ supervisor
    def _spawn(self, h: _Handle) -> None:
        r, w = os.pipe()
        cfg = {
            "function": h.spec.name, "function_dir": str(h.spec.path), "handler": h.spec.handler,
            "trigger": h.trigger.name, "kind": h.trigger.kind, "attributes": h.trigger.attributes,
            "event_kind": h.trigger.event_kind, "declared_kind": h.trigger.declared_kind or h.trigger.kind,
            "reply_dir": self.reply_dir,
            "worker_id": h.worker_id, "num_workers": h.trigger.num_workers, "ready_fd": w,
            "parent_pid": os.getpid(), "cron_base": self._cron_base,
        }
        pass_fds = [w]
        if h.trigger.kind == "rabbit-mq":
            cfg["url"] = h.trigger.effective_url()
            if not cfg["attributes"].get("queueName"):
                cfg["attributes"] = dict(cfg["attributes"], queueName=f"nuclio-pva-{h.spec.name}")
        if h.trigger.kind == "http":
            fd = self._sockets[(h.spec.name, h.trigger.name)].fileno()
            cfg["listen_fd"] = fd
            pass_fds.append(fd)
        env = os.environ.copy()
        env.update(h.spec.env)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(
            os.pathsep) if p])
        out = None
        if self.log_dir:
            h.log_path = self.log_dir / f"{h.spec.name}.{h.trigger.name}.{h.worker_id}.log"
            out = open(h.log_path, "ab")
        try:
            h.proc = subprocess.Popen([self.python, "-m", "pva.runtime.worker", json.dumps(cfg)], env=env,
                                      pass_fds=pass_fds, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        finally:
            os.close(w)
            if out:
                out.close()
        h.ready_r, h.ready, h.buf = r, False, b""
        h.started_at, h.restart_at = time.monotonic(), None
        log.info("worker started", extra={"function": h.spec.name, "trigger": h.trigger.name,
                                          "worker_id": h.worker_id, "pid": h.proc.pid})

    def _supervise(self) -> None:
        try:
            with self._lock:
                for h in self.handles:
                    self._spawn(h)
            while not self._stop.is_set():
                self._poll_ready(0.1)
                self._reap()
                self._announce()
        except Exception as e:  # noqa: BLE001
            log.exception("supervisor failed")
            self._startup_error = self._startup_error or f"supervisor failed: {e}"
        finally:
            self._drain()
            self.stopped.set()

    def _poll_ready(self, timeout: float) -> None:
        fds = {h.ready_r: h for h in self.handles if h.ready_r is not None}
        if not fds:
            time.sleep(timeout)
            return
        try:
            readable, _, _ = select.select(list(fds), [], [], timeout)
        except InterruptedError:
            return
        for fd in readable:
            h = fds[fd]
            data = os.read(fd, 64)
            h.buf += data
            if b"ready" in h.buf:
                with self._lock:
                    h.ready = h.ever_ready = True
            if not data or h.ready:
                os.close(fd)
                h.ready_r = None

    def _reap(self) -> None:
        now = time.monotonic()
        for h in self.handles:
            if h.proc is not None and h.restart_at is None:
                rc = h.proc.poll()
                if rc is None:
                    continue
                with self._lock:
                    h.ready = False
                if h.ready_r is not None:
                    os.close(h.ready_r)
                    h.ready_r = None
                how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
                if not h.ever_ready and not self._ready_evt.is_set():
                    hint = f"; see {h.log_path}" if h.log_path else "; see the log above"
                    self._startup_error = (f"{h.label} ({h.spec.yaml_path}) failed to start ({how}){hint}")
                    self._stop.set()
                    return
                if now - h.started_at > 30:
                    h.backoff = 0.5
                h.restart_at = now + h.backoff
                log.warning("worker died (%s); restarting in %.1fs", how, h.backoff,
                            extra={"function": h.spec.name, "trigger": h.trigger.name, "worker_id": h.worker_id,
                                   "pid": h.proc.pid})
                h.backoff = min(h.backoff * 2, 30.0)
            elif h.restart_at is not None and now >= h.restart_at:
                h.restarts += 1
                with self._lock:
                    self._spawn(h)

    def _announce(self) -> None:
        with self._lock:
            if not all(h.ready for h in self.handles):
                return
            pids = tuple(h.proc.pid for h in self.handles)
        if pids == self._announced_pids:
            return
        self._announced_pids = pids
        status = self.status()
        if self.ready_file:
            tmp = self.ready_file.with_name(self.ready_file.name + ".tmp")
            tmp.write_text(json.dumps(status, indent=1))
            os.replace(tmp, self.ready_file)
        if not self._ready_evt.is_set():
            log.info("ready", extra={"functions": sorted(status["functions"]), "workers": len(self.handles)})
            self._ready_evt.set()
        else:
            log.info("all workers ready again", extra={"workers": len(self.handles)})

    def _drain(self) -> None:
        alive = [h for h in self.handles if h.proc is not None and h.proc.poll() is None]
        for h in alive:
            try:
                h.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + self.drain_timeout
        for h in alive:
            try:
                h.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker did not drain in %.0fs; killing it", self.drain_timeout,
                            extra={"function": h.spec.name, "trigger": h.trigger.name, "worker_id": h.worker_id})
                h.proc.kill()
                h.proc.wait()
        for h in self.handles:
            if h.ready_r is not None:
                os.close(h.ready_r)
                h.ready_r = None
        if self.ready_file:
            try:
                self.ready_file.unlink()
            except OSError:
                pass
        log.info("stopped", extra={"workers": len(self.handles)})

    def _close_sockets(self) -> None:
        for sock in self._sockets.values():
            try:
                sock.close()
            except OSError:
                pass


def default_functions_dir() -> Path:
    here = Path("functions")
    return here if here.is_dir() else REPO_ROOT / "functions"


class ServeProcess:
    """Run ``pva functions serve`` as a subprocess and wait until every trigger is ready (for tests, bench).

    >>> with ServeProcess("tests/functions", ["echo"], env={...}) as srv:
    ...     httpx.get(f"http://127.0.0.1:{srv.http_port('echo')}/")
    """

    def __init__(self, functions_dir: str | Path, names: list[str] | tuple = (), *, env: dict | None = None,
                 log_dir: str | Path | None = None, ready_timeout: float = 60.0, drain_timeout: float = 20.0,
                 python: str = sys.executable):
        self.functions_dir = Path(functions_dir)
        self.names = list(names)
        self.env = env
        self._tmp = tempfile.TemporaryDirectory(prefix="pva-serve-")
        self.log_dir = Path(log_dir) if log_dir else Path(self._tmp.name) / "logs"
        self.ready_file = Path(self._tmp.name) / "ready.json"
        self.stderr_path = self.log_dir / "serve.log"
        self.ready_timeout = ready_timeout
        self.drain_timeout = drain_timeout
        self.python = python
        self.proc: subprocess.Popen | None = None
        self.info: dict = {}

    def start(self) -> "ServeProcess":
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = os.environ.copy()
        env.update(self.env or {})
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT)] + [p for p in env.get("PYTHONPATH", "").split(
            os.pathsep) if p])
        cmd = [self.python, "-m", "pva.cli", "functions", "serve", "--dir", str(self.functions_dir),
               "--ready-file", str(self.ready_file), "--log-dir", str(self.log_dir),
               "--drain-timeout", str(self.drain_timeout), *self.names]
        with open(self.stderr_path, "ab") as err:
            self.proc = subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL, stdout=err, stderr=err)
        deadline = time.monotonic() + self.ready_timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise ProcessorError(f"pva functions serve exited with {self.proc.returncode}:\n{self.output()}")
            if time.monotonic() > deadline:
                self.stop(kill=True)
                raise ProcessorError(f"pva functions serve not ready after {self.ready_timeout}s:\n{self.output()}")
            time.sleep(0.05)
        self.refresh()
        return self

    def refresh(self) -> dict:
        """Re-read the ready file (rewritten when a restarted worker becomes ready)."""
        for _ in range(50):
            try:
                self.info = json.loads(self.ready_file.read_text())
                break
            except (OSError, ValueError):
                time.sleep(0.02)
        return self.info

    def output(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    @property
    def pid(self) -> int:
        return self.proc.pid if self.proc else 0

    def http_port(self, function: str, trigger: str | None = None) -> int:
        for tn, t in self.info["functions"][function]["triggers"].items():
            if t.get("port") and (trigger is None or tn == trigger):
                return t["port"]
        raise KeyError(f"{function} has no http trigger {trigger or ''}".strip())

    def worker_pids(self, function: str, trigger: str | None = None) -> list[int]:
        self.refresh()
        return [w["pid"] for tn, t in self.info["functions"][function]["triggers"].items()
                if trigger is None or tn == trigger for w in t["workers"]]

    def stop(self, timeout: float | None = None, kill: bool = False) -> int | None:
        """SIGTERM (drain) and wait; returns the exit code."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            return self.proc.wait(timeout or self.drain_timeout + 15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def __enter__(self) -> "ServeProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
        self._tmp.cleanup()


def load_specs(functions_dir: str | Path, names: list[str] | None = None) -> list[FunctionSpec]:
    return select_specs(discover(functions_dir), names)


__all__ = ["Processor", "ProcessorError", "ServeProcess", "SpecError", "load_specs", "default_functions_dir"]
