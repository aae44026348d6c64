"""nginx in front of the gateway on one machine: TLS (certificate from `pva certs`), HTTP/2, HTTP→HTTPS redirect,
streaming uploads, security headers.  `pva up` starts it when nginx is installed; `pva down` stops it.

    from pva.stack import nginx
    info = nginx.start()        # renders <data_dir>/nginx/nginx.conf, checks it (nginx -t), starts or reloads
    nginx.status()              # {"url", "answers", "detail", "pid", ...} or None when we did not start one
    nginx.stop()

The configuration comes from infra/nginx/nginx.conf.template + pva-site.conf.template with the ports and paths
from settings.  nginx runs detached (its own daemon mode) with its pid file at <data_dir>/run/nginx.pid, logs in
<data_dir>/logs/nginx-{error,access}.log and temp files under <data_dir>/nginx/tmp — no root paths needed.

Settings read here (not yet in pva.config; environment variables with documented defaults):
  PVA_HTTP_REDIRECT_PORT  8081     plain-HTTP port that redirects to HTTPS (8080 is SeaweedFS' volume port)
  PVA_NGINX_LISTEN        0.0.0.0  address nginx listens on (127.0.0.1: this machine only)
  PVA_HSTS_MAX_AGE        31536000 Strict-Transport-Security max-age in seconds (0 tells browsers to forget it)
  PVA_NGINX               auto     `auto`: `pva up` starts nginx when installed; `off`: never
  PVA_NGINX_BIN           (PATH)   the nginx binary
Also used from settings: https_port (8443), http_host/http_port (the gateway upstream), max_upload_bytes,
tile_url (its origin is allowed for images in the Content-Security-Policy), data_dir.
"""
from __future__ import annotations

import hashlib
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit

import psutil

from ..config import REPO_ROOT, get_settings
from .proc import StackError, port_free, port_in_use_message, tail

TEMPLATES = REPO_ROOT / "infra" / "nginx"
MAIN_TEMPLATE = TEMPLATES / "nginx.conf.template"
SITE_TEMPLATE = TEMPLATES / "pva-site.conf.template"

DEFAULT_REDIRECT_PORT = 8081
_PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")

Log = Callable[[str], None]


# ------------------------------------------------------------------------------------------------ settings
def _check_range(name: str, value: int, lo: int, hi: int) -> int:
    if not lo <= value <= hi:
        raise StackError(f"{name}={value} must be between {lo} and {hi}")
    return value


def redirect_port(settings=None) -> int:
    return _check_range("PVA_HTTP_REDIRECT_PORT", (settings or get_settings()).http_redirect_port, 1, 65535)


def listen_address(settings=None) -> str:
    return (settings or get_settings()).nginx_listen.strip() or "0.0.0.0"


def enabled(settings=None) -> bool:
    mode = (settings or get_settings()).nginx.strip().lower()
    if mode not in ("auto", "off", "on", "true", "false", "1", "0", ""):
        raise StackError(f"PVA_NGINX={mode!r}: use auto or off")
    return mode not in ("off", "false", "0")


def nginx_binary(settings=None) -> str | None:
    explicit = (settings or get_settings()).nginx_bin.strip()
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                          if os.access(p, os.X_OK)), None)


def content_security_policy(settings=None) -> str:
    """Scripts only from our origin (no 'unsafe-inline'), no framing; map tiles from PVA_TILE_URL's origin."""
    settings = settings or get_settings()
    img = ["'self'", "data:", "blob:"]
    if settings.tile_url:
        parts = urlsplit(settings.tile_url)
        host = parts.hostname or ""
        if parts.scheme in ("http", "https") and host:
            # {s}.tile.example.org (Leaflet subdomains) -> *.tile.example.org
            host = re.sub(r"^\{[a-z]+\}\.", "*.", parts.netloc.split("@")[-1])
            if "{" not in host:
                img.append(f"{parts.scheme}://{host}")
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            f"img-src {' '.join(img)}; media-src 'self' blob:; font-src 'self' data:; connect-src 'self'; "
            "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'; "
            "frame-ancestors 'none'")


