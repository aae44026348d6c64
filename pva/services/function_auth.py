"""Who may call a function's HTTP trigger: shared by the gateway (which signs) and the functions (which verify).

A request to a function's HTTP trigger is authenticated in one of two ways; anything else is refused (401):

- ``Authorization: Bearer <API token>``: a user's API token, checked against the token table with its scopes
  (pva.services.auth.resolve_token, the same check the gateway makes);
- a request signed by the gateway: ``X-PVA-Owner``, ``X-PVA-Scopes``, ``X-PVA-Timestamp`` and
  ``X-PVA-Signature: v1=<hex>``, an HMAC-SHA256 (secret: ``PVA_FUNCTION_SECRET``) over the method, the path with
  its query, the owner, the scopes, the timestamp and the SHA-256 of the body.  A signature older or newer than
  five minutes is refused.

``X-PVA-Owner`` alone never authenticates anybody.

    headers = sign("POST", "/", "alice", body, content_type="image/jpeg", scopes=["read"])   # the gateway
    caller = verify(event.method, event.path, event.headers, event.body, query=event.fields)  # a function
    require(caller, "write")

Nuclio's Python wrapper hands a handler the body of an ``application/json`` request already decoded (and the local
runtime does the same), so the bytes the gateway sent are gone by the time a function verifies.  The body digest
is therefore taken over JSON in one canonical form (sorted keys, no spaces) on both sides, and over the raw bytes
for everything else.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from ..config import get_settings

WINDOW_SECONDS = 300
SCHEME = "v1"
OWNER_HEADER = "X-PVA-Owner"
SCOPES_HEADER = "X-PVA-Scopes"
TIMESTAMP_HEADER = "X-PVA-Timestamp"
SIGNATURE_HEADER = "X-PVA-Signature"
HOW_TO = ("send 'Authorization: Bearer <API token>' (create one with `pva tokens create` or POST /api/v1/tokens), "
          "or call the function through the gateway: POST /api/v1/functions/<name>/invoke")


class AuthFailed(Exception):
    """The request cannot be let in; ``status`` is 401 (who are you?) or 403 (not allowed); the message says
    what to do."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of a function request."""

    user_id: UUID
    username: str
    scopes: frozenset[str]
    via: str  # "token" | "signature"

    def has(self, scope: str) -> bool:
        return scope in self.scopes


def require(caller: Caller, scope: str) -> None:
    if not caller.has(scope):
        raise AuthFailed(403, f"this request needs the '{scope}' scope, which the "
                              f"{'token' if caller.via == 'token' else 'caller'} lacks")


