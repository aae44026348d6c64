"""The full-screen viewer (issue 18 item 2) in headless Chromium, as a person uses it: open the library, click the
2nd tile, move with the arrow keys, the info panel with `i`, zoom with the + button and pan by dragging (the original
replaces the preview once zoomed), reload keeps the item open, Back/Forward move through what was seen, Esc
closes and gives the focus back to the tile; a video plays in it; the search page's own history is left alone.
Screenshots go to artifacts/screenshots/viewer-*.png."""
from __future__ import annotations

import secrets

import pytest

import media_fixtures as mf
from test_web_ui import PASSWORD, SHOTS, Session, browser, log_in, open_session, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]

# newest first in the library: the order of the tiles
PHOTOS = [("tower.jpg", "2024:05:04 18:30:00", "+02:00", "Canon", "Canon EOS 40D", (48.8584, 2.2945), (200, 90, 60)),
          ("harbour.jpg", "2024:05:03 09:15:00", "-04:00", "NIKON CORPORATION", "NIKON D70", (40.6892, -74.0445),
           (40, 110, 170)),
          ("garden.jpg", "2024:05:02 12:00:00", None, "WebTestCam", "Model W", None, (60, 150, 70)),
          ("street.jpg", "2024:05:01 08:00:00", "+09:00", "Sony", "ILCE-7M3", (35.6586, 139.7454), (120, 120, 130))]
VIDEO_TAKEN = "2024-04-30T10:00:00Z"


def picture(size, color):
    """A photo-like picture: a sky-to-ground gradient in `color`, a sun, hills and fine stripes to see zoom by."""
    from PIL import Image, ImageDraw

    w, h = size
    img = Image.new("RGB", size)
    d = ImageDraw.Draw(img)
    r, g, b = color
    for y in range(h):
        k = y / h
        d.line([(0, y), (w, y)], fill=(int(r * (1 - k) + 30 * k), int(g * (1 - k) + 60 * k), int(b * (1 - k) + 40 * k)))
    d.ellipse((w * 0.65, h * 0.12, w * 0.8, h * 0.12 + w * 0.15), fill=(250, 220, 120))
    d.polygon([(0, h), (0, h * 0.7), (w * 0.3, h * 0.55), (w * 0.6, h * 0.72), (w, h * 0.6), (w, h)], fill=(50, 90, 50))
    for x in range(int(w * 0.1), int(w * 0.4), 6):
        d.line([(x, h * 0.2), (x, h * 0.45)], fill=(255, 255, 255), width=2)
    return img


@pytest.fixture(scope="module")
def library(services, tmp_path_factory):
    """A user with four photos (dates with and without an offset, cameras, places) and a video, ingested as an
    upload would (publish off: no analysis needed to view them)."""
    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"viewer-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("viewer")
    ing = Ingestor(publish=False)
    ids = []
    for name, taken, offset, make, model, gps, color in PHOTOS:
        p = mf.make_jpeg(src / name, image=picture((2400, 1600), color), make=make, model=model, taken=taken,
                         offset=offset, gps=gps)
        res = ing.ingest_file(p, user, f"trip/{name}")
        assert res.status == "added", res
        ids.append(res.media_id)
    video = None
    if mf.ffmpeg_available():
        v = mf.make_video(src / "clip.mp4", duration=3.0, size=(320, 240), fps=10, creation_time=VIDEO_TAKEN)
        res = ing.ingest_file(v, user, "trip/clip.mp4")
        assert res.status == "added", res
        video = res.media_id
    return {"user": user, "photos": ids, "video": video}


def logged_in(browser, server, username):  # noqa: F811
    """A new browser context logged in through the login form; its Session records errors and CSP violations."""
    ctx, s = open_session(browser, server, viewport=(1280, 800), offline=False, accept_dialogs=False)
    log_in(s, username)
    return ctx, s


@pytest.fixture(scope="module")
def ui(browser, server, library):  # noqa: F811
    ctx, s = logged_in(browser, server, library["user"]["username"])
    yield s
    ctx.close()


def shot(ui, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"viewer-{name}.png"))


def shown(page) -> str | None:
    """The id of the item on the viewer's stage (from the URL it follows), None when closed."""
    if page.locator(".viewer").is_hidden():
        return None
    return page.evaluate("() => (location.hash.match(/^#view=(.+)$/) || [])[1] || null")


def wait_shown(page, mid):
    page.wait_for_function("(id) => location.hash === '#view=' + id", arg=mid)
    page.wait_for_function("() => { const i = document.querySelector('.viewer-img');"
                           " return i && i.complete && i.naturalWidth > 0 && i.style.width; }")


def transform(page) -> str:
    return page.eval_on_selector(".viewer-img", "i => i.style.transform")


