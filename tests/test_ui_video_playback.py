"""Any video plays (issue 22) in headless Chromium: an old camera's MPEG-4 part 2 AVI, which Chromium refuses as
stored (its video element errors), plays once the transcode function has made its web preview: on the detail page
and in the viewer the video element reaches `playing` and seeks; the jobs page shows a long transcode's progress
and the time left.  Screenshots: artifacts/screenshots/video-*.png."""
from __future__ import annotations

import secrets
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

import media_fixtures as mf
from test_ui_viewer import logged_in
from test_web_ui import PASSWORD, SHOTS, browser, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services"),
              pytest.mark.skipif(not mf.ffmpeg_available(), reason="needs ffmpeg (Debian package)")]


def _avi(path, seconds: int, rate: int = 25):
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                    f"testsrc2=size=480x270:rate={rate}:duration={seconds}", "-f", "lavfi", "-i",
                    f"sine=frequency=330:duration={seconds}", "-shortest", "-c:v", "mpeg4", "-q:v", "4",
                    "-c:a", "libmp3lame", str(path)], check=True, timeout=120)
    return path


@pytest.fixture(scope="module")
def library(services, tmp_path_factory):
    """A user with an old camera's AVI (MPEG-4 part 2 + MP3), ingested and transcoded, and a second AVI whose
    transcode is under way (its job row says so)."""
    from pva.infra import db
    from pva.jobs.pipeline import run_stored
    from pva.jobs.tasks.transcode import TranscodeTask
    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"video-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("video-ui")
    ing = Ingestor(publish=False)
    clip = ing.ingest_file(_avi(src / "camera.avi", 8), user, "old camera/camera.avi")
    busy = ing.ingest_file(_avi(src / "long.avi", 3, rate=10), user, "old camera/long.avi")
    assert clip.status == busy.status == "added"
    assert run_stored(TranscodeTask(), clip.media_id)[0] == "done"
    # a long transcode 40% through after 20 s: a worker holds it (lease) and has reported its progress
    db.execute("""update analysis set status = 'running', attempts = 1, progress = 0.4, worker = 'test',
                         started_at = %s, lease_until = now() + interval '10 minutes'
                   where media_id = %s and kind = 'transcode'""",
               (datetime.now(timezone.utc) - timedelta(seconds=20), busy.media_id))
    return {"user": user, "clip": clip.media_id, "busy": busy.media_id}


@pytest.fixture(scope="module")
def ui(browser, server, library):  # noqa: F811
    ctx, s = logged_in(browser, server, library["user"]["username"])
    yield s
    ctx.close()


def shot(ui, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"video-{name}.png"))


def _watch(page, selector: str) -> None:
    page.evaluate("""(sel) => { window.__ev = []; const v = document.querySelector(sel);
        for (const t of ['playing', 'seeked', 'error']) v.addEventListener(t, () => window.__ev.push(t)); }""",
                  selector)


def test_chromium_cannot_play_the_avi_as_stored(ui, library):
    """The problem the preview solves: the original's video element fails in Chromium."""
    page = ui.page
    ui.go(f"/media/{library['clip']}")
    error = page.evaluate("""(src) => new Promise((done) => {
        const v = document.createElement('video'); v.muted = true;
        v.addEventListener('error', () => done(v.error && v.error.code));
        v.addEventListener('playing', () => done('playing'));
        v.src = src; v.play().catch(() => {}); setTimeout(() => done('timeout'), 10000); })""",
                          f"/api/v1/media/{library['clip']}/original")
    assert error == 4, f"Chromium was expected to refuse MPEG-4 part 2 (MEDIA_ERR_SRC_NOT_SUPPORTED), got {error}"


def test_detail_page_plays_the_preview_and_seeks(ui, library):
    page = ui.page
    ui.errors.clear()
    ui.go(f"/media/{library['clip']}")
    player = page.locator("video#player")
    assert player.get_attribute("src") == f"/api/v1/media/{library['clip']}/playback"
    _watch(page, "video#player")
    page.evaluate("() => { const v = document.querySelector('video#player'); v.muted = true; return v.play(); }")
    page.wait_for_function("() => window.__ev.includes('playing')", timeout=20000)
    page.wait_for_function("() => document.querySelector('video#player').currentTime > 0.5")
    # a seek to 6 s of 8: the browser asks for a byte range, the gateway answers 206
    page.evaluate("() => { document.querySelector('video#player').currentTime = 6; }")
    page.wait_for_function("() => window.__ev.includes('seeked')", timeout=20000)
    t = page.evaluate("() => document.querySelector('video#player').currentTime")
    assert 5.9 <= t <= 8.1, t
    assert "error" not in page.evaluate("() => window.__ev")
    duration = page.evaluate("() => document.querySelector('video#player').duration")
    assert 7.5 <= duration <= 8.5, duration
    page.evaluate("() => document.querySelector('video#player').pause()")
    shot(ui, "detail")
    # no failed request of ours, no script error (requests to the internet, e.g. map tiles, fail: no network here)
    assert not [e for e in ui.errors if "net::ERR_NAME_NOT_RESOLVED" not in e], ui.errors


def test_viewer_plays_the_preview(ui, library):
    page = ui.page
    ui.go("/")
    tile = page.locator(f".tile-media[data-id='{library['clip']}']")
    tile.scroll_into_view_if_needed()
    page.evaluate("""() => { window.__playing = false;
        document.addEventListener('playing', () => { window.__playing = true; }, true); }""")
    tile.click()
    page.wait_for_selector(".viewer video")
    assert page.get_attribute(".viewer video", "src") == f"/api/v1/media/{library['clip']}/playback"
    page.evaluate("() => { const v = document.querySelector('.viewer video'); v.muted = true; v.play(); }")
    page.wait_for_function("() => window.__playing === true", timeout=20000)
    page.evaluate("() => { document.querySelector('.viewer video').currentTime = 4; }")
    page.wait_for_function("() => { const v = document.querySelector('.viewer video');"
                           " return !v.seeking && v.currentTime >= 3.9; }", timeout=20000)
    page.wait_for_timeout(500)
    shot(ui, "viewer")
    page.keyboard.press("Escape")


def test_jobs_page_shows_a_running_transcode_with_progress_and_time_left(ui, library):
    page = ui.page
    ui.go("/jobs")
    item = page.locator("#running li", has_text="long.avi")
    item.wait_for()
    assert item.locator(".chip").inner_text() == "transcode"
    assert item.locator("progress").get_attribute("value") == "40"
    text = item.inner_text()
    assert "40%" in text and " left" in text, text  # 40% in 20 s or more: "about 30 s left" or more
    assert page.locator("#no-running").is_hidden()
    row = page.locator("#job-counts tbody tr", has_text="transcode")
    assert row.locator("td").nth(1).inner_text() == "1"  # running
    shot(ui, "jobs")
