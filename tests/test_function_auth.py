"""Every function invocation is authorised (issue 15, DESIGN.md "Trust boundary").

The real functions (ocr, transcribe, faces, detect, ingest) run in the local runtime with their HTTP triggers only;
the gateway reaches them through PVA_FUNCTION_URLS, as it would on Nuclio.  Checked: another user's media is 404
through the gateway and at the trigger, and nothing of theirs is re-analysed; a read-only token cannot store
results; each trigger refuses a request without credentials, with X-PVA-Owner alone, with a forged, expired or v1
signature, and takes a valid token or signature once (the same signed request again is a replay: 401); no answer
carries a storage key."""
from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import urllib.parse
import uuid
import wave
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import yaml

from conftest import REPO
from function_helpers import post, runtime_copy, signed_headers
from net_helpers import free_port
from test_gateway_helpers import client_for, new_user, token_for

pytestmark = pytest.mark.usefixtures("services")

ANALYSES = ("ocr", "transcribe", "faces", "detect")
TRIGGERS = (*ANALYSES, "ingest")


# ------------------------------------------------------------------ inputs
def photo_bytes(seed: int = 0) -> bytes:
    """A photo with a face in it (scikit-image's astronaut), made unique per seed so ingest never calls it a
    duplicate."""
    skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) provides the astronaut photo")
    from PIL import Image

    img = Image.fromarray(skdata.astronaut())
    img.paste(((seed * 37) % 256, (seed * 91) % 256, 255 - seed % 256), (0, 0, 16, 16))  # survives JPEG
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    return buf.getvalue()


