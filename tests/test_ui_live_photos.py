"""Live photos in headless Chromium (issue 22): the grid tile of a live photo shows the LIVE badge and plays its
motion clip on hover; the viewer plays the clip over the still (the video element reaches `playing`); the detail
page lists both files, each downloadable byte for byte.  Screenshots: artifacts/screenshots/live-*.png."""
from __future__ import annotations

import secrets
import shutil

import pytest

from test_companions import make_mov, make_still
from test_ui_viewer import logged_in, picture  # noqa: F401
from test_web_ui import PASSWORD, SHOTS, browser, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services"),
              pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("exiftool")),
                                 reason="ffmpeg and exiftool make the live photo fixture")]


@pytest.fixture(scope="module")
def live(services, shared, tmp_path_factory):
    from conftest import shared_path
    from pva.media import motion
    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"live-ui-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("live-ui")
    still = make_still(src / "IMG_0100.JPG", shared_path("fixtures", "exif-samples", "heic", "IMG_5195.HEIC"),
                       color="orange")
    mov = make_mov(src / "IMG_0100.MOV", motion.still_content_id(still), seconds=2.0)
    ing = Ingestor(publish=False)
    plain = ing.ingest_file(make_still(src / "plain.jpg", None, color="green"), user, "trip/plain.jpg")
    a = ing.ingest_file(mov, user, "trip/IMG_0100.MOV")
    b = ing.ingest_file(still, user, "trip/IMG_0100.JPG")
    assert plain.status == a.status == b.status == "added", (plain, a, b)
    return {"user": user, "id": b.media_id, "plain": plain.media_id, "still": still.read_bytes(),
            "mov": mov.read_bytes()}


@pytest.fixture(scope="module")
def ui(browser, server, live):  # noqa: F811
    ctx, s = logged_in(browser, server, live["user"]["username"])
    yield s
    ctx.close()


def shot(ui, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"live-{name}.png"))


def test_the_grid_badges_a_live_photo_and_plays_it_on_hover(ui, live):
    page = ui.page
    ui.go("/")
    tile = page.locator(f".tile-media[data-id='{live['id']}']")
    tile.wait_for()
    assert tile.locator(".badge.live").inner_text().strip().endswith("LIVE")
    assert page.locator(f".tile-media[data-id='{live['plain']}'] .badge.live").count() == 0
    shot(ui, "grid")
    tile.hover()
    page.wait_for_function("(id) => { const v = document.querySelector(`.tile-media[data-id='${id}'] "
                           "video.live-motion`); return v && v.currentTime > 0.2 && !v.paused; }", arg=live["id"])
    shot(ui, "grid-hover")
    page.mouse.move(5, 5)
    page.wait_for_function("(id) => !document.querySelector(`.tile-media[data-id='${id}'] video`)", arg=live["id"])


def test_the_viewer_plays_the_motion_over_the_still(ui, live):
    page = ui.page
    ui.go("/")
    page.locator(f".tile-media[data-id='{live['id']}']").click()
    page.wait_for_selector(".viewer .viewer-motion", state="attached")
    src = page.get_attribute(".viewer .viewer-motion", "src")
    assert src == f"/api/v1/media/{live['id']}/files/motion?playable=1"  # the web preview when there is one
    # it plays once when the item opens (the element reached `playing`), then the still shows again
    page.wait_for_function("() => document.querySelector('.viewer .viewer-motion').dataset.played === '1'")
    page.wait_for_function("() => document.querySelector('.viewer .viewer-motion').hidden", timeout=20000)
    page.get_by_role("button", name="Play the live photo").click()  # again, on demand
    page.wait_for_function("() => { const v = document.querySelector('.viewer .viewer-motion');"
                           " return !v.hidden && !v.paused && v.currentTime > 0.3; }")
    box = page.locator(".viewer .viewer-motion").bounding_box()
    assert box and box["width"] > 200 and box["height"] > 100, box  # over the still, not a speck
    shot(ui, "viewer-playing")
    page.keyboard.press("Escape")
    assert not [e for e in ui.errors if "/files/motion" in e], ui.errors


@pytest.fixture(scope="module")
def hevc_live(live, tmp_path_factory):
    """An iPhone-like live photo whose motion clip is HEVC in MOV, after its transcode job made the H.264 MP4."""
    from conftest import shared_path
    from test_motion_preview import hevc_mov

    from pva.jobs import pipeline
    from pva.jobs.tasks.transcode import TranscodeTask
    from pva.media import motion
    from pva.services.ingest import Ingestor

    src = tmp_path_factory.mktemp("live-hevc")
    still = make_still(src / "IMG_0200.JPG", shared_path("fixtures", "exif-samples", "heic", "IMG_5195.HEIC"),
                       color="purple")
    ing = Ingestor(publish=False)
    b = ing.ingest_file(still, live["user"], "trip/IMG_0200.JPG")
    ing.ingest_file(hevc_mov(src / "IMG_0200.MOV", motion.still_content_id(still)), live["user"],
                    "trip/IMG_0200.MOV")
    assert pipeline.run_stored(TranscodeTask(), b.media_id)[0] == "done"
    return b.media_id


def test_an_hevc_live_photo_plays_its_h264_preview_in_the_viewer(ui, hevc_live):
    page = ui.page
    ui.go("/")
    page.locator(f".tile-media[data-id='{hevc_live}']").click()
    page.wait_for_selector(".viewer .viewer-motion", state="attached")
    page.wait_for_function("() => document.querySelector('.viewer .viewer-motion').dataset.played === '1'")
    r = page.request.get(ui.base + page.get_attribute(".viewer .viewer-motion", "src"))
    assert r.status == 200 and r.headers["content-type"] == "video/mp4" and r.body()[4:8] == b"ftyp"
    page.keyboard.press("Escape")
    assert not [e for e in ui.errors if "/files/motion" in e], ui.errors


def test_the_detail_page_lists_both_files_each_downloadable(ui, live):
    page = ui.page
    ui.go(f"/media/{live['id']}")
    files = page.locator("#item-files li")
    assert files.count() == 2
    assert "IMG_0100.MOV" in files.nth(1).inner_text() and "motion clip" in files.nth(1).inner_text()
    assert "under 3 s" in files.nth(1).inner_text()  # why the 2-second clip is not transcribed
    shot(ui, "detail")
    for i, expected in ((0, live["still"]), (1, live["mov"])):
        href = files.nth(i).locator("a").get_attribute("href")
        r = page.request.get(ui.base + href)
        assert r.status == 200 and r.body() == expected
        assert "attachment" in r.headers["content-disposition"]
    r = page.request.get(f"{ui.base}/api/v1/media/{live['id']}/files/motion", headers={"Range": "bytes=0-99"})
    assert r.status == 206 and r.body() == live["mov"][:100]
