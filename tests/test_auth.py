"""Authentication: passwords, API tokens (hashed, scoped, revocable), sessions with CSRF, login rate limit, CLI."""
from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from test_gateway_helpers import app, client_for, new_user, reset_rate_limit, token_for  # noqa: F401

pytestmark = pytest.mark.usefixtures("reset_rate_limit")


def login(client, user, password=None):
    return client.post("/api/v1/auth/login", json={"username": user["username"],
                                                   "password": password or user["password"]})


def test_password_is_stored_as_argon2_and_verifies(services):
    from pva.infra import db
    from pva.services import auth

    u = new_user(password="s3cret-password")
    stored = db.query_one("select password_hash from users where id = %s", (u["id"],))["password_hash"]
    assert stored.startswith("$argon2id$") and "s3cret-password" not in stored
    assert auth.verify_password(stored, "s3cret-password")
    assert not auth.verify_password(stored, "s3cret-passwordX")


def test_short_password_and_bad_names_are_refused_with_a_reason(services):
    from pva.services import auth

    with pytest.raises(auth.AuthError, match="at least 8"):
        auth.create_user("shorty", "1234567")
    with pytest.raises(auth.AuthError, match="without spaces"):
        auth.create_user("has space", "long enough password")


def test_names_that_would_misroute_inbox_drops_are_refused(services):
    """A drop's folder is its owner's name: a slash would put it in someone else's folder, and the inbox keeps
    rejected copies and multipart parts under names that are never announced."""
    from pva.services import auth

    for name in ("alice/bob", "a\\b"):
        with pytest.raises(auth.AuthError, match="inbox bucket"):
            auth.create_user(name, "long enough password")
    for name in ("rejected", ".uploads", "..", "."):
        with pytest.raises(auth.AuthError, match="reserved"):
            auth.create_user(name, "long enough password")


def test_token_is_stored_only_as_sha256(services):
    from pva.infra import db
    from pva.services import auth

    u = new_user()
    token, row = auth.create_token(u["id"], "read,write", name="laptop")
    stored = db.query_one("select token_hash, prefix, scopes from api_tokens where id = %s", (row["id"],))
    assert bytes(stored["token_hash"]) == hashlib.sha256(token.encode()).digest()
    assert stored["prefix"] == token[:12] and stored["scopes"] == ["read", "write"]
    assert db.query_one("select count(*) as n from api_tokens where token_hash::text like %s",
                        (f"%{token}%",))["n"] == 0


def test_admin_scope_needs_an_admin_and_unknown_scopes_fail(services):
    from pva.services import auth

    u = new_user()
    with pytest.raises(auth.AuthError, match="administrators"):
        auth.create_token(u["id"], ["admin"])
    with pytest.raises(auth.AuthError, match="unknown scope"):
        auth.create_token(u["id"], ["read", "delete-everything"])


def test_bearer_token_works_and_revoked_token_stops_working(app):
    u = new_user()
    c = client_for(app, u)
    assert c.get("/api/v1/auth/me").json()["user"]["username"] == u["username"]
    made = c.post("/api/v1/tokens", json={"name": "sync", "scopes": ["read"]})
    assert made.status_code == 201, made.text
    tok = made.json()
    other = client_for(app, token=tok["token"])
    assert other.get("/api/v1/media").status_code == 200
    listed = c.get("/api/v1/tokens").json()
    assert any(t["id"] == tok["id"] and "token" not in t for t in listed)
    assert c.delete(f"/api/v1/tokens/{tok['id']}").status_code == 204
    r = other.get("/api/v1/media")
    assert r.status_code == 401 and "revoked" in r.json()["message"]


def test_expired_token_is_refused(app):
    from pva.infra import db
    from pva.services import auth

    u = new_user()
    token, row = auth.create_token(u["id"], ["read"])
    db.execute("update api_tokens set expires_at = now() - interval '1 second' where id = %s", (row["id"],))
    assert client_for(app, token=token).get("/api/v1/auth/me").status_code == 401


def test_disabled_user_tokens_stop_working(app):
    from pva.db import users
    from pva.infra import db

    u = new_user()
    c = client_for(app, u)
    assert c.get("/api/v1/auth/me").status_code == 200
    with db.transaction() as cur:
        users.set_disabled(cur, u["id"], True)
    assert c.get("/api/v1/auth/me").status_code == 401


def test_read_only_token_cannot_write_or_upload(app):
    u = new_user()
    c = client_for(app, token=token_for(u, scopes=("read",)))
    assert c.get("/api/v1/albums").status_code == 200
    r = c.post("/api/v1/albums", json={"name": "x"})
    assert r.status_code == 403 and "write" in r.json()["message"]
    r = c.post("/api/v1/media/have", json={"sha512": []})
    assert r.status_code == 403 and "upload" in r.json()["message"]


def test_upload_only_token_can_check_hashes_but_not_edit(app):
    u = new_user()
    c = client_for(app, token=token_for(u, scopes=("upload",)))
    assert c.post("/api/v1/media/have", json={"sha512": ["ab" * 64]}).status_code == 200
    assert c.post("/api/v1/albums", json={"name": "x"}).status_code == 403


