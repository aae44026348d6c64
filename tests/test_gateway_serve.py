"""`pva serve` as users run it: several gateway processes on one port, answering as one; the login limit holds
through them (that limiters in different processes share their counts is test_auth's two-limiter test)."""
from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest

from net_helpers import http_service

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
def served(tmp_path):
    env = dict(os.environ, PVA_HTTP_WORKERS="2", PVA_LOGIN_RATE_LIMIT="4")
    with http_service(lambda port: [sys.executable, "-m", "pva.cli", "serve", "--port", str(port)], env=env,
                      log_path=tmp_path / "serve.log", cwd=REPO, what="pva serve") as served:
        yield served


def test_several_gateway_processes_share_one_login_rate_limit(served):
    from pva.services import auth

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