def silent_wav(seconds: float = 1.0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x00" * int(16000 * seconds))
    return buf.getvalue()


def sample(name: str, seed: int = 0) -> tuple[bytes, str]:
    """What each function analyses when it is posted bytes."""
    return (silent_wav(), "audio/wav") if name == "transcribe" else (photo_bytes(seed), "image/jpeg")


def add_photo(owner_id, data: bytes) -> uuid.UUID:
    """A stored photo as ingest leaves it (original in the originals bucket, media row), no analysis rows."""
    from pva.infra import db
    from pva.config import get_settings
    from pva.db import media as media_q
    from pva.infra.storage import get_storage

    mid = uuid.uuid4()
    key = f"auth-test/{mid}/photo.jpg"
    get_storage().put(get_settings().bucket_originals, key, data, length=len(data))
    with db.transaction() as cur:
        media_q.insert(cur, {"id": mid, "owner_id": owner_id, "sha512": hashlib.sha512(data).digest(),
                             "kind": "photo", "format": "jpeg", "mime": "image/jpeg", "size": len(data),
                             "storage_key": key, "original_path": "photo.jpg", "filename": "photo.jpg",
                             "metadata": {}})
    return mid


def results_of(mid) -> dict:
    """Everything analysis stored for a media item."""
    from pva.infra import db

    return {t: db.query_one(f"select count(*) n from {t} where media_id = %s", (mid,))["n"]
            for t in ("analysis", "detections", "faces", "ocr", "transcripts")}


# ------------------------------------------------------------------ the functions and the gateway
def _http_only(fdir) -> None:
    """Keep the HTTP trigger only: the queue workers would load every model a second time for nothing here."""
    path = fdir / "function.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["spec"]["triggers"] = {n: t for n, t in spec["spec"]["triggers"].items() if t["kind"] == "http"}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))


@pytest.fixture(scope="module")
def runtime(services, tmp_path_factory):
    from pva.config import get_settings
    from pva.runtime import Processor, load_function

    if get_settings().effective_detect_model is None:
        pytest.skip("no detect model (run `pva models pull`, or have ../shared/models)")
    root = tmp_path_factory.mktemp("functions")
    specs = []
    for name in TRIGGERS:
        fdir = runtime_copy(REPO / "functions" / name, root)
        _http_only(fdir)
        specs.append(load_function(fdir))
    with Processor(specs, log_dir=root.parent / f"{root.name}-logs") as p:
        p.root = root
        yield p


def port(runtime, name: str) -> int:
    return runtime.http_port(f"pva-{name}")


@pytest.fixture(scope="module")
def gateway(runtime):
    """The gateway app, finding the functions by PVA_FUNCTION_URLS (their copies declare no port)."""
    from gateway.app import create_app
    from pva.config import reload_settings

    urls = ",".join(f"{n}=http://127.0.0.1:{port(runtime, n)}" for n in TRIGGERS)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PVA_FUNCTION_URLS", urls)
        reload_settings()
        yield create_app(functions_dir=runtime.root)
    reload_settings()


@pytest.fixture(scope="module")
def alice(services):
    return new_user()


@pytest.fixture(scope="module")
def bob(services):
    return new_user()


@pytest.fixture(scope="module")
def bobs_photo(bob):
    return add_photo(bob["id"], photo_bytes(1))


# ------------------------------------------------------------------ other users' media
def test_invoke_on_another_users_media_is_404_and_leaves_their_results_alone(gateway, alice, bobs_photo):
    c = client_for(gateway, alice)
    assert c.get(f"/api/v1/media/{bobs_photo}").status_code == 404  # the answer every route gives
    for name in ANALYSES:
        r = c.post(f"/api/v1/functions/{name}/invoke", json={"media_id": str(bobs_photo)})
        assert r.status_code == 404, (name, r.text)
        assert r.json()["message"] == "no such media"
    assert results_of(bobs_photo) == {"analysis": 0, "detections": 0, "faces": 0, "ocr": 0, "transcripts": 0}


def test_trigger_signed_for_another_user_is_404_for_their_media(runtime, alice, bobs_photo):
    body = json.dumps({"media_id": str(bobs_photo)}).encode()
    for name in ANALYSES:
        status, answer = post(port(runtime, name), body, "application/json", owner=alice["username"])
        assert status == 404, (name, answer)
        status, answer = post(port(runtime, name), body, "application/json", token=token_for(alice))
        assert status == 404, (name, answer)
    assert results_of(bobs_photo)["analysis"] == 0


# ------------------------------------------------------------------ scopes
def test_a_read_only_token_cannot_store_results(gateway, runtime, alice):
    mid = add_photo(alice["id"], photo_bytes(2))
    read_only = token_for(alice, scopes=("read",))
    c = client_for(gateway, token=read_only)
    body = json.dumps({"media_id": str(mid)}).encode()
    for name in ANALYSES:
        r = c.post(f"/api/v1/functions/{name}/invoke", json={"media_id": str(mid)})
        assert r.status_code == 403 and "'write' scope" in r.json()["message"], (name, r.text)
        status, answer = post(port(runtime, name), body, "application/json", token=read_only)
        assert status == 403 and "'write'" in answer["error"], (name, answer)
        status, answer = post(port(runtime, name), body, "application/json", owner=alice["username"],
                              scopes=["read"])
        assert status == 403, (name, answer)
    assert results_of(mid)["analysis"] == 0
    # only answering is what `read` is for
    data, ctype = sample("detect", 3)
    r = c.post("/api/v1/functions/detect/invoke", content=data, headers={"Content-Type": ctype})
    assert r.status_code == 200 and any(d["label"] == "person" for d in r.json()["results"]), r.text


def test_ingest_trigger_needs_the_upload_scope(runtime, alice):
    from pva.infra import db

    before = db.query_one("select count(*) n from media where owner_id = %s", (alice["id"],))["n"]
    data, ctype = sample("ingest", 4)
    status, answer = post(port(runtime, "ingest"), data, ctype, token=token_for(alice, scopes=("read", "write")))
    assert status == 403 and "'upload'" in answer["error"], answer
    status, answer = post(port(runtime, "ingest"), data, ctype, owner=alice["username"], scopes=["read", "write"])
    assert status == 403, answer
    assert db.query_one("select count(*) n from media where owner_id = %s", (alice["id"],))["n"] == before


# ------------------------------------------------------------------ each trigger's door
@pytest.mark.parametrize("name", TRIGGERS)
def test_trigger_refuses_requests_without_valid_credentials(runtime, name, alice, bob):
    from pva.infra import db

    p = port(runtime, name)
    data, ctype = sample(name, 5)
    media_before = db.query_one("select count(*) n from media")["n"]

    status, answer = post(p, data, ctype, sign=False)
    assert status == 401 and "Authorization: Bearer" in answer["error"], answer
    status, answer = post(p, data, ctype, sign=False, headers={"X-PVA-Owner": alice["username"]})
    assert status == 401 and "X-PVA-Owner alone" in answer["error"], answer

    good = signed_headers(data, ctype, owner=alice["username"])
    forged = {**good, "X-PVA-Signature": "v2=" + "0" * 64}
    status, answer = post(p, data, ctype, sign=False, headers=forged)
    assert status == 401 and "signature does not match" in answer["error"], answer
    status, answer = post(p, data, ctype, sign=False, headers={**good, "X-PVA-Signature": "v1=" + "0" * 64})
    assert status == 401 and "v1 (no nonce, replayable) is no longer accepted" in answer["error"], answer
    as_bob = {**good, "X-PVA-Owner": bob["username"]}  # alice's signature does not vouch for bob
    assert post(p, data, ctype, sign=False, headers=as_bob)[0] == 401
    more_scopes = {**signed_headers(data, ctype, owner=alice["username"], scopes=["read"]),
                   "X-PVA-Scopes": "read,upload,write"}
    assert post(p, data, ctype, sign=False, headers=more_scopes)[0] == 401
    other_body = {**signed_headers(b"something else", ctype, owner=alice["username"])}
    assert post(p, data, ctype, sign=False, headers=other_body)[0] == 401
    expired = signed_headers(data, ctype, owner=alice["username"], now=time.time() - 301)
    status, answer = post(p, data, ctype, sign=False, headers=expired)
    assert status == 401 and "5 minutes" in answer["error"], answer
    status, answer = post(p, data, ctype, token="pva_not-a-real-token")
    assert status == 401 and "unknown, revoked or expired" in answer["error"], answer

    assert db.query_one("select count(*) n from media")["n"] == media_before  # nothing got in


@pytest.mark.parametrize("name", TRIGGERS)
def test_trigger_takes_a_valid_token_and_a_valid_signature(runtime, name, alice):
    p = port(runtime, name)
    ok = 201 if name == "ingest" else 200  # ingest: a new file is added
    data, ctype = sample(name, 6)
    status, answer = post(p, data, ctype, token=token_for(alice))
    assert status == ok, answer
    data, ctype = sample(name, 7)
    signed = signed_headers(data, ctype, owner=alice["username"])
    status, answer = post(p, data, ctype, sign=False, headers=signed)
    assert status == ok, answer
    status, replayed = post(p, data, ctype, sign=False, headers=signed)  # good once: the same request again is not
    assert status == 401 and "already used" in replayed["error"], replayed
    if name == "ingest":  # the owner is the authenticated user
        from pva.infra import db

        row = db.query_one("select owner_id from media where id = %s", (answer["media_id"],))
        assert row["owner_id"] == alice["id"]
    else:
        assert answer["kind"] == name and "results" in answer


def test_a_token_naming_another_owner_is_refused(runtime, alice, bob):
    data, ctype = sample("ingest", 8)
    status, answer = post(port(runtime, "ingest"), data, ctype, token=token_for(alice),
                          headers={"X-PVA-Owner": bob["username"]})
    assert status == 403 and "leave X-PVA-Owner out" in answer["error"], answer


# ------------------------------------------------------------------ what answers carry
def test_invoke_answers_carry_no_storage_keys(gateway, alice):
    from pva.infra import db

    c = client_for(gateway, alice)
    mid = add_photo(alice["id"], photo_bytes(9))
    media_key = db.query_one("select storage_key from media where id = %s", (mid,))["storage_key"]
    answers = {}
    for name in ANALYSES:
        r = c.post(f"/api/v1/functions/{name}/invoke", json={"media_id": str(mid), "embeddings": True})
        # transcribe does not apply to a photo: 400, still an answer to look into
        assert r.status_code == (400 if name == "transcribe" else 200), (name, r.text)
        answers[name] = r.text
    faces = json.loads(answers["faces"])["results"]
    assert faces and faces[0]["id"] and len(faces[0]["embedding"]) == 128  # the caller's own faces, stored
    crop_keys = [r["crop_key"] for r in db.query("select crop_key from faces where media_id = %s", (mid,))]
    assert crop_keys and all(crop_keys)
    data, ctype = sample("faces", 10)
    answers["faces-bytes"] = c.post("/api/v1/functions/faces/invoke", content=data,
                                    headers={"Content-Type": ctype}).text
    r = c.post("/api/v1/functions/ingest/invoke?name=drop.jpg", content=photo_bytes(11),
               headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 201, r.text
    answers["ingest"] = r.text
    ingested_key = db.query_one("select storage_key from media where id = %s", (r.json()["media_id"],))["storage_key"]
    for name, text in answers.items():
        for key in [media_key, ingested_key, *crop_keys]:
            assert key not in text, (name, key)
        assert "crop_key" not in text and "storage_key" not in text, name


# ------------------------------------------------------------------ where functions are, and when they fail
class _Fake(BaseHTTPRequestHandler):
    """A function stand-in: checks the gateway's signature with pva.services.function_auth, sleeps when asked."""

    delay = 0.0
    refuse_all = False  # as a function deployed with another PVA_FUNCTION_SECRET does
    received: list  # (path, headers, body) of each request

    def do_POST(self):
        from pva.services import function_auth

        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, dict(self.headers.items()), body))
        time.sleep(self.delay)
        path, _, qs = self.path.partition("?")
        try:
            if self.refuse_all:
                raise function_auth.AuthFailed(401, "the request signature does not match")
            caller = function_auth.verify("POST", path, dict(self.headers.items()), body,
                                          query=dict(urllib.parse.parse_qsl(qs)))
            status, out = 200, {"user": caller.username, "scopes": sorted(caller.scopes), "via": caller.via}
        except function_auth.AuthFailed as e:
            status, out = e.status, {"error": str(e)}
        data = json.dumps(out).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the gateway gave up waiting
            pass

    def log_message(self, *a):
        pass


