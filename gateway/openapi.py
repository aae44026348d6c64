"""The OpenAPI document tells the truth: every status an operation can answer is listed, with the error body.

FastAPI documents only a route's success and its 422, but the gateway answers more from central places: 401 from
`authenticated`, 403 from the scope checks (and CSRF on cookie writes), 404 for any id that is not the caller's,
422 with our own error body, 503 when the database is away (gateway.app's handlers).  install() derives those
from each route's dependencies and parameters, so a new route is documented the way it behaves without anyone
remembering to; what only a handler knows (409, 413, 415, ...) is declared once in EXTRA below, the binary
answers (thumbnails, originals, face crops) in FILES, and the model of each JSON success body in MODELS (kept here
rather than as response_model= on the routes: documenting must not filter or re-validate what a route returns).  tests/test_openapi_fuzz.py checks the result against the
running app (Schemathesis) and against the authorization matrix.

    from gateway import openapi
    openapi.install(app)      # create_app() does this
"""
from __future__ import annotations

import typing
from typing import Any
from uuid import UUID

from fastapi import FastAPI

from . import schemas
from .schemas import ErrorOut

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
DESCRIPTIONS = {
    400: "The request cannot be used as sent (the message says why)",
    401: "No credentials, or an unknown, revoked or expired token or session",
    403: "The token lacks the scope this needs, the session's X-CSRF-Token is missing or wrong, or the action is "
         "for administrators",
    404: "No such item, or it is not yours (the same answer either way)",
    409: "The item is not in a state that allows this",
    413: "The request body is too large",
    415: "The body's media type is not accepted here",
    416: "The requested byte range is outside the file",
    422: "A parameter or the body does not validate (the message names it)",
    429: "Too many attempts; retry after Retry-After seconds",
    502: "The function behind this route is unreachable or misconfigured",
    503: "A service the gateway needs (database, face model) is unavailable; retry shortly",
    504: "The function behind this route did not answer in time",
}
HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "Bearer realm=\"pva\""}},
    429: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
    503: {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait"}},
}

