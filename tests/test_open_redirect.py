"""After login the browser goes to `next` only when it is a path on this site, judged after normalising it the way
a browser does (issue 16 finding 2: "/\\evil.example/" and "/<tab>/evil.example/" both led to evil.example)."""
from __future__ import annotations

import html
import re

import pytest

from test_gateway_helpers import app, client_for  # noqa: F401

# the raw query value (as a browser or attacker sends it) -> what the login page may hand to location.href
CASES = [
    ("/%5Cevil.example/", "/"),             # "/\evil.example/": a backslash is a slash to a browser
    ("/%09/evil.example/", "/"),            # a tab is dropped: "//evil.example/"
    ("/%0D%0A/evil.example/", "/"),         # so are CR and LF
    ("%20//evil.example/", "/"),            # leading spaces and controls are trimmed
    ("%00//evil.example/", "/"),
    ("//evil", "/"),
    ("/%5C%5Cevil", "/"),                   # "/\\evil"
    ("%5C/evil", "/"),                      # "\/evil"
    ("javascript:alert(1)", "/"),
    ("JaVaScRiPt%3Aalert(1)", "/"),
    ("%2F%2Fevil", "/"),                    # decoded once by the server: "//evil"
    ("/%2e%2e//evil", "/"),                 # "/..//evil" resolves to "//evil"
    ("/%252e%252e//evil", "/"),             # "/%2e%2e//evil": browsers resolve %2e segments too
    ("/./%2Fevil", "/"),
    ("http://evil", "/"),
    ("https:evil.example", "/"),
    ("evil.example", "/"),
    ("", "/"),
    ("/" + "a" * 3000, "/"),
    ("%2Fmedia%2F123%3Fx%3D1%23y", "/media/123?x=1#y"),
    ("/search?label=bus&in=a%5Cb", "/search?label=bus"),  # "&in=..." is the login page's own parameter
    ("%2Fsearch%3Fq%3Da%255Cb", "/search?q=a%5Cb"),
    ("/albums/x%5Cy", "/albums/x/y"),       # the browser would go to the same place anyway
]


@pytest.mark.parametrize("raw,expected", CASES)
def test_login_page_hands_the_browser_only_a_same_origin_path(app, raw, expected):  # noqa: F811
    from gateway.routers import web

    web.install(app)
    r = client_for(app).get(f"/login?next={raw}")
    assert r.status_code == 200
    target = html.unescape(re.search(r'data-next="([^"]*)"', r.text).group(1))
    assert target == expected, (raw, target)


def _browser_host(target: str) -> str | None:
    """Where a browser on https://pva.example goes for location.href = target (the WHATWG steps that matter)."""
    import urllib.parse

    s = target.strip("".join(map(chr, range(0x21)))).translate(str.maketrans("", "", "\t\n\r"))
    path = re.split(r"[?#]", s, maxsplit=1)[0].replace("\\", "/")
    s = path + s[len(path):]
    return urllib.parse.urlsplit(urllib.parse.urljoin("https://pva.example/login", s)).hostname


@pytest.mark.parametrize("raw", [raw for raw, _ in CASES])
def test_no_accepted_target_leaves_the_site(raw):
    import urllib.parse

    from gateway.routers.web import safe_next

    assert _browser_host(safe_next(urllib.parse.unquote(raw))) == "pva.example"


def test_the_helper_recognises_the_reported_payloads_as_leaving_the_site():
    """The browser model above is what the cases rely on: it must see the reported payloads as going elsewhere."""
    assert _browser_host("/\\evil.example/") == "evil.example"
    assert _browser_host("/\t/evil.example/") == "evil.example"
    assert _browser_host("/media/123?x=1#y") == "pva.example"


def test_page_login_redirect_round_trips_through_next(app):  # noqa: F811
    from gateway.routers import web

    web.install(app)
    c = client_for(app)
    r = c.get("/search?label=bus", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Fsearch%3Flabel%3Dbus"
    page = c.get(r.headers["location"])
    assert 'data-next="/search?label=bus"' in page.text


@pytest.mark.browser
def test_a_real_browser_stays_on_the_site_after_login(services):
    """Headless Chromium logs in on /login?next=<payload> and must land on this site ("/" for the payloads, the
    page itself for a legitimate path); any request to another host is recorded and aborted (nothing leaves the
    machine)."""
    import urllib.parse

    from test_web_ui import CHROMIUM, free_port  # the same browser and port helper as the UI tests

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    import threading

    import uvicorn
    from playwright.sync_api import sync_playwright

    from gateway.app import create_app
    from gateway.routers import web
    from test_gateway_helpers import new_user

    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(web.install(create_app()), host="127.0.0.1", port=port,
                                        log_level="warning", lifespan="off"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    base = f"http://127.0.0.1:{port}"
    user = new_user()
    elsewhere: list[str] = []

    from pva.config import get_settings

    tiles = urllib.parse.urlsplit(get_settings().tile_url).netloc

    def only_this_site(route):
        netloc = urllib.parse.urlsplit(route.request.url).netloc
        if netloc == f"127.0.0.1:{port}":
            return route.continue_()
        if netloc == tiles and not route.request.is_navigation_request():
            return route.abort()  # the map's configured tile server: an image the page asks for, not a redirect
        elsewhere.append(route.request.url)
        return route.abort()

    try:
        for _ in range(200):
            if srv.started:
                break
            __import__("time").sleep(0.05)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.set_default_timeout(15000)
            page.route("**/*", only_this_site)
            for raw, lands in [("/%5Cevil.example/", "/"), ("/%09/evil.example/", "/"), ("/%2e%2e//evil", "/"),
                               ("%2F%2Fevil", "/"), ("javascript:alert(1)", "/"),
                               ("%2Fsearch%3Flabel%3Dbus%23y", "/search?label=bus#y")]:
                page.goto(f"{base}/login?next={raw}")
                page.fill("#username", user["username"])
                page.fill("#password", user["password"])
                page.click("button[type=submit]")
                page.wait_for_url(base + lands)
                assert not elsewhere, (raw, elsewhere)
            browser.close()
    finally:
        srv.should_exit = True
        t.join(10)
