"""RabbitMQ for the embedded stack: the server at settings.amqp_url when it answers, else a local node from Debian's
rabbitmq-server with its own node name, ports, config and files under <data_dir>/rabbitmq (bound to 127.0.0.1)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

from .proc import StackError, check_ports_free, exited, identity, same_process, spawn, tail, terminate, wait_until

SERVER_SCRIPT = "/usr/lib/rabbitmq/bin/rabbitmq-server"
MARKER = "rabbitmq-server"


def check(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    """(answers, detail): an AMQP connection (login included) within `timeout` seconds."""
    import logging

    import pika

    # a probe that fails is an answer, not an error: keep pika's connection-failure tracebacks out of the logs
    plog = logging.getLogger("pika")
    old_level = plog.level
    plog.setLevel(logging.CRITICAL)
    try:
        return _probe(pika, url, timeout)
    finally:
        plog.setLevel(old_level)


def _probe(pika, url: str, timeout: float) -> tuple[bool, str]:
    try:
        params = pika.URLParameters(url)
        params.socket_timeout = timeout
        params.blocked_connection_timeout = timeout
        params.stack_timeout = timeout
        params.connection_attempts = 1
        params.retry_delay = 0
        conn = pika.BlockingConnection(params)
    except Exception as e:  # pika raises many kinds (AMQPConnectionError, ProbableAuthenticationError, ...)
        return False, f"{type(e).__name__}: {e}".strip().rstrip(":")
    try:
        conn.close()
    except Exception:
        pass
    return True, "answers"


def local_url(settings) -> str:
    return f"amqp://guest:guest@127.0.0.1:{settings.rabbit_port}/"


def node_dir(settings) -> Path:
    return settings.data_dir / "rabbitmq"


def log_path(settings) -> Path:
    return settings.data_dir / "logs" / "rabbitmq.log"


def _redact(url: str) -> str:
    u = urlsplit(url)
    if u.password:
        return url.replace(f":{u.password}@", ":***@", 1)
    return url


def ensure(settings, prev: dict, log) -> dict:
    # our own node from an earlier `up`, still alive and answering: keep it
    if prev.get("started_by_us") and same_process(prev, MARKER):
        ok, _ = check(prev["url"])
        if ok:
            return prev
    ok, detail = check(settings.amqp_url)
    if ok:
        return {"url": settings.amqp_url, "pid": None, "started_by_us": False, "log": None}
    log(f"rabbitmq: {_redact(settings.amqp_url)} does not answer ({detail}); starting a local node")
    return _start(settings, log)


def _start(settings, log) -> dict:
    if not os.path.exists(SERVER_SCRIPT):
        raise StackError("RabbitMQ is not reachable at PVA_AMQP_URL and Debian's rabbitmq-server is not installed: "
                         "run `make install` (apt-get install rabbitmq-server) or point PVA_AMQP_URL at a server")
    port = settings.rabbit_port
    dist_port = port + 20000 if port + 20000 < 65536 else port - 1000
    check_ports_free({"RabbitMQ AMQP, PVA_RABBIT_PORT": port, "RabbitMQ distribution": dist_port})
    base = node_dir(settings)
    for d in (base, base / "mnesia", base / "log"):
        d.mkdir(parents=True, exist_ok=True)
    # Our own config files so the machine's /etc/rabbitmq (listeners, plugins like management on 15672) never apply
    (base / "rabbitmq.conf").write_text(
        f"listeners.tcp.1 = 127.0.0.1:{port}\n"
        "loopback_users.guest = true\n"
        "log.file.level = info\n"
        "log.console = false\n")
    (base / "enabled_plugins").write_text("[].\n")
    (base / "rabbitmq-env.conf").write_text("# pva: intentionally empty (see pva/stack/rabbit.py)\n")
    node = f"pva{port}@localhost"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_"))}
    env.update({
        "HOME": str(base),  # the Erlang cookie lives here
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
        "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_PID_FILE": str(settings.run_dir / "rabbitmq.beam.pid"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_ADDRESS": "127.0.0.1",
    })
    logf = log_path(settings)
    cookie = base / ".erlang.cookie"
    if not cookie.exists():
        import secrets

        fd = os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(16).upper())
    log(f"rabbitmq: starting node {node} on 127.0.0.1:{port}")
    proc = spawn([shutil.which("sh") or "/bin/sh", SERVER_SCRIPT], logf, env=env, cwd=base)
    url = local_url(settings)

    def _abort():
        code = exited(proc)
        if code is not None:
            return (f"rabbitmq node exited during start (exit {code}); log {logf} (node logs in {base / 'log'}):\n"
                    f"{tail(logf)}")
        return None

    if not wait_until(lambda: check(url, timeout=2)[0], timeout=90, interval=0.5, abort=_abort):
        terminate(proc, timeout=10)
        raise StackError(f"rabbitmq node did not answer on 127.0.0.1:{port} within 90 s; log {logf}:\n{tail(logf)}")
    return {"url": url, **identity(proc.pid), "started_by_us": True, "log": str(logf), "node": node}


def stop(entry: dict, settings, log) -> str:
    proc = same_process(entry, MARKER)
    if proc is None:
        return "not running"
    return terminate(proc, timeout=30)
