"""Login throttling that cannot be turned against the owner (issue 16 finding 4), and the cap on probing user names
through sharing (finding 10).  Client addresses are set with TestClient(client=(address, port)); the limiter's
counts live in Postgres like in production."""
from __future__ import annotations

import logging
import secrets
import time

import pytest

from test_gateway_helpers import app, client_for, new_user, reset_rate_limit  # noqa: F401

pytestmark = pytest.mark.usefixtures("reset_rate_limit")


def _from(app, address: str):  # noqa: F811
    return client_for(app, client=(address, 40000))


def _login(client, user, password=None):
    return client.post("/api/v1/auth/login", json={"username": user["username"],
                                                   "password": password or user["password"]})


def _net() -> str:
    return f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}"


@pytest.fixture
def limit(monkeypatch):
    """A small PVA_LOGIN_RATE_LIMIT, so the tests spend fewer argon2 verifications."""
    from pva.config import reload_settings

    monkeypatch.setenv("PVA_LOGIN_RATE_LIMIT", "3")
    reload_settings()
    yield 3
    monkeypatch.delenv("PVA_LOGIN_RATE_LIMIT")
    reload_settings()


def test_failures_from_many_addresses_slow_the_owner_by_seconds_but_never_lock_them_out(app):  # noqa: F811
    from pva.services.auth import SLOWDOWN_MAX_SECONDS, SLOWDOWN_STEP_SECONDS
    from pva.config import get_settings

    n = get_settings().login_rate_limit  # the default, 10: the reported attack
    owner, net = new_user(), _net()
    for i in range(n + 2):
        r = _login(_from(app, f"{net}.{i + 1}"), owner, "wrong password")
        assert r.status_code == 401, (i, r.text)  # never 429: one failure per address
    t0 = time.monotonic()
    r = _login(_from(app, "192.0.2.77"), owner)
    elapsed = time.monotonic() - t0
    assert r.status_code == 200, r.text
    expected = min(SLOWDOWN_MAX_SECONDS, SLOWDOWN_STEP_SECONDS * 3)  # n + 2 failures: 3 steps past the limit
    assert expected * 0.9 <= elapsed < SLOWDOWN_MAX_SECONDS + 3, elapsed
    # the slowdown is capped: however many failures, the owner waits at most SLOWDOWN_MAX_SECONDS
    from pva.services.auth import login_limiter

    assert login_limiter.delay_for(10_000) == SLOWDOWN_MAX_SECONDS <= 5


def test_an_address_is_refused_a_name_after_the_limit_while_the_owner_logs_in_elsewhere(app, limit):  # noqa: F811
    owner, other, net = new_user(), new_user(), _net()
    attacker = _from(app, f"{net}.1")
    for _ in range(limit):
        assert _login(attacker, owner, "wrong password").status_code == 401
    r = _login(attacker, owner)  # even the right password, from that address
    assert r.status_code == 429 and "try again" in r.json()["message"]
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60 + 1
    assert _login(attacker, other).status_code == 200  # other names from that address still work
    assert _login(_from(app, f"{net}.2"), owner).status_code == 200  # the owner, from anywhere else


def test_an_address_failing_across_many_names_is_refused_for_every_name(app, limit):  # noqa: F811
    from pva.services.auth import ADDRESS_LIMIT_FACTOR

    net = _net()
    sprayer = _from(app, f"{net}.1")
    for i in range(limit * ADDRESS_LIMIT_FACTOR):
        r = sprayer.post("/api/v1/auth/login", json={"username": f"guess{i}-{net}", "password": "password1"})
        assert r.status_code == 401, (i, r.text)
    victim = new_user()
    r = _login(sprayer, victim)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert _login(_from(app, f"{net}.2"), victim).status_code == 200


def test_a_right_password_clears_only_that_address_for_that_name(app, limit):  # noqa: F811
    owner, net = new_user(), _net()
    home = _from(app, f"{net}.1")
    for _ in range(limit - 1):
        assert _login(home, owner, "typo typo").status_code == 401
    assert _login(home, owner).status_code == 200
    for _ in range(limit - 1):  # a fresh allowance after the right password
        assert _login(home, owner, "typo typo").status_code == 401
    assert _login(home, owner).status_code == 200


