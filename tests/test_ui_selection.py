"""Select many, act once (issue 18 item 3) in headless Chromium, as a person does it: tick a tile's checkbox, shift-
click another's (the range between is selected), Esc clears; "Select day" on a date header; add the day to a new
album from the bar's dialog; tick two more with the keyboard and a click, move them to the trash; download two as a
ZIP and open it (the originals, byte for byte); on the album page take one out again.  Screenshots go to
artifacts/screenshots/selection-*.png."""
from __future__ import annotations

import io
import secrets
import zipfile

import pytest

import media_fixtures as mf
from test_web_ui import PASSWORD, SHOTS, Session, browser, log_in, open_session, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]

# newest first in the library: two days of three photos each
PHOTOS = [(f"may4-{h}.jpg", f"2024:05:04 {h:02d}:00:00", (200, 90 + 30 * i, 60)) for i, h in enumerate((18, 12, 9))] + \
         [(f"may3-{h}.jpg", f"2024:05:03 {h:02d}:00:00", (40, 110, 120 + 30 * i)) for i, h in enumerate((17, 11, 8))]


@pytest.fixture(scope="module")
def library(services, tmp_path_factory):
    """A user with six photos on two days, ingested as an upload would (no analysis needed)."""
    from PIL import Image, ImageDraw

    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"select-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("select")
    ing = Ingestor(publish=False)
    ids, originals = [], {}
    for name, taken, color in PHOTOS:
        img = Image.new("RGB", (480, 320), color)
        ImageDraw.Draw(img).ellipse((300, 40, 400, 140), fill=(250, 220, 120))
        p = mf.make_jpeg(src / name, image=img, make="Canon", model="Canon EOS 40D", taken=taken)
        res = ing.ingest_file(p, user, f"days/{name}")
        assert res.status == "added", res
        ids.append(str(res.media_id))
        originals[name] = p.read_bytes()
    return {"user": user, "ids": ids, "originals": originals}


@pytest.fixture(scope="module")
def ui(browser, server, library):  # noqa: F811
    ctx, s = open_session(browser, server, viewport=(1280, 800), offline=False, accept_dialogs=False,
                          accept_downloads=True)
    log_in(s, library["user"]["username"])
    yield s
    ctx.close()


def shot(ui, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"selection-{name}.png"))


def checked(page) -> list[str]:
    return page.eval_on_selector_all("#grid .sel-check:checked", "bs => bs.map(b => b.dataset.id)")


def box(page, mid):
    return page.locator(f'#grid .sel-check[data-id="{mid}"]')


def count_text(page) -> str:
    return page.locator("#selection-bar .sel-count").text_content()


def test_select_range_day_album_trash_and_download(ui, library):
    page, ids = ui.page, library["ids"]
    ui.go("/")
    page.wait_for_selector("#grid .sel-check")
    assert page.locator("#selection-bar").is_hidden(), "no bar before anything is selected"
    page.mouse.move(1200, 700)
    assert page.eval_on_selector(f'.sel-check[data-id="{ids[0]}"]', "b => getComputedStyle(b).opacity") == "0"

    # tick the first tile, shift-click the third: the range 1..3 is selected
    page.locator(f'.tile-media[data-id="{ids[0]}"]').hover()
    box(page, ids[0]).click()
    page.wait_for_selector("#selection-bar:not([hidden])")
    assert count_text(page) == "1 selected"
    box(page, ids[2]).click(modifiers=["Shift"])
    assert sorted(checked(page)) == sorted(ids[:3])
    assert count_text(page) == "3 selected"
    shot(ui, "range")

    # a plain click on a tile while selecting selects it (it does not open the viewer)
    page.locator(f'.tile-media[data-id="{ids[4]}"]').click()
    assert page.locator(".viewer").count() == 0 or page.locator(".viewer").is_hidden()
    assert ids[4] in checked(page) and count_text(page) == "4 selected"

    # Esc clears
    page.keyboard.press("Escape")
    page.wait_for_selector("#selection-bar", state="hidden")
    assert checked(page) == []

    # "Select day" on the second date header: the three photos of May 3
    headers = page.locator("#grid h3.grid-date")
    assert headers.count() == 2
    day_btn = headers.nth(1).get_by_role("button", name="Select all of")
    assert "Select all of" in day_btn.get_attribute("aria-label")
    day_btn.click()
    assert sorted(checked(page)) == sorted(ids[3:])
    assert headers.nth(1).locator(".sel-day").text_content() == "Deselect day"
    shot(ui, "day")

    # add them to a new album through the bar's dialog
    page.get_by_role("region", name="Selection").get_by_role("button", name="Add to album…").click()
    dialog = page.locator("dialog.sel-dialog")
    dialog.wait_for()
    page.select_option("#sel-album", "")  # "New album…"
    page.fill("#sel-album-name", "May the third")
    shot(ui, "album-dialog")
    dialog.get_by_role("button", name="Add").click()
    page.wait_for_selector("#toast.show:has-text('Added 3 items')")
    page.wait_for_selector("#selection-bar", state="hidden")
    albums = ui.api("/api/v1/albums")
    album = next(a for a in albums if a["name"] == "May the third")
    in_album = ui.api(f"/api/v1/media?album={album['id']}")["items"]
    assert sorted(i["id"] for i in in_album) == sorted(ids[3:])

    # keyboard: focus the second tile's checkbox and press Space; then tick the fourth; Move to trash
    box(page, ids[1]).focus()
    page.keyboard.press("Space")
    assert checked(page) == [ids[1]]
    box(page, ids[3]).click()
    shot(ui, "two-selected")
    page.get_by_role("button", name="Move to trash").click()
    page.wait_for_selector("#toast.show:has-text('Moved 2 items to the trash')")
    page.wait_for_selector(f'.tile-media[data-id="{ids[1]}"]', state="detached")
    assert page.locator(f'.tile-media[data-id="{ids[3]}"]').count() == 0
    trashed = ui.api("/api/v1/media?trashed=true")["items"]
    assert sorted(i["id"] for i in trashed) == sorted([ids[1], ids[3]])
    assert len(ui.api("/api/v1/media")["items"]) == 4
    shot(ui, "after-trash")

    # download two as a ZIP: the originals, byte for byte
    box(page, ids[0]).click()
    box(page, ids[5]).click()
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download").click()
    download = dl.value
    assert download.suggested_filename.startswith("photos-") and download.suggested_filename.endswith(".zip")
    z = zipfile.ZipFile(io.BytesIO(open(download.path(), "rb").read()))
    names = [PHOTOS[0][0], PHOTOS[5][0]]
    assert sorted(z.namelist()) == sorted(names)
    for name in names:
        assert z.read(name) == library["originals"][name], f"{name} in the ZIP differs from the original"
    page.keyboard.press("Escape")
    assert not ui.csp_violations
    assert not [e for e in ui.errors if "favicon" not in e], ui.errors


