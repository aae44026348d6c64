"""The web UI in headless Chromium (Playwright driving Debian's chromium) against the real gateway on uvicorn and
the test session's services: log in, upload by drop and by the file input, see the items appear with thumbnails
once analysed (the analyses run in-process), search by object label and by a rectangle drawn on the map, detail
overlays, comments (XSS stays text), GPS by map click, albums, the stats chart, map pins, jobs and tokens; and no
Content-Security-Policy violation on any page.  Screenshots go to artifacts/screenshots/."""
from __future__ import annotations

import base64
import io
import secrets
import threading
import time
from pathlib import Path

import pytest

from conftest import REPO, SHARED

from net_helpers import free_port

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "artifacts" / "screenshots"
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
PARIS = (48.8584, 2.2945)
PASSWORD = "correct horse battery"


def jpeg(color=(40, 120, 200), size=(640, 480), gps: tuple[float, float] | None = None,
         when: str = "2023:06:01 10:00:00") -> bytes:
    """A generated JPEG with a capture date and optionally a GPS position in its EXIF."""
    import piexif
    from PIL import Image, ImageDraw

    img = Image.new("RGB", size, color)
    ImageDraw.Draw(img).ellipse((100, 100, 300, 300), fill=(240, 200, 40))
    exif = {"0th": {piexif.ImageIFD.Make: b"WebTestCam", piexif.ImageIFD.Model: b"Model W"},
            "Exif": {piexif.ExifIFD.DateTimeOriginal: when.encode()}, "GPS": {}}
    if gps:
        def dms(v):
            v = abs(v)
            d = int(v)
            m = int((v - d) * 60)
            s = round(((v - d) * 60 - m) * 60 * 100)
            return ((d, 1), (m, 1), (s, 100))
        exif["GPS"] = {piexif.GPSIFD.GPSLatitudeRef: b"N" if gps[0] >= 0 else b"S",
                       piexif.GPSIFD.GPSLatitude: dms(gps[0]),
                       piexif.GPSIFD.GPSLongitudeRef: b"E" if gps[1] >= 0 else b"W",
                       piexif.GPSIFD.GPSLongitude: dms(gps[1])}
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=88, exif=piexif.dump(exif))
    return buf.getvalue()


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def server(services):
    """The real gateway with the web UI on uvicorn in a thread; yields its base URL."""
    import uvicorn

    from gateway.app import create_app
    from gateway.routers import web

    app = web.install(create_app())
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not t.is_alive():
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


@pytest.fixture(scope="module")
def user(services):
    from pva.services import auth

    u = auth.create_user(f"web-{secrets.token_hex(3)}", PASSWORD)
    u["password"] = PASSWORD
    return u


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium) — the browser tests need Debian's chromium")
    if not (REPO / "web" / "node_modules" / "leaflet").is_dir():
        pytest.skip("web/node_modules is absent: run `make install` (npm install in web/) for Leaflet and Chart.js")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


class Session:
    """One logged-in browser page plus what the tests learn along the way."""

    def __init__(self, page, base: str):
        self.page = page
        self.base = base
        self.csp_violations: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.media: dict[str, str] = {}  # name -> media id

    def go(self, path: str):
        return self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def api(self, path: str) -> dict:
        return self.page.evaluate("async (p) => (await fetch(p, {headers: {Accept: 'application/json'}})).json()",
                                  path)