def test_the_address_limit_is_shared_by_every_gateway_process(services):
    from pva.services.auth import ADDRESS_LIMIT_FACTOR, LoginRateLimiter, RateLimited

    ip = f"{_net()}.9"
    worker1, worker2 = LoginRateLimiter(limit=2), LoginRateLimiter(limit=2)
    for i in range(2 * ADDRESS_LIMIT_FACTOR):
        (worker1 if i % 2 else worker2).failed(f"name{i}-{ip}", ip)
    with pytest.raises(RateLimited):
        worker1.check(f"someone-else-{ip}", ip)


def test_every_login_attempt_is_logged_with_user_address_and_outcome(app, limit, caplog):  # noqa: F811
    owner, net = new_user(), _net()
    c = _from(app, f"{net}.5")
    with caplog.at_level(logging.INFO, logger="pva.auth"):
        for _ in range(limit):
            _login(c, owner, "wrong password")
        _login(c, owner)
        _login(_from(app, f"{net}.6"), owner)
    seen = [(r.user, r.address, r.outcome) for r in caplog.records if r.name == "pva.auth"]
    assert seen == [(owner["username"], f"{net}.5", "failed")] * limit + [
        (owner["username"], f"{net}.5", "throttled"), (owner["username"], f"{net}.6", "ok")]
    assert not any("wrong password" in r.getMessage() or "wrong password" in str(vars(r)) for r in caplog.records)


def test_sharing_answers_unknown_names_with_404_until_the_probe_cap_then_429(app):  # noqa: F811
    from pva.services.auth import SHARE_LOOKUP_LIMIT

    owner, friend = new_user(), new_user()
    c = client_for(app, owner)
    album = c.post("/api/v1/albums", json={"name": "Holidays"}).json()
    url = f"/api/v1/albums/{album['id']}/shares"
    for i in range(SHARE_LOOKUP_LIMIT):
        r = c.post(url, json={"username": f"nobody{i}-{secrets.token_hex(3)}"})
        assert r.status_code == 404 and "no user named" in r.json()["message"]
    r = c.post(url, json={"username": friend["username"]})  # capped whatever the name, existing or not
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0 and "unknown users" in r.json()["message"]
    assert c.get(url).json() == []  # and nothing was shared
    # another user's allowance is their own
    other = client_for(app, new_user())
    theirs = other.post("/api/v1/albums", json={"name": "Mine"}).json()
    assert other.post(f"/api/v1/albums/{theirs['id']}/shares",
                      json={"username": friend["username"]}).status_code == 201


def test_shares_naming_real_users_do_not_use_up_the_allowance(app):  # noqa: F811
    from pva.services.auth import SHARE_LOOKUP_LIMIT

    owner = new_user()
    c = client_for(app, owner)
    album = c.post("/api/v1/albums", json={"name": "Family"}).json()
    url = f"/api/v1/albums/{album['id']}/shares"
    for _ in range(SHARE_LOOKUP_LIMIT + 2):
        assert c.post(url, json={"username": new_user()["username"]}).status_code == 201


def test_the_share_probe_window_expires(services):
    from pva.services.auth import RateLimited, Throttle, share_recipient

    now = [5000.0]
    user = new_user()
    throttle = Throttle("s:", 2, "shares naming unknown users", window=60, clock=lambda: now[0])
    for _ in range(2):
        assert share_recipient(user["id"], f"ghost-{secrets.token_hex(3)}", throttle) is None
    with pytest.raises(RateLimited) as e:
        share_recipient(user["id"], "ghost", throttle)
    assert e.value.retry_after == 61
    now[0] += 61
    found = share_recipient(user["id"], user["username"], throttle)
    assert found["id"] == user["id"] and "password_hash" not in found


def test_housekeeping_prunes_failures_past_the_window_and_keeps_the_rest(services):
    """The reconcile cron forgets failed logins once the limiter's window has passed (pva.services.housekeeping);
    a failure inside the window still counts."""
    from pva.infra import db
    from pva.services.auth import RATE_WINDOW_SECONDS
    from pva.services.housekeeping import prune_failed_logins

    now = time.time()
    old, fresh = f"p:{_net()}.1 old-{secrets.token_hex(4)}", f"p:{_net()}.1 fresh-{secrets.token_hex(4)}"
    db.execute("insert into login_failures(key, at) values (%s, %s), (%s, %s)",
               (old, now - RATE_WINDOW_SECONDS - 5, fresh, now - 5))
    assert prune_failed_logins(now) >= 1
    left = {r["key"] for r in db.query("select key from login_failures where key = any(%s)", ([old, fresh],))}
    assert left == {fresh}