@pytest.fixture
def fake_function(tmp_path):
    """functions/<fake>/function.yaml without a port, plus a server; yields (app factory, server port)."""
    fdir = tmp_path / "fake"
    fdir.mkdir()
    (fdir / "handler.py").write_text("def handler(context, event):\n    return ''\n")
    (fdir / "function.yaml").write_text("apiVersion: nuclio.io/v1\nkind: NuclioFunction\nmetadata:\n"
                                        "  name: pva-fake\nspec:\n  runtime: python:3.11\n  handler: handler:handler\n"
                                        "  triggers:\n    http:\n      kind: http\n      attributes: {}\n")
    handler = type("Fake", (_Fake,), {"delay": 0.0, "refuse_all": False, "received": []})
    srv = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield tmp_path, srv.server_address[1], handler
    finally:
        srv.shutdown()
        srv.server_close()


def _app_with(monkeypatch, functions_dir, **env):
    from gateway.app import create_app
    from pva.config import reload_settings

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    reload_settings()
    return create_app(functions_dir=functions_dir)


def test_gateway_signs_for_the_caller_with_the_callers_scopes(fake_function, monkeypatch, alice):
    from pva.config import reload_settings

    root, fport, _ = fake_function
    try:
        app = _app_with(monkeypatch, root, PVA_FUNCTION_URL_TEMPLATE=f"http://127.0.0.1:{fport}/{{dir}}")
        c = client_for(app, token=token_for(alice, scopes=("read", "upload")))
        r = c.post("/api/v1/functions/fake/invoke?name=a.jpg", content=b"bytes",
                   headers={"X-PVA-Owner": "someone-else", "X-PVA-Signature": "v1=forged"})
        assert r.status_code == 200, r.text
        assert r.json() == {"user": alice["username"], "scopes": ["read", "upload"], "via": "signature"}
        r = c.post("/api/v1/functions/pva-fake/invoke", json={"media_id": "not-a-uuid"})
        assert r.status_code == 400 and "not a UUID" in r.json()["message"]
    finally:
        monkeypatch.undo()
        reload_settings()