# ------------------------------------------------------------------ signing
def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def body_digest(body, content_type: str | None = "") -> str:
    """SHA-256 (hex) of a body as a function will see it: a JSON body in canonical form (it arrives decoded),
    anything else as its bytes."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        raw = bytes(body)
        if media_type(content_type) != "application/json" or not raw:
            return hashlib.sha256(raw).hexdigest()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):  # the runtime passes undecodable JSON on as bytes too
            return hashlib.sha256(raw).hexdigest()
    elif body is None:
        return hashlib.sha256(b"").hexdigest()
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def _target(path: str, query: Mapping | None) -> str:
    """The path plus its query in one canonical order (Nuclio hands the query over as a dict: one value a key)."""
    path = path or "/"
    if not query:
        return path
    pairs = sorted((str(k), v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
                   for k, v in query.items())
    return f"{path}?{urllib.parse.urlencode(pairs)}"


def _scopes_text(scopes: Iterable[str]) -> str:
    return ",".join(sorted({s.strip().lower() for s in scopes if s and s.strip()}))


def _mac(secret: str, method: str, target: str, owner: str, scopes: str, timestamp: str, digest: str) -> str:
    message = "\n".join(["PVA-FUNCTION-HMAC-SHA256", method.upper(), target, owner, scopes, timestamp, digest])
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(method: str, path: str, owner: str, body, *, content_type: str | None = "",
         scopes: Iterable[str] = ("read",), query: Mapping | None = None, now: float | None = None) -> dict[str, str]:
    """The headers that authenticate a request to a function as `owner` (a user name) holding `scopes`."""
    ts = str(int(time.time() if now is None else now))
    scopes_text = _scopes_text(scopes)
    mac = _mac(get_settings().secret("function_secret"), method, _target(path, query), owner, scopes_text, ts,
               body_digest(body, content_type))
    return {OWNER_HEADER: owner, SCOPES_HEADER: scopes_text, TIMESTAMP_HEADER: ts,
            SIGNATURE_HEADER: f"{SCHEME}={mac}"}


# ------------------------------------------------------------------ verifying
def _header(headers: Mapping | None, name: str) -> str:
    """A header, case-insensitively (Nuclio hands them over as Go canonicalised them: X-Pva-Owner)."""
    lname = name.lower()
    for k, v in (headers or {}).items():
        if str(k).lower() == lname:
            return (v.decode("latin-1") if isinstance(v, bytes) else str(v)).strip()
    return ""


def verify(method: str, path: str, headers: Mapping | None, body, *, content_type: str | None = None,
           query: Mapping | None = None, now: float | None = None) -> Caller:
    """The caller of a function request, or AuthFailed (401 with what to send instead, 403 for a mismatch)."""
    auth = _header(headers, "Authorization")
    if auth:
        return _verify_token(auth, _header(headers, OWNER_HEADER))
    signature = _header(headers, SIGNATURE_HEADER)
    if not signature:
        if _header(headers, OWNER_HEADER):
            raise AuthFailed(401, f"{OWNER_HEADER} alone does not authenticate; {HOW_TO}")
        raise AuthFailed(401, f"authentication required: {HOW_TO}")
    if content_type is None:
        content_type = _header(headers, "Content-Type")
    return _verify_signature(method, path, headers, body, content_type, query,
                             time.time() if now is None else now, signature)


def _verify_token(auth: str, owner: str) -> Caller:
    from .auth import resolve_token

    scheme, _, token = auth.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthFailed(401, f"the Authorization header must be 'Bearer <API token>'; {HOW_TO}")
    p = resolve_token(token.strip(), kind="api")
    if p is None:
        raise AuthFailed(401, "the API token is unknown, revoked or expired; create a new one with "
                              "`pva tokens create` or POST /api/v1/tokens")
    if owner and owner != p.username:
        raise AuthFailed(403, f"the token belongs to another user than {OWNER_HEADER} names; leave "
                              f"{OWNER_HEADER} out (the token's user is the owner)")
    return Caller(user_id=p.user_id, username=p.username, scopes=p.scopes, via="token")


def _verify_signature(method, path, headers, body, content_type, query, now: float, signature: str) -> Caller:
    from .auth import find_user, user_scopes

    owner, scopes_text = _header(headers, OWNER_HEADER), _header(headers, SCOPES_HEADER)
    ts = _header(headers, TIMESTAMP_HEADER)
    scheme, _, given = signature.partition("=")
    if scheme != SCHEME or not owner or not ts.isdigit():
        raise AuthFailed(401, f"a signed request needs {OWNER_HEADER}, {TIMESTAMP_HEADER} and "
                              f"{SIGNATURE_HEADER}: {SCHEME}=<hex>; {HOW_TO}")
    if abs(now - int(ts)) > WINDOW_SECONDS:
        raise AuthFailed(401, f"the signature's timestamp is more than {WINDOW_SECONDS // 60} minutes away from "
                              "the function's clock; sign each request when it is sent (and keep clocks in sync)")
    expected = _mac(get_settings().secret("function_secret"), method or "POST", _target(path, query), owner,
                    scopes_text, ts, body_digest(body, content_type))
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("ascii", "replace")):
        raise AuthFailed(401, "the request signature does not match (the gateway and the functions must share "
                              f"PVA_FUNCTION_SECRET); {HOW_TO}")
    user = find_user(owner) if len(owner) <= 64 else None
    if user is None or user["disabled"]:
        raise AuthFailed(401, f"the signed owner is not an enabled user; {HOW_TO}")
    # a signature grants at most what the user could hold (an admin demoted later loses 'admin')
    scopes = frozenset(s for s in scopes_text.split(",") if s) & frozenset(user_scopes(user))
    return Caller(user_id=user["id"], username=user["username"], scopes=scopes, via="signature")


__all__ = ["AuthFailed", "Caller", "require", "sign", "verify", "body_digest", "WINDOW_SECONDS",
           "OWNER_HEADER", "SCOPES_HEADER", "TIMESTAMP_HEADER", "SIGNATURE_HEADER"]