def test_open_move_info_zoom_pan_reload_history_and_close(ui, library):
    page = ui.page
    photos = library["photos"]
    ui.go("/")
    page.wait_for_selector(".tile-media img")
    tiles = page.locator("#grid .tile-media")
    order = [tiles.nth(i).get_attribute("data-id") for i in range(tiles.count())]
    assert order[:4] == photos, "the library shows the newest first"

    # click the 2nd tile: it opens full screen, a modal dialog named after the file, the focus inside
    tiles.nth(1).click()
    dialog = page.get_by_role("dialog", name="harbour.jpg")
    dialog.wait_for()
    assert dialog.get_attribute("aria-modal") == "true"
    wait_shown(page, photos[1])
    assert page.url.endswith(f"/#view={photos[1]}")
    assert page.evaluate("() => document.querySelector('.viewer').contains(document.activeElement)")
    assert page.evaluate("() => document.getElementById('main').inert")
    for name in ("Close", "Previous", "Next", "Info", "Zoom in", "Zoom out"):
        assert page.get_by_role("button", name=name).count() == 1, name
    assert page.locator(".viewer-pos").text_content().startswith("2 of")
    assert page.locator(".viewer [aria-live=polite]").text_content().startswith("harbour.jpg, 2 of")
    shot(ui, "open")

    # → shows the 3rd; ← the 2nd again; → the 3rd
    page.keyboard.press("ArrowRight")
    wait_shown(page, photos[2])
    page.get_by_role("dialog", name="garden.jpg").wait_for()
    page.keyboard.press("ArrowLeft")
    wait_shown(page, photos[1])
    page.keyboard.press("ArrowRight")
    wait_shown(page, photos[2])

    # i: the info panel, with the camera and the date (no offset in this file), the size and a details link
    page.keyboard.press("i")
    info = page.get_by_role("complementary", name="Info")
    info.wait_for()
    page.wait_for_selector(".viewer-info dd:text('Model W')")
    text = info.text_content()
    assert "WebTestCam Model W" in text and "2024" in text and "(no time zone)" in text, text
    assert "2400 × 1600" in text and ("MB" in text or "KB" in text), text
    assert page.get_by_role("button", name="Info").get_attribute("aria-pressed") == "true"
    assert info.get_by_role("link", name="Open details").get_attribute("href").startswith(f"/media/{photos[2]}")
    shot(ui, "info")
    # the panel stays while moving: the 2nd item's date has its offset, its camera no repeated make
    page.keyboard.press("ArrowLeft")
    wait_shown(page, photos[1])
    page.wait_for_selector(".viewer-info dd:text('NIKON D70')")
    text = info.text_content()
    assert "UTC−04:00" in text and "NIKON CORPORATION" not in text and "40.68920, -74.04450" in text, text
    page.keyboard.press("i")
    info.wait_for(state="hidden")
    page.keyboard.press("ArrowRight")
    wait_shown(page, photos[2])

    # zoom with the + button, then drag to pan: the transform changes, the original replaces the preview
    before = transform(page)
    page.get_by_role("button", name="Zoom in").click()
    page.get_by_role("button", name="Zoom in").click()
    zoomed = transform(page)
    assert "scale(2.25)" in zoomed and zoomed != before, zoomed
    page.wait_for_function("() => document.querySelector('.viewer-img').dataset.original === '1'")
    assert page.eval_on_selector(".viewer-img", "i => i.naturalWidth") == 2400
    box = page.locator(".viewer-stage").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 120, cy + 60, steps=6)
    page.mouse.up()
    panned = transform(page)
    assert panned != zoomed and "translate(120px, 60px)" in panned, panned
    shot(ui, "zoomed")
    # zoomed in, the arrow keys pan (the keyboard's drag) instead of moving to another item
    page.keyboard.press("ArrowRight")
    assert "translate(40px, 60px)" in transform(page) and shown(page) == photos[2], transform(page)
    page.get_by_role("button", name="Zoom out").click()
    page.keyboard.press("0")
    assert "scale(1)" in transform(page)

    # a reload keeps the item open
    page.reload()
    wait_shown(page, photos[2])
    page.get_by_role("dialog", name="garden.jpg").wait_for()
    shot(ui, "reloaded")

    # Back moves to what was seen before, Forward comes again; Esc closes and the focus is on the tile
    page.keyboard.press("ArrowRight")
    wait_shown(page, photos[3])
    page.go_back()
    wait_shown(page, photos[2])
    page.go_forward()
    wait_shown(page, photos[3])
    page.keyboard.press("Escape")
    page.locator(".viewer").wait_for(state="hidden")
    assert "#view" not in page.url
    assert page.evaluate("() => document.activeElement.dataset.id") == photos[3]
    page.wait_for_timeout(200)  # after Back's scroll restoration, the tile is on screen
    assert page.evaluate("() => { const r = document.activeElement.getBoundingClientRect();"
                         " return r.top >= 0 && r.bottom <= innerHeight; }")
    assert not page.evaluate("() => document.getElementById('main').inert")
    shot(ui, "closed")

    # the keyboard alone: Enter on the focused tile opens it, Tab stays in the dialog, Back closes it
    page.keyboard.press("Enter")
    wait_shown(page, photos[3])
    for _ in range(10):
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.querySelector('.viewer').contains(document.activeElement)")
    page.go_back()
    page.locator(".viewer").wait_for(state="hidden")
    assert "#view" not in page.url
    assert page.evaluate("() => document.activeElement.dataset.id") == photos[3]