def test_a_request_the_gateway_signed_cannot_be_replayed_to_the_function(fake_function, monkeypatch, alice):
    """What a sniffer between the gateway and a function captures is spent: sent again, it is 401 at the function."""
    import httpx

    from pva.config import reload_settings

    root, fport, handler = fake_function
    try:
        app = _app_with(monkeypatch, root, PVA_FUNCTION_URLS=f"fake=http://127.0.0.1:{fport}/fn")
        c = client_for(app, alice)
        for _ in range(2):  # each invoke is signed afresh
            r = c.post("/api/v1/functions/fake/invoke?name=a.jpg", content=b"bytes")
            assert r.status_code == 200 and r.json()["via"] == "signature", r.text
        (path1, sent1, _), (path2, sent2, body) = handler.received
        assert sent1["X-PVA-Nonce"] != sent2["X-PVA-Nonce"] and sent2["X-PVA-Signature"].startswith("v2=")
        replay = httpx.post(f"http://127.0.0.1:{fport}{path2}", content=body,
                            headers={k: v for k, v in sent2.items() if k.lower() not in ("host", "content-length")})
        assert replay.status_code == 401 and "already used" in replay.json()["error"], replay.text
    finally:
        monkeypatch.undo()
        reload_settings()


def test_function_urls_then_template_then_local_port():
    from pva.config import Settings
    from pva.services.functions import FunctionTarget, InvokeError, function_url

    t = FunctionTarget(name="pva-ocr", directory="ocr", port=8094, max_body=1)
    assert function_url(t, Settings()) == "http://127.0.0.1:8094/"
    k8s = Settings(function_url_template="http://nuclio-{name}.nuclio.svc:8080")
    assert function_url(t, k8s) == "http://nuclio-pva-ocr.nuclio.svc:8080/"
    both = Settings(function_urls="detect=http://d:1, pva-ocr=http://o:2/x", function_url_template="http://{dir}:3")
    assert function_url(t, both) == "http://o:2/x"
    assert function_url(FunctionTarget("pva-faces", "faces", 0, 1), both) == "http://faces:3/"
    with pytest.raises(InvokeError, match="not name=url"):
        function_url(t, Settings(function_urls="ocr"))
    with pytest.raises(InvokeError, match="only {name} and {dir}"):
        function_url(t, Settings(function_url_template="http://{host}:1"))
    with pytest.raises(InvokeError, match="declares no HTTP port"):
        function_url(FunctionTarget("pva-x", "x", 0, 1), Settings())


