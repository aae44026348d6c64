"""Who may call a function's HTTP trigger: shared by the gateway (which signs) and the functions (which verify).

A request to a function's HTTP trigger is authenticated in one of two ways; anything else is refused (401):

- ``Authorization: Bearer <API token>``: a user's API token, checked against the token table with its scopes
  (pva.services.auth.resolve_token, the same check the gateway makes);
- a request signed by the gateway: ``X-PVA-Owner``, ``X-PVA-Scopes``, ``X-PVA-Timestamp``, ``X-PVA-Nonce`` and
  ``X-PVA-Signature: v2=<hex>``, an HMAC-SHA256 (secret: ``PVA_FUNCTION_SECRET``) over the method, the path with
  its query, the owner, the scopes, the timestamp, the nonce and the SHA-256 of the body.  A signature older or
  newer than five minutes is refused, and so is a second request with the same nonce: a signed request is good
  for one use.

``X-PVA-Owner`` alone never authenticates anybody.

Replays: the nonce is 128 random bits, fresh for each request.  A function remembers it in Postgres
(``function_nonces``, shared by every worker process and every host) once the signature checks out, until the
timestamp has left the window (plus :data:`CLOCK_SLACK_SECONDS` for the clocks of different hosts); a nonce that
is already there means the request was captured and sent again, and it is refused with 401 before the handler
runs.  Old rows go on the insert path (a few per request) and in the reconcile cron (:func:`prune_nonces`).
``v1`` signatures (no nonce) are refused with a message saying so: the gateway and the functions are deployed
from the same release, so there is no mixed fleet to carry them for.

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
import re
import secrets
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from uuid import UUID

from ..config import get_settings

WINDOW_SECONDS = 300
CLOCK_SLACK_SECONDS = 60  # a nonce outlives its window by this much: the host pruning may run ahead of the verifier
SCHEME = "v2"
OWNER_HEADER = "X-PVA-Owner"
SCOPES_HEADER = "X-PVA-Scopes"
TIMESTAMP_HEADER = "X-PVA-Timestamp"
NONCE_HEADER = "X-PVA-Nonce"
SIGNATURE_HEADER = "X-PVA-Signature"
_NONCE = re.compile(r"[0-9a-f]{32}")
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


def _mac(secret: str, method: str, target: str, owner: str, scopes: str, timestamp: str, nonce: str,
         digest: str) -> str:
    message = "\n".join(["PVA-FUNCTION-HMAC-SHA256", SCHEME, method.upper(), target, owner, scopes, timestamp, nonce,
                         digest])
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).hexdigest()


def sign(method: str, path: str, owner: str, body, *, content_type: str | None = "",
         scopes: Iterable[str] = ("read",), query: Mapping | None = None, now: float | None = None) -> dict[str, str]:
    """The headers that authenticate one request to a function as `owner` (a user name) holding `scopes`; they
    carry a fresh nonce, so they are good for that one request only."""
    ts = str(int(time.time() if now is None else now))
    nonce = secrets.token_hex(16)
    scopes_text = _scopes_text(scopes)
    mac = _mac(get_settings().secret("function_secret"), method, _target(path, query), owner, scopes_text, ts,
               nonce, body_digest(body, content_type))
    return {OWNER_HEADER: owner, SCOPES_HEADER: scopes_text, TIMESTAMP_HEADER: ts, NONCE_HEADER: nonce,
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
    ts, nonce = _header(headers, TIMESTAMP_HEADER), _header(headers, NONCE_HEADER)
    scheme, _, given = signature.partition("=")
    if scheme == "v1":
        raise AuthFailed(401, f"{SIGNATURE_HEADER} v1 (no nonce, replayable) is no longer accepted: the gateway "
                              f"must sign {SCHEME} with {NONCE_HEADER}; deploy the gateway and the functions from "
                              "the same release")
    if scheme != SCHEME or not owner or not ts.isdigit() or not _NONCE.fullmatch(nonce):
        raise AuthFailed(401, f"a signed request needs {OWNER_HEADER}, {TIMESTAMP_HEADER}, {NONCE_HEADER} "
                              f"(32 hex digits) and {SIGNATURE_HEADER}: {SCHEME}=<hex>; {HOW_TO}")
    if abs(now - int(ts)) > WINDOW_SECONDS:
        raise AuthFailed(401, f"the signature's timestamp is more than {WINDOW_SECONDS // 60} minutes away from "
                              "the function's clock; sign each request when it is sent (and keep clocks in sync)")
    expected = _mac(get_settings().secret("function_secret"), method or "POST", _target(path, query), owner,
                    scopes_text, ts, nonce, body_digest(body, content_type))
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().lower().encode("ascii", "replace")):
        raise AuthFailed(401, "the request signature does not match (the gateway and the functions must share "
                              f"PVA_FUNCTION_SECRET); {HOW_TO}")
    # only a genuine signature spends a nonce (forgeries cannot fill the table), and before anything else runs
    if not _use_nonce(nonce, int(ts), now):
        raise AuthFailed(401, f"this signed request was already used ({NONCE_HEADER} seen before): a signature is "
                              "good for one request, so a repeated one is refused as a replay; sign each request "
                              "when it is sent")
    user = find_user(owner) if len(owner) <= 64 else None
    if user is None or user["disabled"]:
        raise AuthFailed(401, f"the signed owner is not an enabled user; {HOW_TO}")
    # a signature grants at most what the user could hold (an admin demoted later loses 'admin')
    scopes = frozenset(s for s in scopes_text.split(",") if s) & frozenset(user_scopes(user))
    return Caller(user_id=user["id"], username=user["username"], scopes=scopes, via="signature")


# ------------------------------------------------------------------ nonces
def _use_nonce(nonce: str, timestamp: int, now: float) -> bool:
    """True the first time `nonce` is seen by any function process (it is then remembered until its signature can
    no longer be accepted anywhere), False for a replay."""
    from ..db import function_nonces
    from ..infra import db

    with db.transaction() as cur:
        return function_nonces.use(cur, nonce, timestamp + WINDOW_SECONDS + CLOCK_SLACK_SECONDS, now)


def prune_nonces(now: float | None = None) -> int:
    """Forget the nonces whose signatures have left the window (the reconcile cron); returns how many went."""
    from ..db import function_nonces
    from ..infra import db

    with db.transaction() as cur:
        return function_nonces.prune(cur, time.time() if now is None else now)


__all__ = ["AuthFailed", "Caller", "require", "sign", "verify", "body_digest", "prune_nonces", "WINDOW_SECONDS",
           "CLOCK_SLACK_SECONDS", "OWNER_HEADER", "SCOPES_HEADER", "TIMESTAMP_HEADER", "NONCE_HEADER",
           "SIGNATURE_HEADER"]