def test_swipe_and_double_click_zoom(ui, library):
    page = ui.page
    photos = library["photos"]
    ui.go("/")
    page.locator(f".tile-media[data-id='{photos[0]}']").click()
    wait_shown(page, photos[0])
    box = page.locator(".viewer-stage").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    # a drag to the left when not zoomed is a swipe to the next item
    page.mouse.move(cx + 150, cy)
    page.mouse.down()
    page.mouse.move(cx - 150, cy + 10, steps=8)
    page.mouse.up()
    wait_shown(page, photos[1])
    page.mouse.dblclick(cx, cy)
    assert "scale(2.5)" in transform(page)
    page.mouse.dblclick(cx, cy)
    assert "scale(1)" in transform(page)
    page.keyboard.press("Escape")
    page.locator(".viewer").wait_for(state="hidden")


def test_on_a_phone_the_info_panel_covers_the_lower_half(ui, library):
    page = ui.page
    page.set_viewport_size({"width": 390, "height": 800})
    try:
        ui.go("/")
        page.locator(f".tile-media[data-id='{library['photos'][0]}']").click()
        wait_shown(page, library["photos"][0])
        page.get_by_role("button", name="Info").click()
        page.wait_for_selector(".viewer-info dd:text('Canon EOS 40D')")  # not "Canon Canon EOS 40D"
        assert "UTC+02:00" in page.locator(".viewer-info").text_content()
        info = page.locator(".viewer-info").bounding_box()
        assert info["width"] == 390 and info["y"] > 300, info
        img = page.locator(".viewer-img").bounding_box()
        assert img["width"] <= 390.5, img
        shot(ui, "phone-info")
        page.get_by_role("button", name="Info").click()
        page.get_by_role("button", name="Close").click()
        page.locator(".viewer").wait_for(state="hidden")
    finally:
        page.set_viewport_size({"width": 1280, "height": 800})


def test_pinch_zooms(ui, library):
    page = ui.page
    ui.go("/")
    page.locator(f".tile-media[data-id='{library['photos'][0]}']").click()
    wait_shown(page, library["photos"][0])
    # two fingers moving apart (touch pointers: what a phone sends)
    page.evaluate("""() => {
        const stage = document.querySelector('.viewer-stage');
        const r = stage.getBoundingClientRect(), cx = r.left + r.width / 2, cy = r.top + r.height / 2;
        const ev = (type, id, x) => stage.dispatchEvent(new PointerEvent(type, {pointerId: id, pointerType: 'touch',
            clientX: x, clientY: cy, bubbles: true, isPrimary: id === 11}));
        ev('pointerdown', 11, cx - 50); ev('pointerdown', 12, cx + 50);
        for (let d = 50; d <= 150; d += 25) { ev('pointermove', 11, cx - d); ev('pointermove', 12, cx + d); }
        ev('pointerup', 11, cx - 150); ev('pointerup', 12, cx + 150);
    }""")
    assert "scale(3)" in transform(page), transform(page)
    assert shown(page) == library["photos"][0]  # a pinch is not a swipe
    page.keyboard.press("Escape")
    page.locator(".viewer").wait_for(state="hidden")


