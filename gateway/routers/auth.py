"""Login sessions, API tokens and user administration."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from pva import auth as pva_auth
from pva.config import get_settings
from pva.db import users as users_db

from .. import metrics
from ..schemas import User as UserOut  # one user model for the routes and the OpenAPI document
from ..deps import (CSRF_COOKIE, SESSION_COOKIE, Principal, client_address, current_user, not_found,
                    require)

router = APIRouter(prefix="/api/v1", tags=["auth"])


class LoginIn(BaseModel):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str
    expires_at: datetime


class TokenIn(BaseModel):
    name: str = Field(default="", max_length=200)
    scopes: list[str] = Field(default_factory=lambda: ["read"])
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(BaseModel):
    id: UUID
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    last_used_at: datetime | None = None
    expires_at: datetime | None = None
    revoked_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="shown once; store it now")


class UserIn(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)
    is_admin: bool = False
    display_name: str = Field(default="", max_length=200)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or get_settings().public_url.startswith("https://")


@router.post("/auth/login", response_model=LoginOut)
async def login(body: LoginIn, request: Request, response: Response):
    """Password login: sets an HttpOnly session cookie; send the returned csrf_token as X-CSRF-Token on writes.

    429 (with Retry-After) when this address has failed too often, for this name or over all names; failures
    for a name from many addresses only slow its logins by a few seconds, never lock its owner out."""
    try:
        user = await pva_auth.login(body.username, body.password, client_address(request))
    except pva_auth.RateLimited as e:
        raise HTTPException(429, str(e), headers={"Retry-After": str(e.retry_after)}) from None
    if user is None:
        metrics.LOGIN_FAILURES.inc()
        raise HTTPException(401, "wrong user name or password")
    token, csrf, row = await run_in_threadpool(pva_auth.create_session, user)
    max_age = get_settings().session_ttl_hours * 3600
    secure = _secure(request)
    response.set_cookie(SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure,
                        path="/")
    response.set_cookie(CSRF_COOKIE, csrf, max_age=max_age, httponly=False, samesite="strict", secure=secure,
                        path="/")
    return {"user": user, "csrf_token": csrf, "expires_at": row["expires_at"]}


@router.post("/auth/logout", status_code=204)
async def logout(request: Request, response: Response, user: Principal = Depends(current_user)):
    """End the session (or, with a bearer token, nothing to end: use DELETE /tokens/{id})."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie and user.kind == "session":
        await run_in_threadpool(pva_auth.revoke_session, cookie)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    response.status_code = 204
    return response


@router.get("/auth/me")
def me(user: Principal = Depends(current_user)):
    row = users_db.get(user.user_id)
    return {"user": UserOut(**row), "scopes": sorted(user.scopes), "auth": user.kind}


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(user: Principal = Depends(current_user)):
    return pva_auth.list_tokens(user.user_id)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, user: Principal = Depends(current_user)):
    """A new API token for yourself; scopes among read, write, upload (and admin for administrators).  A login
    session may give any of them; a token only scopes it holds itself (403 otherwise), and what it creates
    expires no later than it does (see expires_at in the answer)."""
    try:
        token, row = pva_auth.create_token_by(user, body.scopes, name=body.name, expires_in_days=body.expires_days)
    except pva_auth.AuthError as e:
        raise HTTPException(400, str(e)) from None
    except pva_auth.ScopeNotHeld as e:
        raise HTTPException(403, str(e)) from None
    return {**row, "token": token}


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: UUID, user: Principal = Depends(current_user)):
    if not pva_auth.revoke_token(token_id, user.user_id):
        raise not_found("token")
    return Response(status_code=204)


@router.get("/users", response_model=list[UserOut])
def list_users(user: Principal = Depends(require("admin"))):
    return users_db.list_all()


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, user: Principal = Depends(require("admin"))):
    """Administrators add users."""
    try:
        return pva_auth.create_user(body.username, body.password, is_admin=body.is_admin,
                                    display_name=body.display_name)
    except pva_auth.AuthError as e:
        raise HTTPException(400, str(e)) from None
    except users_db.UserExists as e:
        raise HTTPException(409, str(e)) from None
