"""Object-store drops: which inbox keys are announced, the MinIO-format event that announces them, and the sweep
that announces drops whose event never arrived.

A drop is an object put into the inbox bucket under ``<username>/...``.  MinIO announces it itself (notify_amqp,
infra/compose); SeaweedFS's filer posts to the gateway (gateway/routers/hooks.py), which republishes it in the
same format.  Ingest's own bookkeeping (``rejected/`` copies and their ``.reason.txt`` notes) and SeaweedFS's
multipart parts (``.uploads/<upload id>/0001_<uuid>.part``) are never announced: a part relayed as a file would
be moved to ``rejected/`` and the CompleteMultipartUpload would then fail with NoSuchUpload.

The sweep (run by the reconcile cron, pva.jobs.reconcile) covers what an event-driven path can lose: events
posted while the gateway or the broker was down (the filer gives up after its retries), a MinIO event queue
that was wiped, an object overwritten in place (SeaweedFS reports that as an update, which is not relayed).
"""
from __future__ import annotations

import logging
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

log = logging.getLogger("pva.drops")

REJECTED_PREFIX = "rejected/"
UPLOADS_DIR = ".uploads"  # SeaweedFS keeps multipart parts in <bucket>/.uploads/<upload id>/
REASON_SUFFIX = ".reason.txt"


def announced(key: str) -> bool:
    """Whether an object created at `key` in the inbox bucket is a drop to announce."""
    if not key or key.endswith("/"):
        return False
    # an .uploads folder at any depth: SeaweedFS puts it at the bucket root, but a part must never pass for a file
    return not (key.startswith(REJECTED_PREFIX) or key.endswith(REASON_SUFFIX) or UPLOADS_DIR in key.split("/")[:-1])


def minio_event(bucket: str, key: str, size: int, mime: str = "", *, source: str = "seaweedfs") -> dict:
    """The event as MinIO's notify_amqp publishes it (what functions/ingest reads on storage.inbox)."""
    now = datetime.now(timezone.utc)
    quoted = urllib.parse.quote_plus(key, safe="/")
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{bucket}/{quoted}",
        "Records": [{
            "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
            "eventTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "eventName": "s3:ObjectCreated:Put",
            "userIdentity": {"principalId": source},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": f"pva-{source}",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": source},
                              "arn": f"arn:aws:s3:::{bucket}"},
                   "object": {"key": quoted, "size": int(size or 0),
                              "contentType": mime or "application/octet-stream",
                              "sequencer": f"{int(now.timestamp() * 1e9):X}"}},
            "source": {"host": "127.0.0.1", "port": "", "userAgent": f"pva-{source}"},
        }],
    }


def message(bucket: str, key: str, size: int, mime: str = "", *, source: str) -> tuple[str, dict, str]:
    """(routing key, body, message id) for bus.publish_many."""
    return "storage.inbox", minio_event(bucket, key, size, mime, source=source), \
        f"{source}:{bucket}/{key}:{uuid.uuid4().hex[:12]}"


# ---------------------------------------------------------------- the sweep
# When each object version (bucket, key, etag) was last announced by this process, so an object that stays in the
# inbox (ingest failed on a service outage, or is still working on a large file) is announced again only after a
# growing pause, never on every tick.  Forgotten on restart: at worst one extra announcement, which ingest
# handles as "already gone" or as a duplicate.
_announced_at: dict[tuple[str, str, str], tuple[float, int]] = {}
_lock = threading.Lock()
MAX_PAUSE_SECONDS = 3600
# the event path announces a drop within a second or two (filer -> gateway -> broker); an object younger than this
# is left to it, so the sweep never races a live event (nor a test that has just put an object)
SWEEP_MIN_AGE_SECONDS = 30


def sweep_inbox(older_than_seconds: float, *, limit: int = 500, scan_limit: int = 10_000, storage=None,
                publish=None, now: float | None = None) -> int:
    """Announce (storage.inbox) drops that have sat in the inbox longer than `older_than_seconds`.

    Bounded: at most `limit` announcements and `scan_limit` listed objects per call (the listing pages through
    the bucket 1000 keys at a time); `rejected/` is skipped by listing each top-level folder on its own.
    Returns how many were announced.  A broker or object store that is down is logged, not raised: the next
    tick tries again."""
    from ..config import get_settings

    s = get_settings()
    if storage is None:
        from pva.infra.storage import get_storage

        storage = get_storage()
    if publish is None:
        from pva.infra import bus

        publish = bus.publish_many
    bucket = s.bucket_inbox
    wall = time.time() if now is None else now
    mono = time.monotonic()
    due: list[tuple[str, dict, str]] = []
    due_ids: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    scanned, complete = 0, True
    try:
        for top in list(storage.list(bucket, recursive=False)):
            if top.is_dir and top.key.rstrip("/") in (REJECTED_PREFIX.rstrip("/"), UPLOADS_DIR):
                continue
            for e in (storage.list(bucket, prefix=top.key, recursive=True) if top.is_dir else [top]):
                scanned += 1
                if scanned > scan_limit or len(due) >= limit:
                    complete = False
                    break
                if e.is_dir or not announced(e.key) or e.last_modified is None:
                    continue
                if wall - e.last_modified.timestamp() < older_than_seconds:
                    continue
                ident = (bucket, e.key, e.etag or "")
                seen.add(ident)
                with _lock:
                    last = _announced_at.get(ident)
                if last is not None:
                    at, times = last
                    if mono - at < min(MAX_PAUSE_SECONDS, max(older_than_seconds, 1.0) * (2 ** times)):
                        continue
                due.append(message(bucket, e.key, e.size or 0, source="sweep"))
                due_ids.append(ident)
            if not complete:
                break
    except Exception as e:  # the object store is down or the bucket is missing: the next tick tries again
        log.warning("could not list the inbox for unannounced drops", extra={"bucket": bucket, "error": str(e)})
        return 0
    if due:
        try:
            publish(due)
        except Exception as e:
            log.warning("could not announce drops left in the inbox", extra={"count": len(due), "error": str(e)})
            return 0
        log.info("announced drops left in the inbox", extra={"count": len(due), "bucket": bucket})
    with _lock:
        for ident in due_ids:
            _, times = _announced_at.get(ident, (0.0, -1))
            _announced_at[ident] = (mono, times + 1)
        if complete:  # forget objects that left the inbox
            for ident in [i for i in _announced_at if i not in seen]:
                del _announced_at[ident]
    return len(due)
