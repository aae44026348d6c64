"""Search that forgives, readable details and the small things (issue 18 items 7, 8 and 10) in headless Chromium,
as a person uses them: the search panel fits a 1366×768 screen and a 390×844 phone (no sideways scrolling, the
Search button in view), typing "canon" in the camera box (the library's own makes suggested) finds the Canon photo,
"nikon" in the text box the NIKON CORPORATION one, reload and Back keep the query; an item's details read "Canon EOS
40D" and "1/250 s · f/5.6 · ISO 200 · 50 mm" with the date's UTC offset, the raw EXIF behind a disclosure, a
"giraffe 26%" hidden until the confidence slider is moved down; stats drawn per year when there are many months;
an unknown page URL answers the HTML 404 page in a browser.  Screenshots go to artifacts/screenshots/find-*.png."""
from __future__ import annotations

import secrets
from datetime import datetime, timezone

import pytest

import media_fixtures as mf
from test_gateway_helpers import add_detection, add_face, add_person, insert_media, vec
from test_web_ui import PASSWORD, SHOTS, Session, browser, log_in, open_session, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]

PHOTOS = [  # name, make, model, taken, offset, gps, color, exposure fields
    ("tower.jpg", "Canon", "Canon EOS 40D", "2024:05:04 18:30:00", "+02:00", (48.8584, 2.2945), (200, 90, 60),
     dict(lens="EF50mm f/1.8 II", exposure=(1, 250), f_number=5.6, iso=200, focal_length=50.0)),
    ("harbour.jpg", "NIKON CORPORATION", "NIKON D70", "2024:05:03 09:15:00", "-04:00", None, (40, 110, 170), {}),
    ("garden.jpg", "WebTestCam", "Model W", "2024:05:02 12:00:00", None, None, (60, 150, 70), {}),
]
OLD_MONTHS = 60  # items in 60 different months of 2015-2019: the stats chart is drawn per year


@pytest.fixture(scope="module")
def library(services, tmp_path_factory):
    """A user with three photos from three cameras (ingested as an upload would, no analysis), objects found in the
    Canon one (one sure, one not), a face of Alice in it, and 60 older items spread over 60 months."""
    from PIL import Image

    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"find-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("find")
    ing = Ingestor(publish=False)
    ids = {}
    for name, make, model, taken, offset, gps, color, extra in PHOTOS:
        p = mf.make_jpeg(src / name, image=Image.new("RGB", (1200, 800), color), make=make, model=model,
                         taken=taken, offset=offset, gps=gps, **extra)
        res = ing.ingest_file(p, user, f"trip/{name}")
        assert res.status == "added", res
        ids[name] = str(res.media_id)
    add_detection(ids["tower.jpg"], "person", 0.91)
    add_detection(ids["tower.jpg"], "giraffe", 0.26)
    alice = add_person(user["id"], "Alice")
    add_face(ids["tower.jpg"], user["id"], vec(21), person_id=alice["id"])
    video = None
    if mf.ffmpeg_available():
        v = mf.make_video(src / "clip.mp4", duration=4.0, size=(320, 180), fps=10, creation_time="2024-04-30T10:00:00Z")
        res = ing.ingest_file(v, user, "trip/clip.mp4")
        assert res.status == "added", res
        video = str(res.media_id)
    for i in range(OLD_MONTHS):
        insert_media(user["id"], taken_at=datetime(2015 + i // 12, i % 12 + 1, 10, tzinfo=timezone.utc),
                     filename=f"old_{i}.jpg", original_path=f"old/old_{i}.jpg")
    return {"user": user, "ids": ids, "video": video}


def login(browser, server, user, viewport):  # noqa: F811
    ctx, s = open_session(browser, server, viewport=viewport, offline=False, console_errors=False,
                          failed_responses=False, accept_dialogs=False)
    log_in(s, user["username"])
    return ctx, s


@pytest.fixture(scope="module")
def ui(browser, server, library):  # noqa: F811
    ctx, s = login(browser, server, library["user"], (1366, 768))
    yield s
    ctx.close()


def shot(ui, name, full_page=False):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"find-{name}.png"), full_page=full_page)


