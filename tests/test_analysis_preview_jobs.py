"""What a new library's owner sees while it is analysed (issue 20): the jobs API gives each analysis's backlog with
the pace of the last minutes and when it will be done, scoped to the owner; and the analyses' queue workers run
at lower CPU priorities than ingest (detect and faces before OCR and transcription).  Real Postgres, the real
gateway app and the real pipeline entry point."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid

import pytest

from test_gateway_helpers import client_for, new_user

pytestmark = pytest.mark.usefixtures("services")


def _items(owner_id, n: int, *, done_minutes_ago: list[float], queued: int, kind: str = "detect") -> list[uuid.UUID]:
    """n photos whose `kind` jobs: len(done_minutes_ago) finished that many minutes ago, `queued` waiting."""
    from pva.infra import db

    ids = []
    for i in range(n):
        mid = uuid.uuid4()
        db.execute("""insert into media(id, owner_id, sha512, kind, format, mime, size, storage_key, original_path,
                                        filename) values (%s, %s, %s, 'photo', 'jpeg', 'image/jpeg', 1, %s, %s, %s)""",
                   (mid, owner_id, hashlib.sha512(mid.bytes).digest(), f"t/{mid}.jpg", f"{i}.jpg", f"{i}.jpg"))
        ids.append(mid)
    for mid, ago in zip(ids, done_minutes_ago):
        db.execute("""insert into analysis(media_id, kind, status, attempts, finished_at)
                      values (%s, %s, 'done', 1, now() - make_interval(secs => %s))""", (mid, kind, ago * 60))
    for mid in ids[len(done_minutes_ago):len(done_minutes_ago) + queued]:
        db.execute("insert into analysis(media_id, kind, status) values (%s, %s, 'queued')", (mid, kind))
    return ids


@pytest.fixture(scope="module")
def app(services):
    from gateway.app import create_app

    return create_app()


def test_jobs_api_gives_each_backlog_its_rate_and_eta_for_the_owner_only(app):
    owner, other = new_user(), new_user()
    # 20 detect jobs done over the last 10 minutes (2 a minute), 30 waiting: about 15 minutes left
    _items(owner["id"], 50, done_minutes_ago=[0.5 * i + 0.2 for i in range(20)], queued=30)
    # an old run (an hour ago) does not count towards the pace
    _items(owner["id"], 5, done_minutes_ago=[60, 61, 62, 63, 64], queued=0)
    body = client_for(app, owner).get("/api/v1/jobs").json()
    b = body["backlog"]["detect"]
    assert b["pending"] == 30 == body["queue_depth"]["detect"]
    assert 1.8 <= b["per_minute"] <= 2.2
    assert 13 * 60 <= b["eta_seconds"] <= 17 * 60
    assert body["backlog"]["ocr"] == {"pending": 0, "per_minute": 0.0, "eta_seconds": 0}  # nothing to do
    theirs = client_for(app, other).get("/api/v1/jobs").json()["backlog"]["detect"]
    assert theirs == {"pending": 0, "per_minute": 0.0, "eta_seconds": 0}


def test_a_backlog_with_nothing_finished_lately_has_no_eta_yet(app):
    owner = new_user()
    _items(owner["id"], 4, done_minutes_ago=[], queued=4)
    b = client_for(app, owner).get("/api/v1/jobs").json()["backlog"]["detect"]
    assert b == {"pending": 4, "per_minute": 0.0, "eta_seconds": None}


def test_the_first_jobs_of_a_run_are_measured_over_a_minute_at_least(app):
    owner = new_user()
    _items(owner["id"], 13, done_minutes_ago=[0.05, 0.1, 0.15], queued=10)  # 3 in the last 10 seconds
    b = client_for(app, owner).get("/api/v1/jobs").json()["backlog"]["detect"]
    assert b["per_minute"] == 3.0 and b["eta_seconds"] == 200  # not 18/min and 33 s


_PRIORITY = r"""
import json, os, sys, types, uuid
from pva.jobs import pipeline

class T(pipeline.Task):
    kind = sys.argv[1]
    model = types.SimpleNamespace(name="none", version="")

trigger = types.SimpleNamespace(kind=sys.argv[2])
event = types.SimpleNamespace(trigger=trigger, body={"media_id": str(uuid.uuid4()), "kind": sys.argv[1]},
                              content_type="application/json", headers={}, fields={}, method="POST", path="/")
