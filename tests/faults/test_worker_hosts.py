"""Worker hosts that fail: the stack on one host, `pva functions serve` on three others, real links between them.

The hosts are network namespaces this test makes (tests/faults/netns.py): the stack host runs Postgres (on TCP),
a RabbitMQ node and SeaweedFS; worker hosts pva-w1..3 each run detect, faces, ocr and the reconcile cron against
the stack host's address on their own veth link.  During a load of PVA_FAULTS_HOSTS_PHOTOS photos (default 500):

- pva-w1 is cut off (its link down) while it holds a job, for longer than a lease, then comes back;
- pva-w2 is frozen (SIGSTOP of every process on the host) while it holds a job, past its lease, then resumed;
- the RabbitMQ node is SIGKILLed and started again on its files.

Afterwards every file is stored once and byte-identical, every analysis done exactly once with one result set, no
job is left running or queued, and the jobs the failed hosts held were finished by another host while the late
results of the host that lost the lease were refused (its workers log "job lost" for them)."""
from __future__ import annotations

import contextlib
import os
import json
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, _reload
from faults import netns
from faults.conftest import require_shared
from faults.helpers import (check_analyses_once, check_library, load_until_done, make_photos, run_load,
                            wait_analysed)
from function_helpers import runtime_copy

pytestmark = [pytest.mark.faults, pytest.mark.timeout(3600)]

PHOTOS = int(os.environ.get("PVA_FAULTS_HOSTS_PHOTOS", "500"))
WORKER_HOSTS = 3
LEASE_SECONDS = 15
CUT_SECONDS = 45     # host 1 away for three leases: reconcile on the other hosts takes its jobs back meanwhile
FREEZE_SECONDS = 40  # host 2 frozen past its lease (and past the reconcile tick after it)
RABBIT_DOWN_SECONDS = 5
FUNCTIONS = ("detect", "faces", "ocr", "reconcile")
SETTINGS = {
    "PVA_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
    # the back-off of a retried job and the age at which reconcile republishes an unpicked wake-up (the ones
    # published into the killed broker): short, so the run ends in minutes
    "PVA_REQUEUE_AFTER_SECONDS": "20",
    "PVA_LOG_JSON": "false",
    "PVA_LOG_LEVEL": "WARNING",
}


@pytest.fixture
def stack_host():
    """The hosts and the stack host's services; this test's thread runs inside the stack host (its database and
    S3 clients connect to 127.0.0.1 there).  Every namespace, and so every process and veth, goes at the end."""
    reason = netns.unavailable_reason()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="pvaf-hosts-", dir="/tmp"))
    saved = {k: v for k, v in os.environ.items() if k.startswith("PVA_")}
    try:
        with netns.Hosts.create(WORKER_HOSTS) as hosts:
            base = netns.base_env(SETTINGS)
            stack = netns.StackHost(hosts, root, base).start()
            local = netns.stack_local_env(root / "stack-data", base)
            for k in saved:
                os.environ.pop(k)
            os.environ.update({k: v for k, v in local.items() if k.startswith("PVA_")})
            with hosts.entered(hosts.stack):
                _reload()
                try:
                    yield hosts, stack, local
                finally:
                    from pva.infra import db

                    db.close_pool()  # its sockets live in the stack namespace, about to go
    finally:
        for k in [k for k in os.environ if k.startswith("PVA_")]:
            os.environ.pop(k)
        os.environ.update(saved)
        _reload()
        shutil.rmtree(root, ignore_errors=True)


def _serve_on_host(hosts: netns.Hosts, i: int, env: dict, home: Path):
    from pva.runtime import ServeProcess

    fdir = home / "functions"
    fdir.mkdir(parents=True)
    for name in FUNCTIONS:
        runtime_copy(REPO / "functions" / name, fdir, workers=None, queue_suffix="", cron="2s")
    python = hosts.python_wrapper(hosts.worker(i), f"pva-w{i}", home / "python")
    return ServeProcess(fdir, [], env=hosts.worker_env(i, home / "data", env), log_dir=home / "logs",
                        ready_timeout=300, drain_timeout=10, python=str(python))


def _held(host: str, owner_id) -> list[dict]:
    """The jobs a host holds right now (its workers are named host:pid:claim)."""
    from pva.infra import db

    return db.query("""select a.media_id, a.kind, a.worker, a.attempts from analysis a join media m
                        on m.id = a.media_id where m.owner_id = %s and a.status = 'running'
                         and a.worker like %s""", (owner_id, f"{host}:%"))


def _strike(host: str, owner_id, hit, undo, tries: int = 5, timeout: float = 300) -> list[dict]:
    """Hit the host (`hit()`) while it holds a job; returns the jobs it still holds once it can no longer
    commit — the ones the fault caught mid-job.  A hit that lands between two jobs is undone and tried again."""
    for _ in range(tries):
        deadline = time.monotonic() + timeout
        while not _held(host, owner_id):
            if time.monotonic() > deadline:
                raise AssertionError(f"{host} never held a job within {timeout} s: nothing to inject into")
            time.sleep(0.1)
        hit()
        time.sleep(0.5)  # a commit already on its way when the host went lands; after that the table is frozen
        rows = _held(host, owner_id)
        if rows:
            return rows
        undo()
    raise AssertionError(f"{tries} faults on {host} all landed between jobs")