def paths(settings=None) -> dict[str, Path]:
    settings = settings or get_settings()
    root = Path(settings.data_dir)
    return {"dir": root / "nginx", "conf": root / "nginx" / "nginx.conf", "site": root / "nginx" / "pva-site.conf",
            "tmp": root / "nginx" / "tmp", "pid": root / "run" / "nginx.pid",
            "error_log": root / "logs" / "nginx-error.log", "access_log": root / "logs" / "nginx-access.log",
            "start_log": root / "logs" / "nginx-start.log"}


def https_url(settings=None, host: str = "localhost") -> str:
    settings = settings or get_settings()
    port = settings.https_port
    return f"https://{host}/" if port == 443 else f"https://{host}:{port}/"


# ------------------------------------------------------------------------------------------------ render
def fill(template: str, values: dict[str, str], source: str = "template") -> str:
    """Replace every ${NAME}; a placeholder without a value is an error (a typo must not reach nginx)."""
    missing = sorted({m for m in _PLACEHOLDER.findall(template) if m not in values})
    if missing:
        raise StackError(f"{source}: no value for {', '.join(missing)}")
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def _worker_user_line(data_dir: Path) -> str:
    """Run as root: workers take the data dir owner's identity (they write temp files under it)."""
    if os.geteuid() != 0:
        return ""  # nginx ignores `user` when not root (and warns); it runs as us
    try:
        st = data_dir.stat()
        return f"user {pwd.getpwuid(st.st_uid).pw_name} {_group_name(st.st_gid)};"
    except (OSError, KeyError):
        return ""


def _group_name(gid: int) -> str:
    import grp

    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def site_values(settings=None, *, cert: Path, key: Path, redirect: int | None = None,
                upstream: str | None = None, listen: str | None = None) -> dict[str, str]:
    """The ${PVA_NGINX_*} values of pva-site.conf.template (the production compose file sets the same names)."""
    settings = settings or get_settings()
    if upstream is None:
        host = settings.http_host
        if host in ("0.0.0.0", "", "*"):
            host = "127.0.0.1"
        elif host == "::":
            host = "[::1]"
        elif ":" in host and not host.startswith("["):
            host = f"[{host}]"
        upstream = f"{host}:{settings.http_port}"
    hsts = _check_range("PVA_HSTS_MAX_AGE", settings.hsts_max_age, 0, 10 * 365 * 86400)
    return {
        "PVA_NGINX_UPSTREAM": upstream,
        "PVA_NGINX_LISTEN": listen or listen_address(settings),
        "PVA_NGINX_HTTPS_PORT": str(settings.https_port),
        "PVA_NGINX_REDIRECT_PORT": str(redirect or redirect_port(settings)),
        "PVA_NGINX_CERT": str(cert),
        "PVA_NGINX_KEY": str(key),
        "PVA_NGINX_MAX_BODY": str(int(settings.max_upload_bytes)),
        "PVA_NGINX_HSTS_MAX_AGE": str(hsts),
        "PVA_NGINX_CSP": content_security_policy(settings),
    }


