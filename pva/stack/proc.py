"""Process and port helpers for the embedded stack: detached start, identity-checked stop, port owners, log tails."""
from __future__ import annotations

import errno
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable

import psutil


class StackError(RuntimeError):
    """A service of the embedded stack could not be resolved, started or stopped; the message says what to do."""


def spawn(cmd: list[str], log_path: Path, env: dict | None = None, cwd: Path | None = None) -> psutil.Process:
    """Start `cmd` detached from us (own session, stdin closed, stdout+stderr appended to log_path).

    The process survives the `pva up` process exiting; it is stopped by `terminate()` with the recorded pid.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab", buffering=0) as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(cmd)}\n".encode())
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             env=env, cwd=str(cwd) if cwd else None, start_new_session=True, close_fds=True)
    proc = psutil.Process(p.pid)
    # Popen's object would reap the child in __del__ only if it finished; keep a reference so that an early exit
    # is seen (poll) instead of leaving a zombie that looks alive.
    proc._popen = p  # type: ignore[attr-defined]
    return proc


def exited(proc: psutil.Process) -> int | None:
    """The exit code if a process we spawned has exited, else None."""
    popen = getattr(proc, "_popen", None)
    if popen is not None:
        return popen.poll()
    try:
        return None if proc.status() != psutil.STATUS_ZOMBIE else -1
    except psutil.NoSuchProcess:
        return -1


def identity(pid: int) -> dict:
    """What we record to recognise the process later: pid and its start time."""
    try:
        return {"pid": pid, "create_time": psutil.Process(pid).create_time()}
    except psutil.NoSuchProcess:
        return {"pid": pid, "create_time": None}


def same_process(entry: dict, marker: str | None = None) -> psutil.Process | None:
    """The live process recorded in `entry` (pid + create_time, and `marker` in its /proc/<pid>/cmdline), or None
    when it is gone or the pid now belongs to something else."""
    pid = entry.get("pid")
    if not pid:
        return None
    try:
        p = psutil.Process(int(pid))
        if p.status() == psutil.STATUS_ZOMBIE:
            return None
        ct = entry.get("create_time")
        if ct is not None and abs(p.create_time() - float(ct)) > 1.0:
            return None
        if marker and marker not in " ".join(p.cmdline()):
            return None
        return p
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def terminate(proc: psutil.Process, timeout: float = 15.0, group: bool = True) -> str:
    """SIGTERM, then SIGKILL after `timeout`; with group=True the process group led by proc goes too (spawned with
    its own session).  Returns 'stopped' or 'killed'."""
    pid = proc.pid
    try:
        pgid = os.getpgid(pid) if group else None
    except ProcessLookupError:
        return "stopped"
    if pgid is not None and pgid != pid:
        pgid = None  # not a group leader we made: signal the process alone

    def _signal(sig):
        try:
            if pgid is not None:
                os.killpg(pgid, sig)
            else:
                os.kill(pid, sig)
        except ProcessLookupError:
            pass

    # the leader first (a shell wrapper like rabbitmq-server forwards it as a clean shutdown), then the rest
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    if _wait_gone(proc, timeout):
        _reap(pid)
        if pgid is not None and _group_alive(pgid):
            _signal(signal.SIGTERM)
            if not _wait_group(pgid, 5.0):
                _signal(signal.SIGKILL)
        return "stopped"
    _signal(signal.SIGKILL)
    _wait_gone(proc, 5.0)
    return "killed"


def _wait_gone(proc: psutil.Process, timeout: float) -> bool:
    popen = getattr(proc, "_popen", None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen is not None and popen.poll() is not None:
            return True
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.1)
    return False


def _reap(pid: int) -> None:
    """Collect the exit status of a child of ours (started in this process), so it is not left a zombie."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except (ChildProcessError, OSError):
        pass


def _group_alive(pgid: int) -> bool:
    """Whether a live (non-zombie) process is left in the process group."""
    for p in psutil.process_iter(["status"]):
        try:
            if p.info["status"] != psutil.STATUS_ZOMBIE and os.getpgid(p.pid) == pgid:
                return True
            if p.info["status"] == psutil.STATUS_ZOMBIE:
                _reap(p.pid)
        except (ProcessLookupError, psutil.Error):
            continue
    return False


def _wait_group(pgid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return True
        time.sleep(0.1)
    return False


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        return True
    except OSError as e:
        if e.errno in (errno.EADDRINUSE, errno.EACCES):
            return False
        raise
    finally:
        s.close()


def port_owner(port: int) -> tuple[int, str] | None:
    """(pid, cmdline) of the process listening on TCP `port`, when it can be found."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            try:
                cmd = " ".join(psutil.Process(c.pid).cmdline())
            except psutil.Error:
                cmd = "?"
            return c.pid, cmd
    return None


def port_in_use_message(port: int, host: str = "127.0.0.1", what: str = "") -> str:
    owner = port_owner(port)
    label = f"port {port} on {host}" + (f" ({what})" if what else "")
    if owner:
        pid, cmd = owner
        if len(cmd) > 160:
            cmd = cmd[:157] + "..."
        return f"{label} is already in use by pid {pid} ({cmd})"
    return f"{label} is already in use"


def check_ports_free(ports: dict[str, int], host: str = "127.0.0.1") -> None:
    """Raise StackError naming the first port (of {what: port}) that something else holds."""
    busy = [port_in_use_message(p, host, what) for what, p in ports.items() if not port_free(p, host)]
    if busy:
        raise StackError("; ".join(busy) + " — stop that process or choose other ports (PVA_*_PORT settings)")


def tail(path: Path | str | None, lines: int = 15) -> str:
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 16384))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2,
               abort: Callable[[], str | None] | None = None) -> bool:
    """Poll `check` until it is true or `timeout` passes; `abort` returning a message stops early (StackError)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if abort is not None:
            msg = abort()
            if msg:
                raise StackError(msg)
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