def _operator_view(owner_id) -> dict:
    """What the jobs page and the job table show: counts per status, and the running jobs per host with those
    whose lease has already run out."""
    from pva.infra import db

    rows = db.query("""select split_part(a.worker, ':', 1) host, count(*) n,
                              count(*) filter (where a.lease_until < now()) expired
                         from analysis a join media m on m.id = a.media_id
                        where m.owner_id = %s and a.status = 'running' group by 1 order by 1""", (owner_id,))
    status = db.query("""select a.status, count(*) n from analysis a join media m on m.id = a.media_id
                          where m.owner_id = %s group by 1""", (owner_id,))
    return {"status": {r["status"]: r["n"] for r in status},
            "running": {r["host"]: (r["n"], r["expired"]) for r in rows}}


def _fate(held: list[dict]) -> list[dict]:
    """Each held job now: still the same claim, or taken back and finished by another worker."""
    from pva.infra import db

    out = []
    for h in held:
        now = db.query_one("select status, worker, attempts from analysis where media_id = %s and kind = %s",
                           (h["media_id"], h["kind"]))
        out.append({**h, "final_status": now["status"], "final_worker": now["worker"],
                    "final_attempts": now["attempts"], "taken_back": now["worker"] != h["worker"]})
    return out


def _late_outcomes(log_dir: Path) -> dict[tuple[str, str], str]:
    """(media_id, kind) -> how a host's late attempt ended, from its workers' logs (one JSON object a line):
    'job lost' — its results were rolled back at the commit because the job table no longer names it the holder;
    'refused' — the attempt ran past its lease and ended neither done nor failed (its failure report matched no
    job it held, e.g. after an S3 error while cut off)."""
    out: dict[tuple[str, str], str] = {}
    for f in log_dir.glob("*.log"):
        for line in f.read_text(errors="replace").splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            k = (rec.get("media_id"), rec.get("kind"))
            if rec.get("msg") == "job lost":
                out[k] = "job lost"
            elif (rec.get("msg") == "analysis" and rec.get("outcome") == "skipped"
                  and float(rec.get("seconds") or 0) > LEASE_SECONDS):
                out.setdefault(k, "refused")
    return out


