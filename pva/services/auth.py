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
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from uuid import UUID

import anyio
import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..config import get_settings
from ..db import logins
from ..db import tokens as tokens_db
from ..db import users as users_db
from ..errors import Conflict, Forbidden, Invalid, NotFound, ServiceError
from ..infra import db
from ..log import get_logger
from .drops import REJECTED_PREFIX, UPLOADS_DIR

SCOPES = ("read", "write", "upload", "admin")
API_PREFIX = "pva_"
SESSION_PREFIX = "pvs_"
MIN_PASSWORD_LENGTH = 8
RATE_WINDOW_SECONDS = 15 * 60
ADDRESS_LIMIT_FACTOR = 3  # an address may fail this many times the per-(address, name) limit over all names
SLOWDOWN_STEP_SECONDS = 0.5  # added per failure past the limit, for every attempt on a name under attack...
SLOWDOWN_MAX_SECONDS = 3.0  # ...up to this: the owner is never kept out longer
SHARE_LOOKUP_LIMIT = 10  # shares naming an unknown user, per user per window
PASSWORD_CHECK_LIMIT = 10  # wrong current passwords on a password change, per user per window

_hasher = PasswordHasher()  # argon2id, library defaults (RFC 9106 low-memory profile)
_DUMMY_HASH = _hasher.hash("pva-dummy-password-for-timing")


class AuthError(Invalid, ValueError):
    """Bad input to an auth operation (400); the message says what to do."""


class ScopeNotHeld(Forbidden):
    """A token asked to create a token with scopes it does not hold itself (403)."""


class RateLimited(ServiceError):
    """Too many failed logins (or shares naming unknown users): 429, asking again after ``retry_after`` seconds
    (the gateway sends it as Retry-After)."""

    status, code = 429, "rate_limited"

    def __init__(self, retry_after: int, what: str = "failed logins"):
        super().__init__(f"too many {what}; try again in {retry_after} seconds")
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
    expires_at: datetime | None = None

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


# A user's drops go into the inbox bucket under "<username>/": a name holding a slash would land its files in
# another user's folder (or nobody's), and the inbox keeps its own bookkeeping at these top-level names
# (pva.services.drops: rejected copies, SeaweedFS's multipart parts), which are never announced as drops.
RESERVED_USERNAMES = frozenset({REJECTED_PREFIX.rstrip("/"), UPLOADS_DIR, ".", ".."})


def _valid_username(username: str) -> str:
    username = (username or "").strip()
    if not 1 <= len(username) <= 64 or any(c.isspace() for c in username) or not username.isprintable():
        raise AuthError("user name must be 1-64 printable characters without spaces")
    if "/" in username or "\\" in username:
        raise AuthError("user name cannot hold '/' or '\\': it names the user's folder in the inbox bucket")
    if username in RESERVED_USERNAMES:  # names are case-sensitive, as S3 keys are
        raise AuthError(f"user name {username!r} is reserved for the inbox's own folders: choose another")
    return username


def create_user(username: str, password: str, *, is_admin: bool = False, display_name: str = "") -> dict:
    """Create a user; raises AuthError for a bad name/password and Conflict for a taken name."""
    username, password_hash = _valid_username(username), hash_password(password)
    try:
        with db.transaction() as cur:
            return users_db.create(cur, username, password_hash, display_name=display_name[:200],
                                   is_admin=is_admin)
    except users_db.UserExists as e:
        raise Conflict(str(e)) from None


def get_user(user_id: UUID) -> dict | None:
    with db.transaction() as cur:
        return users_db.get(cur, user_id)


def find_user(username: str) -> dict | None:
    """The user called `username` (without its password hash), or None."""
    with db.transaction() as cur:
        user = users_db.get_by_username(cur, username)
    if user is not None:
        user = dict(user)
        user.pop("password_hash", None)
    return user


def list_users() -> list[dict]:
    with db.transaction() as cur:
        return users_db.list_all(cur)


def me(principal: Principal) -> dict:
    """GET /auth/me: the caller's user, scopes and kind of authentication."""
    return {"user": get_user(principal.user_id), "scopes": sorted(principal.scopes), "auth": principal.kind}


# ------------------------------------------------------------------ passwords and user administration
def change_password(principal: Principal, current: str, new: str, throttle: Throttle | None = None) -> None:
    """POST /auth/password: the caller's own password, given the current one (a stolen session alone must not be
    enough to take the account over).  The user's other login sessions end; this one and API tokens stay.
    AuthError for a wrong current password or an unusable new one; RateLimited after too many wrong ones."""
    throttle = throttle or password_checks
    throttle.check(str(principal.user_id))
    with db.transaction() as cur:
        current_hash = users_db.get_password_hash(cur, principal.user_id)
    if current_hash is None or not verify_password(current_hash, current or ""):
        throttle.record(str(principal.user_id))
        raise AuthError("the current password is wrong")
    new_hash = hash_password(new)
    with db.transaction() as cur:
        users_db.set_password_hash(cur, principal.user_id, new_hash)
        tokens_db.revoke_sessions(cur, principal.user_id,
                                  keep=principal.token_id if principal.kind == "session" else None)


