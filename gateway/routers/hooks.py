"""POST /api/v1/hooks/seaweedfs: SeaweedFS filer webhook -> MinIO-format s3:ObjectCreated event on storage.inbox.

SeaweedFS has no AMQP notifier, so its filer posts file events here (filer.toml [notification.webhook] with
bearer_token = the webhook secret).  Only loopback clients with the secret are accepted; only new files in the
inbox bucket are republished."""
from __future__ import annotations

import hmac
import ipaddress
import json
import posixpath
import urllib.parse
import uuid
from datetime import datetime, timezone

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from pva.config import get_settings
from pva.log import get_logger

router = APIRouter(prefix="/api/v1", tags=["hooks"])
log = get_logger("pva.gateway.hooks")
BUCKETS_DIR = "/buckets/"


def _loopback(request: Request) -> bool:
    """A direct loopback client (a request relayed by a proxy carries X-Forwarded-For / X-Real-IP: refused)."""
    if any(h in request.headers for h in ("x-forwarded-for", "x-real-ip", "forwarded")):
        return False
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def _secret_ok(request: Request) -> bool:
    expected = get_settings().secret("webhook_secret")
    auth = request.headers.get("authorization", "")
    given = auth[7:].strip() if auth.lower().startswith("bearer ") else request.headers.get("x-pva-webhook-secret", "")
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def _get(d: dict, *names, default=None):
    for n in names:
        if isinstance(d, dict) and d.get(n) is not None:
            return d[n]
    return default


def parse_filer_event(body: dict) -> tuple[str, str, int, str] | None:
    """(bucket, key, size, mime) of a newly created file, or None for events that are not file creations."""
    msg = _get(body, "message", "event_notification", "eventNotification", "notification", default=body)
    if isinstance(msg, str):
        try:
            msg = json.loads(msg)
        except ValueError:
            return None
    new = _get(msg, "new_entry", "newEntry")
    if not isinstance(new, dict) or _get(new, "is_directory", "isDirectory", default=False):
        return None
    etype = str(_get(body, "event_type", "eventType", default="create")).lower()
    if etype not in ("create", "update", "rename", "") and _get(msg, "old_entry", "oldEntry"):
        return None
    name = str(_get(new, "name", default=""))
    path = str(_get(body, "key", "path", default=""))
    parent = _get(msg, "new_parent_path", "newParentPath")
    if parent:
        path = posixpath.join(str(parent), name)
    elif name and posixpath.basename(path) != name:
        path = posixpath.join(path or "/", name)
    if not path.startswith(BUCKETS_DIR):
        return None
    bucket, _, key = path[len(BUCKETS_DIR):].partition("/")
    if not bucket or not key:
        return None
    attrs = _get(new, "attributes", default={}) or {}
    size = int(_get(attrs, "file_size", "fileSize", default=0) or 0)
    mime = str(_get(attrs, "mime", default="") or "")
    return bucket, key, size, mime


def minio_event(bucket: str, key: str, size: int, mime: str) -> dict:
    """The event as MinIO's notify_amqp would publish it."""
    now = datetime.now(timezone.utc)
    quoted = urllib.parse.quote_plus(key, safe="/")
    return {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{bucket}/{quoted}",
        "Records": [{
            "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
            "eventTime": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "eventName": "s3:ObjectCreated:Put",
            "userIdentity": {"principalId": "seaweedfs"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {"s3SchemaVersion": "1.0", "configurationId": "pva-seaweedfs-relay",
                   "bucket": {"name": bucket, "ownerIdentity": {"principalId": "seaweedfs"},
                              "arn": f"arn:aws:s3:::{bucket}"},
                   "object": {"key": quoted, "size": size, "contentType": mime or "application/octet-stream",
                              "sequencer": f"{int(now.timestamp() * 1e9):X}"}},
            "source": {"host": "127.0.0.1", "port": "", "userAgent": "seaweedfs-filer"},
        }],
    }


@router.post("/hooks/seaweedfs", include_in_schema=False)
async def seaweedfs_hook(request: Request):
    if not _loopback(request):
        raise HTTPException(404, "no such endpoint")  # not reachable from outside
    if not _secret_ok(request):
        raise HTTPException(401, "missing or wrong webhook secret (Authorization: Bearer <webhook_secret>)")
    raw = await request.body()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise HTTPException(400, "the body must be JSON (a SeaweedFS filer event)") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    ev = parse_filer_event(body)
    if ev is None or ev[0] != get_settings().bucket_inbox:
        return {"relayed": False}
    bucket, key, size, mime = ev
    event = minio_event(bucket, key, size, mime)
    from pva import bus

    msg_id = f"seaweedfs:{bucket}/{key}:{uuid.uuid4().hex[:12]}"
    try:
        await run_in_threadpool(bus.publish_many, [("storage.inbox", event, msg_id)])
    except Exception as e:
        log.warning("could not relay a drop event", extra={"key": key, "error": str(e)})
        raise HTTPException(503, "the message broker is not reachable; the filer will retry") from None
    return {"relayed": True, "bucket": bucket, "key": key}