V1 = "/api/v1"
# Statuses only the handler knows about, per operation (the generic ones are derived in _statuses).
EXTRA: dict[tuple[str, str], set[int]] = {
    ("POST", f"{V1}/auth/login"): {401, 429},
    ("POST", f"{V1}/tokens"): {400},
    ("POST", f"{V1}/users"): {400, 409},
    ("POST", f"{V1}/auth/password"): {400, 429},
    ("PATCH", f"{V1}/users/{{user_id}}"): {409},
    ("POST", f"{V1}/users/{{user_id}}/password"): {400},
    ("GET", f"{V1}/media"): {404},                     # ids in the query (person, album, similar_face)
    ("GET", f"{V1}/search/facets"): {404},
    ("POST", f"{V1}/media/upload"): {400, 413, 415, 422},
    ("POST", f"{V1}/media/have"): {422},
    ("DELETE", f"{V1}/media/{{media_id}}"): {409},
    ("POST", f"{V1}/albums/{{album_id}}/shares"): {429},
    ("POST", f"{V1}/faces/similar"): {400, 413, 415},
    ("POST", f"{V1}/functions/{{name}}/invoke"): {400, 413, 415, 502, 504},
    ("GET", "/readyz"): {503},
}
# Operations answering with file bytes: their content types; all support Range (206/416) and ETag (304).
FILES: dict[tuple[str, str], list[str]] = {
    ("GET", f"{V1}/media/{{media_id}}/thumbnail"): ["image/jpeg"],
    ("GET", f"{V1}/faces/{{face_id}}/crop"): ["image/jpeg"],
    ("GET", f"{V1}/media/{{media_id}}/original"): ["image/*", "video/*", "application/octet-stream"],
    ("GET", f"{V1}/media/{{media_id}}/playback"): ["video/*", "image/*", "application/octet-stream"],
    ("GET", f"{V1}/media/{{media_id}}/files/{{role}}"): ["image/*", "video/*", "application/octet-stream"],
}
# The body of each JSON success answer (gateway/schemas.py); a list means a JSON array of that model.
S = schemas
MODELS: dict[tuple[str, str], tuple[int, Any]] = {
    ("GET", "/healthz"): (200, S.Status),
    ("GET", "/readyz"): (200, S.Ready),
    ("GET", f"{V1}/auth/me"): (200, S.Me),
    ("GET", f"{V1}/media"): (200, S.MediaPage),
    ("GET", f"{V1}/search/facets"): (200, S.Facets),
    ("GET", f"{V1}/search/suggest"): (200, S.Suggestions),
    ("GET", f"{V1}/media/{{media_id}}"): (200, S.MediaDetail),
    ("GET", f"{V1}/media/{{media_id}}/burst"): (200, S.Burst),
    ("GET", f"{V1}/memories"): (200, S.Memories),
    ("POST", f"{V1}/media/upload"): (200, S.UploadOut),
    ("POST", f"{V1}/media/have"): (200, S.HaveOut),
    ("PUT", f"{V1}/media/{{media_id}}/gps"): (200, S.GpsOut),
    ("DELETE", f"{V1}/media/{{media_id}}/gps"): (200, S.GpsOut),
    ("POST", f"{V1}/media/{{media_id}}/trash"): (200, S.TrashOut),
    ("POST", f"{V1}/media/{{media_id}}/restore"): (200, S.TrashOut),
    ("POST", f"{V1}/trash/empty"): (200, S.Purged),
    ("POST", f"{V1}/media/bulk/trash"): (200, S.BulkOut),
    ("POST", f"{V1}/media/bulk/restore"): (200, S.BulkOut),
    ("POST", f"{V1}/media/bulk/location"): (200, S.BulkOut),
    ("POST", f"{V1}/media/bulk/albums/{{album_id}}/add"): (200, S.BulkOut),
    ("POST", f"{V1}/media/bulk/albums/{{album_id}}/remove"): (200, S.BulkOut),
    ("GET", f"{V1}/media/{{media_id}}/comments"): (200, [S.Comment]),
    ("POST", f"{V1}/media/{{media_id}}/comments"): (201, S.Comment),
    ("PATCH", f"{V1}/comments/{{comment_id}}"): (200, S.Comment),
    ("GET", f"{V1}/albums"): (200, [S.Album]),
    ("POST", f"{V1}/albums"): (201, S.Album),
    ("GET", f"{V1}/albums/{{album_id}}"): (200, S.AlbumDetail),
    ("PATCH", f"{V1}/albums/{{album_id}}"): (200, S.Album),
    ("POST", f"{V1}/albums/{{album_id}}/media"): (200, S.AlbumAdded),
    ("PUT", f"{V1}/albums/{{album_id}}/cover"): (200, S.Album),
    ("GET", f"{V1}/albums/{{album_id}}/shares"): (200, [S.AlbumShare]),
    ("POST", f"{V1}/albums/{{album_id}}/shares"): (201, S.Shared),
    ("GET", f"{V1}/albums/{{album_id}}/links"): (200, [S.AlbumLink]),
    ("POST", f"{V1}/albums/{{album_id}}/links"): (201, S.AlbumLinkCreated),
    ("GET", f"{V1}/people"): (200, [S.Person]),
    ("GET", f"{V1}/people/{{person_id}}"): (200, S.Person),
    ("PATCH", f"{V1}/people/{{person_id}}"): (200, S.Person),
    ("POST", f"{V1}/people/{{person_id}}/merge"): (200, S.MergedPerson),
    ("POST", f"{V1}/people/merges/{{merge_id}}/undo"): (200, S.UndoneMerge),
    ("GET", f"{V1}/people/{{person_id}}/faces"): (200, [S.FaceLinks]),
    ("PUT", f"{V1}/faces/{{face_id}}/person"): (200, S.Face),
    ("POST", f"{V1}/faces/{{face_id}}/move-out"): (200, S.MovedOut),
    ("GET", f"{V1}/faces/{{face_id}}/similar"): (200, S.SimilarFaces),
    ("POST", f"{V1}/faces/similar"): (200, S.PhotoFaces),
    ("GET", f"{V1}/stats"): (200, S.Stats),
    ("GET", f"{V1}/stats/timeline"): (200, [S.Month]),
    ("GET", f"{V1}/jobs"): (200, S.JobCounts),
    ("GET", f"{V1}/jobs/failed"): (200, [S.FailedJob]),
    ("GET", f"{V1}/media/{{media_id}}/jobs"): (200, [S.Job]),
    ("POST", f"{V1}/jobs/retry"): (200, S.Requeued),
    ("POST", f"{V1}/jobs/reanalyse"): (200, S.Requeued),
    ("GET", f"{V1}/duplicates"): (200, S.DuplicateGroups),
    ("POST", f"{V1}/duplicates/resolve-all"): (200, S.ResolvedAll),
    ("POST", f"{V1}/duplicates/{{group_id}}/resolve"): (200, S.Resolved),
    ("POST", f"{V1}/duplicates/{{group_id}}/dismiss"): (200, S.Dismissed),
}
# Routes that do not touch the database (no 503 from its handlers).
NO_DATABASE = {("GET", "/healthz")}


def _calls(dependant) -> set:
    out = set()
    for d in dependant.dependencies:
        if d.call is not None:
            out.add(d.call)
        out |= _calls(d)
    return out


def _mentions_id(annotation) -> bool:
    """Does a parameter's or body field's type hold a UUID (an id that must be the caller's)?"""
    if annotation is UUID:
        return True
    fields = getattr(annotation, "model_fields", None)
    if fields:
        return any(_mentions_id(f.annotation) for f in fields.values())
    return any(_mentions_id(a) for a in typing.get_args(annotation))


