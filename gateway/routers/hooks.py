"""POST /api/v1/hooks/seaweedfs: SeaweedFS filer webhook -> MinIO-format s3:ObjectCreated event on storage.inbox.

SeaweedFS has no AMQP notifier, so its filer posts file events here: `pva up` writes its notification.toml
([notification.webhook], bearer_token = the webhook secret, event_types create and rename, path_prefixes the inbox
bucket; see pva/stack/seaweed.py).  Only loopback clients with the secret are accepted.  Only new files in the
inbox bucket are republished, never SeaweedFS's multipart parts (.uploads/) nor ingest's own rejected/ copies and
.reason.txt notes (pva.services.drops.announced): the filer's filter knows path prefixes only, so those are dropped here."""
from __future__ import annotations

import hmac
import ipaddress
import json
import posixpath

from fastapi import APIRouter, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from pva.services import drops
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
    if ev is None or ev[0] != get_settings().bucket_inbox or not drops.announced(ev[1]):
        return {"relayed": False}  # answered 200 all the same: the filer must not retry it
    bucket, key, size, mime = ev
    from pva.infra import bus

    try:
        await run_in_threadpool(bus.publish_many, [drops.message(bucket, key, size, mime, source="seaweedfs")])
    except Exception as e:
        log.warning("could not relay a drop event", extra={"key": key, "error": str(e)})
        raise HTTPException(503, "the message broker is not reachable; the filer will retry") from None
    return {"relayed": True, "bucket": bucket, "key": key}
