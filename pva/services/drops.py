"""Object-store drops: which inbox keys are announced, the MinIO-format event that announces them, and the sweep
that announces drops whose event never arrived.

A drop is an object put into the inbox bucket under ``<username>/...``.  MinIO announces it itself (notify_amqp,
infra/compose); SeaweedFS's filer posts to the gateway (gateway/routers/hooks.py), which republishes it in the
same format (:func:`relay_filer_event`).  Ingest's own bookkeeping (``rejected/`` copies and their ``.reason.txt`` notes) and SeaweedFS's
multipart parts (``.uploads/<upload id>/0001_<uuid>.part``) are never announced: a part relayed as a file would
be moved to ``rejected/`` and the CompleteMultipartUpload would then fail with NoSuchUpload.

The sweep (run by the reconcile cron, pva.jobs.reconcile) covers what an event-driven path can lose: events
posted while the gateway or the broker was down (the filer gives up after its retries), a MinIO event queue
that was wiped, an object overwritten in place (SeaweedFS reports that as an update, which is not relayed).
"""
from __future__ import annotations

import json
import logging
import posixpath
import threading
import time
import urllib.parse
import uuid
from datetime import datetime, timezone

from ..errors import Invalid, ServiceError

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


# ---------------------------------------------------------------- the SeaweedFS filer's events
BUCKETS_DIR = "/buckets/"


class BrokerUnreachable(ServiceError):
    """The drop could not be announced: the filer retries the event (and the sweep covers it if it gives up)."""

    status, code = 503, "unavailable"


def _get(d: dict, *names, default=None):
    for n in names:
        if isinstance(d, dict) and d.get(n) is not None:
            return d[n]
    return default


def _full_path(parent, name: str) -> str:
    return posixpath.join(str(parent), name) if parent else ""


def parse_filer_event(body: dict) -> tuple[str, str, int, str] | None:
    """(bucket, key, size, mime) of a file that newly appeared under /buckets/, or None.

    The filer's webhook (weed/notification/webhook/http.go) posts {"key": <full path of the old entry, else the
    new one>, "event_type": create|update|rename|delete, "message": EventNotification as JSON (old_entry,
    new_entry, new_parent_path)}.  A file appears by a create (no old entry: a PutObject, or the single entry
    CompleteMultipartUpload writes for the whole object) or by a rename to a new path.  Updates (an overwrite in
    place, a tagging change) and deletes are not new files; directories are never files."""
    msg = _get(body, "message", "event_notification", "eventNotification", "notification", default=body)
    if isinstance(msg, str):
        try:
            msg = json.loads(msg)
        except ValueError:
            return None
    if not isinstance(msg, dict):
        return None
    new = _get(msg, "new_entry", "newEntry")
    if not isinstance(new, dict) or _get(new, "is_directory", "isDirectory", default=False):
        return None
    name = str(_get(new, "name", default=""))
    if not name:
        return None
    key_path = str(_get(body, "key", "path", default=""))
    parent = _get(msg, "new_parent_path", "newParentPath") or posixpath.dirname(key_path)
    path = _full_path(parent, name)
    old = _get(msg, "old_entry", "oldEntry")
    if isinstance(old, dict) and old:
        old_path = key_path or path
        if old_path == path:  # an update in place, not a new file
            return None
    if not path.startswith(BUCKETS_DIR):
        return None
    bucket, _, key = path[len(BUCKETS_DIR):].partition("/")
    if not bucket or not key:
        return None
    attrs = _get(new, "attributes", default={}) or {}
    try:
        size = int(_get(attrs, "file_size", "fileSize", default=0) or 0)
    except (TypeError, ValueError):
        size = 0
    mime = str(_get(attrs, "mime", default="") or "")
    return bucket, key, size, mime


def relay_filer_event(raw: bytes, *, publish=None) -> dict:
    """Republish a SeaweedFS filer event (the webhook's JSON body) as the MinIO-format storage.inbox event, when it
    announces a drop; {"relayed": False} for anything else (answered all the same: the filer must not retry it).
    Invalid when the body is not a JSON object, BrokerUnreachable when the bus is away."""
    from ..config import get_settings

    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise Invalid("the body must be JSON (a SeaweedFS filer event)") from None
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    ev = parse_filer_event(body)
    if ev is None or ev[0] != get_settings().bucket_inbox or not announced(ev[1]):
        return {"relayed": False}
    bucket, key, size, mime = ev
    if publish is None:
        from pva.infra import bus

        publish = bus.publish_many
    try:
        publish([message(bucket, key, size, mime, source="seaweedfs")])
    except Exception as e:
        log.warning("could not relay a drop event", extra={"key": key, "error": str(e)})
        raise BrokerUnreachable("the message broker is not reachable; the filer will retry") from None
    return {"relayed": True, "bucket": bucket, "key": key}


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
