"""Authentication: password hashing (argon2id), API tokens, login sessions with CSRF, login rate limiting.

Tokens (API tokens and session tokens) are random strings shown once; only their SHA-256 is stored
(api_tokens.token_hash).  A session is an api_tokens row with kind='session' whose csrf_hash is the SHA-256 of
the CSRF token the browser must echo in the X-CSRF-Token header on writes.

    user = create_user("alice", "correct horse", is_admin=True)
    token, row = create_token(user["id"], ["read", "write"], name="laptop")
    principal = resolve_token(token)          # None when unknown, revoked, expired or the user is disabled
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .config import get_settings
from .db import tokens as tokens_db
from .db import users as users_db

SCOPES = ("read", "write", "upload", "admin")
API_PREFIX = "pva_"
SESSION_PREFIX = "pvs_"
MIN_PASSWORD_LENGTH = 8
RATE_WINDOW_SECONDS = 15 * 60

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
_DUMMY_HASH = _hasher.hash("pva-dummy-password-for-timing")


class AuthError(ValueError):
    """Bad input to an auth operation; the message says what to do."""


class RateLimited(Exception):
    def __init__(self, retry_after: int):
        super().__init__(f"too many failed logins; try again in {retry_after} seconds")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    user_id: UUID
    username: str
    is_admin: bool
    scopes: frozenset[str]
    kind: str  # 'api' | 'session'
    token_id: UUID
    csrf_hash: bytes | None = field(default=None, repr=False)

    def has(self, scope: str) -> bool:
        return scope in self.scopes


# ------------------------------------------------------------------ passwords
def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"password too short: use at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise AuthError("password too long: use at most 1024 characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _valid_username(username: str) -> str:
    username = (username or "").strip()
    if not 1 <= len(username) <= 64 or any(c.isspace() for c in username) or not username.isprintable():
        raise AuthError("user name must be 1-64 printable characters without spaces")
    return username


def create_user(username: str, password: str, *, is_admin: bool = False, display_name: str = "") -> dict:
    """Create a user; raises AuthError for a bad name/password and users_db.UserExists for a taken name."""
    return users_db.create(_valid_username(username), hash_password(password),
                           display_name=display_name[:200], is_admin=is_admin)


# ------------------------------------------------------------------ rate limiting
class LoginRateLimiter:
    """Counts failed logins per user name and per client address over a sliding 15-minute window.

    The failures live in Postgres (login_failures), so every gateway process enforces one limit together.  The
    clock is wall time (comparable across processes); tests pass a fake one."""

    def __init__(self, limit: int | None = None, window: float = RATE_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.time):
        self._limit = limit
        self.window = window
        self._clock = clock

    @property
    def limit(self) -> int:
        return self._limit if self._limit is not None else get_settings().login_rate_limit

    def _keys(self, username: str, client: str) -> list[str]:
        return [f"u:{username.lower()}", f"c:{client}"]

    def check(self, username: str, client: str) -> None:
        """Raise RateLimited when either key has used up its failures."""
        from .db import logins

        now = self._clock()
        waits = [r["first"] + self.window - now for r in logins.recent(self._keys(username, client), now - self.window)
                 if r["n"] >= self.limit]
        if waits:
            raise RateLimited(max(1, int(max(waits)) + 1))

    def failed(self, username: str, client: str) -> None:
        from .db import logins

        now = self._clock()
        logins.record(self._keys(username, client), now, now - self.window)

    def succeeded(self, username: str, client: str) -> None:
        from .db import logins

        logins.clear(self._keys(username, client)[:1])  # the name's count; the address keeps its own

    def reset(self) -> None:
        from .db import logins

        logins.clear_all()


login_limiter = LoginRateLimiter()


def authenticate(username: str, password: str, client: str = "?",
                 limiter: LoginRateLimiter | None = None) -> dict | None:
    """The user row when the password is right, else None.  Raises RateLimited after too many failures."""
    limiter = limiter or login_limiter
    username = (username or "").strip()
    limiter.check(username, client)
    user = users_db.get_by_username(username) if 0 < len(username) <= 64 else None
    if user is None:
        verify_password(_DUMMY_HASH, password)  # same cost whether or not the user exists
        ok = False
    else:
        ok = verify_password(user["password_hash"], password) and not user["disabled"]
    if not ok:
        limiter.failed(username, client)
        return None
    limiter.succeeded(username, client)
    if _hasher.check_needs_rehash(user["password_hash"]):
        users_db.set_password_hash(user["id"], _hasher.hash(password))
    user = dict(user)
    user.pop("password_hash", None)
    return user


# ------------------------------------------------------------------ tokens and sessions
def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def normalize_scopes(scopes, *, is_admin: bool) -> list[str]:
    if isinstance(scopes, str):
        scopes = [s for s in scopes.replace(" ", ",").split(",") if s]
    out = []
    for s in scopes:
        s = s.strip().lower()
        if s not in SCOPES:
            raise AuthError(f"unknown scope {s!r}: use some of {', '.join(SCOPES)}")
        if s == "admin" and not is_admin:
            raise AuthError("only administrators can hold the admin scope")
        if s not in out:
            out.append(s)
    if not out:
        raise AuthError(f"give at least one scope ({', '.join(SCOPES)})")
    return out


def create_token(user_id: UUID, scopes, *, name: str = "", expires_in_days: int | None = None) -> tuple[str, dict]:
    """A new API token for the user: returns (the token, shown once; its row)."""
    user = users_db.get(user_id)
    if user is None:
        raise AuthError("no such user")
    scopes = normalize_scopes(scopes, is_admin=user["is_admin"])
    token = API_PREFIX + secrets.token_urlsafe(32)
    expires = (datetime.now(timezone.utc) + timedelta(days=expires_in_days)) if expires_in_days else None
    row = tokens_db.insert(user_id, token_hash(token), token[:12], scopes, name=name[:200], kind="api",
                           expires_at=expires)
    return token, row


def user_scopes(user: dict) -> list[str]:
    return list(SCOPES) if user["is_admin"] else ["read", "write", "upload"]


def create_session(user: dict) -> tuple[str, str, dict]:
    """A login session for the user: returns (session token, CSRF token, row)."""
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    ttl = timedelta(hours=get_settings().session_ttl_hours)
    row = tokens_db.insert(user["id"], token_hash(token), token[:12], user_scopes(user), name="session",
                           kind="session", csrf_hash=token_hash(csrf),
                           expires_at=datetime.now(timezone.utc) + ttl)
    return token, csrf, row


def resolve_token(token: str, *, kind: str | None = None) -> Principal | None:
    """The principal for a token (API or session), or None when it is unknown/revoked/expired."""
    if not token or len(token) > 200:
        return None
    row = tokens_db.find_active(token_hash(token))
    if row is None or (kind and row["kind"] != kind):
        return None
    tokens_db.touch(row["id"])
    scopes = set(row["scopes"])
    if not row["is_admin"]:
        scopes.discard("admin")  # an admin demoted later loses the scope on old tokens
    return Principal(user_id=row["user_id"], username=row["username"], is_admin=row["is_admin"],
                     scopes=frozenset(scopes), kind=row["kind"], token_id=row["id"],
                     csrf_hash=bytes(row["csrf_hash"]) if row["csrf_hash"] is not None else None)


def check_csrf(principal: Principal, csrf_token: str | None) -> bool:
    if principal.kind != "session":
        return True
    if not csrf_token or principal.csrf_hash is None:
        return False
    return hmac.compare_digest(token_hash(csrf_token), principal.csrf_hash)


def revoke_session(token: str) -> None:
    tokens_db.revoke_by_hash(token_hash(token))


def revoke_token(token_id: UUID, user_id: UUID) -> bool:
    return tokens_db.revoke(token_id, user_id)


def list_tokens(user_id: UUID) -> list[dict]:
    return tokens_db.list_for_user(user_id, "api")
