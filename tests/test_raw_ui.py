"""A RAW photo in headless Chromium, as a person sees it: a tile in the library, upright in the viewer (its preview
made from the camera's embedded JPEG; zooming in never asks the browser for the RAW original it cannot show), and a
detail page whose picture loads and whose "Download original" link gives the RAW file byte for byte.
Screenshots go to artifacts/screenshots/raw-*.png."""
from __future__ import annotations

import secrets
import shutil

import pytest

import raw_samples as rs
from test_ui_viewer import logged_in, picture, wait_shown
from test_web_ui import PASSWORD, SHOTS, browser, server  # noqa: F401  (fixtures)

pytest.importorskip("rawpy", reason="rawpy (LibRaw) is not installed: pip install rawpy")
pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services"),
              pytest.mark.skipif(not shutil.which("exiftool"),
                                 reason="exiftool is not installed (Debian libimage-exiftool-perl)")]


@pytest.fixture(scope="module")
def raw_library(services, tmp_path_factory):
    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"raw-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("raw-ui")
    shown = picture((600, 400), (200, 90, 60))
    p = rs.make_dng(src / "DSC_0001.NEF", size=(600, 400), orientation=6, preview=2400, displayed=shown,
                    make="NIKON CORPORATION", model="NIKON Z 6")
    res = Ingestor(publish=False).ingest_file(p, user, "card/DSC_0001.NEF")
    assert res.status == "added", res
    return {"user": user, "id": res.media_id, "bytes": p.read_bytes()}


def test_a_raw_photo_shows_upright_in_the_library_viewer_and_detail_page(browser, server, raw_library):  # noqa: F811
    ctx, ui = logged_in(browser, server, raw_library["user"]["username"])
    page = ui.page
    mid = raw_library["id"]
    try:
        ui.go("/")
        page.wait_for_selector(".tile-media img")
        page.wait_for_function("() => { const i = document.querySelector('.tile-media img');"
                               " return i && i.complete && i.naturalWidth > 0; }")
        w, h = page.eval_on_selector(".tile-media img", "i => [i.naturalWidth, i.naturalHeight]")
        assert w > h, "the thumbnail is upright (the camera stored it portrait with orientation 6)"
        page.locator("#grid .tile-media").first.click()
        wait_shown(page, mid)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "raw-viewer.png"))
        page.get_by_role("button", name="Zoom in").click()
        page.get_by_role("button", name="Zoom in").click()
        page.wait_for_timeout(500)
        src = page.eval_on_selector(".viewer-img", "i => i.src")
        assert "/original" not in src, "a browser cannot show a RAW file: the preview stays"
        page.keyboard.press("Escape")

        ui.go(f"/media/{mid}")
        page.wait_for_function("() => { const i = document.getElementById('picture');"
                               " return i && i.complete && i.naturalWidth > 0; }")
        assert "NIKON Z 6" in page.content()
        page.screenshot(path=str(SHOTS / "raw-detail.png"), full_page=True)
        with page.expect_download() as dl:
            page.get_by_role("link", name="Download original").click()
        path = dl.value.path()
        assert open(path, "rb").read() == raw_library["bytes"]
        assert dl.value.suggested_filename == "DSC_0001.NEF"
        assert not [e for e in ui.errors if "/original" in e or "/thumbnail" in e], ui.errors
    finally:
        ctx.close()