def _statuses(route) -> set[int]:
    """The error statuses `route` can answer, read from its dependencies and parameters."""
    from .deps import authenticated

    codes: set[int] = set()
    calls = _calls(route.dependant)
    if authenticated in calls:
        codes |= {401, 403}  # every authenticated route: scopes, or CSRF on a cookie write
    d = route.dependant
    params = [*d.path_params, *d.query_params, *d.header_params, *d.cookie_params, *d.body_params]
    if d.path_params or any(_mentions_id(p.field_info.annotation) for p in params):
        codes.add(404)
    if params:
        codes.add(422)
    if d.body_params:
        codes.add(400)  # FastAPI answers a body that does not parse (malformed JSON) with 400 before validating
    return codes


def _route_table(app: FastAPI) -> dict[tuple[str, str], Any]:
    try:
        from fastapi.routing import iter_route_contexts

        contexts = [c.route for c in iter_route_contexts(app.routes)]
    except ImportError:
        contexts = list(app.routes)
    return {(m, r.path): r for r in contexts if hasattr(r, "dependant") for m in (getattr(r, "methods", None) or ())}


def statuses_for(app: FastAPI, method: str, path: str) -> set[int]:
    """Every error status the document lists for one operation (for tests and for documenting)."""
    route = _route_table(app).get((method, path))
    codes = (_statuses(route) if route is not None else set()) | EXTRA.get((method, path), set())
    if (method, path) not in NO_DATABASE:
        codes.add(503)
    return codes


def _add_model(components: dict, model) -> dict:
    """Put `model` (and the models it uses) into the components; its reference."""
    doc = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in doc.pop("$defs", {}).items():
        components.setdefault(name, sub)
    if components.get(model.__name__, doc) != doc:  # a router's model of the same name: refuse, never overwrite
        raise RuntimeError(f"two OpenAPI models are named {model.__name__}: rename one")
    components[model.__name__] = doc
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _document(app: FastAPI, schema: dict) -> None:
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    _add_model(components, ErrorOut)
    # FastAPI's own validation models describe a body the gateway never sends (gateway.app answers 422 with ErrorOut)
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if method.upper() not in {"GET", "PUT", "POST", "DELETE", "PATCH", "HEAD", "OPTIONS"}:
                continue
            key = (method.upper(), path)
            responses = op.setdefault("responses", {})
            for code in sorted(statuses_for(app, *key)):
                entry = {"description": DESCRIPTIONS.get(code, "Error"),
                         "content": {"application/json": {"schema": ERROR_REF}}}
                if code in HEADERS:
                    entry["headers"] = HEADERS[code]
                responses[str(code)] = entry
            if key in MODELS:
                code, model = MODELS[key]
                body = ({"type": "array", "items": _add_model(components, model[0])} if isinstance(model, list)
                        else _add_model(components, model))
                entry = responses.setdefault(str(code), {"description": "Successful Response"})
                entry["content"] = {"application/json": {"schema": body}}
            if key in FILES:
                binary = {"schema": {"type": "string", "format": "binary"}}
                content = {ct: binary for ct in FILES[key]}
                etag = {"ETag": {"schema": {"type": "string"}}}
                responses["200"] = {"description": "The file's bytes", "content": content, "headers": etag}
                responses["206"] = {"description": "The requested byte range (Range: bytes=...)", "content": content,
                                    "headers": {**etag, "Content-Range": {"schema": {"type": "string"}}}}
                responses["304"] = {"description": "Not modified (If-None-Match matched the ETag)", "headers": etag}
                responses["416"] = {"description": DESCRIPTIONS[416],
                                    "content": {"application/json": {"schema": ERROR_REF}},
                                    "headers": {"Content-Range": {"schema": {"type": "string"}}}}
            op["responses"] = dict(sorted(responses.items()))


def install(app: FastAPI) -> FastAPI:
    """Make app.openapi() document every status (idempotent; FastAPI regenerates the document when routes are
    added, and each new document is completed again)."""
    if getattr(app.state, "openapi_installed", False):
        return app
    app.state.openapi_installed = True
    generate = app.openapi
    done: dict[str, int] = {}

    def openapi() -> dict:
        schema = generate()
        if done.get("id") != id(schema):
            _document(app, schema)
            done["id"] = id(schema)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods some route answers at `path` (for the Allow header of a 405)."""
    from starlette.routing import compile_path

    methods: set[str] = set()
    for template, route_methods, _ in iter_routes(app):
        if route_methods and compile_path(template)[0].match(path):
            methods |= route_methods
    return sorted(methods)


def iter_routes(app: FastAPI):
    """(path, methods, endpoint) of every route, including those of included routers (FastAPI may keep included
    routers as lazy branches in app.routes)."""
    try:
        from fastapi.routing import iter_route_contexts

        contexts = iter_route_contexts(app.routes)
    except ImportError:
        contexts = app.routes
    for r in contexts:
        path = getattr(r, "path", None)
        if path:
            yield path, set(getattr(r, "methods", None) or ()), getattr(r, "endpoint", None)


__all__ = ["install", "statuses_for", "allowed_methods", "iter_routes", "EXTRA", "FILES", "MODELS"]
