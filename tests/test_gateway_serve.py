"""`pva serve` as users run it: several gateway processes on one port, answering as one; the login limit holds
through them (that limiters in different processes share their counts is test_auth's two-limiter test)."""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("services")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    port = _free_port()
    env = dict(os.environ, PVA_HTTP_WORKERS="2", PVA_LOGIN_RATE_LIMIT="4")
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "pva.cli", "serve", "--port", str(port)], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            log.close()
            pytest.fail(f"pva serve did not answer: {(tmp_path / 'serve.log').read_text()[-2000:]}")
        time.sleep(0.3)
    try:
        yield url, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def test_several_gateway_processes_share_one_login_rate_limit(served):
    from pva import auth

    url, proc = served
    deadline = time.monotonic() + 30
    while len(psutil.Process(proc.pid).children(recursive=True)) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(psutil.Process(proc.pid).children(recursive=True)) >= 2  # PVA_HTTP_WORKERS=2
    user = auth.create_user(f"serve-{secrets.token_hex(3)}", "correct horse battery")
    statuses = []
    for _ in range(8):  # new connection each time: the kernel spreads them over the processes
        with httpx.Client(base_url=url, timeout=30) as c:
            statuses.append(c.post("/api/v1/auth/login", json={"username": user["username"],
                                                               "password": "wrong"}).status_code)
    assert statuses[:4] == [401] * 4 and set(statuses[4:]) == {429}, statuses
    with httpx.Client(base_url=url, timeout=30) as c:
        r = c.post("/api/v1/auth/login", json={"username": user["username"], "password": "correct horse battery"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0  # even the right password waits
    auth.login_limiter.reset()
    # /metrics (from loopback) adds up every process's counts: all 9 logins, whichever process took them
    text = httpx.get(url + "/metrics", timeout=30).text
    logins = [line for line in text.splitlines()
              if line.startswith("pva_http_requests_total{") and 'route="/api/v1/auth/login"' in line]
    assert sum(float(line.rsplit(" ", 1)[1]) for line in logins) == 9, logins
