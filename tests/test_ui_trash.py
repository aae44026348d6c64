"""The trash (issue 18 item 6): the Trash page in headless Chromium — two photos trashed through the API are listed,
one is restored, the other deleted forever after a confirm dialog, the rest emptied at once — and the "in the
trash" banner with Restore on a trashed item's own page; then, on the real services, the housekeeping cron's round
empties trash past PVA_TRASH_RETENTION_DAYS (default 30) and keeps what is newer.  Screenshots go to
artifacts/screenshots/trash-*.png."""
from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone

import pytest

import media_fixtures as mf
from test_gateway_helpers import insert_media, new_user
from test_web_ui import PASSWORD, SHOTS, Session, browser, log_in, open_session, server  # noqa: F401  (fixtures)
from test_ui_viewer import picture

pytestmark = pytest.mark.usefixtures("services")

PHOTOS = [("beach.jpg", (210, 170, 90)), ("forest.jpg", (50, 130, 60)), ("city.jpg", (120, 120, 140)),
          ("lake.jpg", (60, 110, 190)), ("snow.jpg", (220, 225, 235))]


# ---------------------------------------------------------------- auto-emptying
def _put(key: str) -> None:
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    get_storage().put(get_settings().bucket_originals, key, b"original", content_type="image/jpeg")


def _exists(media_id) -> bool:
    from pva.infra import db

    return db.query_one("select 1 as x from media where id = %s", (media_id,)) is not None


@pytest.mark.parametrize("days", [None, 7])
def test_the_housekeeping_cron_empties_trash_past_its_retention_and_keeps_the_rest(monkeypatch, days):
    from pva.config import get_settings, reload_settings
    from pva.infra.storage import get_storage
    from pva.services import housekeeping

    if days is not None:
        monkeypatch.setenv("PVA_TRASH_RETENTION_DAYS", str(days))
    reload_settings()
    try:
        n = get_settings().trash_retention_days
        assert n == (days or 30)
        u = new_user()
        now = datetime.now(timezone.utc)
        old = insert_media(u["id"], trashed_at=now - timedelta(days=n, hours=1))
        recent = insert_media(u["id"], trashed_at=now - timedelta(days=n - 1))
        live = insert_media(u["id"], created_at=now - timedelta(days=3 * n))  # old, but not in the trash
        _put(old["storage_key"])
        _put(recent["storage_key"])
        rep = housekeeping.reconcile(requeue_after_seconds=3600)  # what functions/reconcile runs every tick
        assert set(rep.as_dict()) == {"expired", "published", "counters_folded", "drops_announced"}
        assert not _exists(old["id"]) and _exists(recent["id"]) and _exists(live["id"])
        bucket = get_settings().bucket_originals
        assert get_storage().stat(bucket, old["storage_key"]) is None
        assert get_storage().stat(bucket, recent["storage_key"]) is not None
        assert housekeeping.purge_expired_trash() == 0 or _exists(recent["id"])  # a second round: nothing more due
    finally:
        monkeypatch.delenv("PVA_TRASH_RETENTION_DAYS", raising=False)
        reload_settings()


