"""SIGKILL analysis workers in the middle of their jobs, many times, during a 1,000-photo load: every photo still
ends with each of its analyses done exactly once (one set of results), none failed, nothing lost.

Recovery path under test: the killed worker's job keeps its lease until it expires (PVA_JOB_LEASE_SECONDS=10), the
reconcile cron (every 2 s here) takes it back and republishes it, the runtime restarts the worker, and the job runs
again; its redelivered message finds the job held and is dropped.  Size: PVA_FAULTS_PHOTOS (default 1000)."""
from __future__ import annotations

import os
import random
import signal
import threading
import time

import psutil
import pytest

from faults.conftest import require_shared, serve_functions
from faults.helpers import check_analyses_once, check_library, make_photos, run_load, wait_analysed

pytestmark = [pytest.mark.faults, pytest.mark.timeout(3600)]

PHOTOS = int(os.environ.get("PVA_FAULTS_PHOTOS", "1000"))
TARGETS = ("pva-detect", "pva-faces", "pva-ocr")
MIN_AGE = 31.0  # seconds: the runtime's restart backoff resets for workers older than 30 s


def _queue_workers(serve_pid: int) -> dict[int, str]:
    """pid -> function of the live queue-trigger workers of the analysis functions."""
    out = {}
    try:
        children = psutil.Process(serve_pid).children()
    except psutil.Error:
        return out
    for p in children:
        try:
            cmd = " ".join(p.cmdline())
        except psutil.Error:
            continue
        for fn in TARGETS:
            if f'"function": "{fn}"' in cmd and '"trigger": "queue"' in cmd:
                out[p.pid] = fn
    return out


class Killer(threading.Thread):
    """Every 1-3 s: pick a job that is running right now (from the job table), check that its worker is one of our
    analysis workers, and SIGKILL that worker.  Only first attempts are hit, so no job is killed over and over."""

    def __init__(self, serve_pid: int, owner_id):
        super().__init__(daemon=True)
        self.serve_pid, self.owner_id = serve_pid, owner_id
        self.stop_evt = threading.Event()
        self.kills: list[dict] = []
        self.errors: list[str] = []

    def run(self) -> None:
        from pva.infra import db

        rnd = random.Random(12)
        while not self.stop_evt.wait(rnd.uniform(1.0, 3.0)):
            try:
                workers = _queue_workers(self.serve_pid)
                rows = db.query("""select a.media_id, a.kind, a.worker from analysis a join media m
                                     on m.id = a.media_id where m.owner_id = %s and a.status = 'running'
                                      and a.attempts = 1""", (self.owner_id,))
                now = time.time()
                cands = []
                for r in rows:
                    pid = int((r["worker"] or "x:0").split(":")[1])
                    if pid in workers and now - psutil.Process(pid).create_time() > MIN_AGE:
                        cands.append((r, pid))
                if not cands:
                    continue
                r, pid = rnd.choice(cands)
                os.kill(pid, signal.SIGKILL)
                self.kills.append({"pid": pid, "function": workers[pid], "media_id": str(r["media_id"]),
                                   "kind": r["kind"], "at": now})
            except (psutil.Error, ProcessLookupError):
                continue
            except Exception as e:  # noqa: BLE001 - report, keep injecting
                self.errors.append(f"{type(e).__name__}: {e}")