def reset_password(user_id: UUID, password: str) -> None:
    """POST /users/{id}/password (administrators): a new password for a user who lost theirs; their login
    sessions end (they log in with the new one), their API tokens stay.  NotFound for an unknown user."""
    password_hash = hash_password(password)
    with db.transaction() as cur:
        if users_db.get(cur, user_id) is None:
            raise NotFound("user")
        users_db.set_password_hash(cur, user_id, password_hash)
        tokens_db.revoke_sessions(cur, user_id)


def update_user(admin: Principal, user_id: UUID, *, is_admin: bool | None = None, disabled: bool | None = None,
                display_name: str | None = None) -> dict:
    """PATCH /users/{id} (administrators): make or unmake an administrator, disable or enable, rename.

    A disabled user cannot log in and their tokens and sessions stop working (pva.db.tokens.find_active) until
    they are enabled again.  An administrator cannot disable or demote themselves: that is how a library ends
    up with no administrator (Conflict)."""
    if user_id == admin.user_id and (disabled or is_admin is False):
        raise Conflict("you cannot disable or demote yourself: ask another administrator")
    with db.transaction() as cur:
        user = users_db.update(cur, user_id, is_admin=is_admin, disabled=disabled,
                               display_name=None if display_name is None else display_name[:200])
    if user is None:
        raise NotFound("user")
    return user


# ------------------------------------------------------------------ rate limiting
class Throttle:
    """Counts events per subject over a sliding window in Postgres (login_failures, so every gateway process
    shares one count) and raises RateLimited once a subject has `limit` of them.  The clock is wall time
    (comparable across processes); tests pass a fake one."""

    def __init__(self, prefix: str, limit: int, what: str, window: float = RATE_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.time):
        self.prefix, self.limit, self.what, self.window, self._clock = prefix, limit, what, window, clock

    def check(self, subject: str) -> None:
        now = self._clock()
        key = self.prefix + subject
        with db.transaction() as cur:
            rows = logins.recent(cur, [key], now - self.window)
        for r in rows:
            if r["n"] >= self.limit:
                raise RateLimited(_retry_after(r["first"] + self.window - now), self.what)

    def record(self, subject: str) -> None:
        now = self._clock()
        with db.transaction() as cur:
            logins.record(cur, [self.prefix + subject], now, now - self.window)


def _retry_after(wait: float) -> int:
    return max(1, int(wait) + 1)


class LoginRateLimiter:
    """Slows password guessing without handing an attacker a way to lock the owner out.

    Failed logins are counted over a sliding 15-minute window under three keys (rows of login_failures, so
    every gateway process enforces one limit together):
      - per (address, user name): `limit` failures, then 429 for that name from that address;
      - per address: ADDRESS_LIMIT_FACTOR x `limit` failures over all names, then 429 for that address (one
        machine spraying many names); larger than the pair limit so one person's typos behind a shared NAT
        address do not block the household;
      - per user name, from anywhere: never a 429.  Past `limit` failures each attempt for the name waits
        SLOWDOWN_STEP_SECONDS more per failure, at most `max_delay`: guesses spread over many addresses cost
        time, and the owner, from an address that has not failed, still logs in within a few seconds.  (A 429
        here let anyone lock an account for 15 minutes with ten wrong passwords from ten addresses.)"""

    def __init__(self, limit: int | None = None, window: float = RATE_WINDOW_SECONDS,
                 clock: Callable[[], float] = time.time, max_delay: float = SLOWDOWN_MAX_SECONDS):
        self._limit = limit
        self.window = window
        self._clock = clock
        self.max_delay = max_delay

    @property
    def limit(self) -> int:
        return self._limit if self._limit is not None else get_settings().login_rate_limit

    def _keys(self, username: str, client: str) -> dict[str, str]:
        name = username.lower()
        # an address never contains a space, so "p:<address> <name>" cannot collide between two pairs
        return {"user": f"u:{name}", "address": f"c:{client}", "pair": f"p:{client} {name}"}

    def check(self, username: str, client: str) -> float:
        """Raise RateLimited when this address has used up its failures (for this name, or over all names);
        else return the seconds this attempt must wait first (the name's slowdown; 0 when it is not under
        attack)."""
        keys = self._keys(username, client)
        now = self._clock()
        with db.transaction() as cur:
            counts = {r["key"]: r for r in logins.recent(cur, list(keys.values()), now - self.window)}
        limits = {keys["pair"]: self.limit, keys["address"]: self.limit * ADDRESS_LIMIT_FACTOR}
        waits = [counts[k]["first"] + self.window - now for k, n in limits.items()
                 if k in counts and counts[k]["n"] >= n]
        if waits:
            raise RateLimited(_retry_after(max(waits)))
        return self.delay_for(counts[keys["user"]]["n"] if keys["user"] in counts else 0)

    def delay_for(self, failures: int) -> float:
        """The slowdown for a name with `failures` recent failures from all addresses together."""
        if failures < self.limit:
            return 0.0
        return min(self.max_delay, SLOWDOWN_STEP_SECONDS * (failures - self.limit + 1))

    def failed(self, username: str, client: str) -> None:
        now = self._clock()
        with db.transaction() as cur:
            logins.record(cur, list(self._keys(username, client).values()), now, now - self.window)

    def succeeded(self, username: str, client: str) -> None:
        """The right password clears this address's count for the name; the name's own count stays, so an
        attack from elsewhere stays slowed after the owner logs in."""
        with db.transaction() as cur:
            logins.clear(cur, [self._keys(username, client)["pair"]])

    def reset(self) -> None:
        """Forget every counted failure (tests; the table also holds the share-lookup counts)."""
        with db.transaction() as cur:
            logins.clear_all(cur)