def test_remove_from_album_on_the_album_page(ui, library):
    page, ids = ui.page, library["ids"]
    album = next(a for a in ui.api("/api/v1/albums") if a["name"] == "May the third")
    ui.go(f"/albums/{album['id']}")
    page.wait_for_selector("#grid .sel-check")
    bar = page.get_by_role("region", name="Selection")
    box(page, ids[4]).click()
    assert bar.get_by_role("button", name="Remove from album").is_visible()
    shot(ui, "album-page")
    bar.get_by_role("button", name="Remove from album").click()
    page.wait_for_selector("#toast.show:has-text('Removed 1 item from the album')")
    page.wait_for_selector(f'.tile-media[data-id="{ids[4]}"]', state="detached")
    left = ui.api(f"/api/v1/media?album={album['id']}")["items"]
    assert [i["id"] for i in left] == [ids[5]], "the trashed item is not listed; the removed one is out"
    assert ui.api(f"/api/v1/media/{ids[4]}")["id"] == ids[4], "removed from the album, still in the library"

    # Set location… with a typed "lat, lon"
    box(page, ids[5]).click()
    bar.get_by_role("button", name="Set location…").click()
    page.fill("#sel-latlon", "north pole")
    page.locator("dialog.sel-dialog").get_by_role("button", name="Set location").click()
    page.wait_for_selector("dialog.sel-dialog .sel-error:has-text('latitude')")
    page.fill("#sel-latlon", "48.8584, 2.2945")
    page.locator("dialog.sel-dialog").get_by_role("button", name="Set location").click()
    page.wait_for_selector("#toast.show:has-text('Location set on 1 item')")
    gps = ui.api(f"/api/v1/media/{ids[5]}")["gps"]
    assert (gps["lat"], gps["lon"], gps["source"]) == (48.8584, 2.2945, "override")

    # on a phone the checkboxes show without hovering and the bar wraps within the screen
    page.set_viewport_size({"width": 390, "height": 800})
    box(page, ids[5]).click()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    shot(ui, "phone")
    page.keyboard.press("Escape")
    page.set_viewport_size({"width": 1280, "height": 800})
    assert not ui.csp_violations


def test_select_all_results_and_keyboard_reach(ui, library):
    page, ids = ui.page, library["ids"]
    ui.go("/")
    page.wait_for_selector("#grid .sel-check")
    # Tab from a tile reaches its checkbox; Space ticks it and the bar appears
    tile = page.locator(f'.tile-media[data-id="{ids[0]}"]')
    tile.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('sel-check')")
    assert page.evaluate("() => document.activeElement.getAttribute('aria-label')").startswith("Select may4-18")
    page.keyboard.press("Space")
    bar = page.get_by_role("region", name="Selection")
    bar.get_by_role("button", name="Select all results").click()
    page.wait_for_function("() => document.querySelector('#selection-bar .sel-count').textContent === '4 selected'")
    live = {i["id"] for i in ui.api("/api/v1/media")["items"]}
    assert set(checked(page)) == live
    # the checkboxes fade in (a CSS transition): wait for it to end rather than read a frame in the middle of it
    page.wait_for_function("() => [...document.querySelectorAll('#grid .sel-check')]"
                           ".every(b => getComputedStyle(b).opacity === '1')", timeout=5000)
    visible = page.eval_on_selector_all("#grid .sel-check", "bs => bs.map(b => getComputedStyle(b).opacity)")
    assert set(visible) == {"1"}, "every checkbox shows while selecting"
    shot(ui, "all")
    # the bar's buttons are reached by Tab, in order; Esc clears and hides it
    bar.get_by_role("button", name="Clear selection (Esc)").focus()
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.textContent") == "Select all"
    page.keyboard.press("Escape")
    page.wait_for_selector("#selection-bar", state="hidden")
    assert checked(page) == []
