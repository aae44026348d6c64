"""The maps in headless Chromium with no internet (issue 18, item 1 and the typed location of item 8): every request
that leaves the machine is aborted, as on a laptop offline or a server without outside access.  The Map page still
draws land, coasts and borders from the built-in world layer (Natural Earth, served under /vendor/) and says
quietly that tiles are unavailable; pins and clusters appear for photos with GPS, a cluster zooms (or lists the
photos it holds once they cannot be told apart), a pin opens its photo; the search page's map has the same world;
on a detail page, typing "48.8584, 2.2945" sets the location and bad input says why.  Screenshots go to
artifacts/screenshots/map-*.png."""
from __future__ import annotations

import io
import urllib.parse

import pytest

from test_web_ui import (CHROMIUM, PASSWORD, SHOTS, browser, jpeg, log_in, open_session, server,  # noqa: F401
                         user)  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]

PARIS = (48.8584, 2.2945)
LOCAL = {"127.0.0.1", "localhost", "::1", "[::1]"}
NOTICE = "Map tiles unavailable — showing the built-in world map"
LAND = (0xF2, 0xEF, 0xE9)  # basemap.js: the land's fill
SEA = (0xAA, 0xD3, 0xDF)  # app.css: the map's background
TILE = (200, 80, 200)  # the stand-in tile server's tiles


@pytest.fixture(scope="module")
def seeded(user):
    """Photos of the user: three in Paris (two at the very same spot), one in Sydney, one in New York, and one
    without a location; name -> media id."""
    from pva.services import ingest

    spots = {"eiffel-1.jpg": PARIS, "eiffel-2.jpg": PARIS, "louvre.jpg": (48.8606, 2.3376),
             "opera-house.jpg": (-33.8568, 151.2153), "liberty.jpg": (40.6892, -74.0445), "no-gps.jpg": None}
    ids = {}
    for i, (name, gps) in enumerate(spots.items()):
        data = jpeg(color=(30 + 35 * i, 90 + 20 * i, 200 - 25 * i), gps=gps)
        r = ingest.ingest_stream(user, io.BytesIO(data), name).as_dict()
        assert r["status"] == "added", r
        ids[name] = r["media_id"]
    return ids


