"""A request the gateway signed for a function is good once (pva/services/function_auth.py, 016_function_nonces.sql).

Each signature carries a fresh X-PVA-Nonce; the first verifier to see it records it in Postgres, so the same
request sent again (by anyone who captured it, to any worker process or host, inside the five-minute window) is
refused with 401 and nothing runs for it.  Checked on the real database: once accepted, a replay refused (in this
process, in another process, and among concurrent verifiers exactly one wins), a tampered nonce fails the
signature without spending the real one, v1 and nonce-less signatures refused with a message saying why, and
expired nonces pruned by the verifiers on their way and by the reconcile cron."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO
from function_helpers import signed_headers
from test_gateway_helpers import new_user

pytestmark = pytest.mark.usefixtures("services")

BODY = b"\xff\xd8\xff some bytes"
CTYPE = "image/jpeg"


@pytest.fixture(scope="module")
def alice(services):
    return new_user()


def _verify(headers: dict, body=BODY, **kw):
    from pva.services import function_auth

    return function_auth.verify("POST", "/", headers, body, content_type=CTYPE, **kw)


def _nonce_row(nonce: str) -> dict | None:
    from pva.infra import db

    return db.query_one("select nonce, expires_at from function_nonces where nonce = %s", (nonce,))


def test_a_signed_request_is_accepted_once_and_refused_when_sent_again(alice):
    from pva.services.function_auth import AuthFailed

    headers = signed_headers(BODY, CTYPE, owner=alice["username"])
    assert len(headers["X-PVA-Nonce"]) == 32 and headers["X-PVA-Signature"].startswith("v2=")
    caller = _verify(headers)
    assert caller.username == alice["username"] and caller.via == "signature"
    row = _nonce_row(headers["X-PVA-Nonce"])  # remembered until the timestamp leaves the window (+ clock slack)
    assert row and row["expires_at"] == int(headers["X-PVA-Timestamp"]) + 300 + 60
    with pytest.raises(AuthFailed) as e:
        _verify(headers)
    assert e.value.status == 401 and "already used" in str(e.value)
    # the header names as Nuclio hands them over (Go canonical form) are the same request
    with pytest.raises(AuthFailed, match="already used"):
        _verify({k.title(): v for k, v in headers.items()})
    # a second request, signed afresh with the same everything, is a new request
    assert _verify(signed_headers(BODY, CTYPE, owner=alice["username"])).username == alice["username"]


def test_a_replay_in_another_process_is_refused(alice):
    """What one worker process (or host: they share the database) accepted, another refuses."""
    headers = signed_headers(BODY, CTYPE, owner=alice["username"])
    script = ("import json, sys\n"
              "from pva.services import function_auth as fa\n"
              "h = json.loads(sys.argv[1])\n"
              "for _ in range(2):\n"
              "    try:\n"
              "        print(fa.verify('POST', '/', h, b'\\xff\\xd8\\xff some bytes', content_type='image/jpeg').username)\n"
              "    except fa.AuthFailed as e:\n"
              "        print(e.status, e)\n")
    out = subprocess.run([sys.executable, "-c", script, json.dumps(headers)], cwd=REPO, env=dict(os.environ),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first == alice["username"]
    assert second.startswith("401 ") and "already used" in second
    with pytest.raises(Exception, match="already used"):  # and here, in the test's own process
        _verify(headers)


def test_concurrent_replays_let_exactly_one_through(alice):
    from pva.services.function_auth import AuthFailed

    headers = signed_headers(BODY, CTYPE, owner=alice["username"])
    outcomes, start = [], threading.Barrier(8)

    def attempt():
        start.wait()
        try:
            outcomes.append(_verify(headers).username)
        except AuthFailed as e:
            outcomes.append(e.status)

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes, key=str) == [401] * 7 + [alice["username"]], outcomes


def test_a_tampered_nonce_fails_the_signature_and_spends_nothing(alice):
    from pva.services.function_auth import AuthFailed

    headers = signed_headers(BODY, CTYPE, owner=alice["username"])
    real = headers["X-PVA-Nonce"]
    for nonce in (real[:-1] + ("0" if real[-1] != "0" else "1"), "f" * 32):
        with pytest.raises(AuthFailed) as e:
            _verify({**headers, "X-PVA-Nonce": nonce})
        assert e.value.status == 401 and "signature does not match" in str(e.value)
        assert _nonce_row(nonce) is None  # a forgery never reaches the table
    assert _nonce_row(real) is None
    assert _verify(headers).username == alice["username"]  # the genuine request still goes through, once


def test_a_signature_without_a_usable_nonce_or_in_v1_is_refused_with_the_reason(alice):
    from pva.services.function_auth import AuthFailed

    headers = signed_headers(BODY, CTYPE, owner=alice["username"])
    cases = {"no nonce": ({k: v for k, v in headers.items() if k != "X-PVA-Nonce"}, "X-PVA-Nonce (32 hex digits)"),
             "short nonce": ({**headers, "X-PVA-Nonce": "abc"}, "X-PVA-Nonce (32 hex digits)"),
             "v1": ({**headers, "X-PVA-Signature": "v1=" + "0" * 64}, "v1 (no nonce, replayable) is no longer"),
             "unknown scheme": ({**headers, "X-PVA-Signature": "v9=" + "0" * 64}, "v2=<hex>")}
    for what, (hdrs, message) in cases.items():
        with pytest.raises(AuthFailed) as e:
            _verify(hdrs)
        assert e.value.status == 401 and message in str(e.value), (what, str(e.value))
    assert _verify(headers).username == alice["username"]


def test_a_replayed_ingest_request_is_401_and_runs_nothing(alice, tmp_path):
    import media_fixtures as mf
    from pva.infra import db
    from pva.services import inbox

    def owned() -> int:
        return db.query_one("select count(*) n from media where owner_id = %s", (alice["id"],))["n"]

    data = mf.make_jpeg(tmp_path / "r.jpg", make="Replay").read_bytes()
    headers = {**signed_headers(data, CTYPE, owner=alice["username"], scopes=["upload"]), "X-PVA-Filename": "r.jpg"}
    before = owned()
    code, first = inbox.handle_http(data, headers, {})
    assert code == 201 and first["status"] == "added", first
    code, again = inbox.handle_http(data, headers, {})
    assert code == 401 and "already used" in again["error"], again
    # a request whose nonce another worker spent first is refused before ingest sees it: this file would be new
    other = mf.make_jpeg(tmp_path / "s.jpg", make="Replay2").read_bytes()
    headers = {**signed_headers(other, CTYPE, owner=alice["username"], scopes=["upload"]), "X-PVA-Filename": "s.jpg"}
    _verify(headers, body=other)
    code, answer = inbox.handle_http(other, headers, {})
    assert code == 401 and "already used" in answer["error"], answer
    assert owned() == before + 1


def test_expired_nonces_are_pruned_by_verifiers_and_by_the_reconcile_cron(alice):
    from pva.services import function_auth, housekeeping

    now = time.time()
    live = signed_headers(BODY, CTYPE, owner=alice["username"], now=now - 10)
    _verify(live, now=now - 10)
    old = [signed_headers(BODY, CTYPE, owner=alice["username"], now=now - 400) for _ in range(3)]
    for h in old:  # accepted in their day; remembered until ts + 300 + 60, which is now past
        _verify(h, now=now - 400)
    assert all(_nonce_row(h["X-PVA-Nonce"]) for h in (*old, live))

    _verify(signed_headers(BODY, CTYPE, owner=alice["username"]))  # a verifier removes expired rows on its way
    assert all(_nonce_row(h["X-PVA-Nonce"]) is None for h in old)
    assert _nonce_row(live["X-PVA-Nonce"]) is not None

    stale = signed_headers(BODY, CTYPE, owner=alice["username"], now=now - 400)
    _verify(stale, now=now - 400)
    assert function_auth.prune_nonces(now) >= 1 and _nonce_row(stale["X-PVA-Nonce"]) is None
    assert _nonce_row(live["X-PVA-Nonce"]) is not None  # still inside its window: still refused when replayed

    stale = signed_headers(BODY, CTYPE, owner=alice["username"], now=now - 400)
    _verify(stale, now=now - 400)
    housekeeping.reconcile()
    assert _nonce_row(stale["X-PVA-Nonce"]) is None and _nonce_row(live["X-PVA-Nonce"]) is not None
