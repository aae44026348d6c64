"""Users and account (issue 18 item 5): the API an administrator manages users with (create, reset a password,
make/unmake administrator, disable/enable) and a user changes their own password with, then the journeys in
headless Chromium: an administrator creates a user on the Admin page and resets their password; that user logs in,
changes it on the Account page, creates and revokes a token; a non-administrator has no Admin link and gets 403;
a disabled user cannot log in.  Screenshots go to artifacts/screenshots/account-*.png."""
from __future__ import annotations

import re
import secrets

import pytest

from test_gateway_helpers import client_for, new_user
from test_web_ui import PASSWORD, SHOTS, Session, browser, open_session, server  # noqa: F401  (fixtures)

HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def app(services):
    from gateway.app import create_app
    from gateway.routers import web

    return web.install(create_app())


def session_client(app, username: str, password: str):
    """A TestClient logged in with a password: (client, its CSRF header)."""
    from fastapi.testclient import TestClient

    c = TestClient(app, raise_server_exceptions=False)
    r = c.post("/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return c, {"X-CSRF-Token": r.json()["csrf_token"]}


def can_log_in(app, username: str, password: str) -> bool:
    from fastapi.testclient import TestClient

    r = TestClient(app, raise_server_exceptions=False).post(
        "/api/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


# ---------------------------------------------------------------- the API
def test_changing_ones_password_needs_the_current_one_and_ends_the_other_sessions(app):
    u = new_user()
    c, csrf = session_client(app, u["username"], u["password"])
    other, _ = session_client(app, u["username"], u["password"])
    api = client_for(app, u)  # an API token: scripts keep working after a password change

    r = c.post("/api/v1/auth/password", json={"current_password": "not it at all", "new_password": "a new password"},
               headers=csrf)
    assert r.status_code == 400 and r.json() == {"error": "bad_request", "message": "the current password is wrong"}
    r = c.post("/api/v1/auth/password", json={"current_password": u["password"], "new_password": "short"},
               headers=csrf)
    assert r.status_code == 400 and "at least 8" in r.json()["message"]
    # a session's write without its CSRF token is refused like any other write
    assert c.post("/api/v1/auth/password", json={"current_password": u["password"],
                                                 "new_password": "a new password"}).status_code == 403
    r = c.post("/api/v1/auth/password", json={"current_password": u["password"], "new_password": "a new password"},
               headers=csrf)
    assert r.status_code == 204, r.text
    assert not can_log_in(app, u["username"], u["password"])
    assert can_log_in(app, u["username"], "a new password")
    assert c.get("/api/v1/auth/me").status_code == 200          # this session goes on
    assert other.get("/api/v1/auth/me").status_code == 401      # the others end
    assert api.get("/api/v1/auth/me").status_code == 200        # API tokens stay


def test_guessing_the_current_password_is_throttled(app):
    from pva.services import auth

    u = new_user()
    c = client_for(app, u)
    wrong = {"current_password": "guess guess", "new_password": "a new password"}
    try:
        for _ in range(auth.PASSWORD_CHECK_LIMIT):
            assert c.post("/api/v1/auth/password", json=wrong).status_code == 400
        r = c.post("/api/v1/auth/password", json={"current_password": u["password"], "new_password": "a new password"})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert can_log_in(app, u["username"], u["password"])  # unchanged
    finally:
        auth.login_limiter.reset()


def test_administrators_make_and_unmake_admins_disable_and_enable_users(app):
    admin = new_user(admin=True)
    a = client_for(app, admin)
    u = new_user()
    ut = client_for(app, u)

    r = a.patch(f"/api/v1/users/{u['id']}", json={"is_admin": True})
    assert r.status_code == 200 and r.json()["is_admin"] is True and r.json()["username"] == u["username"]
    # an old token of a promoted user holds no admin scope (it was not created with it); a new session has it
    assert ut.get("/api/v1/users").status_code == 403
    s, _ = session_client(app, u["username"], u["password"])
    assert s.get("/api/v1/users").status_code == 200
    r = a.patch(f"/api/v1/users/{u['id']}", json={"is_admin": False, "display_name": "Una <b>U</b>"})
    assert r.status_code == 200 and r.json()["is_admin"] is False and r.json()["display_name"] == "Una <b>U</b>"
    assert s.get("/api/v1/users").status_code == 403  # demoted: the session lost the scope at once

    r = a.patch(f"/api/v1/users/{u['id']}", json={"disabled": True})
    assert r.status_code == 200 and r.json()["disabled"] is True
    assert ut.get("/api/v1/auth/me").status_code == 401 and s.get("/api/v1/auth/me").status_code == 401
    assert not can_log_in(app, u["username"], u["password"])
    r = a.patch(f"/api/v1/users/{u['id']}", json={"disabled": False})
    assert r.status_code == 200 and r.json()["disabled"] is False
    assert ut.get("/api/v1/auth/me").status_code == 200 and can_log_in(app, u["username"], u["password"])
    assert {x["username"]: x["display_name"] for x in a.get("/api/v1/users").json()}[u["username"]] == "Una <b>U</b>"

    # no administrator locks themselves out; unknown ids are 404; others are not administrators
    for change in ({"disabled": True}, {"is_admin": False}):
        r = a.patch(f"/api/v1/users/{admin['id']}", json=change)
        assert r.status_code == 409 and "yourself" in r.json()["message"]
    assert a.patch(f"/api/v1/users/{admin['id']}", json={"display_name": "Boss"}).json()["display_name"] == "Boss"
    assert a.patch("/api/v1/users/00000000-0000-0000-0000-000000000001", json={"disabled": True}).status_code == 404
    r = ut.patch(f"/api/v1/users/{admin['id']}", json={"disabled": True})
    assert r.status_code == 403 and r.json()["message"] == "administrators only"


def test_an_administrator_resets_a_password_and_the_users_sessions_end(app):
    admin = new_user(admin=True)
    a = client_for(app, admin)
    u = new_user()
    s, _ = session_client(app, u["username"], u["password"])
    ut = client_for(app, u)
    assert a.post(f"/api/v1/users/{u['id']}/password", json={"password": "short"}).status_code == 400
    assert a.post("/api/v1/users/00000000-0000-0000-0000-000000000001/password",
                  json={"password": "long enough password"}).status_code == 404
    assert ut.post(f"/api/v1/users/{u['id']}/password", json={"password": "long enough password"}).status_code == 403
    r = a.post(f"/api/v1/users/{u['id']}/password", json={"password": "reset by the admin"})
    assert r.status_code == 204, r.text
    assert s.get("/api/v1/auth/me").status_code == 401
    assert ut.get("/api/v1/auth/me").status_code == 200
    assert not can_log_in(app, u["username"], u["password"]) and can_log_in(app, u["username"], "reset by the admin")


def test_the_pages_tokens_redirects_to_account_and_admin_is_for_administrators(app):
    admin = new_user(admin=True)
    u = new_user()
    c = client_for(app, u)
    r = c.get("/tokens", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account#tokens"
    r = c.get("/admin/users", headers=HTML)
    assert r.status_code == 403 and "for administrators" in r.text and "text/html" in r.headers["content-type"]
    r = c.get("/admin/users")
    assert r.status_code == 403 and r.json() == {"error": "forbidden", "message": "administrators only"}
    page = c.get("/account", headers=HTML)
    assert page.status_code == 200 and 'href="/admin/users"' not in page.text and 'href="/trash"' in page.text
    a = client_for(app, admin)
    for path in ("/admin/users", "/account", "/trash"):
        r = a.get(path, headers=HTML)
        assert r.status_code == 200, (path, r.text[:300])
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert 'href="/admin/users"' in r.text
        for m in re.finditer(r"<script([^>]*)>(.*?)</script>", r.text, re.S):
            assert "src=" in m.group(1) or 'type="application/json"' in m.group(1), m.group(0)[:200]
        assert not re.search(r"\son[a-z]+\s*=", r.text)


# ---------------------------------------------------------------- in the browser
def shot(s: Session, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    s.page.screenshot(path=str(SHOTS / f"account-{name}.png"), full_page=True)


def new_session(browser, server) -> Session:  # noqa: F811
    return open_session(browser, server, offline=False, console_errors=False, failed_responses=False)[1]


def log_in(s: Session, username: str, password: str, expect_ok: bool = True) -> None:
    s.go("/login")
    s.page.fill("#username", username)
    s.page.fill("#password", password)
    s.page.click("button[type=submit]")
    if expect_ok:
        s.page.wait_for_url(s.base + "/")
    else:
        s.page.wait_for_selector("#login-error:has-text('wrong')")


@pytest.mark.browser
def test_admin_creates_a_user_who_changes_the_password_and_manages_tokens(browser, server):  # noqa: F811
    import httpx

    admin = new_user(f"boss-{secrets.token_hex(3)}", admin=True, password=PASSWORD)
    name = f"newbie-{secrets.token_hex(3)}"
    a = new_session(browser, server)
    log_in(a, admin["username"], PASSWORD)
    page = a.page

    # the Admin link is in the navigation; the keyboard reaches it
    page.get_by_role("link", name="Admin").click()
    page.wait_for_url(server + "/admin/users")
    page.wait_for_selector(f"#user-table tr[data-username='{admin['username']}']")
    mine = page.locator(f"#user-table tr[data-username='{admin['username']}']")
    assert mine.get_by_role("button", name=re.compile("^Disable")).count() == 0  # no locking oneself out

    # create the user with the form, typed like a person would
    page.get_by_label("User name").fill(name)
    page.get_by_label("Display name (optional)").fill("New <i>Bie</i>")
    page.get_by_label("Password", exact=True).fill("first password 1")
    page.get_by_role("button", name="Create user").click()
    row = page.locator(f"#user-table tr[data-username='{name}']")
    row.wait_for()
    assert row.locator("td").nth(0).text_content() == "New <i>Bie</i>"  # markup stays text
    shot(a, "admin-created")

    # reset their password in the dialog (keyboard: Enter submits)
    row.get_by_role("button", name=f"Reset password: {name}").click()
    dialog = page.get_by_role("dialog", name="Reset password")
    dialog.wait_for()
    page.keyboard.type("short")
    page.keyboard.press("Enter")
    page.wait_for_selector("#reset-error:has-text('8 characters')")
    page.fill("#reset-password", "reset password 2")
    shot(a, "admin-reset-dialog")
    page.keyboard.press("Enter")
    dialog.wait_for(state="hidden")
    page.wait_for_selector("#toast.show:has-text('New password set')")
    assert page.evaluate("() => document.activeElement.textContent") == "Reset password"  # focus came back

    # make them an administrator and back: the row says so, the button flips
    row.get_by_role("button", name=f"Make admin: {name}").click()
    row.locator(".role.admin").wait_for()
    row.get_by_role("button", name=f"Remove admin: {name}").click()
    row.locator(".role.admin").wait_for(state="detached")
    shot(a, "admin-users")

    # the user logs in with the reset password (the first one no longer works)
    u = new_session(browser, server)
    log_in(u, name, "first password 1", expect_ok=False)
    log_in(u, name, "reset password 2")
    up = u.page
    assert up.get_by_role("link", name="Admin").count() == 0
    up.get_by_role("link", name="Account").click()
    up.wait_for_url(server + "/account")

    # change the password: a wrong current one first, then a mismatch, then right
    up.get_by_label("Current password").fill("not my password")
    up.get_by_label("New password", exact=True).fill("changed password 3")
    up.get_by_label("New password again").fill("changed password 3")
    up.get_by_role("button", name="Change password").click()
    up.wait_for_selector("#pw-error:has-text('current password is wrong')")
    assert up.get_attribute("#pw-current", "aria-invalid") == "true"
    shot(u, "password-wrong")
    up.get_by_label("Current password").fill("reset password 2")
    up.get_by_label("New password again").fill("changed password 4")
    up.get_by_role("button", name="Change password").click()
    up.wait_for_selector("#pw-error:has-text('not the same')")
    up.get_by_label("New password again").fill("changed password 3")
    up.get_by_label("New password again").press("Enter")
    up.wait_for_selector("#pw-done:not([hidden])")
    assert up.input_value("#pw-current") == ""
    shot(u, "password-changed")
    assert httpx.post(server + "/api/v1/auth/login",
                      json={"username": name, "password": "changed password 3"}).status_code == 200
    assert httpx.post(server + "/api/v1/auth/login",
                      json={"username": name, "password": "reset password 2"}).status_code == 401

    # create a token, use it, revoke it
    up.get_by_label("Name", exact=True).fill("sync <i>laptop</i>")
    up.get_by_label("upload").check()
    up.get_by_role("button", name="Create token").click()
    up.wait_for_selector("#token-created:not([hidden])")
    token = up.text_content("#token-value")
    assert token.startswith("pva_")
    up.wait_for_selector("#token-table td:text-is('sync <i>laptop</i>')")
    me = httpx.get(server + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and "upload" in me.json()["scopes"]
    shot(u, "tokens")
    up.get_by_role("button", name="Revoke: sync <i>laptop</i>").click()
    up.wait_for_selector("#token-table tr.revoked td:text-is('sync <i>laptop</i>')")
    assert any("Revoke the token" in d for d in u.dialogs)
    assert httpx.get(server + "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401

    # /tokens still leads to the tokens
    u.go("/tokens")
    up.wait_for_url(server + "/account#tokens")

    # a non-administrator gets the 403 page at the Admin URL
    r = u.go("/admin/users")
    assert r.status == 403 and up.get_by_role("heading", name="Not allowed").count() == 1
    shot(u, "admin-forbidden")

    # the administrator disables the user: logged out at once, and cannot log in again
    page.reload()
    row = page.locator(f"#user-table tr[data-username='{name}']")
    row.get_by_role("button", name=f"Disable: {name}").click()
    row.locator(".role.off").wait_for()
    assert any(d.startswith(f"Disable {name}?") for d in a.dialogs)
    shot(a, "admin-disabled")
    u.go("/account")
    up.wait_for_url(re.compile(r".*/login\?next=.*"))
    log_in(u, name, "changed password 3", expect_ok=False)
    shot(u, "disabled-login")
    # and enabled again, they can
    row.get_by_role("button", name=f"Enable: {name}").focus()
    page.keyboard.press("Enter")
    row.locator(".role.off").wait_for(state="detached")
    log_in(u, name, "changed password 3")

    for s in (a, u):
        assert not s.csp_violations, s.csp_violations
        assert not s.errors, s.errors
        s.page.context.close()
