"""The web UI: server-rendered Jinja2 pages (autoescaped) with small ES modules that call the REST API.

    from gateway.routers import web
    web.install(app)        # pages, /static (web/static) and /vendor (whitelisted files of web/node_modules)

Pages are sent with a Content-Security-Policy (script-src 'self', no inline scripts or handlers): data reaches the
scripts through data-* attributes and <script type="application/json"> blocks.  A page needs a login session (or
an API token); without one a browser is redirected to /login, other clients get 401.  An id the viewer may not
see gives 404 like the API (HTML for browsers, JSON otherwise).
"""
from __future__ import annotations

import mimetypes
import urllib.parse
from uuid import UUID

import jinja2
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from pva.config import REPO_ROOT, get_settings
from pva.errors import Forbidden, NotFound
from pva.services import albums as albums_service
from pva.services import media as media_service
from pva.services import people as people_service
from pva.services import search as search_service
from pva.services import stats as stats_service
from pva.services.auth import Principal

from ..deps import viewer
from ..media_view import detail_out
from ..web_format import exif_rows, fmt_bytes, fmt_dt, jsonable

WEB_DIR = REPO_ROOT / "web"
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"
NODE_MODULES = WEB_DIR / "node_modules"

# /vendor/<name> -> web/node_modules/<file>: only these files of the npm packages are served.
VENDOR = {
    "leaflet/leaflet.js": "leaflet/dist/leaflet.js",
    "leaflet/leaflet.css": "leaflet/dist/leaflet.css",
    **{f"leaflet/images/{n}": f"leaflet/dist/images/{n}" for n in (
        "marker-icon.png", "marker-icon-2x.png", "marker-shadow.png", "layers.png", "layers-2x.png")},
    "leaflet.markercluster/leaflet.markercluster.js": "leaflet.markercluster/dist/leaflet.markercluster.js",
    "leaflet.markercluster/MarkerCluster.css": "leaflet.markercluster/dist/MarkerCluster.css",
    "leaflet.markercluster/MarkerCluster.Default.css": "leaflet.markercluster/dist/MarkerCluster.Default.css",
    "chart.js/chart.umd.min.js": "chart.js/dist/chart.umd.min.js",
    # the maps' built-in world layer (web/static/js/basemap.js): Natural Earth 1:50m as TopoJSON, and its reader
    "world-atlas/countries-50m.json": "world-atlas/countries-50m.json",
    "topojson-client/topojson-client.min.js": "topojson-client/dist/topojson-client.min.js",
}

router = APIRouter(include_in_schema=False)

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
_env.filters["bytes"] = fmt_bytes
_env.filters["dt"] = fmt_dt


# ---------------------------------------------------------------- security headers
def _tile_origin(url: str) -> str:
    """The CSP source for the tile server of settings.tile_url ('' when there is none)."""
    if not url:
        return ""
    p = urllib.parse.urlsplit(url.replace("{s}", "__sub__"))
    if p.scheme not in ("http", "https") or not p.hostname:
        return ""
    host = p.hostname.replace("__sub__", "*")
    return f"{p.scheme}://{host}" + (f":{p.port}" if p.port else "")