def render(settings=None, *, redirect: int | None = None, upstream: str | None = None,
           listen: str | None = None) -> tuple[Path, bool]:
    """Write <data_dir>/nginx/nginx.conf and pva-site.conf (certificates made if needed).
    Returns (nginx.conf path, whether anything changed)."""
    from pva.infra.certs import CertError, ensure_certs

    settings = settings or get_settings()
    p = paths(settings)
    if settings.https_port == (redirect or redirect_port(settings)):
        raise StackError(f"PVA_HTTPS_PORT and PVA_HTTP_REDIRECT_PORT are both {settings.https_port}: choose two ports")
    try:
        certs = ensure_certs(settings).paths
    except CertError as e:
        raise StackError(str(e)) from None
    for d in (p["dir"], p["tmp"], p["pid"].parent, p["error_log"].parent):
        d.mkdir(parents=True, exist_ok=True)
    site = fill(SITE_TEMPLATE.read_text(), site_values(settings, cert=certs.cert, key=certs.key, redirect=redirect,
                                                       upstream=upstream, listen=listen), SITE_TEMPLATE.name)
    main = fill(MAIN_TEMPLATE.read_text(), {
        "PVA_NGINX_USER_LINE": _worker_user_line(Path(settings.data_dir)),
        "PVA_NGINX_WORKERS": str(min(4, os.cpu_count() or 1)),
        "PVA_NGINX_PID": str(p["pid"]),
        "PVA_NGINX_ERROR_LOG": str(p["error_log"]),
        "PVA_NGINX_ACCESS_LOG": str(p["access_log"]),
        "PVA_NGINX_TMP": str(p["tmp"]),
        "PVA_NGINX_SITE": str(p["site"]),
    }, MAIN_TEMPLATE.name)
    # the certificate is part of the state too: a renewed one needs a reload
    stamp = hashlib.sha256((site + main).encode() + certs.cert.read_bytes()).hexdigest()
    stamp_file = p["dir"] / ".rendered"
    changed = not stamp_file.is_file() or stamp_file.read_text().strip() != stamp
    for path, text in ((p["site"], site), (p["conf"], main)):
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    stamp_file.write_text(stamp + "\n")
    return p["conf"], changed


# ------------------------------------------------------------------------------------------------ process
def _cmd(binary: str, settings, *extra: str) -> list[str]:
    p = paths(settings)
    return [binary, "-p", str(p["dir"]) + "/", "-c", str(p["conf"]), "-e", str(p["error_log"]), *extra]


def running_pid(settings=None) -> int | None:
    """The pid of the nginx master that runs our configuration, or None."""
    settings = settings or get_settings()
    p = paths(settings)
    try:
        pid = int(p["pid"].read_text().split()[0])
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        cmdline = " ".join(proc.cmdline())
    except (OSError, ValueError, IndexError, psutil.Error):
        return None
    return pid if "nginx" in cmdline and str(p["conf"]) in cmdline else None


def _run(cmd: list[str], what: str, settings) -> None:
    p = paths(settings)
    p["start_log"].parent.mkdir(parents=True, exist_ok=True)
    # output to a file, not a pipe: the daemon could keep a pipe open and we would wait forever
    with open(p["start_log"], "ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        out.flush()
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, timeout=60)
    if r.returncode != 0:
        raise StackError(f"nginx {what} failed (exit {r.returncode}):\n{tail(p['start_log'], 8)}")