class Offline:
    """One logged-in page and what it met: requests kept from leaving the machine, console errors, CSP reports."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.csp_violations: list[str] = []

    def go(self, path: str):
        return self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"map-{name}.png"))

    def api(self, path: str) -> dict:
        return self.page.evaluate("async (p) => (await fetch(p, {headers: {Accept: 'application/json'}})).json()",
                                  path)

    def map_zoom(self, selector: str) -> int:
        return self.page.evaluate("(s) => document.querySelector(s).leafletMap.getZoom()", selector)


def logged_in(browser, server, user, session, route):  # noqa: F811
    """A new browser context logged in as `user`, every request going through `route(route, session)`."""
    ctx, s = open_session(browser, server, offline=False, failed_responses=False, accept_dialogs=False,
                          session=session)
    ctx.route("**/*", lambda r: route(r, s))
    log_in(s, user["username"])
    return ctx, s


def is_local(url: str) -> bool:
    return url.startswith(("data:", "blob:")) or (urllib.parse.urlsplit(url).hostname or "") in LOCAL


def no_internet(r, s: Offline) -> None:
    if is_local(r.request.url):
        r.continue_()
    else:
        s.blocked.append(r.request.url)
        r.abort("internetdisconnected")


@pytest.fixture(scope="module")
def offline(browser, server, user, seeded):  # noqa: F811 (fixtures from test_web_ui)
    ctx, s = logged_in(browser, server, user, Offline, no_internet)
    yield s
    ctx.close()


def pixel(png: bytes, x: float, y: float) -> tuple[int, int, int]:
    from PIL import Image

    return Image.open(io.BytesIO(png)).convert("RGB").getpixel((int(x), int(y)))


def near(a, b, tol: int = 12) -> bool:
    return all(abs(p - q) <= tol for p, q in zip(a, b))


def test_offline_map_draws_the_world_and_says_tiles_are_unavailable(offline):
    page = offline.page
    offline.go("/map#2/25/10")  # Europe and Africa, as a shared link or the way back from a photo would open it
    page.wait_for_selector("#map[data-world=drawn]")
    page.wait_for_selector("#map-count:has-text('with a location')")
    # land, coasts and borders are drawn on a canvas in the world pane (the pixels are checked below)
    assert page.locator("#map .leaflet-world-pane canvas").count() == 1
    # the tiles were asked for and failed: the map says so, quietly, in a corner
    page.wait_for_selector(f".map-notice:has-text('{NOTICE}')")
    assert any("tile.openstreetmap.org" in u for u in offline.blocked), offline.blocked[:5]
    attribution = page.locator("#map .leaflet-control-attribution")
    assert "OpenStreetMap" in attribution.text_content() and "Natural Earth" in attribution.text_content()
    assert attribution.locator("a[href='https://www.openstreetmap.org/copyright']").count() == 1
    page.wait_for_timeout(400)  # the zoom animation ends
    offline.shot("offline-world")
    # the world is where it belongs: the Sahara (mid-Algeria) is land, the middle of the Atlantic is sea
    pts = page.evaluate("""() => {
        const m = document.getElementById('map').leafletMap;
        return [m.latLngToContainerPoint([26, 2]), m.latLngToContainerPoint([25, -40])];
    }""")
    box = page.locator("#map").bounding_box()
    png = page.locator("#map").screenshot()
    sahara, atlantic = (pixel(png, p["x"], p["y"]) for p in pts)
    assert near(sahara, LAND), sahara
    assert near(atlantic, SEA), atlantic
    assert box["height"] > 300


def test_tiles_that_load_cover_the_world_layer(browser, server, user, seeded):  # noqa: F811
    """The other way round: a tile server that answers (here a stand-in for OpenStreetMap's, answered in the
    browser) draws over the built-in world, gets the site's origin as referrer, and no note shows."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (256, 256), TILE).save(buf, "PNG")
    referers = []

    def osm(r, s):
        if urllib.parse.urlsplit(r.request.url).hostname == "tile.openstreetmap.org":
            referers.append(r.request.headers.get("referer"))
            r.fulfill(status=200, content_type="image/png", body=buf.getvalue())
        else:
            no_internet(r, s)

    ctx, s = logged_in(browser, server, user, Offline, osm)
    try:
        page = s.page
        s.go("/map#2/25/10")
        page.wait_for_selector("#map[data-world=drawn]")
        page.wait_for_selector("#map .leaflet-tile-loaded")
        page.wait_for_function("() => !document.querySelector('#map .leaflet-tile:not(.leaflet-tile-loaded)')")
        page.wait_for_timeout(400)
        assert page.locator(".map-notice").is_hidden()
        assert referers and all(ref == server + "/" for ref in referers), referers[:3]
        pts = page.evaluate("""() => {
            const m = document.getElementById('map').leafletMap;
            return [m.latLngToContainerPoint([26, 2]), m.latLngToContainerPoint([25, -40])];
        }""")
        png = page.locator("#map").screenshot()
        for p in pts:
            assert near(pixel(png, p["x"], p["y"]), TILE), pixel(png, p["x"], p["y"])
        assert page.locator("#map .pin").count() >= 1  # pins stay above the tiles
        s.shot("tiles-loaded")
        assert not s.csp_violations, s.csp_violations
    finally:
        ctx.close()


def test_pins_and_clusters_a_cluster_zooms_then_lists_its_photos(offline, seeded):
    page = offline.page
    offline.go("/map")
    page.wait_for_selector("#map-count:has-text('5 items with a location')")
    page.wait_for_selector("#map[data-world=drawn]")
    # the whole world fits: Sydney and New York are pins, the three Paris photos one cluster of 3
    page.wait_for_selector("#map .pin")
    paris = page.locator("#map .marker-cluster", has_text="3")
    paris.wait_for()
    assert paris.get_attribute("aria-label") == "3 items: zoom in"
    assert page.locator("#map .pin[aria-label='opera-house.jpg']").count() == 1
    page.wait_for_timeout(400)
    offline.shot("pins-and-clusters")
    # a click on the cluster zooms in until the Louvre photo stands alone
    before = offline.map_zoom("#map")
    paris.click()
    page.wait_for_function("(z) => document.getElementById('map').leafletMap.getZoom() > z", arg=before)
    page.wait_for_selector("#map .pin[aria-label='louvre.jpg']")
    # the two photos taken at the very same spot stay a cluster: Enter on it (keyboard) lists them
    same = page.locator("#map .marker-cluster", has_text="2")
    same.wait_for()
    zoom = offline.map_zoom("#map")
    same.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".map-list li a img")
    assert offline.map_zoom("#map") == zoom
    links = page.locator(".map-list li a")
    assert links.count() == 2
    hrefs = set(links.evaluate_all("as => as.map(a => a.getAttribute('href'))"))
    assert hrefs == {f"/media/{seeded['eiffel-1.jpg']}", f"/media/{seeded['eiffel-2.jpg']}"}
    assert page.locator(".map-list-head").text_content() == "2 items here"
    page.wait_for_timeout(300)
    offline.shot("cluster-list")
    # the list opens a photo; back returns to the same place on the map (the view is in the URL)
    links.first.click()
    page.wait_for_url("**/media/*")
    page.go_back()
    page.wait_for_selector("#map-count:has-text('with a location')")
    assert offline.map_zoom("#map") == zoom


