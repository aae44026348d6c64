"""`pva sync` against a real gateway (uvicorn in a subprocess) on the session's Postgres, RabbitMQ and S3:
first sync and a free rerun, ignore rules, rejections, the same photo in two folders, --album, --watch with a file
still being written, a killed sync resumed, the server stopped and restarted mid-run, a server that never comes
back, refused tokens, and TLS with a custom CA."""
from __future__ import annotations

import hashlib
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from media_fixtures import make_jpeg

from net_helpers import free_port

REPO = Path(__file__).resolve().parent.parent


class Gateway:
    """The gateway app served by a real uvicorn process; stop() kills it hard, start() brings it back."""

    def __init__(self, port: int | None = None, ssl: tuple[Path, Path] | None = None):
        self.port = port or free_port()
        self.ssl = ssl
        self.proc: subprocess.Popen | None = None
        scheme = "https" if ssl else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0, ca_cert: Path | None = None) -> None:
        import ssl

        verify = ssl.create_default_context(cafile=str(ca_cert)) if ca_cert else True
        cmd = [sys.executable, "-m", "uvicorn", "gateway.app:create_app", "--factory", "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        if self.ssl:
            cmd += ["--ssl-certfile", str(self.ssl[0]), "--ssl-keyfile", str(self.ssl[1])]
        self.proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PVA_LOG_LEVEL": "WARNING"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the gateway exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1, verify=verify).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the gateway did not start within 30 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def gateway(services):
    g = Gateway()
    g.start()
    yield g
    g.stop()


@pytest.fixture
def account(make_user):
    from pva.services.auth import create_token

    user = make_user()
    token, _ = create_token(user["id"], ["upload"], name="sync test")
    return {**user, "token": token}


def _photos(folder: Path, n: int, prefix: str = "img") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [make_jpeg(folder / f"{prefix}{i:03d}.jpg", model=f"cam-{secrets.token_hex(6)}") for i in range(n)]


def _library(user_id) -> dict[str, dict]:
    """The user's media on the server: original_path -> row."""
    from pva.infra import db

    rows = db.query("select id, original_path, storage_key, sha512 from media where owner_id = %s", (user_id,))
    return {r["original_path"]: {**r, "sha512": bytes(r["sha512"]).hex()} for r in rows}


def _sha(p: Path) -> str:
    return hashlib.sha512(p.read_bytes()).hexdigest()


class Events:
    """A reporter that remembers what the run did (the real run, only its display is replaced)."""

    def __init__(self):
        from pva.sync.progress import Reporter

        outer = self

        class _R(Reporter):
            def hash_start(self, rel, size):
                outer.hashed.append(rel)

            def upload_start(self, rel, size):
                outer.sent.append(rel)
                return rel

            def notice(self, msg):
                outer.notices.append(msg)

        self.hashed: list[str] = []
        self.sent: list[str] = []
        self.notices: list[str] = []
        self.reporter = _R()


def _opts(roots, gateway, account, state: Path, **kw):
    from pva.sync.engine import SyncOptions

    return SyncOptions(roots=[Path(r) for r in roots], server=gateway.url, token=account["token"],
                       state_path=state, **{"concurrency": 2, "wait": 30, **kw})


# ---------------------------------------------------------------- ignore rules (no server needed)
def test_ignore_rules_follow_gitignore_semantics(tmp_path):
    from pva.sync.ignore import IgnoreRules

    (tmp_path / ".pvaignore").write_text("# drafts and raw exports\ndrafts/\n/top-only.jpg\n**/cache/**\n"
                                         "*.xmp\n!keep.xmp\n!*.part\n")
    r = IgnoreRules.for_root(tmp_path)
    assert r.ignored(".DS_Store") and r.ignored("a/b/Thumbs.db") and r.ignored("x/.photo.jpg.swp")
    assert r.ignored("download.crdownload") and r.ignored("a/tmp.tmp") and r.ignored(".pvaignore")
    assert r.ignored("drafts/a.jpg") and r.ignored("2024/drafts/a.jpg") and r.ignored("drafts", is_dir=True)
    assert not r.ignored("drafts")  # a file named drafts: the rule is for directories
    assert r.ignored("top-only.jpg") and not r.ignored("sub/top-only.jpg")
    assert r.ignored("a/cache/b/c.jpg") and not r.ignored("a/cachet/c.jpg")
    assert r.ignored("a/b.xmp") and not r.ignored("a/keep.xmp")
    assert not r.ignored("video.part")  # re-included by the root's own rules
    assert not r.ignored("2024/IMG_0001.JPG")


# ---------------------------------------------------------------- the sync itself
def test_first_sync_uploads_everything_then_a_rerun_sends_and_hashes_nothing(tmp_path, gateway, account):
    from pva.sync.engine import run_sync

    root = tmp_path / "Trip"
    photos = _photos(root, 3) + _photos(root / "day 2", 2)
    (root / ".DS_Store").write_bytes(b"\0junk")
    (root / "movie.mp4.part").write_bytes(b"partial download")
    (root / ".pvaignore").write_text("drafts/\n")
    _photos(root / "drafts", 1)
    state = tmp_path / "state.db"

    ev = Events()
    first = run_sync(_opts([root], gateway, account, state), reporter=ev.reporter)
    assert first.exit_code == 0, first.text()
    assert first.counts["uploaded"] == 5 and len(ev.hashed) == 5
    lib = _library(account["id"])
    assert set(lib) == {f"Trip/{p.relative_to(root).as_posix()}" for p in photos}
    assert lib["Trip/day 2/img001.jpg"]["storage_key"] == f"{account['username']}/Trip/day 2/img001.jpg"
    assert all(lib[f"Trip/{p.relative_to(root).as_posix()}"]["sha512"] == _sha(p) for p in photos)

    ev2 = Events()
    again = run_sync(_opts([root], gateway, account, state), reporter=ev2.reporter)
    assert again.exit_code == 0 and again.counts["unchanged"] == 5
    assert ev2.hashed == [] and ev2.sent == [] and again.counts["uploaded"] == 0

    make_jpeg(photos[0], model="edited")  # a changed file is hashed and sent again (as a new item)
    ev3 = Events()
    third = run_sync(_opts([root], gateway, account, state), reporter=ev3.reporter)
    assert third.counts["uploaded"] == 1 and ev3.hashed == ["Trip/img000.jpg"]
    from pva.infra import db

    assert db.query_one("select count(*) as n from media where owner_id = %s", (account["id"],))["n"] == 6
    assert (root / ".DS_Store").exists() and (root / "movie.mp4.part").exists()  # never touched


def test_rejected_file_gives_exit_1_with_the_reason_and_is_not_resent(tmp_path, gateway, account):
    from pva.sync.engine import run_sync

    root = tmp_path / "Docs"
    _photos(root, 1)
    (root / "notes.txt").write_text("not a photo")
    state = tmp_path / "state.db"
    first = run_sync(_opts([root], gateway, account, state))
    assert first.exit_code == 1
    assert [(s, rel) for s, rel, _ in first.problems] == [("rejected", "Docs/notes.txt")]
    assert first.problems[0][2]  # the server's reason
    assert "Docs/notes.txt" in first.text()
    ev = Events()
    again = run_sync(_opts([root], gateway, account, state), reporter=ev.reporter)
    assert again.exit_code == 0 and again.counts["skipped_rejected"] == 1 and ev.sent == []


def test_same_photo_in_two_folders_is_stored_once_and_filed_in_the_album(tmp_path, gateway, account,
                                                                          monkeypatch, capsys):
    from pva.infra import db
    from pva.cli import main

    a, b = tmp_path / "PhoneA", tmp_path / "PhoneB"
    a.mkdir()
    b.mkdir()
    src = make_jpeg(a / "same.jpg", model="twins")
    (b / "copy-of-same.jpg").write_bytes(src.read_bytes())
    _photos(b, 1, prefix="own")
    monkeypatch.setenv("PVA_SYNC_TOKEN", account["token"])
    rc = main(["sync", str(a), str(b), "--server", gateway.url, "--state", str(tmp_path / "s.db"),
               "--album", "Holidays", "--no-progress"])
    out = capsys.readouterr()
    assert rc == 0, out.err
    assert "uploaded 2 file(s)" in out.out and "1 identical copy of another file" in out.out
    lib = _library(account["id"])
    assert len(lib) == 2 and "PhoneA/same.jpg" in lib and "PhoneB/own000.jpg" in lib
    album = db.query("select a.name, count(am.media_id) as n from albums a left join album_media am "
                     "on am.album_id = a.id where a.owner_id = %s group by a.id", (account["id"],))
    assert [(r["name"], r["n"]) for r in album] == [("Holidays", 2)]


def test_dry_run_reports_what_would_be_sent_and_changes_nothing(tmp_path, gateway, account):
    from pva.sync.engine import run_sync

    root = tmp_path / "Dry"
    _photos(root, 2)
    state = tmp_path / "state.db"
    s = run_sync(_opts([root], gateway, account, state, dry_run=True))
    assert s.exit_code == 0 and s.counts["would_upload"] == 2 and s.would_upload == ["Dry/img000.jpg",
                                                                                    "Dry/img001.jpg"]
    assert _library(account["id"]) == {}
    real = run_sync(_opts([root], gateway, account, state))
    assert real.counts["uploaded"] == 2


def test_watch_uploads_a_new_file_only_once_it_has_stopped_growing(tmp_path, gateway, account):
    from pva.sync.engine import run_sync

    root = tmp_path / "Camera"
    _photos(root, 1)
    stop, ready = threading.Event(), threading.Event()
    box = {}
    t = threading.Thread(target=lambda: box.update(s=run_sync(
        _opts([root], gateway, account, tmp_path / "s.db", settle=0.8), stop=stop, watch=True,
        on_ready=ready.set)), daemon=True)
    t.start()
    try:
        assert ready.wait(20), "the first pass did not finish"
        data = make_jpeg(tmp_path / "staging.jpg", model="watched").read_bytes()
        target = root / "new" / "IMG_9000.jpg"
        target.parent.mkdir()
        with open(target, "wb") as f:  # written in slow pieces, like a copy from a card
            for i in range(0, len(data), len(data) // 4 + 1):
                f.write(data[i:i + len(data) // 4 + 1])
                f.flush()
                time.sleep(0.3)
        (root / "clip.mp4.crdownload").write_bytes(b"still downloading")
        deadline = time.monotonic() + 20
        while "Camera/new/IMG_9000.jpg" not in _library(account["id"]) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        t.join(20)
    s = box["s"]
    assert s.exit_code == 0, s.text()
    lib = _library(account["id"])
    assert lib["Camera/new/IMG_9000.jpg"]["sha512"] == hashlib.sha512(data).hexdigest()
    assert s.counts["uploaded"] == 2 and not s.counts["rejected"]  # no torn upload of the half-written file
    assert set(lib) == {"Camera/img000.jpg", "Camera/new/IMG_9000.jpg"}


def test_a_killed_sync_resumes_without_rehashing_or_sending_anything_twice(tmp_path, gateway, account):
    from pva.sync.engine import run_sync

    root = tmp_path / "Big"
    photos = _photos(root, 40)
    state = tmp_path / "state.db"
    env = {**os.environ, "PVA_SYNC_TOKEN": account["token"], "PVA_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "pva.cli", "sync", str(root), "--server", gateway.url,
                             "--state", str(state), "--concurrency", "2", "--no-progress"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        done = 0
        while time.monotonic() < deadline and proc.poll() is None:
            if state.exists():
                try:
                    with sqlite3.connect(state) as con:
                        done = con.execute("select count(*) from files where status = 'uploaded'").fetchone()[0]
                except sqlite3.Error:
                    done = 0
            if done >= 5:
                break
            time.sleep(0.02)
        assert proc.poll() is None, "the sync finished before it could be interrupted"
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # an upload whose body the server had fully received when the client died is still being stored: let the
    # server finish those (the library stops growing) before the rerun asks what it already has, or the rerun would
    # race them and send the same bytes again
    before, settle_until = _library(account["id"]), time.monotonic() + 15
    while time.monotonic() < settle_until:
        time.sleep(1.0)
        now = _library(account["id"])
        if len(now) == len(before):
            break
        before = now
    assert 5 <= len(before) < 40
    with sqlite3.connect(state) as con:
        hashed_before = con.execute("select count(*) from hashes").fetchone()[0]

    results = []
    ev = Events()
    s = run_sync(_opts([root], gateway, account, state), reporter=ev.reporter,
                 on_result=lambda lf, res: results.append(res["status"]))
    assert s.exit_code == 0, s.text()
    assert results and set(results) == {"added"}  # every byte sent was new to the server
    assert len(ev.hashed) == 40 - hashed_before  # what the killed run hashed was not hashed again
    # uploads the killed run had in flight may have completed on the server: the rerun finds them there
    assert len(results) <= 40 - len(before)
    lib = _library(account["id"])
    assert set(lib) == {f"Big/{p.name}" for p in photos}
    from pva.infra import db

    assert db.query_one("select count(*) as n from media where owner_id = %s", (account["id"],))["n"] == 40
    assert s.counts["uploaded"] + s.counts["present"] + s.counts["unchanged"] == 40


def test_server_stopped_and_restarted_mid_run_is_waited_for(tmp_path, gateway, account):
    from pva.sync.engine import run_sync

    g = gateway
    root = tmp_path / "Flaky"
    photos = _photos(root, 24)
    restarted = threading.Thread(target=lambda: (time.sleep(1.0), g.start()), daemon=True)
    once = threading.Lock()

    def on_result(lf, res):
        if once.acquire(blocking=False):
            g.stop()  # the server dies while other uploads are in flight or queued
            restarted.start()

    ev = Events()
    try:
        s = run_sync(_opts([root], g, account, tmp_path / "s.db", wait=60), reporter=ev.reporter,
                     on_result=on_result)
    finally:
        restarted.join(30)
        if g.proc is None or g.proc.poll() is not None:
            g.start()  # for the tests after this one
    assert s.exit_code == 0, s.text()
    assert any("not answering" in n for n in ev.notices) and any("is back" in n for n in ev.notices)
    assert set(_library(account["id"])) == {f"Flaky/{p.name}" for p in photos}
    assert s.counts["uploaded"] + s.counts["present"] == 24


def test_server_that_stays_down_ends_with_exit_3_after_the_wait(tmp_path, account):
    from pva.sync.engine import SyncOptions, run_sync

    root = tmp_path / "Lonely"
    _photos(root, 1)
    t0 = time.monotonic()
    s = run_sync(SyncOptions(roots=[root], server=f"http://127.0.0.1:{free_port()}", token=account["token"],
                             state_path=tmp_path / "s.db", wait=1.0))
    assert s.exit_code == 3 and "unreachable" in str(s.error)
    assert time.monotonic() - t0 < 10


def test_refused_token_and_bad_options_are_usage_errors(tmp_path, gateway, account, monkeypatch, capsys):
    from pva.cli import main
    from pva.sync.engine import run_sync

    root = tmp_path / "R"
    _photos(root, 1)
    s = run_sync(_opts([root], gateway, {**account, "token": "pva_not-a-real-token"}, tmp_path / "s.db"))
    assert s.exit_code == 2 and "refused the token" in str(s.error)
    monkeypatch.delenv("PVA_SYNC_TOKEN", raising=False)
    assert main(["sync", str(root), "--server", gateway.url, "--state", str(tmp_path / "s.db")]) == 2
    assert "PVA_SYNC_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("PVA_SYNC_TOKEN", account["token"])
    assert main(["sync", str(tmp_path / "missing"), "--server", gateway.url]) == 2
    assert "not a folder" in capsys.readouterr().err
    assert main(["sync", str(root), "--server", "ftp://x", "--state", str(tmp_path / "s.db")]) == 2


def test_tls_with_a_custom_ca_is_verified(tmp_path, account, services):
    from dataclasses import replace

    from pva.infra.certs import ensure_certs
    from pva.config import get_settings
    from pva.sync.engine import run_sync

    certs = ensure_certs(replace(get_settings(), data_dir=tmp_path / "data")).paths
    g = Gateway(ssl=(certs.cert, certs.key))
    g.start(ca_cert=certs.ca_cert)
    try:
        root = tmp_path / "Secure"
        _photos(root, 1)
        untrusted = run_sync(_opts([root], g, account, tmp_path / "s.db"))
        assert untrusted.exit_code == 2 and "--ca-cert" in str(untrusted.error)
        trusted = run_sync(_opts([root], g, account, tmp_path / "s.db", ca_cert=certs.ca_cert))
        assert trusted.exit_code == 0 and trusted.counts["uploaded"] == 1, trusted.text()
    finally:
        g.stop()
