"""Web pages without a browser (runs where chromium is absent): login redirects, security headers, autoescaped
user data on every server-rendered page, other users' ids answer 404, the /vendor whitelist."""
from __future__ import annotations

import json
import re

import pytest

from test_gateway_helpers import add_comment, add_job, insert_media, new_user

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def app(services):
    from gateway.app import create_app
    from gateway.routers import web

    return web.install(create_app())


def login(app, user):
    from fastapi.testclient import TestClient

    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/api/v1/auth/login", json={"username": user["username"], "password": user["password"]})
    assert r.status_code == 200, r.text
    return c


@pytest.fixture(scope="module")
def alice(services):
    return new_user()


@pytest.fixture(scope="module")
def ca(app, alice):
    return login(app, alice)


def test_install_is_idempotent_and_serving_app_has_the_ui(app):
    from gateway.app import create_serving_app
    from gateway.openapi import iter_routes
    from gateway.routers import web

    n = len(list(iter_routes(app)))
    web.install(app)
    assert len(list(iter_routes(app))) == n
    paths = {p for p, _, _ in iter_routes(create_serving_app())}
    assert {"/", "/search", "/media/{media_id}"} <= paths


def test_pages_redirect_browsers_to_login_and_answer_401_to_others(app):
    from fastapi.testclient import TestClient

    c = TestClient(app, raise_server_exceptions=False)
    r = c.get("/search?label=bus", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fsearch%3Flabel%3Dbus"
    r = c.get("/stats")
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/json")
    login_page = c.get("/login?next=//evil.example/")
    assert login_page.status_code == 200 and 'data-next="/"' in login_page.text


@pytest.mark.parametrize("path", ["/", "/upload", "/search", "/map", "/albums", "/people", "/stats", "/jobs",
                                  "/tokens", "/login", "/duplicates"])
def test_every_page_sends_a_csp_and_has_no_inline_script_or_handler(ca, path):
    r = ca.get(path, headers=HTML)
    assert r.status_code == 200, r.text[:300]
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "object-src 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    for m in re.finditer(r"<script([^>]*)>(.*?)</script>", r.text, re.S):
        attrs, body = m.groups()
        assert "src=" in attrs or 'type="application/json"' in attrs, f"inline script on {path}: {m.group(0)[:200]}"
    assert not re.search(r"\son[a-z]+\s*=", r.text), f"inline event handler on {path}"


def test_tile_server_setting_reaches_the_page_and_the_csp(ca, monkeypatch):
    from pva.config import reload_settings

    monkeypatch.setenv("PVA_TILE_URL", "https://{s}.tile.example.org/{z}/{x}/{y}.png")
    reload_settings()
    try:
        r = ca.get("/map", headers=HTML)
        assert 'data-tile-url="https://{s}.tile.example.org/{z}/{x}/{y}.png"' in r.text
        assert "img-src 'self' data: blob: https://*.tile.example.org" in r.headers["content-security-policy"]
        monkeypatch.setenv("PVA_TILE_URL", "")  # no tiles: the maps show only their built-in world
        reload_settings()
        r = ca.get("/map", headers=HTML)
        assert 'data-tile-url=""' in r.text and "img-src 'self' data: blob:;" in r.headers["content-security-policy"]
    finally:
        monkeypatch.delenv("PVA_TILE_URL")
        reload_settings()
    # by default OpenStreetMap's tiles (basemap.js gives them their attribution)
    r = ca.get("/map", headers=HTML)
    assert 'data-tile-url="https://tile.openstreetmap.org/{z}/{x}/{y}.png"' in r.text
    assert "img-src 'self' data: blob: https://tile.openstreetmap.org;" in r.headers["content-security-policy"]


def test_user_data_is_escaped_on_server_rendered_pages(app, ca, alice):
    from pva.services import albums

    m = insert_media(alice["id"], filename=XSS, camera_make=XSS, kind="video", format="mp4", mime="video/mp4",
                     duration=12.5, metadata={"note": XSS})
    add_comment(m["id"], alice["id"], XSS)
    add_job(m["id"], "transcribe", "failed", XSS)
    from pva.infra import db

    db.execute("""insert into transcripts(media_id, text, segments, engine, model)
                  values (%s, %s, %s, 'test', 'test')""",
               (m["id"], XSS, json.dumps([{"start": 0.0, "end": 2.5, "text": XSS}])))
    a = albums.create(alice["id"], XSS)
    albums.add_media(a["id"], alice["id"], [m["id"]])
    pages = [f"/media/{m['id']}", "/albums", f"/albums/{a['id']}", "/stats"]
    for path in pages:
        r = ca.get(path, headers=HTML)
        assert r.status_code == 200, (path, r.text[:300])
        assert "<script>alert" not in r.text and "<img src=x" not in r.text, path
    detail = ca.get(f"/media/{m['id']}", headers=HTML).text
    assert detail.count("&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;") >= 5  # name, comment, segment, job, exif
    assert '<video id="player"' in detail and 'data-start="0.0"' in detail
    # the JSON block for the scripts cannot end the <script> element early
    block = re.search(r'<script type="application/json" id="media-data">(.*?)</script>', detail, re.S).group(1)
    assert "</" not in block and json.loads(block)["transcript"][0]["text"] == XSS


def test_other_users_items_and_albums_are_404(app, ca):
    from pva.services import albums

    bob = new_user()
    theirs = insert_media(bob["id"], filename="bob-secret.jpg")
    album = albums.create(bob["id"], "bob-secret-album")
    for path in (f"/media/{theirs['id']}", f"/albums/{album['id']}"):
        r = ca.get(path, headers=HTML)
        assert r.status_code == 404 and "Not found" in r.text and "bob-secret" not in r.text
        r = ca.get(path)
        assert r.status_code == 404 and r.json()["error"] == "not_found" and "bob-secret" not in r.text
    assert ca.get("/media/not-a-uuid", headers=HTML).status_code == 422


def test_previous_and_next_follow_library_order(ca, alice):
    from datetime import datetime, timezone

    u = new_user()
    c = login(ca.app, u)
    items = [insert_media(u["id"], taken_at=datetime(2020, 1, d, tzinfo=timezone.utc)) for d in (1, 2, 3)]
    html = c.get(f"/media/{items[1]['id']}", headers=HTML).text
    assert f'href="/media/{items[2]["id"]}" rel="prev"' in html and f'href="/media/{items[0]["id"]}" rel="next"' in html
    html = c.get(f"/media/{items[2]['id']}", headers=HTML).text
    assert 'rel="prev"' not in html and f'href="/media/{items[1]["id"]}" rel="next"' in html


def test_previous_and_next_follow_the_search_or_album_the_item_was_opened_from(ca):
    from datetime import datetime, timezone
    from urllib.parse import quote

    from test_gateway_helpers import add_detection

    from pva.services import albums

    u, other = new_user(), new_user()
    c = login(ca.app, u)
    items = [insert_media(u["id"], taken_at=datetime(2021, 3, d, tzinfo=timezone.utc)) for d in (1, 2, 3, 4)]
    for i in (0, 3):
        add_detection(items[i]["id"], "kite", 0.9)
    ctx = "label=kite&min_confidence=0.5"
    html = c.get(f"/media/{items[3]['id']}?in={quote(ctx)}", headers=HTML).text
    # items 2 and 3 (1-based) are not kites: next skips them, and keeps the search on its link
    assert f'href="/media/{items[0]["id"]}?in={quote(ctx, safe="")}" rel="next"' in html, html
    assert 'rel="prev"' not in html
    html = c.get(f"/media/{items[0]['id']}?in={quote(ctx)}&order=asc", headers=HTML).text
    assert f'href="/media/{items[3]["id"]}?in=' in html and 'rel="next"' not in html  # the first kite: no next
    album = albums.create(u["id"], "Spring")
    albums.add_media(album["id"], u["id"], [items[1]["id"], items[3]["id"]])
    html = c.get(f"/media/{items[1]['id']}?in=album%3D{album['id']}", headers=HTML).text
    assert f'href="/media/{items[3]["id"]}?in=album%3D{album["id"]}" rel="prev"' in html
    # a context naming someone else's album (or nonsense) falls back to library order, revealing nothing
    theirs = albums.create(other["id"], "Private")
    for bad in (f"album={theirs['id']}", "person=not-a-uuid", "from=yesterday", "min_confidence=x"):
        html = c.get(f"/media/{items[1]['id']}?in={quote(bad)}", headers=HTML).text
        assert f'href="/media/{items[2]["id"]}" rel="prev"' in html and f'href="/media/{items[0]["id"]}" rel="next"' \
            in html, bad


def test_vendor_serves_only_whitelisted_library_files(ca):
    from gateway.routers.web import NODE_MODULES, VENDOR

    if not NODE_MODULES.is_dir():
        pytest.skip("web/node_modules is absent: run `make install` (npm install in web/)")
    r = ca.get("/vendor/leaflet/leaflet.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript") and "Leaflet" in r.text
    assert ca.get("/vendor/chart.js/chart.umd.min.js").status_code == 200
    assert ca.get("/vendor/leaflet/images/marker-icon.png").headers["content-type"] == "image/png"
    for bad in ("/vendor/leaflet/package.json", "/vendor/../package.json", "/vendor/leaflet/dist/leaflet.js",
                "/vendor/%2e%2e/%2e%2e/pyproject.toml"):
        assert ca.get(bad).status_code == 404, bad
    for name, rel in VENDOR.items():
        assert (NODE_MODULES / rel).is_file(), f"{name} -> {rel} is not in node_modules (package layout changed?)"
    assert ca.get("/static/js/api.js").status_code == 200


def _page_routes():
    """Every HTML page of the web router (from its route table, so a new page is checked without listing it)."""
    from gateway.routers import web

    public = {"/login", "/vendor/{name:path}"}
    return [r.path for r in web.router.routes if "GET" in getattr(r, "methods", ()) and r.path not in public]


def test_every_page_needs_the_read_scope_like_the_api(app, alice):
    from pva.services import albums

    from test_gateway_helpers import add_person, client_for, token_for

    m = insert_media(alice["id"], filename="scoped-secret.jpg")
    a = albums.create(alice["id"], "scoped-secret-album")
    ids = {"media_id": m["id"], "album_id": a["id"], "person_id": add_person(alice["id"], "Scoped Secret")["id"]}
    pages = _page_routes()
    assert len(pages) >= 11 and "/media/{media_id}" in pages
    for path in pages:
        params = re.findall(r"{(\w+)}", path)
        assert all(p in ids for p in params), f"{path}: give this test an id for {params}"
        url = path.format(**ids)
        for scopes in (("upload",), ("write",), ("write", "upload")):
            c = client_for(app, token=token_for(alice, scopes=scopes))
            for headers in (HTML, {}):
                r = c.get(url, headers=headers)
                assert r.status_code == 403, (url, scopes, r.status_code)
                assert "lacks the 'read' scope" in r.json()["message"] and "scoped-secret" not in r.text
        r = client_for(app, token=token_for(alice, scopes=("read",))).get(url, headers=HTML)
        # administrators' pages also need the admin scope, which a read token of a user does not hold
        assert r.status_code == (403 if path.startswith("/admin/") else 200), (url, r.text[:300])
    # the API answers the same to the same token
    upload_only = client_for(app, token=token_for(alice, scopes=("upload",)))
    assert upload_only.get(f"/api/v1/media/{m['id']}").status_code == 403