def test_sigkilled_workers_mid_job_lose_nothing_and_duplicate_nothing(iso, tmp_path, fault_report):
    require_shared()
    from pva.infra import db

    owner = iso.user()
    root = tmp_path / "load"
    expected = make_photos(root, PHOTOS)
    # OCR is the slowest analysis: two workers keep both cores busy
    with serve_functions(iso, ["ingest", "detect", "faces", "ocr", "reconcile"], queue_workers={"ocr": 2}) as serve:
        killer = Killer(serve.pid, owner["id"])
        # let the workers age past the restart backoff window before the first kill
        killer.start()
        t0 = time.monotonic()
        load = run_load(iso.env, root, owner["username"], workers=1)
        loaded_at = time.monotonic() - t0
        # keep killing while the analyses catch up, then let the tail finish undisturbed
        deadline = time.monotonic() + 1800
        while time.monotonic() < deadline:
            left = db.query_one("""select count(*) n from analysis a join media m on m.id = a.media_id
                                    where m.owner_id = %s and a.status in ('queued', 'running')""", (owner["id"],))
            if left["n"] < 20:
                break
            time.sleep(2)
        killer.stop_evt.set()
        killer.join(10)
        counts = wait_analysed(owner["id"], timeout=600)
        restarts = {fn: sum(w["restarts"] for t in serve.refresh()["functions"][fn]["triggers"].values()
                            for w in t["workers"]) for fn in TARGETS}
        serve_alive = serve.proc.poll() is None

    timing = {r["kind"]: round(r["s"], 2) for r in db.query(
        """select a.kind, avg(extract(epoch from a.finished_at - a.started_at))::float s from analysis a
             join media m on m.id = a.media_id where m.owner_id = %s group by 1""", (owner["id"],))}
    total = time.monotonic() - t0
    assert load["rc"] == 0 and load.get("added") == PHOTOS, load["out"]
    lib = check_library(owner, expected)
    res = check_analyses_once(owner["id"])
    fault_report(fault=f"SIGKILL analysis workers mid-job ({', '.join(sorted({k['function'] for k in killer.kills}))})",
                 injected=len(killer.kills), files_in=PHOTOS, stored=lib["rows"], rejected=0,
                 analyses=res["done"], failed=res["failed"], lost=lib["lost"] + (3 * PHOTOS - res["done"]),
                 note=f"load {loaded_at:.0f}s, all done {total:.0f}s, s/job {timing}, restarts {restarts}")
    assert not killer.errors, killer.errors
    assert serve_alive
    assert len(killer.kills) >= 10, f"only {len(killer.kills)} kills landed mid-job: the test did not test much"
    assert {k["function"] for k in killer.kills} == set(TARGETS), killer.kills
    assert sum(restarts.values()) >= len(killer.kills), restarts
    assert res["problems"] == [], res["problems"]
    assert counts == {"done": 3 * PHOTOS}, counts
    assert lib["problems"] == [], lib["problems"][:20]
    # the killed jobs really ran again (attempts > 1) and finished
    again = db.query_one("""select count(*) n from analysis where status = 'done' and attempts > 1
                         and (media_id, kind) in (select unnest(%s::uuid[]), unnest(%s::text[]))""",
                     ([k["media_id"] for k in killer.kills], [k["kind"] for k in killer.kills]))["n"]
    assert again >= len(killer.kills) - max(2, len(killer.kills) // 10), (again, len(killer.kills))
    # bus and football scenes were analysed: objects and faces found (the results are real, not empty sets)
    assert res["media_with_detections"] >= PHOTOS // 2 - 5 and res["media_with_faces"] >= PHOTOS // 4 - 5, res


def test_a_job_whose_worker_dies_every_time_ends_failed_after_max_attempts(iso, tmp_path, fault_report):
    """A poison input that kills its worker (OOM, a segfault in a model) must not loop forever: DESIGN says a job
    is failed after N attempts, with its error, retryable from the UI.  Here the detect worker is SIGKILLed each
    time it holds the job; after PVA_MAX_ATTEMPTS (3) deaths the job must be failed, not queued again."""
    require_shared()
    from pva.infra import db
    from pva.config import get_settings

    owner = iso.user()
    root = tmp_path / "load"
    make_photos(root, 1, prefix="poison")
    assert run_load(iso.env, root, owner["username"])["added"] == 1
    media_id = db.query_one("select id from media where owner_id = %s", (owner["id"],))["id"]
    max_attempts = get_settings().max_attempts
    kills = 0
    with serve_functions(iso, ["detect", "reconcile"]) as serve:
        deadline = time.monotonic() + 60 * (max_attempts + 3)
        while time.monotonic() < deadline and kills < max_attempts + 3:
            row = db.query_one("select status, worker, attempts from analysis where media_id = %s and "
                               "kind = 'detect'", (media_id,))
            if row["status"] in ("failed", "done"):
                break
            if row["status"] == "running":
                pid = int(row["worker"].split(":")[1])
                if pid in _queue_workers(serve.pid):
                    os.kill(pid, signal.SIGKILL)
                    kills += 1
                    while db.query_one("select worker from analysis where media_id = %s and kind = 'detect'",
                                       (media_id,))["worker"] == row["worker"] and time.monotonic() < deadline:
                        time.sleep(0.2)  # until the job is claimed again
                    continue
            time.sleep(0.05)
        final = db.query_one("select status, attempts, error from analysis where media_id = %s and "
                             "kind = 'detect'", (media_id,))
    fault_report(fault="poison job: worker killed on every attempt", injected=kills, files_in=1, stored=1,
                 rejected=0, analyses=int(final["status"] == "done"), failed=int(final["status"] == "failed"),
                 lost=0, note=f"ended {final['status']} after {final['attempts']} attempts")
    assert final["status"] == "failed" and final["attempts"] == max_attempts, (
        f"after {kills} worker deaths the job is {final['status']} at attempt {final['attempts']} "
        f"(max {max_attempts}): {final['error']}")
    assert "lost its lease" in (final["error"] or "")
