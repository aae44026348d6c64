"""The gateway's side of ``POST /api/v1/functions/{name}/invoke``: find the function, check what the caller may do,
sign the request (pva.services.function_auth) and forward it.

- A JSON body with ``media_id`` re-analyses stored media and stores the results: the caller needs ``write`` and
  must own the media (404 otherwise, the answer every route gives for another user's media).  Anything else only
  answers (posted bytes): ``read``.  The function checks the same again from the signature, so a request that
  skips the gateway gains nothing.
- Where the function is (see ``function_url``): ``PVA_FUNCTION_URLS`` ("ocr=http://host:8080,..." by directory or
  metadata name), else ``PVA_FUNCTION_URL_TEMPLATE`` ({name} = metadata name, {dir} = directory), else the local
  runtime's port from function.yaml on 127.0.0.1.
- A function that cannot be reached answers 502, one that takes longer than ``PVA_FUNCTION_TIMEOUT_SECONDS`` 504.

    result = await invoke(functions_dir, "ocr", principal, body=request.stream(), headers=request.headers,
                          query=dict(request.query_params))
"""
from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
import urllib.parse
import uuid
from collections.abc import AsyncIterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from . import function_auth
from .auth import Principal
from ..config import Settings, get_settings
from ..errors import ServiceError

log = logging.getLogger("pva.function_invoke")  # the name operators know

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_PASS = ("content-type", "accept", "x-pva-filename")  # the only client headers a function sees
DEFAULT_MAX_BODY = 32 * 1024**2


class InvokeError(ServiceError):
    """The invocation cannot go ahead or did not come back: ``status`` (400, 403, 404, 413, 502, 504) and a message
    saying what to do; the gateway answers it as any service's refusal."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class FunctionTarget:
    name: str       # metadata name (pva-ocr)
    directory: str  # directory under functions/ (ocr)
    port: int       # the local runtime's HTTP trigger port (0: none declared)
    max_body: int   # the trigger's maxRequestBodySize


@dataclass(frozen=True)
class InvokeResult:
    status: int
    body: bytes
    content_type: str


# ------------------------------------------------------------------ where the function is
# Parsed function.yaml per file, with the mtime it was read at: every invoke looks the function up (and may walk
# every directory to match a metadata name), so parsing and validating the YAML each time cost more than the call.
# An edited file is read again; one that fails to load is not kept (the error is logged on every call).
_specs: dict[Path, tuple[int, object]] = {}
_specs_lock = threading.Lock()


def _load_spec(directory: Path):
    from ..runtime.spec import load_function

    path = directory / "function.yaml"
    mtime = path.stat().st_mtime_ns
    with _specs_lock:
        hit = _specs.get(path)
    if hit is not None and hit[0] == mtime:
        return hit[1]
    spec = load_function(directory)
    with _specs_lock:
        _specs[path] = (mtime, spec)
    return spec


def find_function(functions_dir: str | Path, name: str) -> FunctionTarget:
    """Function `name` (directory or metadata name) with an HTTP trigger, or InvokeError 404/502."""
    from ..runtime.spec import SpecError

    if not _NAME.match(name or ""):
        raise InvokeError(404, "no such function (names are lower-case letters, digits and dashes)")
    root = Path(functions_dir)
    candidates = [root / name, root / name.removeprefix("pva-")]
    candidates += [p for p in sorted(root.glob("*")) if p not in candidates]
    for d in candidates:
        if not (d / "function.yaml").is_file():
            continue
        try:
            spec = _load_spec(d)
        except SpecError as e:
            if d.name == name:  # the function asked for exists but its spec is broken: say so (details in the log)
                log.error("function spec cannot be loaded", extra={"function": name, "error": str(e)})
                raise InvokeError(502, f"function {name!r} cannot be invoked: its function.yaml is invalid "
                                       "(the gateway log has the details)") from None
            continue
        if name not in (d.name, spec.name):
            continue
        for t in spec.triggers.values():
            if t.kind == "http":
                return FunctionTarget(spec.name, d.name, int(t.attributes.get("port") or 0),
                                      int(t.attributes.get("maxRequestBodySize") or DEFAULT_MAX_BODY))
        break
    raise InvokeError(404, f"no function {name!r} with an HTTP trigger (see `pva functions list`)")


def _url_map(raw: str) -> dict[str, str]:
    out = {}
    for entry in (raw or "").split(","):
        entry = entry.strip()
        if not entry:
            continue
        key, sep, url = entry.partition("=")
        if not sep or not key.strip() or not url.strip():
            raise InvokeError(502, f"PVA_FUNCTION_URLS entry {entry!r} is not name=url "
                                   "(e.g. ocr=http://nuclio-pva-ocr:8080)")
        out[key.strip()] = url.strip()
    return out


def function_url(target: FunctionTarget, settings: Settings | None = None) -> str:
    """Where the gateway reaches `target`'s HTTP trigger (see the module docstring for the order)."""
    s = settings or get_settings()
    urls = _url_map(s.function_urls)
    url = urls.get(target.directory) or urls.get(target.name)
    if not url and s.function_url_template:
        try:
            url = s.function_url_template.format(name=target.name, dir=target.directory)
        except (KeyError, IndexError, ValueError):
            raise InvokeError(502, "PVA_FUNCTION_URL_TEMPLATE may use only {name} and {dir} "
                                   "(e.g. http://nuclio-{name}:8080)") from None
    if not url:
        if not target.port:
            raise InvokeError(502, f"function {target.name!r} declares no HTTP port for the local runtime; set "
                                   "PVA_FUNCTION_URLS or PVA_FUNCTION_URL_TEMPLATE to where it runs")
        url = f"http://127.0.0.1:{target.port}/"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvokeError(502, f"the URL configured for function {target.name!r} is not http(s)://host[:port]; "
                               "fix PVA_FUNCTION_URLS / PVA_FUNCTION_URL_TEMPLATE")
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))


