"""Job state on real Postgres + RabbitMQ: claim/lease, finish in the results transaction, retry, reconcile."""
from __future__ import annotations

import json
import secrets
import time

import pika
import pytest

import media_fixtures as mf

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
def media_id(make_user, tmp_path, services):
    from pva.services.ingest import Ingestor

    owner = make_user(f"jobs-{secrets.token_hex(3)}")
    res = Ingestor(publish=False).ingest_file(mf.make_jpeg(tmp_path / "j.jpg", make=secrets.token_hex(4)),
                                              owner, "j.jpg")
    assert res.status == "added"
    return res.media_id


def status(media_id, kind="detect"):
    from pva import jobs

    return {r["kind"]: r for r in jobs.for_media(media_id)}[kind]


def test_a_claimed_job_is_not_claimed_twice_and_finishes_once(media_id):
    from pva.infra import db
    from pva import jobs

    job = jobs.claim(media_id, "detect")
    assert job is not None and job.attempt == 1
    assert jobs.claim(media_id, "detect") is None  # a duplicate delivery finds it taken
    with job.finishing("m", "1", {"count": 0}) as cur:
        cur.execute("select 1")
    row = status(media_id)
    assert row["status"] == "done" and row["model"] == "m" and row["error"] is None
    assert jobs.claim(media_id, "detect") is None  # done stays done
    assert db.query_one("select count(*) n from analysis where media_id = %s", (media_id,))["n"] == 3


def test_a_worker_that_lost_its_lease_cannot_commit_results(media_id):
    from pva.infra import db
    from pva import jobs

    job = jobs.claim(media_id, "ocr")
    db.execute("update analysis set lease_until = now() - interval '1 second' where media_id = %s and kind = 'ocr'",
               (media_id,))
    other = jobs.claim(media_id, "ocr")  # a second worker takes the expired job over
    assert other is not None and other.attempt == 2
    with pytest.raises(jobs.JobLost):
        with job.finishing("m", "1", {}) as cur:
            cur.execute("insert into ocr(media_id, text, model) values (%s, 'stale', 'm')", (media_id,))
    assert db.query_one("select count(*) n from ocr where media_id = %s", (media_id,))["n"] == 0


def test_errors_retry_until_max_attempts_then_fail_with_the_error(media_id, monkeypatch):
    from pva import jobs
    from pva.config import reload_settings

    monkeypatch.setenv("PVA_MAX_ATTEMPTS", "2")
    reload_settings()

    def boom(job):
        raise RuntimeError("model exploded")

    assert jobs.run(media_id, "faces", boom) == "queued"
    row = status(media_id, "faces")
    assert row["status"] == "queued" and "model exploded" in row["error"] and row["attempts"] == 1
    assert jobs.run(media_id, "faces", boom) == "failed"
    row = status(media_id, "faces")
    assert row["status"] == "failed" and row["attempts"] == 2
    monkeypatch.delenv("PVA_MAX_ATTEMPTS")
    reload_settings()
    assert jobs.retry(media_id=media_id, kind="faces") == 1
    row = status(media_id, "faces")
    assert row["status"] == "queued" and row["attempts"] == 0 and row["error"] is None


def test_bad_input_fails_at_once_without_retries(media_id):
    from pva import jobs
    from pva.ml import BadInput

    def bad(job):
        raise BadInput("not an image: truncated")

    assert jobs.run(media_id, "detect", bad) == "failed"
    row = status(media_id)
    assert row["status"] == "failed" and row["error"] == "not an image: truncated" and row["attempts"] == 1


def test_reconcile_republishes_unpublished_jobs_and_takes_back_dead_workers(media_id, services):
    from pva.infra import db
    from pva import jobs
    from pva.config import get_settings

    s = get_settings()
    conn = pika.BlockingConnection(pika.URLParameters(s.effective_amqp_url))
    ch = conn.channel()
    ch.exchange_declare(s.amqp_exchange, "topic", durable=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, s.amqp_exchange, "analysis.*")
    # one job's worker died mid-run: its lease expired
    jobs.claim(media_id, "detect")
    db.execute("update analysis set lease_until = now() - interval '1 second' where media_id = %s and kind='detect'",
               (media_id,))
    rep = jobs.reconcile(requeue_after_seconds=0)
    assert rep.expired >= 1 and rep.published >= 3
    got = set()
    deadline = time.monotonic() + 20  # other tests' queued jobs are republished too: read until ours are in
    while len(got) < 3 and time.monotonic() < deadline:
        m, _, body = ch.basic_get(q, auto_ack=True)
        if m is None:
            conn.sleep(0.05)
            continue
        msg = json.loads(body)
        if msg["media_id"] == media_id:
            got.add((msg["kind"], msg["attempt"]))
    conn.close()
    assert got == {("detect", 2), ("faces", 1), ("ocr", 1)}
    assert "lost its lease" in status(media_id)["error"]
    # published jobs are not republished before requeue_after
    assert jobs.reconcile(requeue_after_seconds=3600).published == 0
    # the cron's whole round (pva.services.housekeeping) answers the report it always did
    from pva.services import housekeeping

    rep = housekeeping.reconcile(requeue_after_seconds=3600)
    assert rep.published == 0 and set(rep.as_dict()) == {"expired", "published", "counters_folded", "drops_announced"}


def test_counts_and_failed_listing_are_scoped_to_the_owner(media_id, make_user):
    from pva.infra import db
    from pva import jobs
    from pva.ml import BadInput

    def bad(job):
        raise BadInput("nope")

    jobs.run(media_id, "ocr", bad)
    owner = db.query_one("select owner_id from media where id = %s", (media_id,))["owner_id"]
    assert jobs.counts_by_kind(owner)["ocr"]["failed"] == 1
    assert [str(r["media_id"]) for r in jobs.failed(owner)] == [media_id]
    stranger = make_user()
    assert jobs.failed(stranger["id"]) == []
    assert jobs.counts_by_kind(stranger["id"])["ocr"]["failed"] == 0


def test_an_unreachable_service_requeues_without_using_up_attempts(media_id, monkeypatch):
    """An outage longer than max_attempts * requeue_after used to fail every job caught in it; now the job waits
    (queued, attempts given back) and still fails normally on errors of its own."""
    import psycopg2

    from pva import jobs
    from pva.config import reload_settings
    from pva.infra.storage import StorageUnavailable

    monkeypatch.setenv("PVA_MAX_ATTEMPTS", "2")
    reload_settings()
    try:
        def store_down(job):
            raise StorageUnavailable("S3 get s3://pva-originals/x: connection refused (is the store up?)")

        def db_dropped(job):
            try:
                raise OSError("server closed the connection unexpectedly")
            except OSError as e:
                raise psycopg2.OperationalError("connection lost") from e

        for work in [store_down, db_dropped] * 3:  # six outages in a row: more than max_attempts
            assert jobs.run(media_id, "ocr", work) == "queued"
            row = status(media_id, "ocr")
            assert row["status"] == "queued" and row["attempts"] == 0 and "connection" in row["error"]

        def timeout(job):
            raise psycopg2.errors.QueryCanceled("canceling statement due to statement timeout")

        assert jobs.run(media_id, "ocr", timeout) == "queued"  # an error of the job: counts
        assert jobs.run(media_id, "ocr", timeout) == "failed"
        assert status(media_id, "ocr")["attempts"] == 2
    finally:
        monkeypatch.delenv("PVA_MAX_ATTEMPTS")
        reload_settings()