login_limiter = LoginRateLimiter()
_log = get_logger("pva.auth")


def _log_attempt(username: str, client: str, outcome: str, **extra) -> None:
    level = logging.INFO if outcome == "ok" else logging.WARNING
    _log.log(level, f"login {outcome}", extra={"user": username[:200], "address": client, "outcome": outcome,
                                               **extra})


async def login(username: str, password: str, client: str = "?",
                limiter: LoginRateLimiter | None = None) -> dict | None:
    """The user row when the password is right, else None; every attempt is logged (user, address, outcome).

    Raises RateLimited when this address has failed too often; an attempt for a name under attack waits the
    limiter's slowdown first (awaited here in the event loop, so a waiting attempt holds no worker thread)."""
    limiter = limiter or login_limiter
    username = (username or "").strip()
    try:
        delay = await anyio.to_thread.run_sync(limiter.check, username, client)
    except RateLimited as e:
        _log_attempt(username, client, "throttled", retry_after=e.retry_after)
        raise
    if delay:
        await anyio.sleep(delay)
    user = await anyio.to_thread.run_sync(_verify_login, username, password, client, limiter)
    _log_attempt(username, client, "ok" if user else "failed", delay=delay)
    return user


async def login_session(username: str, password: str, client: str = "?") -> dict | None:
    """A password login that opens a session: {"user", "token", "csrf_token", "expires_at"}, or None for a wrong
    name or password; RateLimited as :func:`login`."""
    user = await login(username, password, client)
    if user is None:
        return None
    token, csrf, row = await anyio.to_thread.run_sync(create_session, user)
    return {"user": user, "token": token, "csrf_token": csrf, "expires_at": row["expires_at"]}


def _verify_login(username: str, password: str, client: str, limiter: LoginRateLimiter) -> dict | None:
    user = None
    if 0 < len(username) <= 64:
        with db.transaction() as cur:
            user = users_db.get_by_username(cur, username)
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
        with db.transaction() as cur:
            users_db.set_password_hash(cur, user["id"], _hasher.hash(password))
    user = dict(user)
    user.pop("password_hash", None)
    return user


# Sharing names its recipient, so an answer tells whether a user name exists.  Names are not secret from a
# library's users (they share with each other by name, and the owner must hear about a typo), but listing
# them by probing is capped: each name that matches nobody counts, SHARE_LOOKUP_LIMIT per user per window.
share_lookups = Throttle("s:", SHARE_LOOKUP_LIMIT, "shares naming unknown users")
# a session (or token) guessing its user's password through POST /auth/password: as many tries as a login has
password_checks = Throttle("w:", PASSWORD_CHECK_LIMIT, "wrong current passwords")


def share_recipient(requester_id: UUID, username: str, throttle: Throttle | None = None) -> dict | None:
    """The enabled user called `username` (without its password hash), or None; raises RateLimited once the
    requester has named too many unknown users recently."""
    throttle = throttle or share_lookups
    throttle.check(str(requester_id))
    name = (username or "").strip()
    user = find_user(name) if 0 < len(name) <= 64 else None
    if user is None or user["disabled"]:
        throttle.record(str(requester_id))
        return None
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