def test_session_cookie_flags_and_csrf_on_writes(app):
    u = new_user()
    c = client_for(app)
    r = login(c, u)
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf_token"]
    cookies = r.headers.get_list("set-cookie")
    session = next(x for x in cookies if x.startswith("pva_session="))
    assert "HttpOnly" in session and "SameSite=lax" in session
    assert "Secure" not in session  # plain http in tests; https (or an https public URL) sets Secure
    # reads with the cookie alone are fine
    assert c.get("/api/v1/auth/me").json()["auth"] == "session"
    # writes without / with a wrong CSRF token are refused, and nothing is created
    r = c.post("/api/v1/albums", json={"name": "no csrf"})
    assert r.status_code == 403 and "X-CSRF-Token" in r.json()["message"]
    r = c.post("/api/v1/albums", json={"name": "bad csrf"}, headers={"X-CSRF-Token": "x" * 43})
    assert r.status_code == 403
    assert c.get("/api/v1/albums").json() == []
    r = c.post("/api/v1/albums", json={"name": "with csrf"}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201
    # another session's CSRF token does not work for this one
    c2 = client_for(app)
    csrf2 = login(c2, u).json()["csrf_token"]
    assert c.post("/api/v1/albums", json={"name": "x"}, headers={"X-CSRF-Token": csrf2}).status_code == 403


def test_secure_cookie_behind_tls(app):
    u = new_user()
    c = client_for(app, base_url="https://testserver")
    r = login(c, u)
    assert all("Secure" in x for x in r.headers.get_list("set-cookie"))


def test_logout_ends_the_session(app):
    u = new_user()
    c = client_for(app)
    csrf = login(c, u).json()["csrf_token"]
    session = c.cookies.get("pva_session")
    assert c.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    c2 = client_for(app)
    c2.cookies.set("pva_session", session)
    assert c2.get("/api/v1/auth/me").status_code == 401


def test_session_token_is_not_accepted_as_bearer_and_vice_versa(app):
    u = new_user()
    c = client_for(app)
    login(c, u)
    session = c.cookies.get("pva_session")
    assert client_for(app, token=session).get("/api/v1/auth/me").status_code == 401
    c3 = client_for(app)
    c3.cookies.set("pva_session", token_for(u))
    assert c3.get("/api/v1/auth/me").status_code == 401


def test_wrong_password_is_401_without_telling_which_part_was_wrong(app):
    u = new_user()
    c = client_for(app)
    r1 = login(c, u, "wrong password")
    r2 = c.post("/api/v1/auth/login", json={"username": "nobody-" + u["username"], "password": "whatever1"})
    assert r1.status_code == r2.status_code == 401
    assert r1.json() == r2.json()


def test_login_rate_limit_engages_and_blocks_even_the_right_password(app, monkeypatch):
    monkeypatch.setenv("PVA_LOGIN_RATE_LIMIT", "3")
    from pva.config import reload_settings

    reload_settings()
    try:
        u = new_user()
        c = client_for(app)
        for _ in range(3):
            assert login(c, u, "bad password").status_code == 401
        r = login(c, u)
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0 and "try again" in r.json()["message"]
    finally:
        monkeypatch.delenv("PVA_LOGIN_RATE_LIMIT")
        reload_settings()


def test_rate_limiter_window_expires(services):
    import secrets

    from pva.services.auth import SLOWDOWN_STEP_SECONDS, LoginRateLimiter, RateLimited

    # a fake clock: with a real one and a short window, a slow machine could let the window pass before
    # the checks below run
    now = [1000.0]
    bob, ip = f"bob{secrets.token_hex(3)}", f"10.9.{secrets.randbelow(250)}.1"
    lim = LoginRateLimiter(limit=2, window=0.2, clock=lambda: now[0])
    assert lim.check(bob, ip) == 0
    lim.failed(bob, ip)
    lim.failed(bob, ip)
    with pytest.raises(RateLimited):
        lim.check(bob, ip)  # that name from that address
    assert lim.check(bob, "9.9.9.9") == SLOWDOWN_STEP_SECONDS  # from elsewhere: slowed, not refused
    now[0] += 0.19
    with pytest.raises(RateLimited):
        lim.check(bob, ip)  # still inside the window
    now[0] += 0.06
    assert lim.check(bob, ip) == 0


def test_rate_limit_is_shared_by_every_gateway_process(services):
    """Two limiters stand for two gateway workers: failures seen by one count in the other (they meet in
    Postgres), so more workers do not mean more guesses."""
    import secrets

    from pva.services.auth import LoginRateLimiter, RateLimited

    name, ip1 = f"eve{secrets.token_hex(3)}", f"10.1.{secrets.randbelow(250)}.1"
    worker1, worker2 = LoginRateLimiter(limit=4), LoginRateLimiter(limit=4)
    worker1.failed(name, ip1)
    worker2.failed(name, ip1)
    worker1.failed(name, ip1)
    assert worker2.check(name, ip1) == 0
    worker2.failed(name, ip1)
    with pytest.raises(RateLimited) as e:
        worker1.check(name, ip1)
    assert 0 < e.value.retry_after <= 15 * 60 + 1
    assert worker1.check(name, "10.3.3.3") > 0  # the name is slowed everywhere, refused nowhere else
    worker1.succeeded(name, ip1)  # a right password clears that address's count for the name...
    assert worker2.check(name, ip1) > 0  # ...but not the name's slowdown


def test_a_token_can_only_create_tokens_within_its_own_scopes(app):
    u = new_user()
    write_only = client_for(app, token=token_for(u, scopes=("write",)))
    r = write_only.post("/api/v1/tokens", json={"scopes": ["read", "write", "upload"]})
    assert r.status_code == 403, r.text
    assert "holds itself" in r.json()["message"] and "read, upload" in r.json()["message"]
    made = write_only.post("/api/v1/tokens", json={"scopes": ["write"]})
    assert made.status_code == 201 and made.json()["scopes"] == ["write"]
    rw = client_for(app, token=token_for(u, scopes=("read", "write")))
    assert rw.post("/api/v1/tokens", json={"scopes": ["read"]}).status_code == 201
    assert rw.post("/api/v1/tokens", json={"scopes": ["read", "upload"]}).status_code == 403
    from pva.services import auth

    admin = new_user(admin=True)
    admin_token_without_admin, _ = auth.create_token(admin["id"], ["read", "write"])
    r = client_for(app, token=admin_token_without_admin).post("/api/v1/tokens", json={"scopes": ["admin"]})
    assert r.status_code == 403 and "not: admin" in r.json()["message"]
    # the refused requests created nothing: the user holds the three tokens made above and the two test ones
    assert sorted(t["scopes"] for t in rw.get("/api/v1/tokens").json()) == [["read"], ["read", "write"], ["write"],
                                                                             ["write"]]


def test_a_token_cannot_create_a_token_that_outlives_it(app):
    from datetime import datetime, timedelta, timezone

    from pva.services import auth

    u = new_user()
    short, row = auth.create_token(u["id"], ["read", "write"], expires_in_days=2)
    c = client_for(app, token=short)
    for body in ({"scopes": ["read"]}, {"scopes": ["read"], "expires_days": 365}):
        made = c.post("/api/v1/tokens", json=body)
        assert made.status_code == 201, made.text
        assert datetime.fromisoformat(made.json()["expires_at"]) == row["expires_at"]
    sooner = c.post("/api/v1/tokens", json={"scopes": ["read"], "expires_days": 1}).json()
    assert datetime.fromisoformat(sooner["expires_at"]) < row["expires_at"]
    # a token without an expiry (or a session) passes on whatever is asked
    lasting = client_for(app, token=token_for(u)).post("/api/v1/tokens", json={"scopes": ["read"]}).json()
    assert lasting["expires_at"] is None
    assert row["expires_at"] - datetime.now(timezone.utc) < timedelta(days=2, minutes=1)


def test_a_login_session_can_create_tokens_with_any_of_the_users_scopes(app):
    u = new_user()
    c = client_for(app)
    csrf = login(c, u).json()["csrf_token"]
    r = c.post("/api/v1/tokens", json={"scopes": ["read", "write", "upload"]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201 and r.json()["scopes"] == ["read", "write", "upload"]
    r = c.post("/api/v1/tokens", json={"scopes": ["admin"]}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 400 and "administrators" in r.json()["message"]


def test_admin_creates_users_and_others_cannot(app):
    admin = new_user(admin=True)
    plain = new_user()
    body = {"username": f"new{plain['username']}", "password": "a long password"}
    r = client_for(app, plain).post("/api/v1/users", json=body)
    assert r.status_code == 403
    r = client_for(app, admin).post("/api/v1/users", json=body)
    assert r.status_code == 201 and r.json()["username"] == body["username"] and "password" not in r.text
    assert client_for(app, admin).post("/api/v1/users", json=body).status_code == 409
    assert client_for(app).post("/api/v1/auth/login", json=body).status_code == 200


def _pva(*args, stdin: str | None = None, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "pva.cli", *args], input=stdin, capture_output=True, text=True,
                          timeout=60, env={**os.environ, **(env or {})})


def test_cli_users_create_list_and_token(app, services):
    name = "cli" + __import__("secrets").token_hex(3)
    r = _pva("users", "create", name, "--admin", "--password-stdin", stdin="cli password 1\n")
    assert r.returncode == 0, r.stderr
    assert name in _pva("users", "list").stdout
    again = _pva("users", "create", name, "--password-stdin", stdin="cli password 1\n")
    assert again.returncode == 1 and "already exists" in again.stderr
    r = _pva("tokens", "create", name, "--scopes", "read,write")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    me = client_for(app, token=token).get("/api/v1/auth/me").json()
    assert me["user"]["username"] == name and me["scopes"] == ["read", "write"]
    bad = _pva("tokens", "create", name, "--scopes", "read,bogus")
    assert bad.returncode == 1 and "unknown scope" in bad.stderr
    assert client_for(app).post("/api/v1/auth/login",
                                json={"username": name, "password": "cli password 1"}).status_code == 200