def no_sideways_scroll(page):
    width = page.evaluate("() => [document.scrollingElement.scrollWidth, innerWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width[0]} px wide in a {width[1]} px window"


def search_button_in_view(page):
    button = page.get_by_role("button", name="Search", exact=True)
    assert button.is_visible()
    box = button.bounding_box()
    height = page.evaluate("() => innerHeight")
    assert box and 0 <= box["y"] and box["y"] + box["height"] <= height, (box, height)


def tiles(page) -> set[str]:
    return set(page.eval_on_selector_all("#grid .tile-media", "ts => ts.map((t) => t.dataset.id)"))


def wait_results(page, ids: set[str]):
    page.wait_for_function("""(ids) => {
        const got = [...document.querySelectorAll('#grid .tile-media')].map((t) => t.dataset.id).sort();
        return !document.getElementById('result-count').textContent.startsWith('Searching')
               && JSON.stringify(got) === JSON.stringify(ids.slice().sort());
    }""", arg=sorted(ids))


def test_the_search_panel_fits_a_laptop_screen(ui):
    page = ui.page
    ui.go("/search")
    page.wait_for_selector("#grid .tile-media")
    page.wait_for_selector("#facets .facet-group")
    shot(ui, "search-1366")
    no_sideways_scroll(page)
    search_button_in_view(page)
    # the date boxes stay inside the panel
    panel = page.locator("#search-form").bounding_box()
    for sel in ("#f-from", "#f-to", "#f-make", "#f-model"):
        b = page.locator(sel).bounding_box()
        assert b["x"] >= panel["x"] and b["x"] + b["width"] <= panel["x"] + panel["width"] + 0.5, sel
    # cameras read without the make repeated, on the facet chips too
    cams = page.locator(".facet-group", has=page.get_by_role("heading", name="Cameras")).text_content()
    assert "Canon EOS 40D" in cams and "NIKON D70" in cams and "Canon Canon" not in cams, cams
    assert "NIKON CORPORATION" not in cams, cams


def test_typing_canon_finds_the_canon_photo_and_the_url_keeps_it(ui, library):
    page = ui.page
    ids = library["ids"]
    ui.go("/search")
    page.wait_for_selector("#grid .tile-media")
    make = page.get_by_label("Camera make")
    make.click()
    make.press_sequentially("can", delay=40)
    # the library's own makes that match are offered
    page.wait_for_function("() => [...document.querySelectorAll('#make-options option')].map((o) => o.value)"
                           ".join('|') === 'Canon'")
    make.press_sequentially("on", delay=40)
    make.press("Enter")
    page.wait_for_url("**/search?camera_make=canon")
    wait_results(page, {ids["tower.jpg"]})
    search_button_in_view(page)
    shot(ui, "search-canon")
    # reload: the same query, the same result
    page.reload()
    wait_results(page, {ids["tower.jpg"]})
    assert page.input_value("#f-make") == "canon"

    # "nikon" in the words box finds NIKON CORPORATION's photo
    make.fill("")
    words = page.get_by_label("Words or names")
    words.click()
    words.press_sequentially("nikon", delay=30)
    words.press("Enter")
    page.wait_for_url("**/search?q=nikon")
    wait_results(page, {ids["harbour.jpg"]})
    # and a person's name finds their photo
    words.fill("alice")
    words.press("Enter")
    page.wait_for_url("**/search?q=alice")
    wait_results(page, {ids["tower.jpg"]})
    # Back: the previous query, in the boxes and in the results
    page.go_back()
    page.wait_for_url("**/search?q=nikon")
    wait_results(page, {ids["harbour.jpg"]})
    assert page.input_value("#f-q") == "nikon" and page.input_value("#f-make") == ""
    page.go_back()
    page.wait_for_url("**/search?camera_make=canon")
    wait_results(page, {ids["tower.jpg"]})
    assert page.input_value("#f-make") == "canon"
    # the model box forgives too: d70
    make.fill("")
    model = page.get_by_label("Camera model")
    model.click()
    model.press_sequentially("d70", delay=30)
    page.wait_for_function("() => [...document.querySelectorAll('#model-options option')].some((o) => o.value === 'NIKON D70')")
    model.press("Enter")
    page.wait_for_url("**/search?camera_model=d70")
    wait_results(page, {ids["harbour.jpg"]})


def test_the_search_panel_fits_a_phone(browser, server, library):  # noqa: F811
    ctx, s = login(browser, server, library["user"], (390, 844))
    try:
        page = s.page
        s.go("/search")
        page.wait_for_selector("#grid .tile-media")
        no_sideways_scroll(page)
        search_button_in_view(page)
        # words and dates first, the first results on the same screen; the other filters one tap away
        make = page.get_by_label("Camera make")
        assert make.is_hidden()
        shot(s, "search-phone")
        first = page.locator("#grid .tile-media").first.bounding_box()
        assert first["y"] < 844, first
        more = page.get_by_role("button", name="More filters")
        assert more.get_attribute("aria-expanded") == "false"
        more.click()
        assert more.get_attribute("aria-expanded") == "true" and make.is_visible()
        # half-way down the filters the button is still in view, and works
        make.fill("nikon")
        page.get_by_label("Camera model").scroll_into_view_if_needed()
        search_button_in_view(page)
        no_sideways_scroll(page)
        shot(s, "search-phone-more")
        page.get_by_role("button", name="Search", exact=True).click()
        page.wait_for_url("**/search?camera_make=nikon")
        wait_results(page, {library["ids"]["harbour.jpg"]})
        # a reload keeps the query, and the filter it uses in view
        page.reload()
        wait_results(page, {library["ids"]["harbour.jpg"]})
        assert make.is_visible() and page.input_value("#f-make") == "nikon"
        no_sideways_scroll(page)
        assert not s.csp_violations and not s.errors, (s.csp_violations, s.errors)
    finally:
        ctx.close()


def test_details_read_in_plain_words(ui, library):
    page = ui.page
    ui.go(f"/media/{library['ids']['tower.jpg']}")
    facts = page.locator("#facts")
    facts.wait_for()
    rows = dict(zip(facts.locator("dt").all_text_contents(), facts.locator("dd").all_text_contents()))
    assert rows["Camera"] == "Canon EOS 40D", rows
    assert rows["Lens"] == "EF50mm f/1.8 II", rows
    assert rows["Exposure"] == "1/250 s · f/5.6 · ISO 200 · 50 mm", rows
    assert rows["Taken"] == "Sat 4 May 2024, 18:30 (UTC+02:00)", rows
    assert rows["Location"] == "48.85840° N, 2.29450° E (from the camera)", rows
    assert rows["Dimensions"].startswith("1200 × 800") and rows["Size"].endswith("KB · JPEG"), rows
    assert "Canon Canon" not in facts.text_content()
    # the raw metadata is there, behind a disclosure opened by a click
    raw = page.locator("#raw-meta")
    assert raw.get_attribute("open") is None and not page.locator("#raw-meta dl").is_visible()
    page.wait_for_function("() => document.getElementById('picture').complete")
    page.get_by_text("All metadata (file, EXIF, XMP)").click()
    assert page.locator("#raw-meta dl").is_visible()
    assert page.locator("#raw-meta dt", has_text="Format").is_visible()
    shot(ui, "details", full_page=True)


def test_unsure_objects_wait_for_the_slider(ui, library):
    page = ui.page
    ui.go(f"/media/{library['ids']['tower.jpg']}")
    page.wait_for_function("() => document.getElementById('picture').complete")
    chips = page.locator("#labels .chip")
    assert chips.filter(has_text="person 91%").is_visible()
    assert chips.filter(has_text="giraffe 26%").is_hidden()
    assert page.locator(".box-object").count() == 1
    assert "1 less sure hidden" in page.locator("#layer-minconf-hidden").text_content()
    # the slider is reached with Tab from the layer toggles, and moved with the arrow keys
    page.locator("#layer-ocr").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "layer-minconf"
    slider = page.get_by_label("Objects from")
    assert slider.get_attribute("type") == "range"
    for _ in range(6):
        page.keyboard.press("ArrowLeft")
    assert page.locator("#layer-minconf-out").text_content() == "20%"
    assert chips.filter(has_text="giraffe 26%").is_visible()
    assert page.locator(".box-object").count() == 2
    assert page.locator("#layer-minconf-hidden").text_content() == ""
    shot(ui, "details-objects")


def test_a_video_shows_its_keyframes(ui, library):
    if not library["video"]:
        pytest.skip("ffmpeg is absent: no test video")
    page = ui.page
    ui.go(f"/media/{library['video']}")
    strip = page.get_by_role("list", name="Keyframes")
    frames = strip.get_by_role("button")
    assert frames.count() >= 3
    page.wait_for_function("() => [...document.querySelectorAll('#keyframes img')]"
                           ".every((i) => i.complete && i.naturalWidth > 0)")
    times = [float(frames.nth(i).get_attribute("data-t")) for i in range(frames.count())]
    assert times == sorted(times), times
    third = frames.nth(2)
    t = times[2]
    assert third.get_attribute("aria-label") == f"Show the video at 0:{t:04.1f}"  # tenths: a 4 s clip
    # reached with Tab from the one before, chosen with Enter: the video shows that moment
    frames.nth(1).focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_function("(t) => Math.abs(document.getElementById('player').currentTime - t) < 0.25", arg=t)
    page.wait_for_selector("#keyframes button[aria-current=true]")
    assert third.get_attribute("aria-current") == "true"
    status = "async (u) => (await fetch(u)).status"
    assert page.evaluate(status, f"/api/v1/media/{library['video']}/thumbnail?keyframe=99") == 404  # no such frame
    assert page.evaluate(status, f"/api/v1/media/{library['ids']['tower.jpg']}/thumbnail?keyframe=0") == 404  # a photo
    rows = dict(zip(page.locator("#facts dt").all_text_contents(), page.locator("#facts dd").all_text_contents()))
    assert rows["Length"] == "0:04" and rows["Dimensions"] == "320 × 180", rows
    shot(ui, "video-keyframes", full_page=True)


def test_face_links_have_names(ui, library):
    page = ui.page
    ui.go(f"/media/{library['ids']['tower.jpg']}")
    faces = page.locator(".faces")
    person = faces.get_by_role("link", name="Photos of Alice (face 1)")
    assert person.get_attribute("href").startswith("/search?person=")
    assert faces.get_by_role("link", name="find similar faces: face 1, Alice").count() == 1
    page.wait_for_selector(".box-face")
    assert page.get_by_role("link", name="Photos of Alice (face 1)").count() == 2  # the list and the box


def test_stats_bars_by_year_and_cameras_named_once(ui):
    page = ui.page
    ui.go("/stats")
    page.wait_for_selector("#timeline-chart[data-grain=year]")
    assert page.get_by_role("heading", name="Per year").is_visible()
    assert page.locator("#timeline-chart").get_attribute("data-rendered") == str(2024 - 2015 + 1)
    years = page.get_by_role("list", name="Items per year")
    assert years.get_by_role("link", name="2016").get_attribute("href") == "/search?from=2016-01-01&to=2016-12-31"
    cams = page.locator("table", has=page.get_by_role("columnheader", name="Camera")).text_content()
    assert "Canon EOS 40D" in cams and "NIKON D70" in cams and "Canon Canon" not in cams, cams
    link = page.get_by_role("link", name="NIKON D70")
    assert link.get_attribute("href") == "/search?camera_make=NIKON%20CORPORATION&camera_model=NIKON%20D70"
    shot(ui, "stats-years", full_page=True)
    # a year's link opens its search
    years.get_by_role("link", name="2016").click()
    page.wait_for_url("**/search?from=2016-01-01&to=2016-12-31")
    page.wait_for_function("() => document.querySelectorAll('#grid .tile-media').length === 12")


def test_an_unknown_page_is_the_html_404_page(ui, server):  # noqa: F811
    import httpx

    page = ui.page
    r = ui.go("/no-such-page")
    assert r.status == 404 and r.headers["content-type"].startswith("text/html")
    assert page.get_by_role("heading", name="Not found").is_visible()
    assert "/no-such-page" in page.locator("main").text_content()
    assert page.get_by_role("navigation", name="Main").is_visible()  # logged in: the menu is there
    page.get_by_role("link", name="Back to the library").focus()
    shot(ui, "404")
    # API clients still get JSON, for unknown API and page URLs alike
    r = httpx.get(server + "/api/v1/no-such-thing", headers={"Accept": "text/html"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = httpx.get(server + "/no-such-page", headers={"Accept": "application/json"})
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = httpx.get(server + "/no-such-page", headers={"Accept": "text/html"})  # nobody logged in: no menu
    assert r.status_code == 404 and "Not found" in r.text and 'id="mainnav"' not in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]


def test_no_csp_violation_nor_script_error(ui):
    assert not ui.csp_violations, ui.csp_violations
    assert not ui.errors, ui.errors
