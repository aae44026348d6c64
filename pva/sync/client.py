"""HTTP client of the sync uploader: bulk SHA-512 check and streamed uploads, with TLS verification (optionally
against a custom CA), retries with backoff for network errors and 5xx, and a bounded wait for a server that is
down.

    client = SyncClient("https://photos.home", token, ca_cert=Path("ca.crt"), wait=300)
    have = client.have(["<128 hex>", ...])                 # {sha: media_id} of those the server already has
    result = client.upload(path, "Pictures/2024/a.jpg")    # the server's per-file result dict
"""
from __future__ import annotations

import random
import ssl
import threading
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import httpx

HAVE_BATCH = 1000          # the server accepts up to 10,000 per request; smaller keeps each request quick
FILE_RETRIES = 4           # attempts for one file on a 500 or an ingest 'failed' result
DOWN_STATUSES = {502, 503, 504}
MAX_BACKOFF = 15.0


class SyncError(Exception):
    """Base of the errors that end a run."""
    exit_code = 1


class ConfigError(SyncError):
    """Bad options, a refused token, an untrusted certificate: fix the command (exit code 2)."""
    exit_code = 2


class ServerUnreachable(SyncError):
    """The server did not answer for longer than --wait (exit code 3)."""
    exit_code = 3


class Stopped(SyncError):
    """The run was asked to stop (Ctrl-C, SIGTERM)."""
    exit_code = 130


def normalize_server(url: str) -> str:
    url = (url or "").strip().rstrip("/")
    if not url:
        raise ConfigError("no server: give --server https://HOST[:PORT] (the address of the gateway)")
    if "://" not in url:
        url = "https://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--server {url!r} is not an http(s) URL: give e.g. https://photos.example.org")
    if parts.query or parts.fragment:
        raise ConfigError(f"--server {url!r}: give the base URL without query or fragment")
    return url


def ssl_context(ca_cert: Path | None) -> ssl.SSLContext:
    """Verification on: the system's authorities, plus ca_cert (a PEM file) when given."""
    ctx = ssl.create_default_context()
    if ca_cert is not None:
        ca_cert = Path(ca_cert).expanduser()
        if not ca_cert.is_file():
            raise ConfigError(f"--ca-cert {ca_cert}: no such file (give the PEM certificate of your server's CA, "
                              "e.g. ca.crt made by `pva certs`)")
        try:
            ctx.load_verify_locations(cafile=str(ca_cert))
        except (ssl.SSLError, OSError, ValueError) as e:
            raise ConfigError(f"--ca-cert {ca_cert}: not a usable PEM certificate ({e})") from None
    return ctx


def _is_cert_error(exc: BaseException) -> bool:
    seen = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e):
            return True
        e = e.__cause__ or e.__context__
    return False


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
        if isinstance(body, dict) and body.get("message"):
            return str(body["message"])
    except ValueError:
        pass
    return (r.text or r.reason_phrase or "")[:300]


class _ProgressFile:
    """A read-only file wrapper that reports bytes as httpx reads them (and keeps fileno for Content-Length)."""

    def __init__(self, f, on_bytes: Callable[[int], None] | None):
        self._f = f
        self._on_bytes = on_bytes

    def read(self, n: int = -1) -> bytes:
        data = self._f.read(n)
        if data and self._on_bytes:
            self._on_bytes(len(data))
        return data

    def fileno(self) -> int:
        return self._f.fileno()

    def seek(self, *a):
        return self._f.seek(*a)

    def tell(self) -> int:
        return self._f.tell()


