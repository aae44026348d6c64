"""nginx + TLS on one machine: a real nginx (Debian's) with the certificate `pva certs` makes, in front of a real
gateway (uvicorn in a subprocess) or, for the 200 MB streaming upload, a small upstream that counts what arrives.
Everything runs in a temporary data dir on free loopback ports; clients verify against the generated CA."""
from __future__ import annotations

import dataclasses
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import httpx
import pytest

from pva.config import REPO_ROOT, get_settings
from pva.stack import nginx

from net_helpers import free_port

pytestmark = pytest.mark.skipif(nginx.nginx_binary() is None,
                                reason="nginx is not installed (scripts/install.sh installs Debian's nginx)")

MB = 1024 * 1024


def wait_port(port: int, timeout: float = 20.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port}")


def tls_context(ca: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca))


def make_settings(data_dir: Path, upstream_port: int, **kw):
    data_dir.mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(get_settings(), data_dir=data_dir, https_port=free_port(), http_host="127.0.0.1",
                               http_port=upstream_port, **kw)


@pytest.fixture(scope="module")
def gateway_tls(tmp_path_factory):
    """A real gateway behind nginx: (settings, redirect port, direct gateway URL)."""
    data = tmp_path_factory.mktemp("tls-gw")
    port = free_port()
    env = dict(os.environ, PVA_DATA_DIR=str(data), PVA_LOG_JSON="false")
    log = open(data / "gateway.log", "wb")
    gw = subprocess.Popen([sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory",
                           "--host", "127.0.0.1", "--port", str(port), "--no-access-log"],
                          cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    settings = make_settings(data, port)
    redirect = free_port()
    try:
        wait_port(port, proc=gw)
        info = nginx.start(settings, redirect=redirect, listen="127.0.0.1")
        assert info["action"] == "started"
        yield settings, redirect, f"http://127.0.0.1:{port}"
    finally:
        nginx.stop(settings)
        gw.terminate()
        gw.wait(10)
        log.close()


def test_https_serves_api_and_ui_verified_against_the_generated_ca(gateway_tls):
    settings, _, direct = gateway_tls
    ca = settings.data_dir / "certs" / "ca.crt"
    base = f"https://localhost:{settings.https_port}"
    with httpx.Client(verify=tls_context(ca), timeout=10) as c:
        r = c.get(f"{base}/healthz")
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        spec = c.get(f"{base}/api/openapi.json")
        assert spec.status_code == 200
        assert "/api/v1/media/upload" in spec.json()["paths"]
        assert "/api/v1/functions/{name}/invoke" in spec.json()["paths"]
        # the UI (whatever the gateway serves at /) comes through unchanged
        via, straight = c.get(f"{base}/"), httpx.get(f"{direct}/")
        assert (via.status_code, via.content) == (straight.status_code, straight.content)
    # the same address by IP is covered by the certificate too
    assert httpx.get(f"https://127.0.0.1:{settings.https_port}/healthz", verify=tls_context(ca)).status_code == 200
    # without our CA the certificate is not trusted: the CA is what makes it work
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{base}/healthz", verify=ssl.create_default_context())


def test_https_negotiates_http2(gateway_tls):
    settings, _, _ = gateway_tls
    ctx = tls_context(settings.data_dir / "certs" / "ca.crt")
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", settings.https_port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.selected_alpn_protocol() == "h2"
            assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_plain_http_redirects_to_https(gateway_tls):
    settings, redirect, _ = gateway_tls
    r = httpx.get(f"http://127.0.0.1:{redirect}/api/v1/media?label=dog&limit=5")
    assert r.status_code == 301
    assert r.headers["location"] == f"https://127.0.0.1:{settings.https_port}/api/v1/media?label=dog&limit=5"
    # plain HTTP spoken to the TLS port is sent to https as well
    r = httpx.get(f"http://127.0.0.1:{settings.https_port}/healthz")
    assert r.status_code == 301 and r.headers["location"].startswith("https://")
    # following the redirect with the CA lands on the gateway
    r = httpx.get(f"http://localhost:{redirect}/healthz", follow_redirects=True,
                  verify=tls_context(settings.data_dir / "certs" / "ca.crt"))
    assert r.status_code == 200 and r.url.scheme == "https"


def test_security_headers_on_answers_and_errors(gateway_tls):
    settings, _, _ = gateway_tls
    base = f"https://localhost:{settings.https_port}"
    with httpx.Client(verify=tls_context(settings.data_dir / "certs" / "ca.crt")) as c:
        for path, status in (("/healthz", 200), ("/no/such/page", 404), ("/api/v1/media", 401)):
            r = c.get(base + path)
            assert r.status_code == status, path
            h = r.headers
            assert h["strict-transport-security"].startswith("max-age=31536000"), path
            csp = {d.split()[0]: d.split()[1:] for d in h["content-security-policy"].split("; ")}
            assert csp["script-src"] == ["'self'"], path
            assert "'unsafe-inline'" not in csp.get("default-src", [])
            assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
            # the gateway sets nosniff too: it must arrive once, not twice
            assert h.get_list("x-content-type-options") == ["nosniff"], path
            assert h["x-frame-options"] == "DENY"
            assert h["referrer-policy"] == "same-origin"
            assert "server" not in h or h["server"] == "nginx"  # no version number


def test_text_is_gzipped(gateway_tls):
    settings, _, _ = gateway_tls
    r = httpx.get(f"https://localhost:{settings.https_port}/api/openapi.json",
                  headers={"Accept-Encoding": "gzip"}, verify=tls_context(settings.data_dir / "certs" / "ca.crt"))
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert "paths" in r.json()


def test_start_is_idempotent_reloads_on_change_and_stop_frees_the_ports(tmp_path):
    port = free_port()
    settings = make_settings(tmp_path / "data", port)
    redirect = free_port()
    first = nginx.start(settings, redirect=redirect, listen="127.0.0.1")
    try:
        again = nginx.start(settings, redirect=redirect, listen="127.0.0.1")
        assert again["action"] == "already running" and again["pid"] == first["pid"]
        bigger = dataclasses.replace(settings, max_upload_bytes=settings.max_upload_bytes + 1)
        reloaded = nginx.start(bigger, redirect=redirect, listen="127.0.0.1")
        assert reloaded["action"] == "reloaded" and reloaded["pid"] == first["pid"]
        conf = (tmp_path / "data" / "nginx" / "pva-site.conf").read_text()
        assert f"client_max_body_size {settings.max_upload_bytes + 1};" in conf
        assert re.search(r"\$\{[A-Z_]+\}", conf) is None  # every placeholder filled
        assert nginx.running_pid(settings) == first["pid"]
    finally:
        assert nginx.stop(settings).startswith("stopped")
    assert nginx.running_pid(settings) is None
    assert nginx.status(settings) is None
    s = socket.socket()
    s.bind(("127.0.0.1", settings.https_port))  # free again
    s.close()


def test_start_names_the_port_another_process_holds(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        settings = dataclasses.replace(make_settings(tmp_path / "d", free_port()),
                                       https_port=holder.getsockname()[1])
        with pytest.raises(nginx.StackError, match=f"port {settings.https_port}.*PVA_HTTPS_PORT.*in use"):
            nginx.start(settings, redirect=free_port(), listen="127.0.0.1")
        assert nginx.running_pid(settings) is None
    finally:
        holder.close()


# ------------------------------------------------------------------------------------- streaming upload
class CountingUpstream:
    """A minimal HTTP/1.1 server that reads request bodies (Content-Length or chunked), counting bytes as they
    arrive, and answers 200 with what it got."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self.crc = 0
        self.headers: dict[str, str] = {}
        self.request_line = ""
        self.done = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket):
        f = conn.makefile("rb", buffering=1024 * 1024)
        try:
            self.request_line = f.readline().decode().strip()
            headers = {}
            while (line := f.readline()) not in (b"\r\n", b"\n", b""):
                k, _, v = line.decode().partition(":")
                headers[k.strip().lower()] = v.strip()
            self.headers = headers
            if headers.get("transfer-encoding", "").lower() == "chunked":
                while True:
                    size = int(f.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        f.readline()
                        break
                    self._consume(f, size)
                    f.readline()
            else:
                self._consume(f, int(headers.get("content-length", "0")))
            body = f'{{"received": {self.received}}}'.encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        finally:
            self.done.set()
            f.close()
            conn.close()

    def _consume(self, f, n: int):
        while n:
            chunk = f.read1(min(n, 1024 * 1024))
            if not chunk:
                raise ConnectionError("body ended early")
            self.crc = zlib.crc32(chunk, self.crc)
            self.received += len(chunk)
            n -= len(chunk)

    def close(self):
        self.sock.close()


@pytest.fixture
def upload_tls(tmp_path):
    up = CountingUpstream()
    settings = make_settings(tmp_path / "data", up.port, max_upload_bytes=250 * MB)
    nginx.start(settings, redirect=free_port(), listen="127.0.0.1")
    try:
        yield settings, up
    finally:
        nginx.stop(settings)
        up.close()


def test_200mb_upload_streams_through_nginx_without_touching_disk(upload_tls):
    settings, up = upload_tls
    body_tmp = settings.data_dir / "nginx" / "tmp" / "client_body"
    total, piece = 200 * MB, os.urandom(MB)
    seen_mid: dict = {}

    def body():
        for i in range(total // MB):
            if i == 120:
                # 120 MB sent: a buffering proxy would not have passed anything on yet
                deadline = time.monotonic() + 10
                while up.received < 60 * MB and time.monotonic() < deadline:
                    time.sleep(0.01)
                seen_mid["upstream"] = up.received
                seen_mid["temp_files"] = list(body_tmp.rglob("*"))
            yield piece

    expected_crc = 0
    for _ in range(total // MB):
        expected_crc = zlib.crc32(piece, expected_crc)
    start = time.monotonic()
    r = httpx.post(f"https://localhost:{settings.https_port}/api/v1/media/upload", content=body(),
                   headers={"Content-Type": "application/octet-stream", "Content-Length": str(total)},
                   verify=tls_context(settings.data_dir / "certs" / "ca.crt"), timeout=60)
    elapsed = time.monotonic() - start
    assert r.status_code == 200, r.text
    assert r.json() == {"received": total}
    assert up.received == total and up.crc == expected_crc
    assert seen_mid["upstream"] >= 60 * MB, "nginx held the body back instead of streaming it"
    assert seen_mid["temp_files"] == [] and list(body_tmp.rglob("*")) == []
    assert up.request_line.startswith("POST /api/v1/media/upload ")
    assert up.headers.get("x-forwarded-proto") == "https"
    assert elapsed < 30


def test_chunked_upload_is_passed_on_chunked(upload_tls):
    settings, up = upload_tls

    def body():
        for _ in range(8):
            yield b"x" * MB

    r = httpx.post(f"https://localhost:{settings.https_port}/api/v1/media/upload", content=body(),
                   verify=tls_context(settings.data_dir / "certs" / "ca.crt"), timeout=30)
    assert r.status_code == 200 and r.json() == {"received": 8 * MB}
    assert up.headers.get("transfer-encoding", "").lower() == "chunked"


def test_upload_limits_come_from_settings_and_only_upload_paths_take_big_bodies(upload_tls):
    settings, up = upload_tls
    verify = tls_context(settings.data_dir / "certs" / "ca.crt")
    base = f"https://localhost:{settings.https_port}"
    # declared larger than max_upload_bytes (250 MB): refused before anything is sent upstream
    with socket.create_connection(("127.0.0.1", settings.https_port), timeout=10) as raw:
        with verify.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(f"POST /api/v1/media/upload HTTP/1.1\r\nHost: localhost\r\n"
                        f"Content-Length: {300 * MB}\r\n\r\n".encode())
            assert tls.recv(4096).startswith(b"HTTP/1.1 413 ")
    # 20 MB to an ordinary API path: over the 16 MB limit for JSON bodies
    r = httpx.post(f"{base}/api/v1/albums", content=b"{" + b" " * (20 * MB) + b"}", verify=verify)
    assert r.status_code == 413
    assert up.received == 0


def test_pva_up_hook_starts_reports_and_down_hook_stops(tmp_path, monkeypatch):
    settings = make_settings(tmp_path / "data", free_port(), http_redirect_port=free_port(), nginx_listen="127.0.0.1")
    lines: list[str] = []
    assert nginx.status_rows(settings) == []  # nothing started: no row in `pva status`
    nginx.on_up(settings, lines.append)
    try:
        assert lines[-1].startswith(f"nginx: started https://localhost:{settings.https_port}/")
        assert "redirects" in lines[-1] and "ca.crt" in lines[-1]
        (row,) = nginx.status_rows(settings)
        assert row["service"] == "nginx" and row["running"] and row["answers"]
        assert "gateway not answering" in row["detail"]  # nginx answers; nothing behind it yet
    finally:
        nginx.on_down(settings, lines.append)
    assert lines[-1].startswith("nginx: stopped")
    assert nginx.status_rows(settings) == []


def test_pva_up_hook_reports_a_failure_without_raising_and_can_be_turned_off(tmp_path, monkeypatch):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    try:
        settings = dataclasses.replace(make_settings(tmp_path / "data", free_port()),
                                       https_port=holder.getsockname()[1], http_redirect_port=free_port(),
                                       nginx_listen="127.0.0.1")
        lines: list[str] = []
        nginx.on_up(settings, lines.append)
        assert lines and lines[-1].startswith("nginx: FAILED: port") and "choose other ports" in lines[-1]
        assert nginx.status_rows(settings) == []
        lines.clear()
        nginx.on_up(dataclasses.replace(settings, nginx="off"), lines.append)
        assert lines == []
    finally:
        holder.close()