def test_trash_page_is_html_and_the_listing_stays_in_the_api(services):
    from fastapi.testclient import TestClient

    from gateway.app import create_app
    from gateway.routers import web
    from test_gateway_helpers import client_for

    app = web.install(create_app())
    u = new_user()
    gone = insert_media(u["id"], trashed_at=datetime.now(timezone.utc))
    c = client_for(app, u)
    r = c.get("/trash", headers={"Accept": "text/html"})
    assert r.status_code == 200 and "text/html" in r.headers["content-type"] and 'id="trash-list"' in r.text
    assert "30 days" in r.text
    listed = c.get("/api/v1/media", params={"trashed": "true"}).json()["items"]
    assert [i["id"] for i in listed] == [str(gone["id"])] and listed[0]["trashed_at"]
    r = TestClient(app, raise_server_exceptions=False).get("/trash", headers={"Accept": "text/html"},
                                                          follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2Ftrash"


# ---------------------------------------------------------------- in the browser
@pytest.fixture(scope="module")
def library(services, tmp_path_factory):
    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"trash-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("trash")
    ing = Ingestor(publish=False)
    ids = {}
    for i, (name, color) in enumerate(PHOTOS):
        p = mf.make_jpeg(src / name, image=picture((800, 600), color), make="Canon", model="Canon EOS 40D",
                         taken=f"2024:06:0{i + 1} 12:00:00")
        res = ing.ingest_file(p, user, f"trip/{name}")
        assert res.status == "added", res
        ids[name] = str(res.media_id)
    token, _ = auth.create_token(user["id"], ["read", "write"], name="trash-test")
    return {"user": user, "ids": ids, "token": token}


@pytest.fixture(scope="module")
def ui(browser, server, library):  # noqa: F811
    # no internet in the tests: the detail page's map tiles fail at once (the map falls back to its world)
    ctx, s = open_session(browser, server, failed_responses=False)
    log_in(s, library["user"]["username"])
    yield s
    ctx.close()


def shot(s: Session, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    s.page.screenshot(path=str(SHOTS / f"trash-{name}.png"), full_page=True)


def call(server, library, method, path):
    import httpx

    return httpx.request(method, server + "/api/v1" + path, headers={"Authorization": f"Bearer {library['token']}"})


def library_ids(server, library) -> set[str]:
    return {i["id"] for i in call(server, library, "GET", "/media?limit=100").json()["items"]}


@pytest.mark.browser
def test_trash_page_restores_one_deletes_the_other_forever_and_empties(ui, server, library):
    page, ids = ui.page, library["ids"]
    for name in ("beach.jpg", "forest.jpg"):
        assert call(server, library, "POST", f"/media/{ids[name]}/trash").status_code == 200

    page.get_by_role("link", name="Trash").click()
    page.wait_for_url(server + "/trash")
    items = page.locator("#trash-list .trash-item")
    items.nth(1).wait_for()
    assert items.count() == 2
    assert sorted(items.locator(".name").all_text_contents()) == ["beach.jpg", "forest.jpg"]
    assert page.locator("#trash-count").text_content() == "2 items in the trash"
    assert "Deleted for good in 30 days" in items.first.locator(".when").text_content()
    page.wait_for_function("() => [...document.querySelectorAll('#trash-list img')]"
                           ".every(i => i.complete && i.naturalWidth > 0)")
    shot(ui, "page")

    # Restore one: it leaves the trash and is back in the library
    page.get_by_role("button", name="Restore: beach.jpg").click()
    page.locator(".trash-item", has_text="beach.jpg").wait_for(state="detached")
    page.wait_for_selector("#toast.show:has-text('Restored beach.jpg')")
    assert ids["beach.jpg"] in library_ids(server, library)

    # Delete the other forever, with the keyboard: the confirm dialog says it cannot be undone
    page.get_by_role("button", name="Delete forever: forest.jpg").focus()
    page.keyboard.press("Enter")
    page.locator(".trash-item", has_text="forest.jpg").wait_for(state="detached")
    assert ui.dialogs[-1] == "Delete “forest.jpg” forever? This cannot be undone."
    assert call(server, library, "GET", f"/media/{ids['forest.jpg']}").status_code == 404
    assert not _exists(ids["forest.jpg"])
    page.wait_for_selector("#trash-empty:visible")
    assert page.locator("#empty-trash").is_hidden()
    assert page.evaluate("() => document.activeElement.id") == "trash-h"  # the focus did not fall off the page
    shot(ui, "emptied-by-hand")

    # Empty trash takes everything at once
    for name in ("city.jpg", "lake.jpg"):
        assert call(server, library, "POST", f"/media/{ids[name]}/trash").status_code == 200
    page.wait_for_load_state("networkidle")
    page.reload()
    items.nth(1).wait_for()
    page.get_by_role("button", name="Empty trash").click()
    page.wait_for_selector("#trash-empty:visible")
    assert ui.dialogs[-1].startswith("Delete everything in the trash forever?")
    page.wait_for_selector("#toast.show:has-text('Deleted 2 items forever')")
    assert not _exists(ids["city.jpg"]) and not _exists(ids["lake.jpg"])
    shot(ui, "empty")


@pytest.mark.browser
def test_a_trashed_items_page_has_a_banner_with_restore(ui, server, library):
    page, mid = ui.page, library["ids"]["snow.jpg"]
    ui.go(f"/media/{mid}")
    page.wait_for_selector("#trash-btn")
    assert page.locator("#trash-banner").count() == 0
    # leaving a page while its map still fetches would log an aborted fetch: let each page settle first
    page.wait_for_load_state("networkidle")
    assert call(server, library, "POST", f"/media/{mid}/trash").status_code == 200
    ui.go(f"/media/{mid}")
    banner = page.get_by_role("status").filter(has_text="In the trash")
    banner.wait_for()
    assert page.locator("#trash-btn").count() == 0  # nothing to move to the trash any more
    assert banner.get_by_role("link", name="Open the trash").get_attribute("href") == "/trash"
    shot(ui, "banner")
    page.wait_for_load_state("networkidle")
    banner.get_by_role("button", name="Restore").click()
    page.wait_for_selector("#trash-btn")
    assert page.locator("#trash-banner").count() == 0
    assert mid in library_ids(server, library)
    shot(ui, "banner-restored")


@pytest.mark.browser
def test_no_csp_violation_or_script_error(ui):
    assert not ui.csp_violations, ui.csp_violations
    unexpected = [e for e in ui.errors if "ERR_INTERNET_DISCONNECTED" not in e]  # the map tiles from outside
    assert not unexpected, unexpected
