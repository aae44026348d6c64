"""Albums people share (issue 18 item 4) in headless Chromium against the real gateway and services: the owner
picks the album's cover, shares the album with a user through the Share dialog and revokes it; the recipient sees
the album read-only (no comment form, no edit controls, no broken images on a photo's page); a visitor with a
public link and no login types its password, sees the album's photos and nothing else, and after the owner revokes
the link the page says it is gone.  Screenshots go to artifacts/screenshots/sharing-*.png."""
from __future__ import annotations

import secrets

import pytest

import media_fixtures as mf
from test_gateway_helpers import add_face, add_person, vec
from test_web_ui import PASSWORD, SHOTS, Session, browser, log_in, open_session, server  # noqa: F401  (fixtures)
from test_ui_viewer import picture

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]

PHOTOS = [("harbour.jpg", (70, 120, 190)), ("meadow.jpg", (90, 170, 70)), ("private.jpg", (200, 80, 80))]


@pytest.fixture(scope="module")
def lib(services, tmp_path_factory):
    """An owner with three photos, two of them in an album (one with a named face); a recipient to share with."""
    from pva.config import get_settings
    from pva.infra.storage import get_storage
    from pva.services import albums, auth
    from pva.services.ingest import Ingestor

    owner = auth.create_user(f"owner-{secrets.token_hex(3)}", PASSWORD)
    friend = auth.create_user(f"friend-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("sharing")
    ing = Ingestor(publish=False)
    ids = {}
    for i, (name, color) in enumerate(PHOTOS):
        p = mf.make_jpeg(src / name, image=picture((800, 600), color), make="Canon", model="Canon EOS 40D",
                         taken=f"2024:07:0{i + 1} 12:00:00")
        res = ing.ingest_file(p, owner, f"trip/{name}")
        assert res.status == "added", res
        ids[name] = str(res.media_id)
    crop = f"faces/{owner['id']}/sharing-crop.jpg"
    import io

    buf = io.BytesIO()
    picture((64, 64), (200, 160, 140)).save(buf, "JPEG")
    get_storage().put(get_settings().bucket_thumbs, crop, buf.getvalue(), content_type="image/jpeg")
    add_face(ids["harbour.jpg"], owner["id"], vec(21), person_id=add_person(owner["id"], "Grandma")["id"],
             crop_key=crop)
    album = albums.create(owner["id"], "Summer trip")
    albums.add_media(album["id"], owner["id"], [ids["harbour.jpg"], ids["meadow.jpg"]])
    token, _ = auth.create_token(owner["id"], ["read", "write"], name="sharing-test")
    return {"owner": owner, "friend": friend, "ids": ids, "album": str(album["id"]), "token": token}


def _context(browser, server, errors: list):  # noqa: F811
    ctx, s = open_session(browser, server, console_errors=False, failed_responses=False)
    s.errors = errors  # the page errors go to the caller's list
    return ctx, s


def shot(s: Session, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    s.page.screenshot(path=str(SHOTS / f"sharing-{name}.png"), full_page=True)


def call(server, lib, method, path, **kw):  # noqa: F811
    import httpx

    return httpx.request(method, server + "/api/v1" + path, headers={"Authorization": f"Bearer {lib['token']}"},
                         **kw)


def broken_images(page) -> list[str]:
    """The page's images that did not load (map tiles aside: the tests have no internet)."""
    return page.evaluate("() => [...document.images].filter(i => !i.hidden && i.getAttribute('src')"
                         " && !i.classList.contains('leaflet-tile') && !(i.complete && i.naturalWidth > 0))"
                         ".map(i => i.getAttribute('src'))")


@pytest.fixture(scope="module")
def owner(browser, server, lib):  # noqa: F811
    errors: list = []
    ctx, s = _context(browser, server, errors)
    log_in(s, lib["owner"]["username"])
    yield s
    ctx.close()


@pytest.fixture(scope="module")
def friend(browser, server, lib):  # noqa: F811
    errors: list = []
    ctx, s = _context(browser, server, errors)
    log_in(s, lib["friend"]["username"])
    yield s
    ctx.close()


def test_owner_sets_the_cover_and_shares_with_a_user_who_sees_it_read_only(owner, friend, server, lib):
    page, album = owner.page, lib["album"]
    owner.go(f"/albums/{album}")
    # no cover chosen: the album's first photo stands in
    page.wait_for_function("() => { const i = document.getElementById('cover-img');"
                           " return !i.hidden && i.complete && i.naturalWidth > 0; }")
    # Set as cover: a dialog of the album's photos, picked by keyboard
    page.get_by_role("button", name="Set as cover…").click()
    pick = page.get_by_role("button", name="Set meadow.jpg as cover")
    pick.wait_for()
    assert page.locator("#cover-pick button").count() == 2  # the album's photos only
    pick.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#toast:has-text('Cover set')")
    assert call(server, lib, "GET", f"/albums/{album}").json()["cover_media_id"] == lib["ids"]["meadow.jpg"]
    assert page.locator("#cover-img").get_attribute("src").endswith(f"/media/{lib['ids']['meadow.jpg']}/thumbnail")
    assert page.evaluate("() => document.activeElement.id") == "cover-choose"  # focus back on the opener

    # Share with the friend through the dialog
    page.get_by_role("button", name="Share…").click()
    dialog = page.get_by_role("dialog", name="Share “Summer trip”")
    dialog.wait_for()
    page.get_by_label("User name").fill("nobody-" + secrets.token_hex(3))
    page.keyboard.press("Enter")
    page.wait_for_selector("#share-error:has-text('no user named')")
    page.get_by_label("User name").fill(lib["friend"]["username"])
    page.keyboard.press("Enter")
    page.locator("#share-list li", has_text=lib["friend"]["username"]).wait_for()
    assert page.locator("#share-error").text_content() == ""
    shot(owner, "dialog-shared")
    page.keyboard.press("Escape")
    assert [s["username"] for s in call(server, lib, "GET", f"/albums/{album}/shares").json()] == [
        lib["friend"]["username"]]

    # The friend: the album among theirs, read-only
    fp = friend.page
    friend.go("/albums")
    card = fp.locator("#album-list .card", has_text="Summer trip")
    assert "shared by " + lib["owner"]["username"] in card.text_content()
    card.get_by_role("link").click()
    fp.wait_for_url(f"{server}/albums/{album}")
    fp.locator("#grid .tile-media").nth(1).wait_for()
    assert fp.locator("#grid .tile-media").count() == 2
    for sel in ("#album-edit", "#album-share", "#cover-choose", "#album-delete", "#share-dialog"):
        assert fp.locator(sel).count() == 0, sel
    assert "read-only" in fp.locator(".page-head .badge").text_content()
    fp.wait_for_function("() => { const i = document.getElementById('cover-img'); return i.complete && i.naturalWidth > 0; }")
    shot(friend, "recipient-album")
    # open the photo with the face: its page has no comment form and no edit controls, and no broken image
    fp.goto(f"{server}/media/{lib['ids']['harbour.jpg']}?in=album%3D{album}")
    fp.wait_for_selector("#comments-h")
    for sel in ("#comment-form", "#gps-form", "#trash-btn", "#album-form"):
        assert fp.locator(sel).count() == 0, sel
    fp.wait_for_load_state("networkidle")
    assert broken_images(fp) == [], "a broken image on the recipient's page"
    # the owner's people and faces are not the friend's to search: no links to them, on the photo or beside it
    fp.locator("#overlay .box-face").first.wait_for()
    assert fp.locator("a[href^='/search?person='], a[href^='/search?similar_face=']").count() == 0
    shot(friend, "recipient-detail")

    # The owner revokes the share in the dialog: the friend's next visit is "not found"
    page.get_by_role("button", name="Share…").click()
    page.get_by_role("button", name=f"Stop sharing with {lib['friend']['username']}").click()
    page.wait_for_selector("#share-list li:has-text('Only you can see this album.')")
    page.keyboard.press("Escape")
    assert call(server, lib, "GET", f"/albums/{album}/shares").json() == []
    r = fp.goto(f"{server}/albums/{album}")
    assert r.status == 404
    assert not owner.csp_violations and not friend.csp_violations
    assert not owner.errors and not friend.errors, owner.errors + friend.errors


def test_public_link_with_a_password_then_revoked(owner, browser, server, lib):  # noqa: F811
    page, album = owner.page, lib["album"]
    owner.go(f"/albums/{album}")
    page.get_by_role("button", name="Share…").click()
    page.get_by_label("Expires after (days, empty: never)").fill("7")
    page.get_by_label("Password (optional)").fill("lighthouse")
    page.get_by_role("button", name="Create link").click()
    url_box = page.get_by_label("New link (shown once: copy it now)")
    url_box.wait_for()
    url = url_box.input_value()
    assert url.startswith(server + "/s/")
    page.locator("#link-list li", has_text="password").wait_for()
    assert "expires" in page.locator("#link-list li").first.text_content()
    shot(owner, "dialog-link")
    page.set_viewport_size({"width": 390, "height": 844})
    shot(owner, "dialog-link-phone")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.keyboard.press("Escape")

    errors: list = []
    ctx, visitor = _context(browser, server, errors)
    try:
        vp = visitor.page
        vp.goto(url)
        # the password prompt first: nothing of the album's photos yet
        vp.get_by_label("This album needs a password").wait_for()
        assert vp.locator("#public-grid").count() == 0 and vp.locator(".topbar").count() == 0
        shot(visitor, "public-locked")
        vp.get_by_label("This album needs a password").fill("wrong")
        vp.keyboard.press("Enter")
        vp.wait_for_selector("#unlock-error:has-text('Wrong password')")
        vp.get_by_label("This album needs a password").fill("lighthouse")
        vp.keyboard.press("Enter")
        vp.locator("#public-grid img").nth(1).wait_for()
        vp.wait_for_function("() => [...document.querySelectorAll('#public-grid img')]"
                             ".every(i => i.complete && i.naturalWidth > 0)")
        assert vp.locator("#public-grid img").count() == 2
        assert lib["ids"]["private.jpg"] not in vp.content()
        shot(visitor, "public-album")
        vp.set_viewport_size({"width": 390, "height": 844})  # a phone: the grid folds to two columns
        shot(visitor, "public-album-phone")
        vp.set_viewport_size({"width": 1280, "height": 860})
        # a photo opens in the viewer; arrows move, Escape closes
        vp.locator("#public-grid a").first.click()
        vp.get_by_role("dialog").wait_for()
        vp.wait_for_function("() => { const i = document.getElementById('pv-img');"
                             " return i.complete && i.naturalWidth > 0; }")
        first = vp.locator("#pv-img").get_attribute("src")
        vp.keyboard.press("ArrowRight")
        assert vp.locator("#pv-img").get_attribute("src") != first
        shot(visitor, "public-viewer")
        vp.keyboard.press("Escape")
        # nothing else: another of the owner's photos, the API, the library
        token_path = url.removeprefix(server)
        r = vp.request.get(f"{server}{token_path}/media/{lib['ids']['private.jpg']}/thumbnail")
        assert r.status == 404
        assert vp.request.get(f"{server}/api/v1/media/{lib['ids']['harbour.jpg']}/thumbnail").status == 401
        vp.goto(server + "/")
        assert vp.url.startswith(server + "/login")

        # the owner revokes the link at once: the visitor's next visit says the link is gone
        page.get_by_role("button", name="Share…").click()
        page.get_by_role("button", name="Revoke link 1").click()
        page.wait_for_selector("#link-list li:has-text('No public links.')")
        page.keyboard.press("Escape")
        r = vp.goto(url)
        assert r.status == 404
        vp.get_by_role("heading", name="This link is gone").wait_for()
        assert vp.request.get(f"{server}{token_path}/media/{lib['ids']['harbour.jpg']}/thumbnail").status == 404
        shot(visitor, "public-gone")
        assert not visitor.csp_violations and not errors, visitor.csp_violations + errors
    finally:
        ctx.close()
