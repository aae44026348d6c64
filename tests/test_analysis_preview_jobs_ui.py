"""The jobs page in headless Chromium (issue 20): each analysis's backlog with its pace and when it will be done,
so the owner of a new library sees how long until it is searchable.  Screenshot: artifacts/screenshots/
backlog-jobs.png."""
from __future__ import annotations

import secrets

import pytest

from test_analysis_preview_jobs import _items
from test_ui_viewer import logged_in
from test_web_ui import PASSWORD, SHOTS, browser, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]


@pytest.fixture(scope="module")
def ui(browser, server):  # noqa: F811
    from pva.services import auth

    user = auth.create_user(f"backlog-{secrets.token_hex(3)}", PASSWORD)
    # detect: 20 done in the last 10 minutes, 30 waiting (about 15 min); ocr: 6 waiting, none done yet
    ids = _items(user["id"], 50, done_minutes_ago=[0.5 * i + 0.2 for i in range(20)], queued=30)
    from pva.infra import db

    for mid in ids[:6]:
        db.execute("insert into analysis(media_id, kind, status) values (%s, 'ocr', 'queued')", (mid,))
    ctx, s = logged_in(browser, server, user["username"])
    yield s
    ctx.close()


def test_jobs_page_shows_each_backlog_with_its_rate_and_when_it_is_done(ui):
    page = ui.page
    ui.go("/jobs")
    row = page.locator("#job-counts tbody tr", has_text="detect")
    row.locator("td.eta").wait_for()
    assert row.locator("td").nth(0).inner_text() == "30"  # queued
    rate = row.locator("td.rate").inner_text()
    assert rate.endswith("/min") and 1.8 <= float(rate.split("/")[0]) <= 2.2, rate
    eta = row.locator("td.eta").inner_text()
    assert eta.startswith("about ") and "min" in eta and 13 <= int(eta.split()[1]) <= 17, eta
    ocr = page.locator("#job-counts tbody tr", has_text="ocr")
    assert ocr.locator("td.rate").inner_text() == "–" and ocr.locator("td.eta").inner_text() == "waiting"
    faces = page.locator("#job-counts tbody tr", has_text="faces")
    assert faces.locator("td.eta").inner_text() == "–"  # nothing waiting
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "backlog-jobs.png"), full_page=True)
