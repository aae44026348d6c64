"""The Duplicates page (issue 21) in headless Chromium, with real clicks: copies of real fixture photos ingested
for real are shown as groups side by side (thumbnail, resolution, size, date, camera), a different shot of the same
scene and another user's copy are not; "Keep" on a chosen item trashes the rest of its group (restorable), "Not
duplicates" is remembered across a reload, "Keep the best of every group" asks first.  Screenshots go to
artifacts/screenshots/duplicates-*.png."""
from __future__ import annotations

import io
import secrets

import pytest

from conftest import shared_path
from duplicates_fixtures import copies, displayed, other_shots, to_jpeg_bytes
from test_web_ui import PASSWORD, SHOTS, Session, browser, log_in, open_session, server  # noqa: F401  (fixtures)

pytestmark = pytest.mark.usefixtures("services")


def _ingest(owner, name: str, data: bytes) -> str:
    from pva.services.ingest import Ingestor

    res = Ingestor(publish=False).ingest_stream(io.BytesIO(data), owner, name)
    assert res.status == "added", res.reason
    return res.media_id


@pytest.fixture(scope="module")
def library(services):
    from pva.services import auth

    canon_path = shared_path("fixtures", "exif-samples", "jpg", "Canon_40D.jpg")
    nikon_path = shared_path("fixtures", "exif-samples", "jpg", "Nikon_D70.jpg")
    user = auth.create_user(f"dups-{secrets.token_hex(3)}", PASSWORD)
    other = auth.create_user(f"dups-other-{secrets.token_hex(3)}", PASSWORD)
    canon, nikon = displayed(canon_path), displayed(nikon_path)
    ids = {"canon": _ingest(user, "trip/IMG_0001.jpg", canon_path.read_bytes())}  # the camera's file, with EXIF
    c = copies(canon)
    ids["canon small"] = _ingest(user, "shared/IMG_0001 small.jpg", to_jpeg_bytes(c["resized to 50 %"], 80))
    ids["canon bright"] = _ingest(user, "edits/IMG_0001 bright.jpg", to_jpeg_bytes(c["brightness +20 %"]))
    ids["canon other shot"] = _ingest(user, "trip/IMG_0002.jpg", to_jpeg_bytes(other_shots(canon)["panned 10 %"]))
    ids["nikon"] = _ingest(user, "trip/DSC_0001.jpg", nikon_path.read_bytes())
    ids["nikon crop"] = _ingest(user, "edits/DSC_0001 crop.jpg", to_jpeg_bytes(copies(nikon)["cropped 3 %"]))
    theirs = _ingest(other, "IMG_0001.jpg", canon_path.read_bytes())
    token, _ = auth.create_token(user["id"], ["read", "write"], name="dups-test")
    return {"user": user, "ids": ids, "token": token, "theirs": theirs}


@pytest.fixture(scope="module")
def ui(browser, server, library):  # noqa: F811
    ctx, s = open_session(browser, server, viewport=(1280, 900), failed_responses=False)
    log_in(s, library["user"]["username"])
    yield s
    ctx.close()


def shot(s: Session, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    s.page.screenshot(path=str(SHOTS / f"duplicates-{name}.png"), full_page=True)


def call(server, library, method, path):
    import httpx

    return httpx.request(method, server + "/api/v1" + path, headers={"Authorization": f"Bearer {library['token']}"})


def trashed(media_id) -> bool:
    from pva.infra import db

    return db.query_one("select trashed_at from media where id = %s", (media_id,))["trashed_at"] is not None


@pytest.mark.browser
def test_duplicates_page_keeps_the_chosen_one_dismisses_and_resolves_all(ui, server, library):
    page, ids = ui.page, library["ids"]
    page.get_by_role("link", name="Duplicates").click()
    page.wait_for_url(server + "/duplicates")
    groups = page.locator("#dups-list .dup-group")
    groups.nth(1).wait_for()
    assert groups.count() == 2
    assert page.locator("#dups-count").text_content() == "2 groups, 5 items"
    page.wait_for_function("() => [...document.querySelectorAll('#dups-list img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    shown = set(page.locator(".dup-item").evaluate_all("els => els.map(e => e.dataset.id)"))
    assert shown == {ids[k] for k in ("canon", "canon small", "canon bright", "nikon", "nikon crop")}
    assert ids["canon other shot"] not in shown and library["theirs"] not in shown
    canon = page.locator(".dup-group", has=page.locator(f".dup-item[data-id='{ids['canon']}']"))
    # side by side: the three items of a group on one row at this width
    tops = canon.locator(".dup-item").evaluate_all("els => els.map(e => Math.round(e.getBoundingClientRect().top))")
    assert len(tops) == 3 and len(set(tops)) == 1
    # the best first (full size, then the larger file: the camera's own with its metadata), with what decides it
    best = canon.locator(".dup-item").first
    assert best.get_attribute("data-id") in (ids["canon"], ids["canon bright"])
    assert best.locator(".badge.best").text_content() == "Best" and best.locator("input[type=radio]").is_checked()
    camera_file = canon.locator(f".dup-item[data-id='{ids['canon']}']")
    text = camera_file.inner_text()
    assert "100 × 68" in text and "Canon EOS 40D" in text and "KB" in text and "trip" in text
    assert "Canon" not in canon.locator(f".dup-item[data-id='{ids['canon small']}']").inner_text()
    shot(ui, "page")
    # at phone width the items wrap and nothing pushes the page sideways
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    shot(ui, "phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # keep the small copy instead (a real click on its "Keep" choice), trash the two others
    canon.locator(f".dup-item[data-id='{ids['canon small']}'] label.keep-choice").click()
    assert canon.locator(f".dup-item[data-id='{ids['canon small']}']").get_attribute("class") == "dup-item keep"
    canon.get_by_role("button", name="Keep one, trash 2 others").click()
    canon.wait_for(state="detached")
    page.wait_for_selector("#toast.show:has-text('moved 2 items to the trash')")
    assert not trashed(ids["canon small"]) and trashed(ids["canon"]) and trashed(ids["canon bright"])
    assert not trashed(ids["canon other shot"]) and not trashed(library["theirs"])
    assert page.locator("#dups-count").text_content() == "1 group, 2 items"

    # "Not duplicates" on the other group: gone, and still gone after a reload
    page.get_by_role("button", name="Not duplicates").click()
    page.wait_for_selector("#dups-empty:visible")
    assert not trashed(ids["nikon"]) and not trashed(ids["nikon crop"])
    page.reload()
    page.wait_for_selector("#dups-empty:visible")
    assert page.locator(".dup-group").count() == 0 and page.locator("#dups-resolve-all").is_hidden()
    shot(ui, "empty")

    # the trashed copy restored from the trash is a group again; "keep the best of every group" asks, then acts
    assert call(server, library, "POST", f"/media/{ids['canon']}/restore").status_code == 200
    page.reload()
    groups.first.wait_for()
    assert groups.count() == 1
    page.get_by_role("button", name="Keep the best of every group").click()
    page.wait_for_selector("#dups-empty:visible")
    assert ui.dialogs[-1].startswith("Keep the best item of every group (1 group)")
    # the camera's full-size file is the best: the small copy goes this time
    assert not trashed(ids["canon"]) and trashed(ids["canon small"])
    assert not ui.errors, ui.errors
    assert not ui.csp_violations, ui.csp_violations
