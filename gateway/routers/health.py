"""/healthz (the process answers), /readyz (database, object store and broker answer), /metrics (Prometheus:
loopback or an admin token)."""
from __future__ import annotations

import asyncio
import ipaddress

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from ..deps import authenticated, client_address

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz():
    return {"status": "ok"}


def _check_db() -> None:
    from pva.infra import db

    db.query_one("select 1 as ok")


def _check_s3() -> None:
    from pva.infra.storage import get_storage

    if not get_storage().ping():
        raise RuntimeError("object store does not answer")


def _check_amqp() -> None:
    import pika

    from pva.config import get_settings

    params = pika.URLParameters(get_settings().effective_amqp_url)
    params.socket_timeout = 3
    params.blocked_connection_timeout = 3
    params.connection_attempts = 1
    conn = pika.BlockingConnection(params)
    conn.close()


CHECKS = {"db": _check_db, "s3": _check_s3, "amqp": _check_amqp}


@router.get("/readyz")
async def readyz():
    async def one(name, fn):
        try:
            await asyncio.wait_for(run_in_threadpool(fn), timeout=5)
            return name, "ok"
        except Exception as e:  # report, do not raise: this is the health answer
            return name, f"error: {type(e).__name__}: {str(e)[:200]}"

    results = dict(await asyncio.gather(*(one(n, f) for n, f in CHECKS.items())))
    ok = all(v == "ok" for v in results.values())
    return JSONResponse({"status": "ready" if ok else "not ready", "checks": results},
                        status_code=200 if ok else 503)


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

    return Response(render(), media_type=CONTENT_TYPE_LATEST)