log = types.SimpleNamespace(info_with=lambda *a, **k: None, warn_with=lambda *a, **k: None)
ctx = types.SimpleNamespace(logger=log, Response=lambda **k: k)
before = os.nice(0)
if sys.argv[2] == "rabbitMq":
    out = pipeline.handle(T(), ctx, event)  # a wake-up for a job that does not exist: skipped
    out = out["outcome"]
else:
    out = "not run"
print(json.dumps({"before": before, "after": os.nice(0), "outcome": out}))
"""


@pytest.mark.parametrize("kind, nice", [("detect", 4), ("faces", 4), ("ocr", 10), ("transcribe", 10),
                                        ("some-new-kind", 10)])
def test_queue_workers_run_at_their_analysis_priority(kind, nice):
    from pva import jobs

    out = subprocess.run([sys.executable, "-c", _PRIORITY, kind, "rabbitMq"], capture_output=True, text=True,
                         timeout=120, env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    assert r["outcome"] == "skipped" and r["before"] == 0
    assert r["after"] == nice == jobs.PRIORITY_NICE.get(kind, max(jobs.PRIORITY_NICE.values()))


def test_ocr_and_transcription_yield_to_detect_and_faces_which_yield_to_ingest():
    from pva import jobs

    p = jobs.PRIORITY_NICE
    assert 0 < p["detect"] == p["faces"] < p["ocr"] == p["transcribe"] == p["transcode"]


def _scrape(app) -> dict:
    """/metrics as a local scraper sees it: {(name, labels as sorted tuple): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    r = client_for(app, client=("127.0.0.1", 40000)).get("/metrics")
    assert r.status_code == 200, r.text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(r.text) for s in fam.samples}


def test_metrics_give_an_operator_every_analysis_backlog_and_the_host(app):
    before = _scrape(app)
    owner = new_user()
    # transcription: the kind no other test leaves running in the background between the two scrapes
    ids = _items(owner["id"], 30, done_minutes_ago=[0.5 * i + 0.2 for i in range(20)], queued=10, kind="transcribe")
    # a worker host finished those 20 and holds 3 more now
    from pva.infra import db

    host = f"metrics-host-{uuid.uuid4().hex[:6]}"
    db.execute("update analysis set worker = %s where media_id = any(%s) and kind = 'transcribe'",
               (f"{host}:41:c1", ids[:20]))
    db.execute("""update analysis set status = 'running', worker = %s, started_at = now(),
                         lease_until = now() + interval '5 minutes'
                   where media_id = any(%s) and kind = 'transcribe'""", (f"{host}:42:c2", ids[20:23]))
    after = _scrape(app)

    def grew(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0)

    assert grew("pva_analysis_jobs", kind="transcribe", state="queued") == 7
    assert grew("pva_analysis_jobs", kind="transcribe", state="running") == 3
    assert grew("pva_analysis_jobs", kind="transcribe", state="done") == 20
    assert grew("pva_analysis_backlog_jobs", kind="transcribe") == 10
    assert after[("pva_worker_jobs_running", (("host", host), ("kind", "transcribe")))] == 3
    assert after[("pva_worker_finished_per_minute", (("host", host), ("kind", "transcribe")))] == round(20 / 15, 2)
    assert after[("pva_analysis_finished_per_minute", (("kind", "transcribe"),))] > 0  # ours: 2 a minute
    assert after[("pva_analysis_backlog_eta_seconds", (("kind", "transcribe"),))] > 0
    assert after[("pva_metrics_source_up", (("source", "jobs"),))] == 1
    assert after[("pva_metrics_source_up", (("source", "host"),))] == 1
    assert after[("pva_host_cpus", ())] == os.cpu_count()
    assert 0 < after[("pva_host_memory_bytes", (("kind", "available"),))] <= after[
        ("pva_host_memory_bytes", (("kind", "total"),))]
    assert 0 < after[("pva_data_disk_bytes", (("kind", "free"),))] <= after[("pva_data_disk_bytes", (("kind", "total"),))]
    assert ("pva_host_load", (("minutes", "1"),)) in after


def test_a_metrics_source_that_fails_is_reported_and_the_rest_still_answers(app, tmp_path, monkeypatch):
    from pva.config import reload_settings

    client_for(app).get("/healthz")  # at least one request counted
    monkeypatch.setenv("PVA_DATA_DIR", str(tmp_path / "not-there"))  # the data disk cannot be measured
    reload_settings()
    try:
        seen = _scrape(app)
    finally:
        monkeypatch.undo()
        reload_settings()
    assert seen[("pva_metrics_source_up", (("source", "host"),))] == 0
    assert not any(name == "pva_data_disk_bytes" for name, _ in seen)
    assert any(name == "pva_http_requests_total" for name, _ in seen)