def test_moving_past_the_last_loaded_tile_loads_the_next_page(browser, server):  # noqa: F811
    """A grid pages 60 items at a time: → on the 60th asks the grid for its next page."""
    from pva.services import auth
    from test_gateway_helpers import insert_media

    user = auth.create_user(f"viewer-many-{secrets.token_hex(3)}", PASSWORD)
    # rows without files: no thumbnail, a format the browser does not show, so the viewer says so and asks nothing
    items = [insert_media(user["id"], filename=f"scan_{i:02d}.heic", format="heic", mime="image/heic")
             for i in range(62)]
    newest_first = [str(m["id"]) for m in reversed(items)]
    ctx, s = logged_in(browser, server, user["username"])
    try:
        page = s.page
        page.wait_for_function("() => document.querySelectorAll('#grid .tile-media').length === 60")
        s.go(f"/#view={newest_first[59]}")  # the 60th, from a link: the viewer opens over the first page
        page.get_by_role("dialog", name="scan_02.heic").wait_for()
        page.wait_for_selector(".viewer-pos:text('60 of 60+')")
        assert page.locator(".viewer-message").text_content() == "No preview for this item."
        page.keyboard.press("ArrowRight")
        page.get_by_role("dialog", name="scan_01.heic").wait_for()
        assert shown(page) == newest_first[60]
        page.wait_for_selector(".viewer-pos:text('61 of 62')")
        page.keyboard.press("ArrowRight")
        page.get_by_role("dialog", name="scan_00.heic").wait_for()
        assert page.locator(".viewer-next").is_disabled()  # and hidden: the end of the grid
        shot(s, "no-preview")
        assert not s.csp_violations and not [e for e in s.errors if "ERR_NAME_NOT_RESOLVED" not in e], s.errors
    finally:
        ctx.close()


def test_a_video_plays_in_the_viewer(ui, library):
    if not library["video"]:
        pytest.skip("ffmpeg is absent: no video to play")
    page = ui.page
    ui.go("/")
    tile = page.locator(f".tile-media[data-id='{library['video']}']")
    tile.scroll_into_view_if_needed()
    page.evaluate("""() => { window.__playing = false;
        document.addEventListener('playing', () => { window.__playing = true; }, true); }""")
    tile.click()
    page.wait_for_selector(".viewer video")
    src = page.get_attribute(".viewer video", "src")
    assert src == f"/api/v1/media/{library['video']}/playback"
    page.wait_for_function("() => window.__playing === true", timeout=20000)
    page.wait_for_function("() => document.querySelector('.viewer video').currentTime > 0.3")
    assert page.get_by_role("button", name="Zoom in").is_disabled()
    shot(ui, "video")
    page.keyboard.press("ArrowLeft")  # the last photo before it (newest first): the video stops
    page.wait_for_selector(".viewer-img")
    assert page.locator(".viewer video").count() == 0
    page.keyboard.press("Escape")


def test_search_results_open_in_the_viewer_without_rerunning_the_search(ui, library):
    page = ui.page
    ui.go("/search?kind=photo")
    page.wait_for_function("() => document.querySelectorAll('#grid .tile-media').length === 4")
    page.evaluate("() => { document.querySelector('#grid .tile-media').dataset.marker = 'kept'; }")
    page.locator("#grid .tile-media").nth(2).click()
    wait_shown(page, library["photos"][2])
    page.keyboard.press("ArrowRight")
    wait_shown(page, library["photos"][3])
    page.go_back()
    wait_shown(page, library["photos"][2])
    page.go_back()
    page.locator(".viewer").wait_for(state="hidden")
    assert page.url.endswith("/search?kind=photo")
    # the grid was not reloaded by search.js's popstate: the same tile elements are there
    assert page.locator("#grid .tile-media[data-marker='kept']").count() == 1
    assert page.evaluate("() => document.activeElement.dataset.id") == library["photos"][2]
    shot(ui, "search-closed")


def test_an_album_moves_through_its_own_items(ui, library):
    from uuid import UUID

    from pva.services import albums

    owner = library["user"]["id"]
    album = albums.create(owner, "Viewer trip")
    picked = [library["photos"][0], library["photos"][3]]  # not the two between them in the library
    albums.add_media(album["id"], owner, [UUID(m) for m in picked])
    page = ui.page
    ui.go(f"/albums/{album['id']}")
    page.locator(f".tile-media[data-id='{picked[0]}']").click()
    wait_shown(page, picked[0])
    assert page.locator(".viewer-pos").text_content() == "1 of 2"
    page.get_by_role("button", name="Next").click()
    wait_shown(page, picked[1])
    assert page.url.endswith(f"/albums/{album['id']}#view={picked[1]}")
    # its details link keeps the album, so the detail page's previous/next follow it too
    assert f"?in=album%3D{album['id']}" in page.get_attribute(".viewer-details", "href")
    page.keyboard.press("Escape")
    page.locator(".viewer").wait_for(state="hidden")
    assert page.url.endswith(f"/albums/{album['id']}")


def test_no_csp_violation_or_error(ui):
    assert not ui.csp_violations, ui.csp_violations
    # the search page's map asks a tile server this offline machine cannot resolve: not the viewer's
    errors = [e for e in ui.errors if "ERR_NAME_NOT_RESOLVED" not in e]
    assert not errors, errors