def test_a_pin_opens_its_photo(offline, seeded):
    page = offline.page
    offline.go("/map")
    # by keyboard: a pin is a focusable button, Enter shows its photo, Enter again opens it
    pin = page.locator("#map .pin[aria-label='opera-house.jpg']")
    pin.wait_for()
    pin.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(".leaflet-popup .map-popup:focus")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/media/{seeded['opera-house.jpg']}")
    page.go_back()
    # by mouse
    pin = page.locator("#map .pin[aria-label='liberty.jpg']")
    pin.wait_for()
    pin.click()
    popup = page.locator(".leaflet-popup .map-popup")
    popup.wait_for()
    page.wait_for_selector(".leaflet-popup .map-popup img")
    assert "liberty.jpg" in popup.text_content()
    page.wait_for_timeout(300)  # the popup fades in
    offline.shot("pin-popup")
    popup.click()
    page.wait_for_url(f"**/media/{seeded['liberty.jpg']}")
    page.wait_for_selector("h1.filename:has-text('liberty.jpg')")


def test_typing_coordinates_on_the_detail_page_sets_the_location(offline, seeded):
    page = offline.page
    mid = seeded["no-gps.jpg"]
    offline.go(f"/media/{mid}")
    page.wait_for_selector("#gps-map[data-world=drawn]")
    assert page.locator("#gps-map .leaflet-world-pane canvas").count() == 1
    assert page.text_content("#gps-text").strip() == "No location."
    field = page.get_by_label("Latitude, longitude")
    # bad input says what is wrong, next to the field, and saves nothing
    field.fill("48.8584, 200")
    field.press("Enter")
    page.wait_for_selector("#gps-error:has-text('Longitude must be between -180 and 180')")
    assert field.get_attribute("aria-invalid") == "true"
    field.fill("somewhere nice")
    field.press("Enter")
    page.wait_for_selector("#gps-error:has-text('is not a latitude and longitude')")
    page.wait_for_timeout(200)
    offline.shot("detail-bad-coordinates")
    assert offline.api(f"/api/v1/media/{mid}")["gps"]["lat"] is None
    # a pasted pair moves the marker as it is typed; Enter saves it
    field.fill("")
    field.press_sequentially("48.8584, 2.2945")
    page.wait_for_selector("#gps-text:has-text('not saved')")
    assert page.locator("#gps-error").text_content() == "" and field.get_attribute("aria-invalid") is None
    field.press("Enter")
    page.wait_for_selector("#gps-text:has-text('override')")
    gps = offline.api(f"/api/v1/media/{mid}")["gps"]
    assert gps["source"] == "override"
    assert abs(gps["lat"] - 48.8584) < 1e-6 and abs(gps["lon"] - 2.2945) < 1e-6
    page.wait_for_timeout(300)
    # the marker is drawn where the photo now is, above the world layer
    dot = page.evaluate("""() => {
        const m = document.getElementById('gps-map').leafletMap;
        return m.latLngToContainerPoint([48.8584, 2.2945]);
    }""")
    assert pixel(page.locator("#gps-map").screenshot(), dot["x"], dot["y"])[0] > 180  # red
    offline.shot("detail-typed-location")
    # degrees, minutes and seconds work too, with the Save button
    field.fill("33°51′25″S 151°12′55″E")
    page.get_by_role("button", name="Save location").click()
    page.wait_for_selector("#gps-text:has-text('-33.85'):has-text('override')")  # typing shows it unsaved first
    gps = offline.api(f"/api/v1/media/{mid}")["gps"]
    assert abs(gps["lat"] + 33.85694) < 1e-4 and abs(gps["lon"] - 151.21528) < 1e-4
    # and back to the camera's (none)
    page.get_by_role("button", name="Use the camera's location").click()
    page.wait_for_selector("#gps-text:has-text('No location.')")
    assert offline.api(f"/api/v1/media/{mid}")["gps"]["lat"] is None


def test_the_search_map_has_the_same_world(offline):
    page = offline.page
    offline.go("/search")
    page.wait_for_selector("#search-map[data-world=drawn]")
    assert page.locator("#search-map .leaflet-world-pane canvas").count() == 1
    page.wait_for_selector(f"#search-map .map-notice:has-text('{NOTICE}')")
    page.wait_for_timeout(200)
    offline.shot("search-world")


def test_no_csp_violation_nor_script_error(offline):
    assert not offline.csp_violations, offline.csp_violations
    # what is expected offline: the tiles that were aborted
    unexpected = [e for e in offline.errors if "ERR_INTERNET_DISCONNECTED" not in e]
    assert not unexpected, unexpected
