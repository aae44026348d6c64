"""SQL for the analysis table (job state).  The job row is the source of truth; queue messages are wake-ups."""
from __future__ import annotations

from typing import Iterable, Sequence

KINDS = ("detect", "faces", "ocr", "transcribe", "transcode")


def insert_queued(cur, media_id, kinds: Iterable[str]) -> None:
    for kind in kinds:
        cur.execute(
            """insert into analysis(media_id, kind, status) values (%s, %s, 'queued')
               on conflict (media_id, kind) do nothing""", (media_id, kind))


def mark_published(cur, jobs: Sequence[tuple]) -> None:
    """jobs: (media_id, kind) pairs whose wake-up message was confirmed by the broker."""
    if not jobs:
        return
    cur.execute(
        """update analysis a set published_at = now()
             from (select unnest(%s::uuid[]) m, unnest(%s::text[]) k) j
            where a.media_id = j.m and a.kind = j.k and a.status = 'queued'""",
        ([str(m) for m, _ in jobs], [k for _, k in jobs]))


def claim(cur, media_id, kind: str, worker: str, lease_seconds: int, force: bool = False) -> dict | None:
    """Take the job if it is queued (or running with an expired lease; or anything when force).
    Returns the row with attempts incremented, or None when another worker holds it or it is finished."""
    cond = "true" if force else "(status = 'queued' or (status = 'running' and lease_until < now()))"
    cur.execute(
        f"""update analysis set status = 'running', attempts = attempts + 1, started_at = now(),
                  lease_until = now() + make_interval(secs => %s), worker = %s, progress = 0,
                  updated_at = now()
             where media_id = %s and kind = %s and {cond}
            returning *""", (lease_seconds, worker, media_id, kind))
    return cur.fetchone()


def extend_lease(cur, media_id, kind: str, worker: str, lease_seconds: int, progress: float | None) -> bool:
    cur.execute(
        """update analysis set lease_until = now() + make_interval(secs => %s),
                  progress = coalesce(%s, progress), updated_at = now()
            where media_id = %s and kind = %s and status = 'running' and worker = %s""",
        (lease_seconds, progress, media_id, kind, worker))
    return cur.rowcount == 1


def finish(cur, media_id, kind: str, worker: str, model: str, model_version: str, summary: dict) -> bool:
    """Mark done — only when this worker still holds the job (otherwise the caller rolls back its results)."""
    from psycopg2.extras import Json

    cur.execute(
        """update analysis set status = 'done', error = null, progress = 1, model = %s, model_version = %s,
                  result_summary = %s, finished_at = now(), lease_until = null, updated_at = now()
            where media_id = %s and kind = %s and status = 'running' and worker = %s""",
        (model, model_version, Json(summary), media_id, kind, worker))
    return cur.rowcount == 1


def fail(cur, media_id, kind: str, worker: str, error: str, max_attempts: int, refund: bool = False) -> str | None:
    """Record an error: back to queued while attempts remain, else failed.  Returns the new status.
    A retry counts as published now, so reconcile republishes it only after requeue_after_seconds: a back-off
    that lets a service outage pass instead of burning every attempt within a few cron ticks.
    refund: the error was a service being unreachable, not the job: queued again and the attempt given back."""
    cur.execute(
        """update analysis
              set status = case when not %(refund)s and attempts >= %(max)s then 'failed' else 'queued' end,
                  attempts = case when %(refund)s then greatest(attempts - 1, 0) else attempts end,
                  error = %(error)s, lease_until = null, published_at = now(), finished_at =
                      case when not %(refund)s and attempts >= %(max)s then now() else null end,
                  updated_at = now()
            where media_id = %(media_id)s and kind = %(kind)s and status = 'running' and worker = %(worker)s
            returning status""",
        {"max": max_attempts, "error": error[:4000], "media_id": media_id, "kind": kind, "worker": worker,
         "refund": refund})
    row = cur.fetchone()
    return row["status"] if row else None


def requeue(cur, media_id=None, kind: str | None = None, owner_id=None, statuses=("failed",),
            reset_attempts: bool = True) -> list[dict]:
    """Put jobs back to queued (retry / re-analyse).  Returns the (media_id, kind, attempts) rows changed."""
    cur.execute(
        """update analysis a set status = 'queued', error = null, published_at = null, lease_until = null,
                   attempts = case when %s then 0 else attempts end, queued_at = now(), updated_at = now()
              from media m
             where m.id = a.media_id and a.status = any(%s)
               and (%s::uuid is null or a.media_id = %s::uuid)
               and (%s::text is null or a.kind = %s::text)
               and (%s::uuid is null or m.owner_id = %s::uuid)
            returning a.media_id, a.kind, a.attempts""",
        (reset_attempts, list(statuses), media_id, media_id, kind, kind, owner_id, owner_id))
    return list(cur.fetchall())


def insert_missing(cur, media_kind: str, kinds: Sequence[str], media_id=None, owner_id=None) -> list[dict]:
    """Queued jobs of these kinds for the (not trashed) media of that kind which have none yet, e.g. a kind added
    after they were ingested.  Returns the (media_id, kind, attempts) rows made."""
    cur.execute(
        """insert into analysis(media_id, kind, status)
           select m.id, k.kind, 'queued' from media m cross join unnest(%s::text[]) k(kind)
            where m.kind = %s and m.trashed_at is null
              and (%s::uuid is null or m.id = %s::uuid) and (%s::uuid is null or m.owner_id = %s::uuid)
           on conflict (media_id, kind) do nothing
           returning media_id, kind, attempts""",
        (list(kinds), media_kind, media_id, media_id, owner_id, owner_id))
    return list(cur.fetchall())


