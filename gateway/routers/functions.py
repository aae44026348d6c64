"""POST /api/v1/functions/{name}/invoke: a function's HTTP trigger, for the authenticated caller.

The work is in pva.services.functions: a stored media id needs `write` and the caller's own media (404 otherwise),
posted bytes need `read`; the request reaches the function signed by the gateway (client-sent X-PVA-* headers are
dropped, so nobody can act as another user); a function that is unreachable answers 502, a slow one 504."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from pva.services import functions

from ..deps import Principal, authenticated

router = APIRouter(prefix="/api/v1", tags=["functions"])


@router.post("/functions/{name}/invoke", response_class=Response,
             responses={200: {"description": "the function's own answer (JSON for the analysis functions)"}})
async def invoke_function(name: str, request: Request, user: Principal = Depends(authenticated)) -> Response:
    """Forward the request body to the function and answer with its response."""
    r = await functions.invoke(request.app.state.functions_dir, name, user, body=request.stream(),
                               headers=request.headers, query=request.query_params)
    return Response(r.body, status_code=r.status, media_type=r.content_type)
