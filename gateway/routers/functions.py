"""POST /api/v1/functions/{name}/invoke: forward to a function's HTTP trigger after authentication.

The function is found by directory or metadata name under functions/; its http trigger's port is read from
function.yaml.  The caller's identity is passed as X-PVA-Owner / X-PVA-User-Id (client-sent X-PVA-* headers are
dropped so nobody can act as another user)."""
from __future__ import annotations

import re

import httpx
from fastapi import APIRouter, Depends, HTTPException, Request, Response

from ..deps import Principal, current_user

router = APIRouter(prefix="/api/v1", tags=["functions"])
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
_PASS = ("content-type", "accept", "x-pva-filename")
TIMEOUT = httpx.Timeout(connect=5.0, read=1800.0, write=600.0, pool=5.0)


def http_trigger(functions_dir, name: str) -> tuple[int, int] | None:
    """(port, max body bytes) of function `name`'s HTTP trigger (directory or metadata name), None without one."""
    from pathlib import Path

    from pva.runtime.spec import SpecError, load_function

    root = Path(functions_dir)
    candidates = [root / name, root / name.removeprefix("pva-")]
    candidates += [p for p in sorted(root.glob("*")) if p not in candidates]
    for d in candidates:
        if not (d / "function.yaml").is_file():
            continue
        try:
            spec = load_function(d)
        except SpecError:
            if d.name == name:
                raise  # the function asked for exists but its spec is broken: say so
            continue
        if name not in (d.name, spec.name):
            continue
        for t in spec.triggers.values():
            if t.kind == "http" and t.attributes.get("port"):
                return int(t.attributes["port"]), int(t.attributes.get("maxRequestBodySize") or 32 * 1024**2)
        return None
    return None


@router.post("/functions/{name}/invoke")
async def invoke_function(name: str, request: Request, user: Principal = Depends(current_user)):
    """Forward the request body to the function and answer with its response."""
    if not _NAME.match(name):
        raise HTTPException(404, "no such function")
    from pva.runtime.spec import SpecError

    try:
        trigger = http_trigger(request.app.state.functions_dir, name)
    except SpecError as e:
        raise HTTPException(502, f"function {name!r} cannot be invoked: {e}") from None
    if trigger is None:
        raise HTTPException(404, f"no function {name!r} with an HTTP trigger (see `pva functions list`)")
    port, max_body = trigger
    body = bytearray()
    async for chunk in request.stream():  # functions take a sized body (as Nuclio's HTTP trigger does)
        body += chunk
        if len(body) > max_body:
            raise HTTPException(413, f"the body exceeds {max_body} bytes, the function's maxRequestBodySize; "
                                     "upload large files with POST /api/v1/media/upload")
    headers = {k: v for k, v in request.headers.items() if k.lower() in _PASS}
    headers["X-PVA-Owner"] = user.username
    headers["X-PVA-User-Id"] = str(user.user_id)
    url = f"http://127.0.0.1:{port}/"
    try:
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            r = await client.post(url, content=bytes(body), headers=headers,
                                  params=dict(request.query_params))
    except httpx.HTTPError as e:
        raise HTTPException(502, f"function {name!r} is not answering on port {port} ({type(e).__name__}); "
                                 "is `pva functions serve` running?") from None
    keep = {k: v for k, v in r.headers.items() if k.lower() in ("content-type",)}
    return Response(r.content, status_code=r.status_code, headers=keep)
