"""Real hosts on one machine for the fault suite: network namespaces made by the test, joined by veth pairs.

One stack namespace runs Postgres (TCP), a RabbitMQ node and SeaweedFS (`weed mini`), each listening on every
address of that namespace — which holds only loopback and the veths made here, so nothing outside can reach them.
Each worker namespace has one veth to the stack namespace, on its own 10.231.<i>.0/24 (stack .1, worker .2); no
namespace has a default route, so no process in it can send a packet anywhere but to these addresses.

    with Hosts.create(workers=3) as hosts:       # every namespace (and so every veth) is deleted on exit
        stack = StackHost(hosts, root).start()     # postgres, rabbitmq, s3, then `pva up` for schema/queues/buckets
        hosts.worker_env(1)                        # PVA_* for a worker host: the stack at 10.231.1.1
        with hosts.entered(hosts.stack): ...       # this thread's sockets in the stack namespace
        hosts.link(1, up=False)                    # cut worker host 1 off

Namespace names carry a random tag, so two runs never collide; a run that dies leaves namespaces named pvaf-*
(`ip netns list`), removed by `ip netns del`.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from conftest import REPO

CLONE_NEWNET = 0x40000000
SUBNET = "10.231"
STACK_PORTS = {"postgres": 5432, "rabbitmq": 5672, "s3": 8333}
S3_KEYS = ("pva-hosts", "pva-hosts-secret-key")
PG_USER = "pgserver"  # Postgres refuses to run as root; pgserver's own system user (see pva/stack/postgres.py)


class NetnsUnavailable(RuntimeError):
    """Namespaces cannot be made here (not root, no `ip netns`): the caller skips with this reason."""


def _ip(*args: str, timeout: float = 20) -> str:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {r.stderr.strip() or r.returncode}")
    return r.stdout


def unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or None when they can (probed by making and deleting one)."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns add)"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is not installed"
    probe = f"pvaf-probe-{secrets.token_hex(3)}"
    try:
        _ip("netns", "add", probe)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
        return f"`ip netns add` fails here: {e}"
    with contextlib.suppress(Exception):
        _ip("netns", "del", probe)
    return None


@dataclass
class Hosts:
    tag: str
    workers: int
    created: list[str] = field(default_factory=list)

    @property
    def stack(self) -> str:
        return f"pvaf-{self.tag}-stack"

    def worker(self, i: int) -> str:
        return f"pvaf-{self.tag}-w{i}"

    def stack_addr(self, i: int) -> str:
        """The stack host's address on worker host i's link."""
        return f"{SUBNET}.{i}.1"

    def worker_addr(self, i: int) -> str:
        return f"{SUBNET}.{i}.2"

    @classmethod
    def create(cls, workers: int = 3) -> "Hosts":
        reason = unavailable_reason()
        if reason:
            raise NetnsUnavailable(reason)
        hosts = cls(secrets.token_hex(2), workers)
        try:
            for ns in [hosts.stack] + [hosts.worker(i) for i in range(1, workers + 1)]:
                _ip("netns", "add", ns)
                hosts.created.append(ns)
                _ip("-n", ns, "link", "set", "lo", "up")
            for i in range(1, workers + 1):
                # made inside the stack namespace with its peer moved straight into the worker's: neither end
                # ever exists in the machine's own namespace
                _ip("-n", hosts.stack, "link", "add", f"to-w{i}", "type", "veth", "peer", "name", "eth0",
                    "netns", hosts.worker(i))
                _ip("-n", hosts.stack, "addr", "add", f"{hosts.stack_addr(i)}/24", "dev", f"to-w{i}")
                _ip("-n", hosts.worker(i), "addr", "add", f"{hosts.worker_addr(i)}/24", "dev", "eth0")
                _ip("-n", hosts.stack, "link", "set", f"to-w{i}", "up")
                _ip("-n", hosts.worker(i), "link", "set", "eth0", "up")
        except BaseException:
            hosts.destroy()
            raise
        return hosts

    def __enter__(self) -> "Hosts":
        return self

    def __exit__(self, *exc) -> None:
        self.destroy()

    # ------------------------------------------------------------------ processes in a namespace
    def pids(self, ns: str) -> list[int]:
        """Every process in the namespace (all of them started by this test: the namespace is ours)."""
        try:
            return [int(p) for p in _ip("netns", "pids", ns).split()]
        except (RuntimeError, subprocess.TimeoutExpired):
            return []

    def signal_all(self, ns: str, sig: int) -> list[int]:
        hit = []
        for pid in self.pids(ns):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
                hit.append(pid)
        return hit

    def destroy(self) -> None:
        """Kill what still runs in our namespaces (resumed first: a stopped process ignores SIGTERM until then),
        then delete them; deleting a namespace deletes its veth ends and so the pairs."""
        for ns in self.created:
            self.signal_all(ns, signal.SIGCONT)
            self.signal_all(ns, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while any(self.pids(ns) for ns in self.created) and time.monotonic() < deadline:
            time.sleep(0.2)
        for ns in list(self.created):
            with contextlib.suppress(Exception):
                _ip("netns", "del", ns)
                self.created.remove(ns)

    # ------------------------------------------------------------------ faults
    def link(self, i: int, up: bool) -> None:
        """Worker host i's only link up or down (its end: packets it sends and packets for it are dropped)."""
        _ip("-n", self.worker(i), "link", "set", "eth0", "up" if up else "down")

    # ------------------------------------------------------------------ running things
    def exec_prefix(self, ns: str, hostname: str | None = None) -> list[str]:
        """Command prefix running a program in `ns`; with `hostname`, in its own UTS namespace named so — the
        job table's worker column (host:pid:claim) then says which host holds a job.  Every step execs, so the
        pid of the Popen is the program's."""
        pre = ["ip", "netns", "exec", ns]
        if hostname:
            pre += ["unshare", "--uts", "--", "sh", "-c", 'hostname "$0" && exec "$@"', hostname]
        return pre

    def python_wrapper(self, ns: str, hostname: str, path: Path) -> Path:
        """An executable standing in for python (ServeProcess(python=...)) that runs the venv's python on a
        worker host."""
        pre = " ".join(f"'{a}'" for a in self.exec_prefix(ns, hostname))
        path.write_text(f"#!/bin/sh\nexec {pre} '{sys.executable}' \"$@\"\n")
        path.chmod(0o755)
        return path

    @contextlib.contextmanager
    def entered(self, ns: str):
        """This thread in `ns` for the block: the sockets it opens (database pool, S3 client, subprocesses it
        starts) belong to that namespace; the thread returns to its own namespace afterwards."""
        libc = ctypes.CDLL(None, use_errno=True)
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        target = os.open(f"/var/run/netns/{ns}", os.O_RDONLY)
        try:
            if libc.setns(target, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), f"setns into {ns}")
            try:
                yield
            finally:
                if libc.setns(home, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), "setns back to the test's own namespace")
        finally:
            os.close(target)
            os.close(home)

    def worker_env(self, i: int, data_dir: Path, base: dict[str, str]) -> dict[str, str]:
        """The environment of worker host i: every service at the stack host's address on its link."""
        addr = self.stack_addr(i)
        return {**base, "PVA_DATA_DIR": str(data_dir),
                "PVA_DATABASE_URL": f"postgresql://postgres@{addr}:{STACK_PORTS['postgres']}/pva",
                "PVA_AMQP_URL": f"amqp://guest:guest@{addr}:{STACK_PORTS['rabbitmq']}/",
                "PVA_S3_ENDPOINT": f"http://{addr}:{STACK_PORTS['s3']}"}


