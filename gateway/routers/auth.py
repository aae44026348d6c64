"""Login sessions, API tokens and user administration (the work is pva.services.auth's)."""
from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool

from pva.config import get_settings
from pva.services import auth as pva_auth

from .. import metrics
from ..deps import CSRF_COOKIE, SESSION_COOKIE, Principal, client_address, current_user, require
from ..schemas import (LoginIn, LoginOut, Me, PasswordChangeIn, PasswordResetIn, TokenCreated, TokenIn, TokenOut,
                       UserIn, UserPatch)
from ..schemas import User as UserOut  # one user model for the routes and the OpenAPI document

router = APIRouter(prefix="/api/v1", tags=["auth"])


def _secure(request: Request) -> bool:
    return request.url.scheme == "https" or get_settings().public_url.startswith("https://")


@router.post("/auth/login", response_model=LoginOut)
async def login(body: LoginIn, request: Request, response: Response):
    """Password login: sets an HttpOnly session cookie; send the returned csrf_token as X-CSRF-Token on writes.

    429 (with Retry-After) when this address has failed too often, for this name or over all names; failures
    for a name from many addresses only slow its logins by a few seconds, never lock its owner out."""
    session = await pva_auth.login_session(body.username, body.password, client_address(request))
    if session is None:
        metrics.LOGIN_FAILURES.inc()
        raise HTTPException(401, "wrong user name or password")
    max_age = get_settings().session_ttl_hours * 3600
    secure = _secure(request)
    response.set_cookie(SESSION_COOKIE, session["token"], max_age=max_age, httponly=True, samesite="lax",
                        secure=secure, path="/")
    response.set_cookie(CSRF_COOKIE, session["csrf_token"], max_age=max_age, httponly=False, samesite="strict",
                        secure=secure, path="/")
    return {"user": session["user"], "csrf_token": session["csrf_token"], "expires_at": session["expires_at"]}


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
    return Me(**pva_auth.me(user))


@router.post("/auth/password", status_code=204)
def change_password(body: PasswordChangeIn, user: Principal = Depends(current_user)):
    """Change your own password, giving the current one; your other login sessions end (API tokens stay).
    400 for a wrong current password (429 after too many)."""
    pva_auth.change_password(user, body.current_password, body.new_password)
    return Response(status_code=204)


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(user: Principal = Depends(current_user)):
    return pva_auth.list_tokens(user.user_id)


@router.post("/tokens", response_model=TokenCreated, status_code=201)
def create_token(body: TokenIn, user: Principal = Depends(current_user)):
    """A new API token for yourself; scopes among read, write, upload (and admin for administrators).  A login
    session may give any of them; a token only scopes it holds itself (403 otherwise), and what it creates
    expires no later than it does (see expires_at in the answer)."""
    return pva_auth.create_token_for(user, body.scopes, name=body.name, expires_in_days=body.expires_days)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(token_id: UUID, user: Principal = Depends(current_user)):
    pva_auth.revoke_own_token(token_id, user.user_id)
    return Response(status_code=204)


@router.get("/users", response_model=list[UserOut])
def list_users(user: Principal = Depends(require("admin"))):
    return pva_auth.list_users()


@router.post("/users", response_model=UserOut, status_code=201)
def create_user(body: UserIn, user: Principal = Depends(require("admin"))):
    """Administrators add users."""
    return pva_auth.create_user(body.username, body.password, is_admin=body.is_admin,
                                display_name=body.display_name)


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: UUID, body: UserPatch, user: Principal = Depends(require("admin"))):
    """Administrators make or unmake administrators, disable or enable users (a disabled user cannot log in and
    their tokens stop working), rename them.  409 for disabling or demoting yourself."""
    return pva_auth.update_user(user, user_id, is_admin=body.is_admin, disabled=body.disabled,
                                display_name=body.display_name)


@router.post("/users/{user_id}/password", status_code=204)
def reset_password(user_id: UUID, body: PasswordResetIn, user: Principal = Depends(require("admin"))):
    """Administrators set a new password for a user who lost theirs; that user's login sessions end."""
    pva_auth.reset_password(user_id, body.password)
    return Response(status_code=204)
