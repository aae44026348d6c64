"""Analysis job state: queue, claim, finish/fail, retry, and reconcile.

Contract (DESIGN, reliability): ingest writes the media row and one queued ``analysis`` row per kind in one
transaction, then publishes wake-ups (``analysis.<kind>``, body ``{"media_id", "kind", "attempt"}``).  The job
table is the truth: a worker claims the row (lease), writes results and marks it done in ONE transaction, and
only while it still holds the lease; a failure is recorded with its error and retried up to ``max_attempts``.
``reconcile()`` (cron) republishes queued jobs nobody picked up and takes back jobs whose worker died.

The package: job state here; :mod:`pva.jobs.pipeline` the flow every analysis function shares (claim, fetch the
media, analyse, store in the finishing transaction, HTTP answers); :mod:`pva.jobs.tasks` one Task per kind.  The
models themselves are pva.ml (pure); this is where their inputs are fetched and their results stored.
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from pva.infra import db
from ..config import get_settings
from ..db import analysis as q
from ..db import media as media_q
from ..errors import is_permanent, is_transient

log = logging.getLogger("pva.jobs")

KINDS = q.KINDS
PHOTO_KINDS = ("detect", "faces", "ocr")
VIDEO_KINDS = ("transcribe", "detect", "faces", "transcode")

# The analysis preview (issue 20): made once at ingest from the decode the thumbnails already need, oriented and
# in sRGB, and read by the analyses of a photo instead of downloading and decoding the original three times.
# At most 2048 px on the long side, at least 90 % of that where the JPEG decoder's 1/2, 1/4, 1/8 scales allow
# (a 12 MP 4000x3000 photo: its half-scale decode, 2000x1500, which ingest makes for the thumbnails anyway, kept
# as it is — no resize).  That covers what the models look at: YOLO letterboxes to 640, HOG faces run at 1600
# (with one upsampling: faces down to ~40 px there, ~100 px in a 12 MP original), the OCR detector at 1280.
# Where a model needs more detail (OCR's second pass on small text), it asks Inputs for the original.
ANALYSIS_PREVIEW_PX = 2048
ANALYSIS_PREVIEW_DRAFT = 0.9
ANALYSIS_PREVIEW_QUALITY = 85  # as the thumbnails: q90 made it a third bigger (one more S3 put per photo at ingest)

# Which analyses go first when the machine is busy (issue 20): ingest (metadata, thumbnails: the library is
# browsable), then detect and faces (searchable by objects and people), then the slow readers.  A function's queue
# workers run at this niceness (pva.jobs.pipeline), so on a shared machine the kernel gives the CPU in that order
# and nothing waits while a core is free.  A kind not listed runs at the lowest priority.
PRIORITY_NICE = {"detect": 4, "faces": 4, "ocr": 10, "transcribe": 10, "transcode": 10}


def analysis_preview_key(media_id) -> str:
    return f"{media_id}/analysis.jpg"


def analysis_preview_metadata(key: str | None, size: tuple[int, int] | None) -> dict:
    """The media row's metadata entry for its analysis preview: the key in the thumbs bucket and its size, or
    key None when the original is no bigger than the preview would be (the analyses read the original)."""
    entry: dict = {"key": key}
    if size is not None:
        entry["width"], entry["height"] = int(size[0]), int(size[1])
    return {"analysis_preview": entry}


def keep_analysis_preview(media_id, jpeg: bytes, derived: dict) -> dict:
    """Ingest's step: the analysis preview ``jpeg`` (made with the thumbnails) goes into ``derived`` (the objects
    ingest puts) unless the original is smaller than the preview box, where the analyses read the original itself
    (small already, and never a second JPEG generation of a screenshot's text).  Returns the metadata entry."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as im:
        size = im.size
    if max(size) < ANALYSIS_PREVIEW_PX * ANALYSIS_PREVIEW_DRAFT:
        return analysis_preview_metadata(None, size)
    key = analysis_preview_key(media_id)
    derived[key] = jpeg
    return analysis_preview_metadata(key, size)


def kinds_for(media_kind: str) -> tuple[str, ...]:
    return PHOTO_KINDS if media_kind == "photo" else VIDEO_KINDS


def worker_id() -> str:
    """Host and pid (for people reading the job table) plus a token unique to this claim, so two claims in one
    process (threads, or a retry after a lost lease) never pass for each other."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _message(media_id, kind: str, attempt: int) -> tuple[str, dict, str]:
    body = {"media_id": str(media_id), "kind": kind, "attempt": int(attempt)}
    return f"analysis.{kind}", body, f"{media_id}:{kind}:{attempt}:{uuid.uuid4().hex[:8]}"


def publish_jobs(jobs: Iterable[tuple]) -> int:
    """Publish wake-ups for (media_id, kind[, attempts]) jobs; mark the confirmed ones published.
    A broker that is down is not an error here: the jobs stay queued and reconcile publishes them later."""
    from pva.infra import bus

    jobs = [(j[0], j[1], (j[2] if len(j) > 2 else 0) + 1) for j in jobs]
    if not jobs:
        return 0
    try:
        bus.publish_many([_message(m, k, a) for m, k, a in jobs])
    except Exception as e:  # broker down: reconcile will publish them later
        log.warning("could not publish analysis jobs; they stay queued for reconcile",
                    extra={"error": str(e), "count": len(jobs)})
        return 0
    with db.transaction() as cur:
        q.mark_published(cur, [(m, k) for m, k, _ in jobs])
    return len(jobs)


class JobLost(RuntimeError):
    """The job was taken over by another worker (our lease expired); our results were rolled back."""


@dataclass
class Job:
    media_id: uuid.UUID
    kind: str
    attempt: int
    worker: str
    lease_seconds: int
    _last_beat: float = field(default_factory=time.monotonic)
    #: the media row, read in the claiming transaction (one round trip less per job); None if it is gone
    media: dict | None = None

    def progress(self, fraction: float) -> None:
        """Record progress and extend the lease (rate-limited to one write every 2 s)."""
        now = time.monotonic()
        if now - self._last_beat < 2.0 and fraction < 1.0:
            return
        self._last_beat = now
        with db.transaction() as cur:
            if not q.extend_lease(cur, self.media_id, self.kind, self.worker, self.lease_seconds,
                                  max(0.0, min(1.0, fraction))):
                raise JobLost(f"{self.kind} job for {self.media_id} was taken over by another worker")

    @contextlib.contextmanager
    def finishing(self, model: str, model_version: str, summary: dict) -> Iterator:
        """A transaction in which the caller replaces its results; marks the job done in the same
        transaction, or rolls everything back when the job is no longer ours."""
        with db.transaction() as cur:
            yield cur
            if not q.finish(cur, self.media_id, self.kind, self.worker, model, model_version, summary):
                raise JobLost(f"{self.kind} job for {self.media_id} is no longer held by {self.worker}")


def claim(media_id, kind: str, force: bool = False) -> Job | None:
    s = get_settings()
    w = worker_id()
    with db.transaction() as cur:
        row = q.claim(cur, media_id, kind, w, s.job_lease_seconds, force=force)
        item = media_q.get(cur, media_id) if row is not None else None
    if row is None:
        return None
    return Job(row["media_id"], kind, row["attempts"], w, s.job_lease_seconds, media=item)


def record_failure(job: Job, error: str, permanent: bool = False, transient: bool = False) -> str | None:
    """Record the error; a permanent one (bad input: retrying cannot help) fails the job at once; a transient
    one (a service unreachable) requeues it without using up an attempt, so an outage of any length fails
    nothing: reconcile retries every requeue_after_seconds until the service is back."""
    s = get_settings()
    with db.transaction() as cur:
        status = q.fail(cur, job.media_id, job.kind, job.worker, error,
                        job.attempt if permanent else s.max_attempts, refund=transient and not permanent)
    if status == "queued" and transient:
        log.warning("analysis waits for a service to come back", extra={
            "media_id": str(job.media_id), "kind": job.kind, "error": error,
            "retry_in_seconds": s.requeue_after_seconds})
    elif status == "queued":
        # retry later through reconcile (a back-off: requeue_after_seconds), never a hot loop
        log.info("analysis failed, will retry", extra={"media_id": str(job.media_id), "kind": job.kind,
                                                        "attempt": job.attempt, "error": error})
    elif status == "failed":
        log.warning("analysis failed for good", extra={"media_id": str(job.media_id), "kind": job.kind,
                                                        "attempts": job.attempt, "error": error})
    return status


def run(media_id, kind: str, work: Callable[[Job], None], force: bool = False) -> str:
    """Claim and run one job.  `work(job)` computes results and stores them inside `job.finishing(...)`.
    Returns 'done', 'skipped' (not ours / already done), 'queued' (will retry) or 'failed'."""
    job = claim(media_id, kind, force=force)
    if job is None:
        return "skipped"
    try:
        work(job)
    except JobLost as e:
        log.warning("job lost", extra={"media_id": str(media_id), "kind": kind, "error": str(e)})
        return "skipped"
    except Exception as e:  # the job records the error; the worker lives on
        # the error's base class decides (pva/errors.py): Permanent fails now, Transient waits for the service
        permanent = is_permanent(e)
        reason = str(e) if permanent else f"{type(e).__name__}: {e}"
        if permanent:
            log.warning("analysis rejected its input", extra={"media_id": str(media_id), "kind": kind,
                                                              "error": reason})
        else:
            log.exception("analysis error", extra={"media_id": str(media_id), "kind": kind})
        try:
            return record_failure(job, reason, permanent=permanent,
                                  transient=not permanent and is_transient(e)) or "skipped"
        except Exception as db_error:  # the database itself is gone: the lease runs out and reconcile takes it
            log.warning("could not record the analysis error; the job returns when its lease expires",
                        extra={"media_id": str(media_id), "kind": kind, "error": str(db_error)})
            return "skipped"
    return "done"


# ------------------------------------------------------------------ reconcile, retry, stats
@dataclass
class ReconcileReport:
    expired: int = 0
    published: int = 0


def reconcile(requeue_after_seconds: int | None = None, limit: int = 5000) -> ReconcileReport:
    """Take back jobs whose lease ran out (their worker died) and republish queued jobs nobody picked up within
    ``requeue_after_seconds``.  The cron's other periodic work is pva.services.housekeeping's."""
    s = get_settings()
    after = s.requeue_after_seconds if requeue_after_seconds is None else requeue_after_seconds
    rep = ReconcileReport()
    with db.transaction() as cur:
        rep.expired = len(q.expire_leases(cur, s.max_attempts))
        due = q.due_for_publish(cur, after, limit)
    rep.published = publish_jobs([(r["media_id"], r["kind"], r["attempts"]) for r in due])
    return rep


def retry(media_id=None, kind: str | None = None, owner_id=None) -> int:
    """Retry failed jobs (one, all of a media item, or all of an owner)."""
    with db.transaction() as cur:
        rows = q.requeue(cur, media_id=media_id, kind=kind, owner_id=owner_id, statuses=("failed",))
    publish_jobs([(r["media_id"], r["kind"], r["attempts"]) for r in rows])
    return len(rows)


def reanalyse(media_id=None, kind: str | None = None, owner_id=None) -> int:
    """Run analyses again (e.g. with a newer model): done and failed jobs go back to queued; an item that has no
    job of a kind that applies to it (a kind added since it was ingested, like transcode) gets one."""
    with db.transaction() as cur:
        rows = q.requeue(cur, media_id=media_id, kind=kind, owner_id=owner_id, statuses=("done", "failed"))
        for media_kind, kinds in (("photo", PHOTO_KINDS), ("video", VIDEO_KINDS)):
            wanted = [k for k in kinds if kind in (None, k)]
            if wanted:
                rows += q.insert_missing(cur, media_kind, wanted, media_id=media_id, owner_id=owner_id)
    publish_jobs([(r["media_id"], r["kind"], r["attempts"]) for r in rows])
    return len(rows)


def counts_by_kind(owner_id=None) -> dict:
    with db.transaction() as cur:
        return q.counts_by_kind(cur, owner_id)


def running(owner_id=None, limit: int = 50) -> list[dict]:
    with db.transaction() as cur:
        return q.running(cur, owner_id, limit)


RATE_WINDOW_SECONDS = 900  # the backlog's rate: jobs finished in the last 15 minutes
RATE_MIN_SPAN_SECONDS = 60  # ... over at least a minute, so the first few jobs do not promise too much


def backlog(owner_id=None, counts: dict | None = None) -> dict[str, dict]:
    """Per kind: jobs waiting (queued + running), the rate they finish at (per minute, over the last 15
    minutes) and the seconds until the backlog is done at that rate (None while nothing has finished lately)."""
    counts = counts if counts is not None else counts_by_kind(owner_id)
    with db.transaction() as cur:
        recent = q.finished_recently(cur, owner_id, RATE_WINDOW_SECONDS)
    out = {}
    for kind, c in counts.items():
        pending = c.get("queued", 0) + c.get("running", 0)
        r = recent.get(kind)
        per_s = r["n"] / max(RATE_MIN_SPAN_SECONDS, r["span_seconds"] or 0.0) if r else 0.0
        out[kind] = {"pending": pending, "per_minute": round(per_s * 60, 2),
                     "eta_seconds": round(pending / per_s) if pending and per_s > 0 else (0 if not pending else None)}
    return out


def by_host() -> list[dict]:
    """Per worker host and kind: jobs held now and finished per minute over the last RATE_WINDOW_SECONDS."""
    with db.transaction() as cur:
        rows = q.by_host(cur, RATE_WINDOW_SECONDS)
    return [{"host": r["host"], "kind": r["kind"], "running": r["running"],
             "per_minute": round(r["finished"] * 60 / RATE_WINDOW_SECONDS, 2)} for r in rows]


def failed(owner_id=None, limit: int = 100, offset: int = 0) -> list[dict]:
    with db.transaction() as cur:
        return q.failed(cur, owner_id, limit, offset)


def for_media(media_id) -> list[dict]:
    with db.transaction() as cur:
        return q.for_media(cur, media_id)