def open_session(browser, server: str, *, viewport=(1280, 860), offline: bool = True, console_errors: bool = True,
                 failed_responses: bool = True, accept_dialogs: bool = True, session=Session, **context_options):
    """A new browser context (default timeout 15 s) and its page wrapped in `session(page, server)`, which records
    CSP violations and uncaught page errors, and by default also console errors, >= 400 responses and the dialogs
    (accepted).  `offline`: every request not to the server fails at once, as without internet (the maps fall
    back to their world).  Returns (context, session); the caller closes the context."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, **context_options)
    ctx.set_default_timeout(15000)
    page = ctx.new_page()
    if offline:
        ctx.route(lambda url: not url.startswith(server), lambda r: r.abort("internetdisconnected"))
    s = session(page, server)
    page.on("console", lambda m: s.csp_violations.append(m.text) if "Content Security Policy" in m.text else None)
    if console_errors:
        page.on("console", lambda m: s.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: s.errors.append(str(e)))
    if failed_responses:
        page.on("response", lambda r: s.errors.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    if accept_dialogs:
        page.on("dialog", lambda d: (s.dialogs.append(d.message), d.accept()))
    return ctx, s


def log_in(s: Session, username: str, password: str = PASSWORD) -> None:
    """Logs in through the login form and waits for the library page."""
    s.go("/login")
    s.page.fill("#username", username)
    s.page.fill("#password", password)
    s.page.click("button[type=submit]")
    s.page.wait_for_url(s.base + "/")


@pytest.fixture(scope="module")
def ui(browser, server, user):
    ctx, s = open_session(browser, server)
    yield s
    ctx.close()


def run_analyses(media_ids) -> None:
    """What the functions do for uploaded media, in-process: every queued analysis of each item."""
    from pva import jobs
    from pva.ml import ModelNotFound
    from pva.jobs.pipeline import run_stored
    from pva.jobs.tasks.detect import DetectTask
    from pva.jobs.tasks.faces import FacesTask
    from pva.jobs.tasks.ocr import OcrTask
    from pva.errors import Permanent

    tasks = [FacesTask(), OcrTask()]
    try:
        tasks.insert(0, DetectTask())
        no_model = None
    except ModelNotFound as e:  # ../shared/models absent: the detect job fails with the reason, as the UI shows it
        no_model = str(e)

    class NoModel(Permanent, RuntimeError):
        pass

    def fail_detect(job):
        raise NoModel(no_model)

    for mid in media_ids:
        for task in tasks:
            run_stored(task, mid)
        if no_model:
            jobs.run(mid, "detect", fail_detect)


# ---------------------------------------------------------------- tests (in order, sharing one session)
def test_pages_need_login_and_wrong_password_is_refused(ui, user, server):
    import httpx

    r = httpx.get(server + "/", headers={"Accept": "text/html"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert httpx.get(server + "/stats", headers={"Accept": "application/json"}).status_code == 401
    page = ui.page
    ui.go("/upload")
    assert "/login" in page.url
    csp = httpx.get(server + "/login").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    page.fill("#username", user["username"])
    page.fill("#password", "wrong password!")
    page.click("button[type=submit]")
    page.wait_for_selector("#login-error:has-text('wrong')")
    ui.shot("login-error")
    page.fill("#password", user["password"])
    page.click("button[type=submit]")
    page.wait_for_url("**/upload")
    assert page.locator(".username").text_content() == user["username"]


def test_upload_by_drop_and_file_input_then_items_appear_analysed(ui):
    page = ui.page
    bus = SHARED / "fixtures" / "detect" / "bus.jpg"
    drops = [("trip/paris.jpg", jpeg(gps=PARIS), "image/jpeg"), ("trip/notes.txt", b"just some text", "text/plain")]
    if bus.is_file():
        drops.append(("trip/bus.jpg", bus.read_bytes(), "image/jpeg"))
    payload = [{"name": n, "b64": base64.b64encode(d).decode(), "type": t} for n, d, t in drops]
    # a drop event with a DataTransfer built in the page (files lose folder paths in synthetic drops)
    page.evaluate("""(files) => {
        const dt = new DataTransfer();
        for (const f of files) {
            const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
            dt.items.add(new File([bytes], f.name.split('/').pop(), {type: f.type}));
        }
        const zone = document.getElementById('dropzone');
        zone.dispatchEvent(new DragEvent('dragenter', {dataTransfer: dt, bubbles: true}));
        zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
    }""", payload)
    # and the hidden file input the zone's button opens: a new photo and a duplicate of the dropped one
    page.set_input_files("#file-input", [
        {"name": "garden.jpg", "mimeType": "image/jpeg", "buffer": jpeg(color=(30, 160, 60), when="2022:03:05 08:00:00")},
        {"name": "paris-copy.jpg", "mimeType": "image/jpeg", "buffer": jpeg(gps=PARIS)}])
    expected = len(drops) + 2
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('.up-row')].filter(r => !['waiting', 'uploading'].includes(r.dataset.state)).length === n",
        arg=expected)
    rows = {r.locator(".up-name").text_content(): (r.get_attribute("data-state"), r.locator(".up-status").text_content(),
                                                   r.get_attribute("data-media-id"))
            for r in page.locator(".up-row").all()}
    assert rows["notes.txt"][0] == "rejected" and "rejected:" in rows["notes.txt"][1]
    assert rows["paris-copy.jpg"][0] == "duplicate"
    added = {name: mid for name, (state, _, mid) in rows.items() if state == "added"}
    assert {"paris.jpg", "garden.jpg"} <= set(added), rows
    ui.media.update(added)
    ui.shot("upload-progress")
    # nothing is shown as new until analysed; then every added item appears with its thumbnail
    assert page.locator("#new-items .tile-media").count() == 0
    run_analyses(list(added.values()))
    page.wait_for_function("(n) => document.querySelectorAll('#new-items .tile-media img').length === n",
                           arg=len(added), timeout=20000)
    page.wait_for_function("() => [...document.querySelectorAll('#new-items img')].every(i => i.complete && i.naturalWidth > 0)")
    if "bus.jpg" in added:
        assert "bus" in page.locator(f"#new-items [data-id='{added['bus.jpg']}'] .caption").text_content()
    ui.shot("upload-analysed")


def test_library_grid_groups_by_date_with_thumbnails(ui):
    page = ui.page
    ui.go("/")
    page.wait_for_selector(".grid-day .tile-media img")
    months = page.locator(".grid-month").all_text_contents()
    assert len(months) >= 2, months  # 2023 (paris) and 2022 (garden)
    for mid in ui.media.values():
        assert page.locator(f".tile-media[data-id='{mid}'] img").count() == 1
    page.wait_for_function("() => [...document.querySelectorAll('.tile-media img')].every(i => i.complete && i.naturalWidth > 0)")
    ui.shot("library")
    page.set_viewport_size({"width": 390, "height": 800})
    page.wait_for_timeout(150)
    ui.shot("library-mobile")
    assert page.locator("#mainnav").is_hidden()
    page.click(".nav-toggle")
    assert page.locator("#mainnav").is_visible()
    page.set_viewport_size({"width": 1280, "height": 860})


def test_search_by_object_label_keeps_the_query_in_the_url(ui):
    if "bus.jpg" not in ui.media:
        pytest.skip(f"{SHARED / 'fixtures/detect/bus.jpg'} is absent: no photo the model finds objects in")
    page = ui.page
    ui.go("/search")
    page.fill("#f-label", "bus")
    page.click("#search-form button[type=submit]")
    page.wait_for_url("**/search?label=bus")
    page.wait_for_selector(f".tile-media[data-id='{ui.media['bus.jpg']}']")
    page.wait_for_function("() => document.querySelectorAll('#grid .tile-media').length === 1")
    assert page.locator(".chip.facet.active", has_text="bus").count() == 1
    ui.shot("search-label")
    # the URL alone reproduces the search
    ui.go("/search?label=bus&kind=photo")
    page.wait_for_selector(f".tile-media[data-id='{ui.media['bus.jpg']}']")
    assert page.input_value("#f-label") == "bus" and page.input_value("#f-kind") == "photo"


def test_search_by_a_rectangle_drawn_on_the_map(ui):
    page = ui.page
    ui.go("/search")
    page.wait_for_selector("#search-map.leaflet-container")
    page.wait_for_selector("#grid .tile-media")
    page.click("#draw-rect")  # (may scroll the filter panel: measure the map after)
    box = page.locator("#search-map").bounding_box()
    pts = page.evaluate("""([lat, lon]) => {
        const m = document.getElementById('search-map').leafletMap;
        const a = m.latLngToContainerPoint([lat + 6, lon - 6]), b = m.latLngToContainerPoint([lat - 6, lon + 6]);
        return [a.x, a.y, b.x, b.y];
    }""", list(PARIS))
    page.mouse.move(box["x"] + pts[0], box["y"] + pts[1])
    page.mouse.down()
    page.mouse.move(box["x"] + (pts[0] + pts[2]) / 2, box["y"] + (pts[1] + pts[3]) / 2, steps=3)
    page.mouse.move(box["x"] + pts[2], box["y"] + pts[3], steps=3)
    page.mouse.up()
    page.wait_for_url("**/search?bbox=*")
    page.wait_for_function("() => document.querySelectorAll('#grid .tile-media').length === 1")
    assert page.locator(f".tile-media[data-id='{ui.media['paris.jpg']}']").count() == 1
    s, w, n, e = (float(x) for x in page.input_value("#f-bbox").split(","))
    assert s < PARIS[0] < n and w < PARIS[1] < e
    ui.shot("search-map")
    # "no GPS" finds the garden photo and not the Paris one
    ui.go("/search?no_gps=true")
    page.wait_for_selector(f".tile-media[data-id='{ui.media['garden.jpg']}']")
    assert page.locator(f".tile-media[data-id='{ui.media['paris.jpg']}']").count() == 0
    assert page.is_checked("#f-nogps")


def test_detail_overlays_comment_gps_and_album(ui):
    page = ui.page
    target = ui.media.get("bus.jpg") or ui.media["paris.jpg"]
    ui.go(f"/media/{target}")
    page.wait_for_selector("#picture")
    page.wait_for_function("() => document.getElementById('picture').complete")
    if "bus.jpg" in ui.media:
        boxes = page.locator(".box-object")
        assert boxes.count() >= 1
        labels = " ".join(boxes.all_text_contents())
        assert "bus" in labels and "%" in labels
        bb = boxes.first.bounding_box()
        img = page.locator("#picture").bounding_box()
        assert bb["width"] > 5 and img["x"] <= bb["x"] and bb["x"] + bb["width"] <= img["x"] + img["width"] + 3
        ui.shot("detail-overlays")
        page.uncheck("#layer-objects")
        assert page.locator(".box-object").count() == 0
        page.check("#layer-objects")
        assert page.locator(".box-object").count() >= 1
    else:
        print(f"skipping overlay checks: {SHARED / 'fixtures/detect/bus.jpg'} is absent")
    assert page.locator(".exif dt", has_text="Format").count() == 1

    # a comment with markup stays text, on the page and after a reload (server-rendered, autoescaped)
    page.fill("#comment-body", XSS)
    page.click("#comment-form button[type=submit]")
    page.wait_for_selector(".comment-body >> text=alert(1)")
    page.reload()
    assert page.locator(".comment-body").last.text_content() == XSS
    assert page.locator("#comments img, #comments script").count() == 0
    assert not ui.dialogs

    # set the location by clicking the map
    page.wait_for_selector("#gps-map.leaflet-container")
    mb = page.locator("#gps-map").bounding_box()
    page.locator("#gps-map").click(position={"x": mb["width"] * 0.3, "y": mb["height"] * 0.4})
    page.click("#gps-save")
    page.wait_for_selector("#gps-text:has-text('override')")
    gps = ui.api(f"/api/v1/media/{target}")["gps"]
    assert gps["source"] == "override" and gps["lat"] is not None

    # add to a new album whose name has markup
    album_name = "Holiday <b>2023</b>"
    page.select_option("#album-select", "__new")
    page.fill("#album-new-name", album_name)
    page.click("#album-form button[type=submit]")
    page.wait_for_selector(f"#in-albums a:text-is('{album_name}')")
    ui.shot("detail")
    ui.go("/albums")
    card = page.locator(".card-title", has_text="Holiday")
    assert card.text_content() == album_name and page.locator(".card-title b").count() == 0
    ui.shot("albums")
    card.click()
    page.wait_for_selector(f".tile-media[data-id='{target}']")
    assert page.locator("h1#album-name").text_content() == album_name
    ui.shot("album")


def test_other_users_items_are_not_found_and_names_stay_text(ui, user):
    from pva.services import auth
    from test_gateway_helpers import insert_media

    other = auth.create_user(f"other-{secrets.token_hex(3)}", PASSWORD)
    theirs = insert_media(other["id"], filename="theirs.jpg")
    r = ui.go(f"/media/{theirs['id']}")
    assert r.status == 404 and ui.page.locator("h1").text_content() == "Not found"
    assert "theirs.jpg" not in ui.page.content()
    mine = insert_media(user["id"], filename=XSS)
    r = ui.go(f"/media/{mine['id']}")
    assert r.status == 200
    assert ui.page.locator("h1.filename").text_content() == XSS
    assert "&lt;script&gt;" in r.text() and not ui.dialogs


def test_stats_chart_and_tables_render(ui):
    page = ui.page
    ui.go("/stats")
    page.wait_for_selector("#timeline-chart[data-rendered]")
    assert int(page.get_attribute("#timeline-chart", "data-rendered")) >= 2
    assert page.evaluate("() => !!Chart.getChart(document.getElementById('timeline-chart'))")
    assert page.locator("table >> text=jpeg").count() >= 1
    ui.shot("stats")


def test_map_shows_clustered_pins_with_popup_links(ui):
    page = ui.page
    ui.go("/map")
    try:
        page.wait_for_selector("#map-count:has-text('with a location')")
    except Exception as e:  # say what the page showed and why (script errors, CSP), with a screenshot
        ui.shot("map-not-loaded")
        raise AssertionError(f"the map never counted its items: #map-count={page.text_content('#map-count')!r}, "
                             f"page errors {ui.errors}, CSP violations {ui.csp_violations}") from e
    n = int(page.text_content("#map-count").split()[0])
    # the Paris photo and the item given a location on its detail page (without bus.jpg that is the Paris photo)
    assert n >= (2 if "bus.jpg" in ui.media else 1)
    marker = page.locator(".marker-cluster, .pin").first
    marker.wait_for()
    ui.shot("map")
    page.locator(".pin").first.click() if page.locator(".pin").count() else marker.click()
    if page.locator(".leaflet-popup").count() == 0:
        page.locator(".pin").first.click()
    page.wait_for_selector(".leaflet-popup .map-popup img")
    page.wait_for_timeout(300)  # the popup fades in
    href = page.get_attribute(".leaflet-popup .map-popup", "href")
    assert href.startswith("/media/")
    ui.shot("map-popup")


def test_jobs_people_and_tokens_pages(ui):
    page = ui.page
    ui.go("/jobs")
    page.wait_for_selector("#job-counts tbody tr")
    assert page.locator("#job-counts tbody th", has_text="detect").count() == 1
    ui.shot("jobs")
    ui.go("/people")
    if page.locator(".person").count():  # faces found in bus.jpg: name one (markup stays text)
        page.locator(".person-name").first.fill("Ann <i>B</i>")
        page.locator(".person-name").first.press("Tab")
        page.wait_for_selector("#toast.show")
        page.reload()
        assert page.locator(".person-name").first.input_value() == "Ann <i>B</i>"
    ui.shot("people")
    ui.go("/tokens")
    page.fill("#tok-name", "sync <i>laptop</i>")
    page.check("input[name=scope][value=upload]")
    page.click("#token-form button[type=submit]")
    page.wait_for_selector("#token-created:not([hidden])")
    token = page.text_content("#token-value")
    assert token.startswith("pva_")
    page.wait_for_selector("#token-table td:text-is('sync <i>laptop</i>')")
    ui.shot("tokens")
    import httpx

    r = httpx.get(ui.base + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and "upload" in r.json()["scopes"]


def test_no_page_broke_the_content_security_policy_or_logged_errors(ui):
    assert not ui.csp_violations, ui.csp_violations
    assert not ui.dialogs, ui.dialogs
    # expected: the wrong password (401), the other user's item (404) and the text file dropped on the upload page
    # (415: refused from its first bytes, with its per-file result), the map tiles from outside (no internet here);
    # anything else is a broken page
    unexpected = [e for e in ui.errors if not any(x in e for x in ("401", "404", "415", "ERR_INTERNET_DISCONNECTED"))]
    assert not unexpected, unexpected