def test_find_function_parses_a_spec_once_until_it_changes(tmp_path, monkeypatch):
    """Every invoke looks its function up: the parsed function.yaml is kept per process, read again once edited."""
    import os
    import shutil

    import pva.runtime.spec as spec_mod
    from pva.config import REPO_ROOT
    from pva.services.functions import find_function

    shutil.copytree(REPO_ROOT / "functions" / "ocr", tmp_path / "ocr")
    loads = []
    real = spec_mod.load_function
    monkeypatch.setattr(spec_mod, "load_function", lambda d: loads.append(d) or real(d))
    first = find_function(tmp_path, "ocr")
    assert find_function(tmp_path, "pva-ocr") == first and len(loads) == 1
    yaml_path = tmp_path / "ocr" / "function.yaml"
    yaml_path.write_text(yaml_path.read_text().replace(f"port: {first.port}", f"port: {first.port + 1}"))
    st = yaml_path.stat()
    os.utime(yaml_path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert find_function(tmp_path, "ocr").port == first.port + 1 and len(loads) == 2


def test_unreachable_function_is_502_and_a_slow_one_504(fake_function, monkeypatch, alice):
    from pva.config import reload_settings

    root, fport, handler = fake_function
    try:
        app = _app_with(monkeypatch, root, PVA_FUNCTION_URLS=f"fake=http://127.0.0.1:{free_port()}")
        r = client_for(app, alice).post("/api/v1/functions/fake/invoke", content=b"x")
        assert r.status_code == 502 and "not answering" in r.json()["message"], r.text
        assert "127.0.0.1" not in r.json()["message"]  # where functions run is not the caller's business

        handler.delay = 2.5
        app = _app_with(monkeypatch, root, PVA_FUNCTION_URLS=f"fake=http://127.0.0.1:{fport}",
                        PVA_FUNCTION_TIMEOUT_SECONDS="1")
        r = client_for(app, alice).post("/api/v1/functions/fake/invoke", content=b"x")
        assert r.status_code == 504 and "PVA_FUNCTION_TIMEOUT_SECONDS" in r.json()["message"], r.text
    finally:
        monkeypatch.undo()
        reload_settings()


def test_a_function_refusing_the_gateways_signature_is_502_not_401(fake_function, monkeypatch, alice):
    """A function with another PVA_FUNCTION_SECRET answers 401 to the gateway: that is the deployment's fault,
    not the caller's credentials, so the caller is not told to log in again."""
    from pva.config import reload_settings

    root, fport, handler = fake_function
    handler.refuse_all = True
    try:
        app = _app_with(monkeypatch, root, PVA_FUNCTION_URLS=f"fake=http://127.0.0.1:{fport}")
        r = client_for(app, alice).post("/api/v1/functions/fake/invoke", content=b"x")
        assert r.status_code == 502 and "PVA_FUNCTION_SECRET" in r.json()["message"], r.text
    finally:
        monkeypatch.undo()
        reload_settings()
