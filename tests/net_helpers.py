"""Ports and HTTP server processes for tests and benchmarks (bench/ puts tests/ on its path)."""
from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def http_service(command: Callable[[int], list[str]], *, env: dict, log_path: Path, cwd: Path | None = None,
                 timeout: float = 90, what: str = "server") -> Iterator[tuple[str, subprocess.Popen]]:
    """Start `command(port)` in a process group of its own, wait until GET /healthz answers 200, yield
    (base URL, process); afterwards SIGTERM the group (SIGKILL after 30 s).  Fails with the end of the log."""
    import httpx

    port = free_port()
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(command(port), cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not answer on {url}: "
                                   f"{Path(log_path).read_text(errors='replace')[-3000:]}")
            time.sleep(0.2)
        yield url, proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