def csp_header() -> str:
    tiles = _tile_origin(get_settings().tile_url)
    img = "'self' data: blob:" + (f" {tiles}" if tiles else "")
    return ("default-src 'self'; script-src 'self'; style-src 'self'; "
            f"img-src {img}; media-src 'self' blob:; connect-src 'self'; font-src 'self'; object-src 'none'; "
            "base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _headers() -> dict:
    return {"Content-Security-Policy": csp_header(), "Referrer-Policy": "same-origin",
            "X-Frame-Options": "DENY", "Cache-Control": "no-store"}


def render(request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
    user = getattr(request.state, "principal", None)
    s = get_settings()
    html = _env.get_template(template).render(request=request, user=user, tile_url=s.tile_url,
                                              path=request.url.path, **ctx)
    return HTMLResponse(html, status_code=status, headers=_headers())


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


class _LoginRedirect(Exception):
    pass


async def _viewer(request: Request) -> Principal:
    """The logged-in user for a page, with the `read` scope (else 403 like the API); raises _LoginRedirect
    (browsers) or 401 (others) when nobody is logged in."""
    try:
        return await viewer(request)
    except HTTPException as e:
        if e.status_code == 401 and _wants_html(request):
            raise _LoginRedirect() from None
        raise


def _login_redirect(request: Request) -> RedirectResponse:
    target = safe_next(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    return RedirectResponse("/login?next=" + urllib.parse.quote(target, safe=""), status_code=303)


# what WHATWG URL parsing ignores or rewrites: C0 controls and space trimmed at both ends, tab/LF/CR dropped
# anywhere, and (for http/https) a backslash read as a slash in the path
_URL_TRIM = "".join(map(chr, range(0x21)))
_URL_DROP = str.maketrans("", "", "\t\n\r")
# dot segments browsers resolve, percent-encoded or not ("/%2e%2e//evil" becomes "//evil" once resolved)
_DOT_SEGMENTS = {".", "..", "%2e", ".%2e", "%2e.", "%2e%2e"}


def safe_next(raw: str | None) -> str:
    """The same-origin path to go to after login, or "/" when `raw` could lead anywhere else.

    Checked after normalising `raw` the way a browser will when the login page assigns it to location.href:
    "/\\evil.example/" and "/<tab>/evil.example/" both become "//evil.example/", a link to another host.  Only a
    path starting with exactly one slash survives, without dot segments or control characters."""
    if not raw or len(raw) > 2000:
        return "/"
    s = raw.strip(_URL_TRIM).translate(_URL_DROP)
    cut = min([i for i in (s.find("?"), s.find("#")) if i >= 0], default=len(s))
    path, rest = s[:cut].replace("\\", "/"), s[cut:]
    if not path.startswith("/") or path.startswith("//"):
        return "/"  # a scheme ("http:", "javascript:"), an authority ("//host") or a relative path
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in s):
        return "/"
    if any(seg.lower() in _DOT_SEGMENTS for seg in path.split("/")):
        return "/"
    return path + rest


def _not_found_page(request: Request, what: str):
    if _wants_html(request):
        return render(request, "404.html", status=404, what=what)
    return JSONResponse({"error": "not_found", "message": f"no such {what}"}, status_code=404)


def page(template: str | None = None):
    """Decorator for page handlers: login check, then the handler's context rendered with `template`."""
    def wrap(fn):
        import functools

        @functools.wraps(fn)
        async def handler(request: Request, **kw):
            try:
                user = await _viewer(request)
            except _LoginRedirect:
                return _login_redirect(request)
            try:
                ctx = await run_in_threadpool(fn, request, user, **kw)
            except NotFound as e:
                return _not_found_page(request, str(e).removeprefix("no such "))
            except HTTPException as e:
                if e.status_code == 404:
                    return _not_found_page(request, str(e.detail).removeprefix("no such "))
                raise
            if isinstance(ctx, Response):
                return ctx
            return render(request, template, **(ctx or {}))

        import inspect

        params = [inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)]
        params += [p for name, p in inspect.signature(fn).parameters.items() if name not in ("request", "user")]
        handler.__signature__ = inspect.Signature(params)
        return handler
    return wrap


# ---------------------------------------------------------------- pages
@router.get("/login")
async def login_page(request: Request, next: str = "/"):
    return render(request, "login.html", next=safe_next(next))


@router.get("/")
@page("library.html")
def library_page(request: Request, user: Principal):
    return {"title": "Library"}


@router.get("/upload")
@page("upload.html")
def upload_page(request: Request, user: Principal):
    return {"title": "Upload", "max_bytes": get_settings().max_upload_bytes}


@router.get("/search")
@page("search.html")
def search_page(request: Request, user: Principal):
    people = [{"id": str(p["id"]), "name": p["name"] or "unnamed"} for p in people_service.list_people(user.user_id)]
    return {"title": "Search", "people": people}


@router.get("/map")
@page("map.html")
def map_page(request: Request, user: Principal):
    return {"title": "Map"}


@router.get("/media/{media_id}")
@page("detail.html")
def detail_page(request: Request, user: Principal, media_id: UUID):
    m = media_service.detail(media_id, user.user_id)
    if m is None:
        raise NotFound("media")
    m = detail_out(m)
    m["id"] = str(m["id"])
    owned = m.get("access") == "owner"
    albums = [a for a in albums_service.list_for(user.user_id) if not a.get("shared")] if owned else []
    data = {"id": m["id"], "kind": m["kind"], "owned": owned, "gps": m["gps"],
            "detections": m["detections"], "faces": m["faces"], "ocr_words": (m.get("ocr") or {}).get("words") or [],
            "transcript": (m.get("transcript") or {}).get("segments") or [],
            "width": m.get("width"), "height": m.get("height")}
    return {"title": m.get("filename") or "Item", "m": m, "exif": exif_rows(m), "albums": albums,
            "nav": search_service.neighbours(m, user, request.query_params.get("in", "")[:2000]),
            "data": jsonable(data), "me": str(user.user_id)}


@router.get("/albums")
@page("albums.html")
def albums_page(request: Request, user: Principal):
    return {"title": "Albums", "albums": albums_service.list_for(user.user_id)}


@router.get("/albums/{album_id}")
@page("album.html")
def album_page(request: Request, user: Principal, album_id: UUID):
    a = albums_service.get_visible(album_id, user.user_id)
    if a is None:
        raise NotFound("album")
    return {"title": a["name"], "album": a}


@router.get("/people")
@page("people.html")
def people_page(request: Request, user: Principal):
    return {"title": "People", "people": people_service.list_people(user.user_id, include_hidden=True)}


@router.get("/people/{person_id}")
@page("person.html")
def person_page(request: Request, user: Principal, person_id: UUID):
    d = people_service.person_page(user.user_id, person_id)
    if d is None:
        raise NotFound("person")
    return {"title": d["person"]["name"] or "unnamed", **d}


@router.get("/stats")
@page("stats.html")
def stats_page(request: Request, user: Principal):
    st = stats_service.library(user.user_id)
    return {"title": "Statistics", "st": st, "data": jsonable({"timeline": st["timeline"]})}


@router.get("/duplicates")
@page("duplicates.html")
def duplicates_page(request: Request, user: Principal):
    return {"title": "Duplicates"}  # the groups come from GET /api/v1/duplicates (web/static/js/duplicates.js)


@router.get("/jobs")
@page("jobs.html")
def jobs_page(request: Request, user: Principal):
    return {"title": "Jobs"}


@router.get("/tokens")
@page()
def tokens_page(request: Request, user: Principal):
    """Tokens are managed on the account page now; old links and bookmarks land there."""
    return RedirectResponse("/account#tokens", status_code=303)


# ---------------------------------------------------------------- trash, account, administration (issue 18)
@router.get("/trash")
@page("trash.html")
def trash_page(request: Request, user: Principal):
    return {"title": "Trash", "trash_days": get_settings().trash_retention_days}


@router.get("/account")
@page("account.html")
def account_page(request: Request, user: Principal):
    return {"title": "Account", "is_admin": user.is_admin}


@router.get("/admin/users")
@page("admin_users.html")
def admin_users_page(request: Request, user: Principal):
    if not user.has("admin"):  # like GET /api/v1/users: an HTML page for browsers, the API's answer for others
        if _wants_html(request):
            return render(request, "403.html", status=403)
        raise Forbidden("administrators only")
    return {"title": "Users", "me": str(user.user_id)}


# ---------------------------------------------------------------- vendor files
@router.get("/vendor/{name:path}")
async def vendor_file(name: str):
    """Whitelisted browser-library files from web/node_modules (installed by `make` / scripts/install.sh)."""
    rel = VENDOR.get(name)
    if rel is None:
        raise HTTPException(404, f"no vendor file {name!r}")
    path = NODE_MODULES / rel
    if not path.is_file():
        raise HTTPException(404, f"{name} is not installed: run `make install` (npm install in web/)")
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    if path.suffix == ".js":
        ctype = "text/javascript"
    return FileResponse(path, media_type=ctype, headers={"Cache-Control": "public, max-age=86400"})


def install(app: FastAPI) -> FastAPI:
    """Add the web UI to the gateway app (idempotent)."""
    if getattr(app.state, "web_installed", False):
        return app
    app.state.web_installed = True
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
    app.include_router(router)
    return app


__all__ = ["router", "install", "csp_header", "VENDOR", "render", "safe_next"]
