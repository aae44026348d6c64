"""`pva up / down / status` on real servers: pgserver, a local RabbitMQ node, SeaweedFS — in a temporary data dir
with free ports, so a developer's stack is not disturbed."""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import psycopg2
import pytest

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- helpers (test_storage.py imports them too)

def _free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(offsets: tuple[int, ...] = (0,), taken: set[int] | None = None) -> int:
    """A port p in 20000..40000 such that p + each offset is free on 127.0.0.1 (and not in `taken`)."""
    taken = taken if taken is not None else set()
    for _ in range(500):
        p = random.randint(20000, 40000)
        cand = [p + o for o in offsets]
        if any(c in taken for c in cand):
            continue
        if all(_free(c) for c in cand):
            taken.update(cand)
            return p
    raise RuntimeError("no free port found")


def stack_env(data_dir: Path, local_rabbit: bool = False) -> dict[str, str]:
    """Environment for a `pva` subprocess with its own data dir and free ports (no PVA_* leaking in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PVA_")}
    taken: set[int] = set()
    env.update({
        "PVA_DATA_DIR": str(data_dir),
        "PVA_ENV_FILE": str(data_dir.parent / "no.env"),
        "PVA_LOG_JSON": "false",
        "PVA_S3_PORT": str(free_port((0, 10000), taken)),
        "PVA_SEAWEED_MASTER_PORT": str(free_port((0, 10000), taken)),
        "PVA_SEAWEED_VOLUME_PORT": str(free_port((0, 10000), taken)),
        "PVA_SEAWEED_FILER_PORT": str(free_port((0, 10000), taken)),
    })
    if local_rabbit:
        port = free_port((0, 20000), taken)
        env["PVA_RABBIT_PORT"] = str(port)
        env["PVA_AMQP_URL"] = f"amqp://guest:guest@127.0.0.1:{port}/"
    return env


@pytest.fixture
def scratch():
    """A temporary directory outside pytest's basetemp: /tmp/pytest-of-root is reset to mode 0700 by every pytest
    session that starts, which would lock out the `pgserver` system user that runs Postgres."""
    d = Path(tempfile.mkdtemp(prefix="pva-stack-test-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def pva(env: dict, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pva.cli", *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _ours(data_dir: Path) -> list[str]:
    """Processes whose command line or working directory refers to the test's data dir."""
    found = []
    for p in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            text = " ".join(p.info["cmdline"] or []) + " " + (p.info["cwd"] or "")
        except psutil.Error:
            continue
        if str(data_dir) in text and p.pid != os.getpid():
            found.append(f"{p.pid} {text[:200]}")
    return found


def _state(data_dir: Path) -> dict:
    return json.loads((data_dir / "run" / "stack.json").read_text())