class SyncClient:
    """Thread-safe: one connection pool shared by the upload workers."""

    def __init__(self, server: str, token: str, *, ca_cert: Path | None = None, wait: float = 300.0,
                 concurrency: int = 4, on_notice: Callable[[str], None] | None = None,
                 stop: threading.Event | None = None):
        self.server = normalize_server(server)
        if not token:
            raise ConfigError("no API token: set PVA_SYNC_TOKEN (or give --token) — create one on the server with "
                              "`pva tokens create USER --scopes upload`")
        self.wait = float(wait)
        self.on_notice = on_notice or (lambda msg: None)
        self.stop = stop or threading.Event()
        verify = ssl_context(ca_cert) if self.server.startswith("https://") else True
        limits = httpx.Limits(max_connections=concurrency + 2, max_keepalive_connections=concurrency + 2)
        self.http = httpx.Client(base_url=self.server, verify=verify, limits=limits,
                                 timeout=httpx.Timeout(connect=10.0, read=600.0, write=120.0, pool=None),
                                 headers={"Authorization": f"Bearer {token}", "User-Agent": "pva-sync/1"})
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._dead: str | None = None

    def close(self) -> None:
        self.http.close()

    # ------------------------------------------------------------------ retry machinery
    def _sleep(self, seconds: float) -> None:
        if self.stop.wait(max(0.0, seconds)):
            raise Stopped("stopped")

    def _server_down(self, why: str, attempt: int) -> None:
        """Called on a connection error or 502/503/504: wait with backoff, or give up after --wait seconds."""
        now = time.monotonic()
        with self._lock:
            if self._dead:
                raise ServerUnreachable(self._dead)
            if self._down_since is None:
                self._down_since = now
                self.on_notice(f"server {self.server} not answering ({why}); retrying for up to "
                               f"{self.wait:g} s (--wait)")
            waited = now - self._down_since
            if waited >= self.wait:
                self._dead = (f"server {self.server} unreachable for {waited:.0f} s ({why}); nothing is lost — "
                              "run the same command again when it is back")
                raise ServerUnreachable(self._dead)
            left = self.wait - waited
        delay = min(MAX_BACKOFF, 0.25 * 2 ** min(attempt, 8)) * random.uniform(0.7, 1.0)
        self._sleep(min(delay, left + 0.05))

    def _server_up(self) -> None:
        if self._down_since is not None:
            with self._lock:
                if self._down_since is not None:
                    self.on_notice(f"server {self.server} is back")
                    self._down_since = None

    def _call(self, send: Callable[[], httpx.Response]) -> httpx.Response:
        """Send until a response that is not a transient failure.  5xx other than 502-504 are retried
        FILE_RETRIES times and then returned."""
        down_attempt = 0
        errors = 0
        while True:
            if self.stop.is_set():
                raise Stopped("stopped")
            with self._lock:
                if self._dead:
                    raise ServerUnreachable(self._dead)
            try:
                r = send()
            except httpx.TransportError as e:
                if _is_cert_error(e):
                    raise ConfigError(f"the TLS certificate of {self.server} is not trusted ({e}); if it is your "
                                      "own server, pass its CA certificate with --ca-cert PATH") from None
                if isinstance(e, httpx.UnsupportedProtocol):
                    raise ConfigError(f"--server {self.server}: {e}") from None
                self._server_down(f"{type(e).__name__}: {e}" if str(e) else type(e).__name__, down_attempt)
                down_attempt += 1
                continue
            if r.status_code in DOWN_STATUSES:
                self._server_down(f"HTTP {r.status_code}", down_attempt)
                down_attempt += 1
                continue
            self._server_up()
            if r.status_code in (401, 403):
                raise ConfigError(f"the server refused the token (HTTP {r.status_code}: {_message(r)}); it needs "
                                  "the 'upload' scope — create one with `pva tokens create USER --scopes upload`")
            if r.status_code == 429:
                try:
                    delay = float(r.headers.get("retry-after", "5"))
                except ValueError:
                    delay = 5.0
                self._sleep(min(delay, 60.0))
                continue
            if r.status_code >= 500 and errors + 1 < FILE_RETRIES:
                errors += 1
                self._sleep(min(MAX_BACKOFF, 0.5 * 2 ** errors))
                continue
            return r

    # ------------------------------------------------------------------ API
    def have(self, shas: list[str], album: str | None = None) -> dict[str, str]:
        """{sha512: media_id} for the digests the server already has (in batches of HAVE_BATCH)."""
        out: dict[str, str] = {}
        for i in range(0, len(shas), HAVE_BATCH):
            body: dict = {"sha512": shas[i:i + HAVE_BATCH]}
            if album:
                body["album"] = album
            r = self._call(lambda: self.http.post("/api/v1/media/have", json=body))
            if r.status_code >= 500:
                raise ServerUnreachable(f"the server fails on the SHA-512 check (HTTP {r.status_code}: "
                                        f"{_message(r)}); nothing is lost — run the same command again later")
            if r.status_code != 200:
                raise ConfigError(f"the server did not accept the SHA-512 check (HTTP {r.status_code}: "
                                  f"{_message(r)}); is {self.server} a PhotoAndVideoAnalysis gateway?")
            try:
                out.update({k.lower(): v for k, v in r.json()["have"].items()})
            except (ValueError, KeyError, AttributeError):
                raise ConfigError(f"{self.server} answered the SHA-512 check with something unexpected; is it a "
                                  "PhotoAndVideoAnalysis gateway?") from None
        return out

    def upload(self, path: Path, rel: str, *, album: str | None = None,
               on_bytes: Callable[[int], None] | None = None, on_retry: Callable[[], None] | None = None) -> dict:
        """Upload one file (streamed from disk).  Returns the server's result for it:
        {"status": added|duplicate|rejected|failed, "media_id", "reason", "sha512", ...}."""
        data = {"album": album} if album else None
        attempt = {"n": 0}

        def send() -> httpx.Response:
            if attempt["n"] and on_retry:
                on_retry()
            attempt["n"] += 1
            with open(path, "rb") as f:
                files = [("files", (rel, _ProgressFile(f, on_bytes), "application/octet-stream"))]
                return self.http.post("/api/v1/media/upload", files=files, data=data)

        r = self._call(send)
        if r.status_code == 415:  # refused from its first bytes: the answer still holds the file's own result
            try:
                return r.json()["results"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                pass
        if r.status_code == 200:
            try:
                return r.json()["results"][0]
            except (ValueError, KeyError, IndexError, TypeError):
                return {"status": "failed", "name": rel, "reason": "the server's answer was not understood"}
        if r.status_code >= 500:
            return {"status": "failed", "name": rel, "reason": f"HTTP {r.status_code}: {_message(r)}"}
        return {"status": "rejected", "name": rel, "reason": f"HTTP {r.status_code}: {_message(r)}"}