def create_token(user_id: UUID, scopes, *, name: str = "", expires_in_days: int | None = None,
                 within: frozenset[str] | None = None, not_after: datetime | None = None) -> tuple[str, dict]:
    """A new API token for the user: returns (the token, shown once; its row).

    `within` is the ceiling when a token creates a token: its own scopes (else a write-only token could mint
    itself read, write and upload); None (a login session, the CLI) allows any scope the user may hold.
    `not_after` is that token's own expiry: the new token expires no later (a stolen short-lived token cannot
    mint a lasting one); the row's expires_at shows the result."""
    with db.transaction() as cur:
        user = users_db.get(cur, user_id)
        if user is None:
            raise AuthError("no such user")
        scopes = normalize_scopes(scopes, is_admin=user["is_admin"])
        if within is not None and not set(scopes) <= within:
            extra = ", ".join(s for s in scopes if s not in within)
            held = ", ".join(s for s in SCOPES if s in within) or "none"
            raise ScopeNotHeld(f"a token can only create tokens with scopes it holds itself (this one holds: "
                               f"{held}; not: {extra}); log in to create a token with more")
        token = API_PREFIX + secrets.token_urlsafe(32)
        expires = (datetime.now(timezone.utc) + timedelta(days=expires_in_days)) if expires_in_days else None
        if not_after is not None and (expires is None or expires > not_after):
            expires = not_after
        row = tokens_db.insert(cur, user_id, token_hash(token), token[:12], scopes, name=name[:200], kind="api",
                               expires_at=expires)
    return token, row


def create_token_by(caller: Principal, scopes, *, name: str = "",
                    expires_in_days: int | None = None) -> tuple[str, dict]:
    """A new API token for the caller's user, as create_token: a login session may give any of the user's
    scopes; a token only scopes it holds (ScopeNotHeld otherwise), expiring no later than itself."""
    by_token = caller.kind == "api"
    token, row = create_token(caller.user_id, scopes, name=name, expires_in_days=expires_in_days,
                        within=caller.scopes if by_token else None, not_after=caller.expires_at if by_token else None)
    return token, row


def create_token_for(caller: Principal, scopes, *, name: str = "", expires_in_days: int | None = None) -> dict:
    """POST /tokens: create_token_by's row with the token itself (shown once)."""
    token, row = create_token_by(caller, scopes, name=name, expires_in_days=expires_in_days)
    return {**row, "token": token}


def user_scopes(user: dict) -> list[str]:
    return list(SCOPES) if user["is_admin"] else ["read", "write", "upload"]


def create_session(user: dict) -> tuple[str, str, dict]:
    """A login session for the user: returns (session token, CSRF token, row)."""
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    ttl = timedelta(hours=get_settings().session_ttl_hours)
    with db.transaction() as cur:
        row = tokens_db.insert(cur, user["id"], token_hash(token), token[:12], user_scopes(user), name="session",
                               kind="session", csrf_hash=token_hash(csrf),
                               expires_at=datetime.now(timezone.utc) + ttl)
    return token, csrf, row


def resolve_token(token: str, *, kind: str | None = None) -> Principal | None:
    """The principal for a token (API or session), or None when it is unknown/revoked/expired."""
    if not token or len(token) > 200:
        return None
    with db.transaction() as cur:
        row = tokens_db.find_active(cur, token_hash(token))
        if row is None or (kind and row["kind"] != kind):
            return None
        tokens_db.touch(cur, row["id"])
    scopes = set(row["scopes"])
    if not row["is_admin"]:
        scopes.discard("admin")  # an admin demoted later loses the scope on old tokens
    return Principal(user_id=row["user_id"], username=row["username"], is_admin=row["is_admin"],
                     scopes=frozenset(scopes), kind=row["kind"], token_id=row["id"],
                     csrf_hash=bytes(row["csrf_hash"]) if row["csrf_hash"] is not None else None,
                     expires_at=row["expires_at"])


def check_csrf(principal: Principal, csrf_token: str | None) -> bool:
    if principal.kind != "session":
        return True
    if not csrf_token or principal.csrf_hash is None:
        return False
    return hmac.compare_digest(token_hash(csrf_token), principal.csrf_hash)


def revoke_session(token: str) -> None:
    with db.transaction() as cur:
        tokens_db.revoke_by_hash(cur, token_hash(token))


def revoke_token(token_id: UUID, user_id: UUID) -> bool:
    with db.transaction() as cur:
        return tokens_db.revoke(cur, token_id, user_id)


def revoke_own_token(token_id: UUID, user_id: UUID) -> None:
    """DELETE /tokens/{id}: NotFound for a token that is not the user's (or unknown)."""
    if not revoke_token(token_id, user_id):
        raise NotFound("token")


def list_tokens(user_id: UUID) -> list[dict]:
    with db.transaction() as cur:
        return tokens_db.list_for_user(cur, user_id, "api")