def start(settings=None, log: Log = print, *, redirect: int | None = None, upstream: str | None = None,
          listen: str | None = None) -> dict:
    """Render the configuration and make nginx run it: start, reload (configuration or certificate changed) or
    leave alone.  Returns {"pid", "url", "redirect_url", "conf", "action"}; raises StackError saying what to do."""
    settings = settings or get_settings()
    binary = nginx_binary(settings)
    if not binary:
        raise StackError("nginx is not installed (scripts/install.sh installs Debian's nginx; or set PVA_NGINX_BIN)")
    redirect = redirect or redirect_port(settings)
    conf, changed = render(settings, redirect=redirect, upstream=upstream, listen=listen)
    _run(_cmd(binary, settings, "-t", "-q"), "configuration test", settings)
    pid = running_pid(settings)
    if pid and not changed:
        action = "already running"
    elif pid:
        _run(_cmd(binary, settings, "-s", "reload"), "reload", settings)
        action = "reloaded"
    else:
        bind = listen or listen_address(settings)
        check = "127.0.0.1" if bind in ("0.0.0.0", "*") else bind
        busy = [port_in_use_message(port, check, what) for what, port in
                (("PVA_HTTPS_PORT", settings.https_port), ("PVA_HTTP_REDIRECT_PORT", redirect))
                if not port_free(port, check)]
        if busy:
            raise StackError("; ".join(busy) + " — stop that process or choose other ports")
        paths(settings)["pid"].unlink(missing_ok=True)
        _run(_cmd(binary, settings), "start", settings)
        deadline = time.monotonic() + 10
        while (pid := running_pid(settings)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid is None:
            raise StackError(f"nginx did not start; see {paths(settings)['error_log']}:\n"
                             f"{tail(paths(settings)['error_log'], 8)}")
        action = "started"
    host = socket.gethostname() or "localhost"
    info = {"pid": pid, "url": https_url(settings), "conf": str(conf), "action": action,
            "redirect_url": f"http://localhost:{redirect}/",
            "lan_url": https_url(settings, host) if (listen or listen_address(settings)) in ("0.0.0.0", "*") else None}
    return info


def stop(settings=None, log: Log = print, timeout: float = 10.0) -> str:
    """Stop the nginx we started (graceful quit, then terminate).  Returns what happened."""
    settings = settings or get_settings()
    pid = running_pid(settings)
    if pid is None:
        paths(settings)["pid"].unlink(missing_ok=True)
        return "not running"
    try:
        proc = psutil.Process(pid)
        proc.send_signal(signal.SIGQUIT)  # graceful: finish the requests in flight
        try:
            proc.wait(timeout)
        except psutil.TimeoutExpired:
            proc.terminate()
            proc.wait(5)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        raise StackError(f"nginx (pid {pid}) did not stop; kill it and remove {paths(settings)['pid']}") from None
    paths(settings)["pid"].unlink(missing_ok=True)
    return f"stopped (pid {pid})"


def check(settings=None, timeout: float = 3.0) -> tuple[bool, str]:
    """Does nginx answer HTTPS with our certificate (verified against our CA)?  Any HTTP status counts as an
    answer; the detail says whether the gateway behind it answers too."""
    import httpx

    from pva.infra.certs import cert_paths

    settings = settings or get_settings()
    bind = listen_address(settings)
    host = "127.0.0.1" if bind in ("0.0.0.0", "*") else bind
    ca = cert_paths(settings).ca_cert
    try:
        ctx = ssl.create_default_context(cafile=str(ca))
        r = httpx.get(f"https://{host}:{settings.https_port}/healthz", verify=ctx, timeout=timeout)
    except (OSError, ssl.SSLError, httpx.HTTPError) as e:
        return False, f"{type(e).__name__}: {e}"
    if r.status_code == 200:
        return True, "TLS ok, gateway answers"
    return True, f"TLS ok, gateway not answering (HTTP {r.status_code}: start it with `pva serve`)"


def status(settings=None) -> dict | None:
    """A `pva status` row for the nginx we started, or None when there is none."""
    settings = settings or get_settings()
    p = paths(settings)
    try:
        if not p["pid"].read_text().strip():  # `nginx -t` leaves an empty pid file behind
            return None
    except OSError:
        return None
    pid = running_pid(settings)
    answers, detail = check(settings) if pid else (False, "the nginx `pva up` started is gone; run `pva up`")
    return {"service": "nginx", "url": https_url(settings), "answers": answers, "detail": detail, "pid": pid,
            "running": pid is not None, "started_by_us": True, "log": str(p["error_log"])}


# ------------------------------------------------------------------------------------------------ stack hooks
def on_up(settings=None, log: Log = print) -> None:
    """`pva up`: start nginx when it is installed and not turned off.  A failure is reported, not raised: the
    embedded services are up and the gateway stays reachable directly."""
    settings = settings or get_settings()
    try:
        if not enabled(settings):
            return
        if not nginx_binary(settings):
            log("nginx: not installed (scripts/install.sh installs it); the gateway is at "
                f"http://{settings.http_host}:{settings.http_port}/")
            return
        info = start(settings, log)
    except (StackError, OSError, subprocess.SubprocessError) as e:
        log(f"nginx: FAILED: {e}")
        return
    extra = f", {info['lan_url']} from other machines" if info.get("lan_url") else ""
    log(f"nginx: {info['action']} {info['url']}{extra} (plain HTTP on {info['redirect_url']} redirects; "
        f"clients trust {Path(settings.data_dir) / 'certs' / 'ca.crt'})")


def on_down(settings=None, log: Log = print) -> None:
    settings = settings or get_settings()
    try:
        what = stop(settings, log)
    except StackError as e:
        log(f"nginx: FAILED: {e}")
        return
    if what != "not running":
        log(f"nginx: {what}")


def status_rows(settings=None) -> list[dict]:
    row = status(settings)
    return [row] if row else []
