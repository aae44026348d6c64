"""/healthz (the process answers), /readyz (database, object store and broker answer), /metrics (Prometheus:
loopback or an admin token)."""
from __future__ import annotations

import ipaddress

import anyio.to_thread

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from pva.services import health

from ..deps import authenticated, client_address

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz():
    return {"status": "ok"}


@router.get("/readyz")
async def readyz():
    ready = await health.readiness()
    return JSONResponse(ready, status_code=200 if ready["status"] == "ready" else 503)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request):
    """Prometheus metrics: free to a scraper on this machine (loopback), an admin token from anywhere else
    (behind nginx the client address is the forwarded one)."""
    if not _loopback(client_address(request)):
        principal = await authenticated(request)
        if not principal.has("admin"):
            raise HTTPException(403, "metrics: administrators only, or scrape from this machine (127.0.0.1)")
    from ..metrics import render

    return Response(await anyio.to_thread.run_sync(render), media_type=CONTENT_TYPE_LATEST)
