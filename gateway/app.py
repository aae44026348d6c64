"""The FastAPI application: the REST API under /api/v1 (OpenAPI at /api/docs), health and metrics.

    from gateway.app import create_app
    app = create_app()
    app.include_router(my_router)      # later parts (the web UI) add their routers the same way

Errors are JSON: {"error": "<short code>", "message": "<what happened and what to do>"}.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from pva.errors import ServiceError
from pva.log import get_logger

from . import metrics
from .openapi import iter_routes  # noqa: F401 - moved to openapi (route introspection); re-exported for old callers

log = get_logger("pva.gateway")
API_PREFIX = "/api/v1"

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_media_type", 416: "range_not_satisfiable",
          422: "invalid_request", 429: "rate_limited", 502: "bad_gateway", 503: "unavailable"}


def error_response(status: int, message: str, headers: dict | None = None, code: str | None = None) -> JSONResponse:
    return JSONResponse({"error": code or _CODES.get(status, "error"), "message": message},
                        status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        msg = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and msg == "Not Found":
            if _is_page_request(request):
                return await _page_not_found(request)
            msg = f"nothing at {request.url.path} (see /api/docs for the API)"
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            # Starlette's Allow lists only the first route that matched the path; RFC 9110 wants every method
            # the resource answers, which may come from several routes (GET and DELETE /media/{id} are two)
            from .openapi import allowed_methods

            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path)) or headers.get("Allow", "")
            if msg == "Method Not Allowed":
                msg = f"{request.method} is not allowed on {request.url.path} (allowed: {headers['Allow']})"
        return error_response(exc.status_code, msg, headers=headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors()[:10]:
            loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query", "path"))
            parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
        return error_response(422, "invalid request: " + "; ".join(parts))

    @app.exception_handler(ServiceError)
    async def _refused(request: Request, exc: ServiceError):
        # a service's refusal (pva.errors): not found, forbidden, conflict, invalid, in the caller's terms
        retry_after = getattr(exc, "retry_after", None)  # a refusal for now (429): when to ask again
        return error_response(exc.status, str(exc),
                              headers={"Retry-After": str(retry_after)} if retry_after is not None else None)

    import psycopg2
    import psycopg2.pool

    @app.exception_handler(psycopg2.pool.PoolError)
    async def _busy(request: Request, exc: Exception):
        return error_response(503, "the server is busy (all database connections in use); retry shortly",
                              headers={"Retry-After": "1"})

    @app.exception_handler(psycopg2.OperationalError)
    @app.exception_handler(psycopg2.InterfaceError)
    async def _db_down(request: Request, exc: Exception):
        log.warning("database unavailable", extra={"path": request.url.path, "error": str(exc)[:300]})
        return error_response(503, "the database is not reachable right now; retry shortly",
                              headers={"Retry-After": "2"})

    @app.exception_handler(psycopg2.DataError)
    async def _bad_value(request: Request, exc: Exception):
        # a value from the request the database cannot hold (an integer beyond bigint, ...)
        detail = (getattr(exc, "pgerror", None) or str(exc)).strip().splitlines()[0][:200]
        log.warning("value rejected by the database", extra={"path": request.url.path, "error": detail})
        return error_response(422, f"a value in the request cannot be used: {detail}")

    @app.exception_handler(ValueError)
    async def _value(request: Request, exc: ValueError):
        # psycopg2 refuses NUL in text and cannot encode unpaired UTF-16 surrogates (both valid JSON escapes)
        if isinstance(exc, UnicodeEncodeError) or "NUL (0x00)" in str(exc):
            return error_response(422, "text in the request contains characters that cannot be stored (NUL or an "
                                       "unpaired surrogate); remove them and send it again")
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error", extra={"path": request.url.path, "method": request.method})
        return error_response(500, "internal error; the server log has the details", code="internal")


def _is_page_request(request: Request) -> bool:
    """A browser asking for a page (not the API, a static file or a script's fetch) where the web UI is installed."""
    path = request.url.path
    return (getattr(request.app.state, "web_installed", False) and request.method in ("GET", "HEAD")
            and "text/html" in request.headers.get("accept", "")
            and not path.startswith(("/api/", "/static/", "/vendor/")))


async def _page_not_found(request: Request):
    """An unknown page URL in a browser: the UI's 404 page, with its menu when someone is logged in."""
    from .deps import authenticated
    from .routers.web import render

    try:
        await authenticated(request)
    except HTTPException:
        pass
    return render(request, "404.html", status=404, what="page")


TRASH_PURGE_INTERVAL = 3600.0
WORKER_THREADS = 12  # below pva.db.pool()'s 16 connections


async def _purge_trash_forever() -> None:
    from fastapi.concurrency import run_in_threadpool

    from pva.services.housekeeping import purge_expired_trash

    while True:
        try:
            n = await run_in_threadpool(purge_expired_trash)
            if n:
                log.info("purged expired trash", extra={"count": n})
        except Exception as e:  # the database may be briefly away; try again next round
            log.warning("trash purge failed", extra={"error": str(e)})
        await asyncio.sleep(TRASH_PURGE_INTERVAL)


def create_app(*, functions_dir: Path | None = None, background: bool = False) -> FastAPI:
    """Build the gateway app.  functions_dir: where <name>/function.yaml live (default: <repo>/functions);
    background: run periodic housekeeping (purging trash past its retention) while serving."""
    from .routers import ALL_ROUTERS

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        # sync endpoints run in worker threads, each holding a pooled database connection: keep fewer threads
        # than the pool has connections so a burst of requests waits instead of failing
        import anyio.to_thread

        anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        task = asyncio.create_task(_purge_trash_forever()) if background else None
        try:
            yield
        finally:
            if task:
                task.cancel()
            from pva.infra import db

            db.close_pool()

    app = FastAPI(title="PhotoAndVideoAnalysis API", version="1", lifespan=lifespan,
                  docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    from pva.config import REPO_ROOT

    app.state.functions_dir = functions_dir or (REPO_ROOT / "functions")
    _install_error_handlers(app)

    @app.middleware("http")
    async def _observe(request: Request, call_next):
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        metrics.observe(request.method, getattr(route, "path", "unmatched"), response.status_code,
                        time.perf_counter() - start)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        return response

    for router in ALL_ROUTERS:
        app.include_router(router)
    from . import openapi

    openapi.install(app)  # every status each route can answer, in the document (gateway/openapi.py)
    return app


def create_serving_app() -> FastAPI:
    """The app `pva serve` runs: the API with housekeeping, plus the web UI when it is installed."""
    from pva.log import setup_logging

    setup_logging()
    app = create_app(background=True)
    try:
        from .routers import web  # the web UI (a separate part) registers itself here when present
    except ModuleNotFoundError as e:
        if e.name != "gateway.routers.web":
            raise
    else:
        web.install(app) if hasattr(web, "install") else app.include_router(web.router)
    return app


__all__ = ["create_app", "error_response", "API_PREFIX", "HTTPException"]