def test_worker_hosts_cut_off_frozen_and_a_broker_crash_lose_nothing_and_run_nothing_twice(
        stack_host, tmp_path, fault_report):
    require_shared()
    from pva.infra import db
    from pva.services import auth

    hosts, stack, local = stack_host
    owner = auth.create_user("hosts-owner", "correct horse battery", is_admin=False)
    root = tmp_path / "load"
    expected = make_photos(root, PHOTOS, prefix="hosts")
    on_stack = hosts.exec_prefix(hosts.stack)
    t0 = time.monotonic()
    with contextlib.ExitStack() as serving:
        serves = {}
        for i in range(1, WORKER_HOSTS + 1):
            serves[i] = serving.enter_context(_serve_on_host(hosts, i, local, tmp_path / f"host{i}"))
        started = time.monotonic() - t0
        first: dict = {}
        loader = threading.Thread(target=lambda: first.update(
            run_load(local, root, owner["username"], workers=1, prefix=on_stack)), daemon=True)
        loader.start()

        # mid-load: once a tenth of the photos are in, so the hosts have been working side by side for a while
        deadline = time.monotonic() + 600
        while (db.query_one("select count(*) n from media where owner_id = %s", (owner["id"],))["n"] < PHOTOS // 10
               and loader.is_alive() and time.monotonic() < deadline):
            time.sleep(0.5)
        held_cut = _strike("pva-w1", owner["id"], lambda: hosts.link(1, up=False), lambda: hosts.link(1, up=True))
        t_cut = time.monotonic()
        frozen: list[int] = []
        held_freeze = _strike("pva-w2", owner["id"],
                              lambda: frozen.extend(hosts.signal_all(hosts.worker(2), signal.SIGSTOP)),
                              lambda: hosts.signal_all(hosts.worker(2), signal.SIGCONT))
        t_freeze = time.monotonic()
        time.sleep(2)
        beam = stack.kill_rabbitmq()
        time.sleep(RABBIT_DOWN_SECONDS)
        rabbit_back = stack.start_rabbitmq()
        # what an operator sees while both hosts are gone: before their leases run out, and after
        time.sleep(max(0.0, t_freeze + LEASE_SECONDS - 5 - time.monotonic()))
        during = [_operator_view(owner["id"])]
        time.sleep(max(0.0, t_freeze + LEASE_SECONDS + 5 - time.monotonic()))
        during.append(_operator_view(owner["id"]))
        time.sleep(max(0.0, t_freeze + FREEZE_SECONDS - time.monotonic()))
        hosts.signal_all(hosts.worker(2), signal.SIGCONT)
        time.sleep(max(0.0, t_cut + CUT_SECONDS - time.monotonic()))
        hosts.link(1, up=True)
        back_at = db.query_one("select now() t")["t"]
        left_at_back = _operator_view(owner["id"])["status"]

        loader.join(1800)
        reruns = load_until_done(local, root, owner["username"], prefix=on_stack) if first.get("failed") else []
        counts = wait_analysed(owner["id"], timeout=1800)
        all_done = time.monotonic() - t0
        # the attempts the hosts were in when they vanished end once a retransmission gets through: wait (bounded)
        # until each one's end is in its host's log
        key = lambda h: (str(h["media_id"]), h["kind"])  # noqa: E731
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
                {key(h) for h in held_cut} <= set(_late_outcomes(tmp_path / "host1" / "logs"))
                and {key(h) for h in held_freeze} <= set(_late_outcomes(tmp_path / "host2" / "logs"))):
            time.sleep(1)
        alive = {i: s.proc.poll() is None for i, s in serves.items()}
        by_host = {r["host"]: r["n"] for r in db.query(
            """select split_part(a.worker, ':', 1) host, count(*) n from analysis a join media m
                 on m.id = a.media_id where m.owner_id = %s and a.status = 'done' group by 1""", (owner["id"],))}
        after_back = {r["host"]: r["n"] for r in db.query(
            """select split_part(a.worker, ':', 1) host, count(*) n from analysis a join media m
                 on m.id = a.media_id where m.owner_id = %s and a.status = 'done' and a.started_at > %s
                group by 1""", (owner["id"], back_at))}

    lib = check_library(owner, expected)
    res = check_analyses_once(owner["id"])
    cut, freeze = _fate(held_cut), _fate(held_freeze)
    late = {1: _late_outcomes(tmp_path / "host1" / "logs"), 2: _late_outcomes(tmp_path / "host2" / "logs")}
    refused_cut = [h for h in cut if key(h) in late[1]]
    refused_freeze = [h for h in freeze if key(h) in late[2]]
    job_lost = {i: sum(late[i].get(key(h)) == "job lost" for h in hs) for i, hs in ((1, cut), (2, freeze))}
    common = dict(files_in=PHOTOS, stored=lib["rows"], rejected=0, analyses=res["done"], failed=res["failed"],
                  lost=lib["lost"] + (3 * PHOTOS - res["done"]))
    fault_report(fault="worker host cut off (link down)", injected=1, **common,
                 note=f"{CUT_SECONDS}s away holding {len(cut)} job(s): {sum(h['taken_back'] for h in cut)} "
                      f"taken back and done elsewhere, {len(refused_cut)} late attempt(s) refused ({job_lost[1]} 'job lost'); "
                      f"after it rejoined it did {after_back.get('pva-w1', 0)} jobs")
    fault_report(fault="worker host frozen (SIGSTOP)", injected=1, **common,
                 note=f"{len(set(frozen))} processes stopped {FREEZE_SECONDS}s (lease {LEASE_SECONDS}s) holding "
                      f"{len(freeze)} job(s): {sum(h['taken_back'] for h in freeze)} taken back, "
                      f"{len(refused_freeze)} late attempt(s) refused ({job_lost[2]} 'job lost')")
    fault_report(fault="RabbitMQ node SIGKILLed", injected=1, **common,
                 note=f"beam {beam} killed, answering again {RABBIT_DOWN_SECONDS + rabbit_back:.0f}s later; "
                      f"load rc {first.get('rc')}, reruns {len(reruns)}; done by host {by_host}; "
                      f"hosts up {started:.0f}s, all done {all_done:.0f}s; while hosts were gone: {during}")

    assert all(alive.values()), alive
    assert first.get("rc") == 0 or (reruns and reruns[-1]["rc"] == 0), first.get("out")
    assert lib["rows"] == PHOTOS and lib["problems"] == [], lib["problems"][:20]
    assert res["problems"] == [], res["problems"]
    assert counts == {"done": 3 * PHOTOS}, f"jobs not all done (none may stay running or queued): {counts}"
    # the faults hit jobs in flight: the jobs the vanished hosts held were taken back and finished by another host
    # (a job whose commit was already under way when its host vanished may legitimately end as that claim's)
    for h in cut + freeze:
        assert h["final_status"] == "done", h
        assert h["taken_back"] or h["final_attempts"] == h["attempts"], f"finished twice? {h}"
    assert any(h["taken_back"] for h in cut), f"the cut-off host's jobs were never taken back: {cut}"
    assert any(h["taken_back"] for h in freeze), f"the frozen host's jobs were never taken back: {freeze}"
    # ... and the late results of the frozen host, which woke up believing it still held its jobs, were refused
    assert any(late[2].get(key(h)) == "job lost" for h in freeze), (
        f"no refused result ('job lost') logged by the frozen host for the jobs it lost: {freeze}, {late[2]}")
    for h in refused_cut + refused_freeze:
        assert h["taken_back"], f"refused although nobody else ran it: {h}"
    # both hosts rejoined and worked again once back (the shared queues reached them again) — when enough work
    # was left by then for each to get some
    if left_at_back.get("queued", 0) >= 100:
        assert after_back.get("pva-w1", 0) > 0 and after_back.get("pva-w2", 0) > 0, (after_back, left_at_back)
