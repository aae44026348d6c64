"""Bursts and "On this day" in headless Chromium (issue 21), as a person uses them: the library shows a burst of
four frames as one stacked tile with its count; the count button unfolds the other three right after it, and the
viewer steps from the first frame through them; pressed again it folds them.  Above the grid, "On this day" shows
the memories the cron prepared (1 year ago, 3 years ago); a photo of a memory opens the viewer over that memory's
photos only.  Screenshots go to artifacts/screenshots/bursts-*.png."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import piexif
import pytest

import media_fixtures as mf
from conftest import shared_path
from test_ui_viewer import logged_in, picture, wait_shown
from test_web_ui import PASSWORD, SHOTS, browser, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]

BURST_AT = datetime(2024, 6, 15, 17, 30, 0)
COLOURS = [(200, 90, 60), (40, 110, 170), (60, 150, 70), (150, 80, 160), (190, 160, 40), (90, 90, 100)]


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"bursts-{name}.png"))


@pytest.fixture(scope="module")
def library(services, tmp_path_factory):
    """A burst of 4 frames 0.5 s apart, two single photos, and real camera photos re-dated to today's date 1 and 3
    years ago (memories prepared by the cron's own function)."""
    from pva.services import auth, memories
    from pva.services.ingest import Ingestor

    today = datetime.now(timezone.utc).date()
    if (today.month, today.day) == (2, 29):
        pytest.skip("today is Feb 29: earlier years have no such day")
    user = auth.create_user(f"bursts-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("bursts")
    ing = Ingestor(publish=False)

    def add(name, when: datetime, colour, model="EOS R6", real: str | None = None):
        from PIL import Image

        image = (Image.open(shared_path("fixtures", "exif-samples", "jpg", real)).convert("RGB") if real
                 else picture((900, 600), colour))
        p = mf.make_jpeg(src / name, image=image, make="Canon", model=model,
                         taken=when.strftime("%Y:%m:%d %H:%M:%S"),
                         extra_exif={piexif.ExifIFD.SubSecTimeOriginal: f"{when.microsecond // 1000:03d}".encode()})
        res = ing.ingest_file(p, user, f"b/{name}")
        assert res.status == "added", res
        return res.media_id

    frames = [add(f"goal-{i}.jpg", BURST_AT + timedelta(seconds=0.5 * i), COLOURS[i]) for i in range(4)]
    singles = [add("before.jpg", BURST_AT - timedelta(minutes=5), COLOURS[4]),
               add("after.jpg", BURST_AT + timedelta(minutes=5), COLOURS[5])]
    # real photos: different pictures (the generated ones differ only in colour, near-duplicates to the pHash)
    ago1 = [add(f"ago1-{i}.jpg", datetime(today.year - 1, today.month, today.day, 10 + i), None, "X100V", real)
            for i, real in enumerate(["Canon_40D.jpg", "Pentax_K10D.jpg"])]
    ago3 = [add("ago3-0.jpg", datetime(today.year - 3, today.month, today.day, 9), None, "D70", "Nikon_D70.jpg")]
    memories.prepare(user["id"])
    return {"user": user, "frames": frames, "singles": singles, "ago1": ago1, "ago3": ago3}


@pytest.fixture(scope="module")
def ui(browser, server, library):  # noqa: F811
    ctx, s = logged_in(browser, server, library["user"]["username"])
    yield s
    ctx.close()


def test_a_burst_is_one_stacked_tile_that_unfolds_and_the_viewer_steps_through_it(ui, library):
    page = ui.page
    frames = library["frames"]
    ui.go("/")
    page.wait_for_selector("#grid .tile-media img")
    ids = page.eval_on_selector_all("#grid .tile-media", "ts => ts.map(t => t.dataset.id)")
    assert frames[0] in ids and not set(frames[1:]) & set(ids), "the burst is one tile: its first frame"
    assert len(ids) == 1 + 2 + 3
    toggle = page.get_by_role("button", name="Show the 4 photos of this burst")
    assert toggle.text_content().strip().endswith("4") and toggle.get_attribute("aria-expanded") == "false"
    page.locator(f'.burst-stack[data-burst="{frames[0]}"]').scroll_into_view_if_needed()
    shot(page, "stacked")

    toggle.click()
    page.wait_for_selector(".tile-media.burst-member img")
    ids = page.eval_on_selector_all("#grid .tile-media", "ts => ts.map(t => t.dataset.id)")
    i = ids.index(frames[0])
    assert ids[i:i + 4] == frames, "the other frames come right after the first, in capture order"
    assert page.locator(".burst-toggle").get_attribute("aria-expanded") == "true"
    assert page.locator(".tile-media.burst-member").count() == 3
    assert page.locator(".burst-member").first.evaluate("t => !!t.closest('.sel-tile')"), "selectable like any tile"
    shot(page, "unfolded")

    # the viewer: the first frame, then → through the burst
    page.locator(f'#grid .tile-media[data-id="{frames[0]}"]').click()
    wait_shown(page, frames[0])
    for f in frames[1:]:
        page.keyboard.press("ArrowRight")
        wait_shown(page, f)
    shot(page, "viewer")
    page.keyboard.press("Escape")
    page.wait_for_selector(".viewer", state="hidden")

    page.get_by_role("button", name="Fold the 4 photos of this burst").click()
    assert page.locator(".tile-media.burst-member").count() == 0
    assert page.locator(".burst-toggle").get_attribute("aria-expanded") == "false"
    assert not ui.csp_violations, ui.csp_violations
    assert not [e for e in ui.errors if "ERR_NAME_NOT_RESOLVED" not in e], ui.errors


def test_on_this_day_shows_each_earlier_year_and_opens_the_viewer_over_its_photos(ui, library):
    page = ui.page
    ui.go("/")
    section = page.get_by_role("region", name="On this day")
    section.wait_for()
    cards = section.locator("article.memory")
    assert cards.count() == 2
    assert cards.nth(0).locator("h3").text_content().startswith("1 year ago")
    assert cards.nth(1).locator("h3").text_content().startswith("3 years ago")
    assert "2 photos" in cards.nth(0).text_content()
    page.wait_for_function("() => [...document.querySelectorAll('.memory img')].every(i => i.complete && i.naturalWidth)")
    shot(page, "memories")

    ago1 = library["ago1"]
    cards.nth(0).locator(f'.tile-media[data-id="{ago1[0]}"]').click()
    wait_shown(page, ago1[0])
    assert page.locator(".viewer-pos").text_content() == "1 of 2"
    page.keyboard.press("ArrowRight")
    wait_shown(page, ago1[1])
    assert page.locator(".viewer-pos").text_content() == "2 of 2"
    assert page.locator(".viewer-next").is_disabled(), "the memory ends there"
    shot(page, "memory-viewer")
    page.keyboard.press("Escape")
    page.wait_for_selector(".viewer", state="hidden")
    assert page.evaluate("() => document.activeElement.dataset.id") == ago1[1], "the focus goes back to the photo"
    assert not ui.csp_violations, ui.csp_violations


def test_phone_width_keeps_the_memories_and_the_stack_readable(browser, server, library):  # noqa: F811
    ctx, s = logged_in(browser, server, library["user"]["username"])
    try:
        page = s.page
        page.set_viewport_size({"width": 390, "height": 844})
        s.go("/")
        page.get_by_role("region", name="On this day").wait_for()
        page.wait_for_selector(".burst-toggle")
        assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "no sideways page"
        shot(page, "phone")
    finally:
        ctx.close()
