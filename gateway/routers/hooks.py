"""POST /api/v1/hooks/seaweedfs: SeaweedFS filer webhook -> MinIO-format s3:ObjectCreated event on storage.inbox.

SeaweedFS has no AMQP notifier, so its filer posts file events here: `pva up` writes its notification.toml
([notification.webhook], bearer_token = the webhook secret, event_types create and rename, path_prefixes the inbox
bucket; see pva/stack/seaweed.py).  Only loopback clients with the secret are accepted.  Only new files in the
inbox bucket are republished, never SeaweedFS's multipart parts (.uploads/) nor ingest's own rejected/ copies and
.reason.txt notes (pva.services.drops.announced): the filer's filter knows path prefixes only, so those are dropped
there."""
from __future__ import annotations

import hmac
import ipaddress

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from pva.config import get_settings
from pva.services import drops

router = APIRouter(prefix="/api/v1", tags=["hooks"])


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


async def filer_only(request: Request) -> None:
    """The filer on this machine, holding the webhook secret; checked before the body is read."""
    if not _loopback(request):
        raise HTTPException(404, "no such endpoint")  # not reachable from outside
    if not _secret_ok(request):
        raise HTTPException(401, "missing or wrong webhook secret (Authorization: Bearer <webhook_secret>)")


@router.post("/hooks/seaweedfs", include_in_schema=False, dependencies=[Depends(filer_only)])
async def seaweedfs_hook(request: Request):
    return await run_in_threadpool(drops.relay_filer_event, await request.body())