def test_up_twice_status_restart_and_down_leaves_nothing_running(scratch):
    data = scratch / "data"
    env = dict(stack_env(data, local_rabbit=True), PVA_PG_SHARED_BUFFERS="160MB")
    try:
        r = pva(env, "up")
        assert r.returncode == 0, r.stdout + r.stderr
        state = _state(data)
        assert set(state) == {"postgres", "rabbitmq", "s3"}
        for name, entry in state.items():
            assert entry["started_by_us"] is True, (name, entry)
            assert psutil.pid_exists(entry["pid"]), name
            assert Path(entry["log"]).is_file() and str(data / "logs") in entry["log"]
            assert (data / "run" / f"{name}.pid").read_text().strip() == str(entry["pid"])
        assert state["s3"]["url"] == f"http://127.0.0.1:{env['PVA_S3_PORT']}"
        assert state["rabbitmq"]["url"] == env["PVA_AMQP_URL"]
        # schema is there after `up`, in the application database
        conn = psycopg2.connect(state["postgres"]["url"], connect_timeout=5)
        with conn, conn.cursor() as cur:
            cur.execute("select current_database(), to_regclass('media') is not null, "
                        "exists(select 1 from pg_extension where extname = 'vector')")
            assert cur.fetchone() == ("pva", True, True)
            cur.execute("show shared_buffers")  # the memory setting reaches the server
            assert cur.fetchone()[0] == "160MB"
        conn.close()
        # buckets made at `up`
        from dataclasses import replace

        from pva.config import get_settings
        from pva.infra.storage import Storage

        st = Storage(replace(get_settings(), s3_endpoint=state["s3"]["url"]))
        assert {"pva-originals", "pva-thumbs", "pva-inbox"} <= {b.name for b in st.client.list_buckets()}

        # second `up`: everything answers, nothing is started again
        r = pva(env, "up")
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("already up") == 3, r.stdout
        assert {k: v["pid"] for k, v in _state(data).items()} == {k: v["pid"] for k, v in state.items()}

        # the filer announces drops to the gateway: its notification.toml (secret inside: owner-only) names the
        # gateway's port; another port means a restart of the S3 `up` started, once, so the filer reads it again
        toml = data / "run" / "seaweed-config" / "notification.toml"
        assert toml.stat().st_mode & 0o077 == 0
        assert f'endpoint = "http://127.0.0.1:{env.get("PVA_HTTP_PORT", 8000)}/api/v1/hooks/seaweedfs"' \
            in toml.read_text()
        env = dict(env, PVA_HTTP_PORT=str(free_port((0, 10000), set())))
        r = pva(env, "up", "--only", "s3")
        assert r.returncode == 0 and "restarting SeaweedFS" in r.stdout, r.stdout + r.stderr
        assert f'127.0.0.1:{env["PVA_HTTP_PORT"]}/api/v1/hooks/seaweedfs"' in toml.read_text()
        assert _state(data)["s3"]["pid"] != state["s3"]["pid"]
        r = pva(env, "up")
        assert r.returncode == 0 and r.stdout.count("already up") == 3, r.stdout + r.stderr
        state = _state(data)

        # our S3 alive but slow to answer (frozen for 4 s): `up` waits for it instead of starting a second one
        os.kill(state["s3"]["pid"], signal.SIGSTOP)
        try:
            slow = subprocess.Popen([sys.executable, "-m", "pva.cli", "up"], cwd=REPO, env=env, text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            time.sleep(4)
        finally:
            os.kill(state["s3"]["pid"], signal.SIGCONT)
        out, _ = slow.communicate(timeout=120)
        assert slow.returncode == 0 and "s3: started" not in out, out
        assert _state(data)["s3"]["pid"] == state["s3"]["pid"]

        r = pva(env, "status")
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        for name in ("postgres", "rabbitmq", "s3"):
            assert any(line.split()[:2] == [name, "up"] for line in lines), r.stdout

        # a service that died is reported down (exit 1, with its log), and `up` brings it back
        os.kill(state["s3"]["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while psutil.pid_exists(state["s3"]["pid"]) and psutil.Process(state["s3"]["pid"]).status() != "zombie" \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        r = pva(env, "status")
        assert r.returncode == 1
        assert any(line.split()[:2] == ["s3", "DOWN"] for line in r.stdout.splitlines()), r.stdout
        assert "the process `pva up` started is gone" in r.stdout
        r = pva(env, "up")
        assert r.returncode == 0, r.stdout + r.stderr
        assert "s3: started" in r.stdout
        state = _state(data)

        # a second data dir on the same ports finds this S3 answering with our keys: uses it, never stops it
        other = dict(env, PVA_DATA_DIR=str(scratch / "other"))
        r = pva(other, "up", "--only", "s3")
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads((scratch / "other/run/stack.json").read_text())["s3"]["started_by_us"] is False
        r = pva(other, "down")
        assert r.returncode == 0 and "left running" in r.stdout, r.stdout + r.stderr
        assert pva(env, "status").returncode == 0
    finally:
        r = pva(env, "down")
    assert r.returncode == 0, r.stdout + r.stderr
    for name, entry in state.items():
        assert not psutil.pid_exists(entry["pid"]) or psutil.Process(entry["pid"]).status() == "zombie", name
    assert _ours(data) == []
    assert not (data / "run" / "stack.json").exists()
    r = pva(env, "status")
    assert r.returncode == 1 and "not started: run `pva up`" in r.stdout, r.stdout

    # a service that cannot start is reported with the tail of its log
    with open(data / "pg" / "postgresql.conf", "a") as f:
        f.write("max_connections = lots\n")
    r = pva(env, "up", "--only", "postgres")
    assert r.returncode == 1
    assert "postgres failed to start" in r.stderr and str(data / "logs" / "postgres.log") in r.stderr
    assert 'invalid value for parameter "max_connections": "lots"' in r.stderr, r.stderr
    assert _ours(data) == []


def test_up_names_the_port_another_process_holds(scratch):
    env = stack_env(scratch / "data")
    port = int(env["PVA_S3_PORT"])
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", port))
    squatter.listen(1)
    try:
        r = pva(env, "up", "--only", "s3")
    finally:
        squatter.close()
    assert r.returncode == 1
    assert f"port {port} on 127.0.0.1" in r.stderr
    assert f"in use by pid {os.getpid()}" in r.stderr, r.stderr
    assert _ours(scratch / "data") == []


def test_up_reports_an_unreachable_database_url(scratch):
    env = stack_env(scratch / "data")
    env["PVA_DATABASE_URL"] = "postgresql://nobody@127.0.0.1:1/none"
    r = pva(env, "up", "--only", "postgres")
    assert r.returncode == 1
    assert "PVA_DATABASE_URL does not answer" in r.stderr, r.stderr
    assert "postgres" in r.stdout and "DOWN" in r.stdout


def test_python_api_rejects_unknown_service(scratch):
    from dataclasses import replace

    from pva import stack
    from pva.config import get_settings

    with pytest.raises(stack.StackError, match="unknown service"):
        stack.up(replace(get_settings(), data_dir=scratch), only=["redis"], log=lambda m: None)


def test_embedded_postgres_memory_follows_the_machine_unless_set():
    from dataclasses import replace

    from pva.config import get_settings

    s = get_settings()
    auto = replace(s, pg_shared_buffers="").pg_memory_settings()
    ram_mb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**2
    shared = int(auto["shared_buffers"].removesuffix("MB"))
    assert 128 <= shared <= max(128, min(ram_mb / 4, 8192)) + 1
    assert int(auto["effective_cache_size"].removesuffix("MB")) >= shared
    assert replace(s, pg_shared_buffers="1GB").pg_memory_settings()["shared_buffers"] == "1GB"