# ------------------------------------------------------------------ what the caller may do
def needed_scope(body: bytes, content_type: str) -> tuple[str, uuid.UUID | None]:
    """('write', media id) for a request that re-analyses stored media, ('read', None) for one that only
    answers.  InvokeError 400 for a media id that is not a UUID."""
    if function_auth.media_type(content_type) != "application/json" or not body:
        return "read", None
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return "read", None  # the function answers 400 for it; nothing is stored
    if not isinstance(doc, dict) or "media_id" not in doc:
        return "read", None
    try:
        return "write", uuid.UUID(str(doc["media_id"]))
    except ValueError:
        raise InvokeError(400, f"media_id {str(doc['media_id'])[:64]!r} is not a UUID") from None


def authorize(principal: Principal, body: bytes, content_type: str) -> None:
    """InvokeError 403 without the scope the request needs, 404 for media the caller does not own."""
    from ..db import media as media_db
    from ..infra import db

    scope, media_id = needed_scope(body, content_type)
    if not principal.has(scope):
        what = "re-analysing stored media stores its results" if scope == "write" else "invoking a function"
        raise InvokeError(403, f"{what}: this needs the '{scope}' scope, which this token lacks")
    if media_id is not None:
        with db.transaction() as cur:
            m = media_db.media_access(cur, media_id, principal.user_id)
        if m is None or m["access"] != "owner":
            raise InvokeError(404, "no such media")


# ------------------------------------------------------------------ forwarding
async def read_body(stream: AsyncIterable[bytes], max_body: int) -> bytes:
    """The whole body (functions take a sized body, as Nuclio's HTTP trigger does), or InvokeError 413."""
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > max_body:
            raise InvokeError(413, f"the body exceeds {max_body} bytes, the function's maxRequestBodySize; "
                                   "upload large files with POST /api/v1/media/upload")
    return bytes(body)


async def invoke(functions_dir: str | Path, name: str, principal: Principal, *, body: AsyncIterable[bytes],
                 headers: Mapping[str, str], query: Mapping[str, str]) -> InvokeResult:
    """Authorise, sign and forward one invocation; the function's answer (or InvokeError)."""
    import httpx

    target = find_function(functions_dir, name)
    url = function_url(target)
    data = await read_body(body, target.max_body)
    ctype = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    await asyncio.to_thread(authorize, principal, data, ctype)
    query = {str(k): str(v) for k, v in query.items()}
    # client-sent X-PVA-* (and Authorization) never pass: the signature says who is calling
    out = {k: v for k, v in headers.items() if k.lower() in _PASS}
    out.update(function_auth.sign("POST", urllib.parse.urlsplit(url).path, principal.username, data,
                                  content_type=ctype, scopes=principal.scopes, query=query))
    s = get_settings()
    timeout = httpx.Timeout(connect=5.0, read=float(s.function_timeout_seconds), write=600.0, pool=5.0)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            r = await client.post(url, content=data, headers=out, params=query)
    except (httpx.ConnectError, httpx.ConnectTimeout) as e:
        raise InvokeError(502, f"function {name!r} is not answering ({type(e).__name__}); start it with "
                               "`pva functions serve`, or set PVA_FUNCTION_URLS / PVA_FUNCTION_URL_TEMPLATE to "
                               "where it runs") from None
    except httpx.TimeoutException:
        raise InvokeError(504, f"function {name!r} did not answer within {s.function_timeout_seconds} s "
                               "(PVA_FUNCTION_TIMEOUT_SECONDS); try again later or with a smaller input") from None
    except httpx.HTTPError as e:
        raise InvokeError(502, f"function {name!r} is not answering ({type(e).__name__}); check that it runs "
                               "and that PVA_FUNCTION_URLS / PVA_FUNCTION_URL_TEMPLATE point at it") from None
    if r.status_code == 401:
        # the caller was authenticated here; a function refusing the gateway's signature is a deployment fault
        log.error("function refused the gateway's signature", extra={"function": name, "answer": r.text[:300]})
        raise InvokeError(502, f"function {name!r} refused the gateway's signature: the gateway and the functions "
                               "must share PVA_FUNCTION_SECRET (and their clocks)")
    return InvokeResult(r.status_code, r.content, r.headers.get("content-type", "application/octet-stream"))


__all__ = ["InvokeError", "InvokeResult", "FunctionTarget", "find_function", "function_url", "authorize",
           "needed_scope", "invoke"]
