"""Authentication dependencies.

A request is authenticated by `Authorization: Bearer <token>` (API token) or by the session cookie set at login.
Cookie-authenticated writes (any method but GET/HEAD/OPTIONS) must carry the session's CSRF token in the
X-CSRF-Token header.  Scopes: with `current_user`, GET needs `read` and other methods `write`;
`require("upload")` / `require("admin")` need exactly that scope instead (an upload-only sync token can upload).
HTML pages use `viewer`, which applies the same rule as `current_user`.

    @router.get("/things/{id}")
    def get_thing(id: UUID, user: Principal = Depends(current_user)): ...

    @router.post("/upload", dependencies=[Depends(require("upload"))])
"""
from __future__ import annotations

from uuid import UUID

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from pva.services.auth import Principal, check_csrf, resolve_token

SESSION_COOKIE = "pva_session"
CSRF_COOKIE = "pva_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def _unauthorized(msg: str) -> HTTPException:
    return HTTPException(401, msg, headers={"WWW-Authenticate": 'Bearer realm="pva"'})


async def authenticated(request: Request) -> Principal:
    """Who is calling (token or session, CSRF checked on cookie writes); no scope check."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    auth = request.headers.get("authorization", "")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("use 'Authorization: Bearer <token>' (create a token with `pva tokens create`)")
        principal = await run_in_threadpool(resolve_token, token.strip(), kind="api")
        if principal is None:
            raise _unauthorized("the API token is unknown, revoked or expired")
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise _unauthorized("log in (POST /api/v1/auth/login) or send an API token")
        principal = await run_in_threadpool(resolve_token, cookie, kind="session")
        if principal is None:
            raise _unauthorized("the session has expired or was logged out; log in again")
        if request.method not in SAFE_METHODS and not check_csrf(principal, request.headers.get(CSRF_HEADER)):
            raise HTTPException(403, f"missing or wrong {CSRF_HEADER} header (the csrf_token from login, also "
                                     f"in the {CSRF_COOKIE} cookie)")
    request.state.principal = principal
    return principal


async def current_user(request: Request, principal: Principal = Depends(authenticated)) -> Principal:
    """The caller, with the scope the method needs: `read` for GET/HEAD, `write` otherwise."""
    needed = "read" if request.method in SAFE_METHODS else "write"
    if not principal.has(needed):
        raise HTTPException(403, f"this token lacks the '{needed}' scope")
    return principal


async def viewer(request: Request) -> Principal:
    """The caller of an HTML page: authenticated exactly like the API and held to the same scope (`read` for
    GET), so a page never shows what the API would refuse (an upload- or write-only token gets 403 on both)."""
    return await current_user(request, await authenticated(request))


def require(scope: str):
    """A dependency requiring exactly `scope` (e.g. 'upload', 'admin') instead of the method's scope."""

    async def _dep(user: Principal = Depends(authenticated)) -> Principal:
        if not user.has(scope):
            if scope == "admin":
                raise HTTPException(403, "administrators only")
            raise HTTPException(403, f"this token lacks the '{scope}' scope")
        return user

    return _dep


def not_found(what: str = "item") -> HTTPException:
    """The one answer for missing AND for other users' rows (never reveal that an id exists)."""
    return HTTPException(404, f"no such {what}")


def client_address(request: Request) -> str:
    return request.client.host if request.client else "?"


__all__ = ["authenticated", "current_user", "viewer", "require", "not_found", "Principal", "UUID", "client_address",
           "SESSION_COOKIE", "CSRF_COOKIE", "CSRF_HEADER"]