def stack_local_env(data_dir: Path, base: dict[str, str]) -> dict[str, str]:
    """The environment of a program on the stack host itself (the loader, the test's checks)."""
    return {**base, "PVA_DATA_DIR": str(data_dir),
            "PVA_DATABASE_URL": f"postgresql://postgres@127.0.0.1:{STACK_PORTS['postgres']}/pva",
            "PVA_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{STACK_PORTS['rabbitmq']}/",
            "PVA_S3_ENDPOINT": f"http://127.0.0.1:{STACK_PORTS['s3']}"}


def base_env(settings: dict[str, str]) -> dict[str, str]:
    """The machine's environment without its PVA_* (they name the shared stack), plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PVA_")}
    env.update({"PVA_S3_ACCESS_KEY": S3_KEYS[0], "PVA_S3_SECRET_KEY": S3_KEYS[1], "PVA_NGINX": "off",
                "PVA_FUNCTION_SECRET": secrets.token_urlsafe(24), **settings})
    return env


def _wait(pred, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"{what} not ready within {timeout:.0f} s\n{tail}")


def _port_open(ns_hosts: Hosts, ns: str, port: int) -> bool:
    r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c",
                        f"import socket; socket.create_connection(('127.0.0.1', {port}), 1).close()"],
                       capture_output=True, timeout=15)
    return r.returncode == 0


class StackHost:
    """Postgres, RabbitMQ and S3 in the stack namespace, listening on all of its addresses; files under root."""

    def __init__(self, hosts: Hosts, root: Path, base: dict[str, str]):
        self.hosts, self.root, self.base = hosts, root, base
        self.ns = hosts.stack
        self.logs = root / "stack-logs"
        self.rabbit: subprocess.Popen | None = None
        self.weed: subprocess.Popen | None = None

    def _spawn(self, cmd: list[str], log: Path, env: dict | None = None, cwd: Path | None = None) -> subprocess.Popen:
        with open(log, "ab") as out:
            return subprocess.Popen(self.hosts.exec_prefix(self.ns) + cmd, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)

    def start(self) -> "StackHost":
        self.root.chmod(0o755)
        self.logs.mkdir(parents=True, exist_ok=True)
        self._start_postgres()
        self.start_rabbitmq()
        self._start_s3()
        # schema, queues and buckets: `pva up` finds the three services at its PVA_* addresses and only prepares
        env = stack_local_env(self.root / "stack-data", self.base)
        r = subprocess.run(self.hosts.exec_prefix(self.ns) + [sys.executable, "-m", "pva.cli", "up"], cwd=REPO,
                           env=env, capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError(f"pva up on the stack host failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
        return self

    # ------------------------------------------------------------------ postgres
    def _start_postgres(self) -> None:
        from pva.stack.postgres import _ensure_user, pg_bin

        _ensure_user()
        pw = pwd.getpwnam(PG_USER)
        pgdata, sock, log = self.root / "pg", self.root / "pgsock", self.logs / "postgres.log"
        for d in (pgdata, sock):
            d.mkdir(mode=0o700)
            os.chown(d, pw.pw_uid, pw.pw_gid)
        log.touch()
        os.chown(log, pw.pw_uid, pw.pw_gid)
        as_pg = ["runuser", "-u", PG_USER, "--"]
        r = subprocess.run(as_pg + [str(pg_bin() / "initdb"), "-D", str(pgdata), "--auth=trust", "-U", "postgres",
                                    "--encoding=utf8"], capture_output=True, text=True, timeout=180, cwd="/")
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stderr[-2000:]}")
        # the worker hosts connect over TCP from their links' addresses, and from nowhere else
        with open(pgdata / "pg_hba.conf", "a") as f:
            f.write(f"host all all {SUBNET}.0.0/16 trust\n")
        r = subprocess.run(self.hosts.exec_prefix(self.ns) + as_pg + [
            str(pg_bin() / "pg_ctl"), "-D", str(pgdata), "-w", "-t", "60", "-l", str(log),
            "-o", f"-h 0.0.0.0 -p {STACK_PORTS['postgres']} -k {sock} -c max_connections=300 "
                  "-c shared_buffers=256MB", "start"], capture_output=True, text=True, timeout=90, cwd="/")
        if r.returncode != 0:
            raise RuntimeError(f"postgres did not start: {r.stdout[-1000:]}{r.stderr[-1000:]}\n"
                               f"{log.read_text(errors='replace')[-2000:]}")
        r = subprocess.run(as_pg + [str(pg_bin() / "createdb"), "-h", str(sock), "-p",
                                    str(STACK_PORTS["postgres"]), "-U", "postgres", "pva"],
                           capture_output=True, text=True, timeout=60, cwd="/")
        if r.returncode != 0:
            raise RuntimeError(f"createdb pva failed: {r.stderr[-2000:]}")

    # ------------------------------------------------------------------ rabbitmq
    def _rabbit_env(self) -> dict[str, str]:
        base = self.root / "rabbitmq"
        return {**{k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_", "PVA_"))},
                "HOME": str(base),
                "RABBITMQ_NODENAME": "pvaf@localhost",
                "RABBITMQ_NODE_PORT": str(STACK_PORTS["rabbitmq"]),
                "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
                "RABBITMQ_LOG_BASE": str(base / "log"),
                "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
                "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
                "RABBITMQ_PID_FILE": str(base / "beam.pid"),
                # epmd and the distribution port stay on the namespace's loopback: only AMQP faces the workers
                "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
                "ERL_EPMD_ADDRESS": "127.0.0.1"}

    def start_rabbitmq(self) -> float:
        """Start (or, after a kill, restart) the node on the same files; returns the seconds until it answers."""
        from pva.stack.rabbit import SERVER_SCRIPT

        base = self.root / "rabbitmq"
        if not base.exists():
            for d in (base, base / "mnesia", base / "log"):
                d.mkdir(parents=True, exist_ok=True)
            # its own files, so the machine's /etc/rabbitmq never applies; guest may log in from the worker
            # hosts' addresses (the namespace has no other)
            (base / "rabbitmq.conf").write_text(
                f"listeners.tcp.1 = 0.0.0.0:{STACK_PORTS['rabbitmq']}\nloopback_users = none\n"
                "log.file.level = warning\nlog.console = false\n")
            (base / "enabled_plugins").write_text("[].\n")
            (base / "rabbitmq-env.conf").write_text("# the fault suite's worker-host node (tests/faults/netns.py)\n")
            fd = os.open(base / ".erlang.cookie", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(16).upper())
        t0 = time.monotonic()
        self.rabbit = self._spawn(["/bin/sh", SERVER_SCRIPT], self.logs / "rabbitmq.log", env=self._rabbit_env(),
                                  cwd=base)
        _wait(lambda: self.rabbit.poll() is None and self._amqp_answers(), 120, "the stack host's RabbitMQ",
              self.logs / "rabbitmq.log")
        return time.monotonic() - t0

    def _amqp_answers(self) -> bool:
        code = ("import pika; p = pika.URLParameters('amqp://guest:guest@127.0.0.1:%d/'); p.socket_timeout = 2; "
                "p.connection_attempts = 1; pika.BlockingConnection(p).close()" % STACK_PORTS["rabbitmq"])
        r = subprocess.run(self.hosts.exec_prefix(self.ns) + [sys.executable, "-c", code], capture_output=True,
                           timeout=30)
        return r.returncode == 0

    def kill_rabbitmq(self) -> int:
        """SIGKILL the node's Erlang VM (no clean shutdown: what a crash or the OOM killer does); returns its pid.
        The rabbitmq-server script we started stays a shell waiting on the VM, so the VM is found by name among
        the processes of our stack namespace (it is the only Erlang VM there)."""
        import psutil

        beams = []
        for pid in self.hosts.pids(self.ns):
            with contextlib.suppress(psutil.Error):
                p = psutil.Process(pid)
                if p.name().startswith("beam") and p.status() != psutil.STATUS_ZOMBIE:
                    beams.append(pid)
        if len(beams) != 1:
            raise RuntimeError(f"expected one RabbitMQ VM in {self.ns}, found {beams}")
        os.kill(beams[0], signal.SIGKILL)
        self.rabbit.wait(30)
        return beams[0]

    # ------------------------------------------------------------------ s3
    def _start_s3(self) -> None:
        from pva.stack.seaweed import weed_binary

        ddir, run = self.root / "seaweed", self.root / "run"
        for d in (ddir, run, self.logs / "seaweed"):
            d.mkdir(parents=True, exist_ok=True)
        conf = run / "s3.json"
        conf.write_text('{"identities": [{"name": "pva", "credentials": [{"accessKey": "%s", "secretKey": "%s"}], '
                        '"actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}' % S3_KEYS)
        # -ip names the servers to each other inside the namespace; -ip.bind=0.0.0.0 lets the worker hosts reach
        # the S3 port.  Its Unix sockets are files, shared by every namespace: keep them in our own folder.
        cmd = [weed_binary(), f"-logdir={self.logs / 'seaweed'}", "-alsologtostderr=false", "mini",
               "-ip=127.0.0.1", "-ip.bind=0.0.0.0", f"-dir={ddir}", f"-s3.config={conf}",
               f"-s3.port={STACK_PORTS['s3']}", "-master.telemetry=false", "-volume.preStopSeconds=0",
               "-admin.ui=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
               f"-filer.localSocket={run / 'filer.sock'}", f"-s3.localSocket={run / 's3.sock'}"]
        self.weed = self._spawn(cmd, self.logs / "seaweed.log", cwd=ddir)
        _wait(lambda: self.weed.poll() is None and _port_open(self.hosts, self.ns, STACK_PORTS["s3"]), 90,
              "the stack host's SeaweedFS", self.logs / "seaweed.log")