def due_for_publish(cur, requeue_after_seconds: int, limit: int = 1000) -> list[dict]:
    """Queued jobs never published or published long ago without being picked up."""
    cur.execute(
        """select media_id, kind, attempts from analysis
            where status = 'queued'
              and (published_at is null or published_at < now() - make_interval(secs => %s))
            order by queued_at limit %s""", (requeue_after_seconds, limit))
    return list(cur.fetchall())


def expire_leases(cur, max_attempts: int | None = None) -> list[dict]:
    """Running jobs whose worker died (lease expired) go back to queued (attempts are kept) — or, once
    `max_attempts` workers have died on the job (a poison input that kills its worker), to failed."""
    cur.execute(
        """update analysis
              set status = case when attempts >= %(max)s then 'failed' else 'queued' end,
                  finished_at = case when attempts >= %(max)s then now() else null end,
                  published_at = null, lease_until = null,
                  error = coalesce(error, '') || case when error is null then '' else '; ' end
                          || 'worker ' || coalesce(worker, '?') || ' lost its lease', updated_at = now()
            where status = 'running' and lease_until < now()
            returning media_id, kind, attempts, status""", {"max": max_attempts or 2**31 - 1})
    return list(cur.fetchall())


def get(cur, media_id, kind: str) -> dict | None:
    cur.execute("select * from analysis where media_id = %s and kind = %s", (media_id, kind))
    return cur.fetchone()


def for_media(cur, media_id) -> list[dict]:
    cur.execute("select * from analysis where media_id = %s order by kind", (media_id,))
    return list(cur.fetchall())


def counts_by_kind(cur, owner_id=None) -> dict:
    if owner_id is None:  # everyone's: the (status, kind) index alone, no join (a scrape of /metrics asks this)
        cur.execute("select kind, status, count(*) n from analysis group by kind, status")
    else:
        cur.execute(
            """select a.kind, a.status, count(*) n from analysis a join media m on m.id = a.media_id
                where m.owner_id = %s group by a.kind, a.status""", (owner_id,))
    out: dict = {k: {"queued": 0, "running": 0, "done": 0, "failed": 0} for k in KINDS}
    for r in cur.fetchall():
        out.setdefault(r["kind"], {})[r["status"]] = r["n"]
    return out


def running(cur, owner_id=None, limit: int = 50) -> list[dict]:
    """Jobs a worker holds now (lease not run out), oldest first, with their progress (0..1, for the long ones:
    transcode, transcribe) and the seconds since they started, counted by the database's clock."""
    cur.execute(
        """select a.media_id, a.kind, a.progress, a.started_at, m.filename,
                  extract(epoch from now() - a.started_at)::float8 as elapsed_seconds
             from analysis a join media m on m.id = a.media_id
            where a.status = 'running' and a.lease_until > now() and (%s::uuid is null or m.owner_id = %s::uuid)
            order by a.started_at limit %s""", (owner_id, owner_id, limit))
    return list(cur.fetchall())


def finished_recently(cur, owner_id=None, seconds: int = 900) -> dict[str, dict]:
    """Per kind, the jobs finished (done or failed) in the last ``seconds``: {kind: {"n", "span_seconds"}}, the
    span from the first of them to now (what a rate is measured over)."""
    cur.execute(
        """select a.kind, count(*) n, extract(epoch from now() - min(a.finished_at))::float8 span_seconds
             from analysis a join media m on m.id = a.media_id
            where a.finished_at > now() - make_interval(secs => %s) and a.status in ('done', 'failed')
              and (%s::uuid is null or m.owner_id = %s::uuid)
            group by a.kind""", (seconds, owner_id, owner_id))
    return {r["kind"]: {"n": r["n"], "span_seconds": r["span_seconds"]} for r in cur.fetchall()}


def by_host(cur, seconds: int = 900) -> list[dict]:
    """Per worker host and kind (everyone's jobs): jobs held now (running, lease not run out) and jobs finished
    (done or failed) in the last ``seconds``: [{"host", "kind", "running", "finished"}].  The host is the first
    part of the holder's name (pva.jobs.worker_id: host:pid:claim), which a finished job keeps."""
    cur.execute(
        """select split_part(worker, ':', 1) host, kind,
                  count(*) filter (where status = 'running') running,
                  count(*) filter (where status <> 'running') finished
             from analysis
            where worker is not null
              and ((status = 'running' and lease_until > now())
                   or (finished_at > now() - make_interval(secs => %s) and status in ('done', 'failed')))
            group by 1, 2 order by 1, 2""", (seconds,))
    return list(cur.fetchall())


def failed(cur, owner_id=None, limit: int = 100, offset: int = 0) -> list[dict]:
    cur.execute(
        """select a.media_id, a.kind, a.attempts, a.error, a.finished_at, m.filename
             from analysis a join media m on m.id = a.media_id
            where a.status = 'failed' and (%s::uuid is null or m.owner_id = %s::uuid)
            order by a.finished_at desc nulls last limit %s offset %s""",
        (owner_id, owner_id, limit, offset))
    return list(cur.fetchall())
