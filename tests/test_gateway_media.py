"""Media API on the real stack: upload into ingest, originals with Range, thumbnails, GPS override, trash and
purge, comments (XSS stays inert data), albums, stats, jobs, function invocation, SeaweedFS relay, health."""
from __future__ import annotations

import hashlib
import io
import json
import os
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from net_helpers import free_port
from test_gateway_helpers import (add_detection, add_job, app, client_for, insert_media,  # noqa: F401
                                  new_user)

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def jpeg_bytes(color=(200, 30, 30), size=(64, 48), exif_gps=None) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def _put(key: str, data: bytes, bucket: str = "originals", ctype="application/octet-stream"):
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    s = get_settings()
    get_storage().put(getattr(s, f"bucket_{bucket}"), key, data, content_type=ctype)


@pytest.fixture(scope="module")
def alice(services):
    return new_user()


@pytest.fixture(scope="module")
def ca(app, alice):
    return client_for(app, alice)


# ---------------------------------------------------------------- upload
def test_upload_adds_then_reports_duplicate_and_rejects_garbage(ca, alice):
    img = jpeg_bytes()
    r = ca.post("/api/v1/media/upload", files=[("files", ("red.jpg", img, "image/jpeg")),
                                               ("files", ("notes.txt", b"not a photo at all", "text/plain"))])
    assert r.status_code == 200, r.text
    res = {x["name"]: x for x in r.json()["results"]}
    assert res["red.jpg"]["status"] == "added" and res["red.jpg"]["media_id"]
    assert res["red.jpg"]["sha512"] == hashlib.sha512(img).hexdigest()
    assert res["notes.txt"]["status"] == "rejected" and res["notes.txt"]["reason"]
    again = ca.post("/api/v1/media/upload", files=[("files", ("copy.jpg", img, "image/jpeg"))]).json()["results"][0]
    assert again["status"] == "duplicate" and again["media_id"] == res["red.jpg"]["media_id"]
    # the stored original is byte-identical
    mid = res["red.jpg"]["media_id"]
    orig = ca.get(f"/api/v1/media/{mid}/original")
    assert orig.status_code == 200 and orig.content == img
    # and the sync client's check finds it by SHA-512
    h = hashlib.sha512(img).hexdigest()
    have = ca.post("/api/v1/media/have", json={"sha512": [h, "0" * 128]}).json()
    assert have["have"] == {h: mid} and have["missing"] == ["0" * 128]


def test_upload_of_a_real_camera_file_keeps_its_exif(ca, shared):
    path = shared / "fixtures" / "exif-samples" / "jpg" / "gps"
    files = sorted(path.glob("*.jpg"))[:1] if path.is_dir() else []
    if not files:
        pytest.skip(f"no GPS sample under {path}")
    data = files[0].read_bytes()
    r = ca.post("/api/v1/media/upload", files=[("files", (files[0].name, data, "image/jpeg"))])
    res = r.json()["results"][0]
    assert res["status"] in ("added", "duplicate"), res
    d = ca.get(f"/api/v1/media/{res['media_id']}").json()
    assert d["gps"]["source"] == "exif" and d["gps"]["lat"] is not None


def test_upload_over_the_size_limit_is_413(app, alice, monkeypatch):
    from pva.config import reload_settings

    monkeypatch.setenv("PVA_MAX_UPLOAD_BYTES", "2000")
    reload_settings()
    try:
        r = client_for(app, alice).post("/api/v1/media/upload",
                                        files=[("files", ("big.jpg", b"x" * 5000, "image/jpeg"))])
        assert r.status_code == 413 and "PVA_MAX_UPLOAD_BYTES" in r.json()["message"]
    finally:
        monkeypatch.delenv("PVA_MAX_UPLOAD_BYTES")
        reload_settings()


def test_upload_needs_multipart_and_files(ca):
    r = ca.post("/api/v1/media/upload", json={"x": 1})
    assert r.status_code == 415 and "multipart" in r.json()["message"]
    body = b'--XyZ\r\nContent-Disposition: form-data; name="note"\r\n\r\nno files here\r\n--XyZ--\r\n'
    r = ca.post("/api/v1/media/upload", content=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code == 422 and "no files" in r.json()["message"]
    r = ca.post("/api/v1/media/upload", content=b"--XyZ\r\ngarbage",
                headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    assert r.status_code in (400, 422) and r.json()["message"]


def _part(name: bytes, data: bytes, field: bytes = b"files") -> bytes:
    """One multipart part written by hand, the file name byte for byte (raw CR, kilobytes of it...)."""
    return (b"--B0undary\r\nContent-Disposition: form-data; name=\"" + field + b"\"; filename=\"" + name
            + b"\"\r\nContent-Type: application/octet-stream\r\n\r\n" + data + b"\r\n")


def _post_parts(client, parts: list[bytes]):
    return client.post("/api/v1/media/upload", content=b"".join(parts) + b"--B0undary--\r\n",
                       headers={"Content-Type": "multipart/form-data; boundary=B0undary"})


def test_a_part_with_unreadable_headers_rejects_that_file_only_and_the_others_are_stored(ca):
    """Issue 16: a raw CR in one file name, or a 6 KB name, answered 400 for the whole request."""
    goods = [jpeg_bytes((i * 40, 90, 10)) for i in range(3)]
    r = _post_parts(ca, [_part(b"first.jpg", goods[0]), _part(b"raw\rcr.jpg", goods[1]),
                         _part(b"n" * 6000 + b".jpg", goods[2]), _part(b"h" * 70_000 + b".jpg", goods[2]),
                         _part(b"last.jpg", goods[2])])
    assert r.status_code == 200, r.text
    res = r.json()["results"]
    assert [x["status"] for x in res] == ["added", "rejected", "rejected", "rejected", "added"], res
    assert "control character U+000D" in res[1]["reason"]
    assert "file name is too long (6004 characters" in res[2]["reason"]
    assert "over 64 KB" in res[3]["reason"] and res[3]["name"] == "upload-part-4"
    assert r.json()["counts"] == {"added": 2, "rejected": 3}


def test_junk_is_refused_with_415_from_its_first_bytes_and_the_rest_is_never_written(ca, services, tmp_path):
    from gateway.upload import MultipartReader
    from pva.media import HEAD_BYTES

    junk = os.urandom(3 << 20)
    r = _post_parts(ca, [_part(b"junk.jpg", junk)])
    assert r.status_code == 415, r.text
    body = r.json()
    assert body["message"].startswith("not a supported photo or video format")
    assert body["results"][0]["status"] == "rejected" and body["results"][0]["name"] == "junk.jpg"
    # beside a good file: a per-file rejection, the good one stored, 200
    r = _post_parts(ca, [_part(b"junk.jpg", junk), _part(b"fine.jpg", jpeg_bytes((1, 2, 250)))])
    assert r.status_code == 200 and [x["status"] for x in r.json()["results"]] == ["rejected", "added"], r.text
    # while streaming, writing stops with the first 64 KB; the rest is only scanned for the next boundary
    reader = MultipartReader(b"B0undary", tmp_path, 1 << 40)
    reader.feed(b"--B0undary\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.jpg\"\r\n\r\n")
    block = os.urandom(1 << 20)
    for _ in range(64):  # 64 MiB of junk
        reader.feed(block)
    part = reader.parts[0]
    assert part.reason and part.unsupported and part.path is None and list(tmp_path.iterdir()) == []
    assert part.size <= HEAD_BYTES + (1 << 20)
    reader.feed(b"\r\n--B0undary--\r\n")
    reader.finish()
    assert len(reader.parts) == 1


def test_a_file_name_with_colons_pipes_and_wildcards_is_kept(ca):
    """'a:b|c?d*.jpg' is a legal name on Linux and in S3 keys; it was refused as an absolute path."""
    img = jpeg_bytes((33, 66, 99))
    res = ca.post("/api/v1/media/upload", files=[("files", ("a:b|c?d*.jpg", img, "image/jpeg"))]).json()["results"]
    assert res[0]["status"] == "added" and res[0]["name"] == "a:b|c?d*.jpg", res
    assert ca.get(f"/api/v1/media/{res[0]['media_id']}/original").content == img
    bad = ca.post("/api/v1/media/upload", files=[("files", ("C:\\Users\\x.jpg", img, "image/jpeg"))])
    assert "Windows drive path" in bad.json()["results"][0]["reason"]


def test_have_rejects_non_hex(ca):
    r = ca.post("/api/v1/media/have", json={"sha512": ["xyz"]})
    assert r.status_code == 422 and "SHA-512" in r.json()["message"]


# ---------------------------------------------------------------- files
def test_original_supports_range_requests(ca, alice):
    data = bytes(range(256)) * 40  # 10240 bytes
    m = insert_media(alice["id"], kind="video", format="mp4", mime="video/mp4", filename="clip été.mp4")
    _put(m["storage_key"], data, ctype="video/mp4")
    url = f"/api/v1/media/{m['id']}/original"
    full = ca.get(url)
    assert full.status_code == 200 and full.content == data and full.headers["accept-ranges"] == "bytes"
    assert full.headers["content-type"] == "video/mp4"
    assert "filename*=UTF-8''clip%20%C3%A9t%C3%A9.mp4" in full.headers["content-disposition"]
    r = ca.get(url, headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
    r = ca.get(url, headers={"Range": "bytes=10000-"})
    assert r.status_code == 206 and r.content == data[10000:]
    r = ca.get(url, headers={"Range": "bytes=-16"})
    assert r.status_code == 206 and r.content == data[-16:]
    r = ca.get(url, headers={"Range": "bytes=999999-"})
    assert r.status_code == 416 and r.headers["content-range"] == f"bytes */{len(data)}"
    head = ca.head(url, headers={"Range": "bytes=0-9"})
    assert head.status_code == 206 and head.headers["content-length"] == "10" and head.content == b""
    etag = full.headers["etag"]
    assert ca.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_thumbnail_and_preview(ca, alice):
    m = insert_media(alice["id"], thumb_key=f"t/{alice['id']}/a.jpg", preview_key=f"t/{alice['id']}/b.jpg")
    _put(m["thumb_key"], b"grid", "thumbs", "image/jpeg")
    _put(m["preview_key"], b"preview", "thumbs", "image/jpeg")
    assert ca.get(f"/api/v1/media/{m['id']}/thumbnail").content == b"grid"
    assert ca.get(f"/api/v1/media/{m['id']}/thumbnail", params={"size": "preview"}).content == b"preview"
    bare = insert_media(alice["id"])
    r = ca.get(f"/api/v1/media/{bare['id']}/thumbnail")
    assert r.status_code == 404 and "thumbnail" in r.json()["message"]


# ---------------------------------------------------------------- detail and edits
def test_detail_shows_analysis_results_and_gps_override_leaves_exif(ca, alice):
    from pva.infra import db

    m = insert_media(alice["id"], gps_lat=10.0, gps_lon=20.0, gps_alt=5.0)
    add_detection(m["id"], "bicycle", 0.77)
    d = ca.get(f"/api/v1/media/{m['id']}").json()
    assert d["detections"][0]["label"] == "bicycle" and d["gps"]["source"] == "exif"
    assert "storage_key" not in d and d["original_url"].endswith("/original")
    r = ca.put(f"/api/v1/media/{m['id']}/gps", json={"lat": -1.5, "lon": 2.5})
    assert r.status_code == 200
    d = ca.get(f"/api/v1/media/{m['id']}").json()
    assert (d["gps"]["lat"], d["gps"]["lon"], d["gps"]["source"]) == (-1.5, 2.5, "override")
    assert d["gps"]["exif"] == {"lat": 10.0, "lon": 20.0, "alt": 5.0}
    row = db.query_one("select gps_lat, gps_lon from media where id = %s", (m["id"],))
    assert (row["gps_lat"], row["gps_lon"]) == (10.0, 20.0)
    assert ca.put(f"/api/v1/media/{m['id']}/gps", json={"lat": 91, "lon": 0}).status_code == 422
    r = ca.delete(f"/api/v1/media/{m['id']}/gps")
    assert r.json()["gps"] == {"lat": 10.0, "lon": 20.0, "source": "exif"}


def test_comments_keep_markup_as_inert_json_text(ca, alice):
    m = insert_media(alice["id"])
    r = ca.post(f"/api/v1/media/{m['id']}/comments", json={"body": XSS})
    assert r.status_code == 201 and r.headers["content-type"].startswith("application/json")
    c = r.json()
    assert c["body"] == XSS and c["author"] == alice["username"]
    assert ca.get(f"/api/v1/media/{m['id']}/comments").json()[0]["body"] == XSS
    assert ca.get(f"/api/v1/media/{m['id']}").json()["comments"][0]["body"] == XSS
    assert ca.patch(f"/api/v1/comments/{c['id']}", json={"body": "edited"}).json()["body"] == "edited"
    assert ca.post(f"/api/v1/media/{m['id']}/comments", json={"body": "   "}).status_code == 422
    assert ca.delete(f"/api/v1/comments/{c['id']}").status_code == 204
    assert ca.get(f"/api/v1/media/{m['id']}/comments").json() == []


def test_albums_with_markup_names_cover_and_membership(ca, alice):
    a = ca.post("/api/v1/albums", json={"name": XSS}).json()
    assert a["name"] == XSS
    m1, m2 = insert_media(alice["id"]), insert_media(alice["id"])
    r = ca.post(f"/api/v1/albums/{a['id']}/media", json={"media_ids": [str(m1["id"]), str(m2["id"])]})
    assert r.json()["added"] == 2 and r.json()["album"]["media_count"] == 2
    assert ca.put(f"/api/v1/albums/{a['id']}/cover", json={"media_id": str(m1["id"])}).json()["cover_media_id"] \
        == str(m1["id"])
    outsider = insert_media(alice["id"])
    assert ca.put(f"/api/v1/albums/{a['id']}/cover", json={"media_id": str(outsider["id"])}).status_code == 404
    assert ca.patch(f"/api/v1/albums/{a['id']}", json={"name": "Renamed"}).json()["name"] == "Renamed"
    assert ca.delete(f"/api/v1/albums/{a['id']}/media/{m2['id']}").status_code == 204
    page = ca.get("/api/v1/media", params={"album": a["id"]}).json()
    assert [i["id"] for i in page["items"]] == [str(m1["id"])]
    assert ca.post(f"/api/v1/albums/{a['id']}/shares", json={"username": alice["username"]}).status_code == 422
    assert ca.post(f"/api/v1/albums/{a['id']}/shares", json={"username": "no-such-user-xyz"}).status_code == 404
    assert ca.delete(f"/api/v1/albums/{a['id']}").status_code == 204
    assert ca.get(f"/api/v1/media/{m1['id']}").status_code == 200  # media outlive their album


def test_trash_restore_and_purge_remove_the_stored_objects(ca, alice):
    from pva.infra import db
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    s = get_settings()
    m = insert_media(alice["id"], thumb_key=f"t/{alice['id']}/purge.jpg")
    _put(m["storage_key"], b"original")
    _put(m["thumb_key"], b"thumb", "thumbs")
    mid = str(m["id"])
    r = ca.delete(f"/api/v1/media/{mid}")
    assert r.status_code == 409 and "trash first" in r.json()["message"]
    assert ca.post(f"/api/v1/media/{mid}/trash").json()["trashed"] is True
    assert mid not in {i["id"] for i in ca.get("/api/v1/media", params={"limit": 500}).json()["items"]}
    assert mid in {i["id"] for i in ca.get("/api/v1/media", params={"trashed": "true"}).json()["items"]}
    assert ca.post(f"/api/v1/media/{mid}/restore").json()["trashed"] is False
    assert ca.post(f"/api/v1/media/{mid}/trash").status_code == 200
    assert ca.delete(f"/api/v1/media/{mid}").status_code == 204
    assert db.query_one("select 1 as x from media where id = %s", (mid,)) is None
    assert get_storage().stat(s.bucket_originals, m["storage_key"]) is None
    assert get_storage().stat(s.bucket_thumbs, m["thumb_key"]) is None
    assert ca.get(f"/api/v1/media/{mid}").status_code == 404


def test_trash_is_purged_after_the_retention_period(services, alice):
    from pva.infra import db
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    from pva.services.media import purge_expired_trash

    days = get_settings().trash_retention_days
    old = insert_media(alice["id"], trashed_at=datetime.now(timezone.utc) - timedelta(days=days, hours=1))
    recent = insert_media(alice["id"], trashed_at=datetime.now(timezone.utc) - timedelta(days=days - 1))
    _put(old["storage_key"], b"old")
    assert purge_expired_trash() >= 1
    assert db.query_one("select 1 as x from media where id = %s", (old["id"],)) is None
    assert db.query_one("select 1 as x from media where id = %s", (recent["id"],)) is not None
    assert get_storage().stat(get_settings().bucket_originals, old["storage_key"]) is None


# ---------------------------------------------------------------- stats and jobs
def test_stats_count_the_library(app):
    u = new_user()
    c = client_for(app, u)
    insert_media(u["id"], taken_at=datetime(2020, 5, 3, tzinfo=timezone.utc), size=100, camera_make="Nikon",
                 camera_model="D750", gps_lat=1.0, gps_lon=1.0)
    m2 = insert_media(u["id"], taken_at=datetime(2020, 5, 20, tzinfo=timezone.utc), size=300, kind="video",
                      format="mp4", mime="video/mp4")
    insert_media(u["id"], taken_at=datetime(2021, 1, 1, tzinfo=timezone.utc), size=50,
                 trashed_at=datetime.now(timezone.utc))
    add_detection(m2["id"], "car", 0.9)
    add_detection(m2["id"], "car", 0.8)
    s = c.get("/api/v1/stats").json()
    assert s["totals"] == {"media": 2, "bytes": 400, "with_gps": 1, "without_gps": 1, "photos": 1, "videos": 1}
    assert s["trash"] == {"media": 1, "bytes": 50}
    assert s["timeline"] == [{"month": "2020-05", "n": 2}]
    assert {(x["make"], x["model"]): x["n"] for x in s["cameras"]} == {("Nikon", "D750"): 1, (None, None): 1}
    assert {x["value"]: x["n"] for x in s["formats"]} == {"jpeg": 1, "mp4": 1}
    assert {x["value"]: x["n"] for x in s["kinds"]} == {"photo": 1, "video": 1}
    assert s["labels"] == [{"value": "car", "n": 1}]
    assert c.get("/api/v1/stats/timeline").json() == [{"month": "2020-05", "n": 2}]


def test_jobs_states_failed_retry_and_reanalyse(app):
    from pva.infra import db

    u = new_user()
    c = client_for(app, u)
    m = insert_media(u["id"])
    add_job(m["id"], "detect", "failed", "model exploded")
    add_job(m["id"], "ocr", "done", None)
    add_job(m["id"], "faces", "queued", None)
    j = c.get("/api/v1/jobs").json()
    assert j["kinds"]["detect"]["failed"] == 1 and j["queue_depth"]["faces"] == 1
    failed = c.get("/api/v1/jobs/failed").json()
    assert [(str(f["media_id"]), f["kind"], f["error"]) for f in failed] == [(str(m["id"]), "detect",
                                                                              "model exploded")]
    assert c.post("/api/v1/jobs/retry", json={"media_id": str(m["id"]), "kind": "detect"}).json()["requeued"] == 1
    assert db.query_one("select status from analysis where media_id = %s and kind = 'detect'",
                        (m["id"],))["status"] == "queued"
    r = c.post("/api/v1/jobs/reanalyse", json={"media_ids": [str(m["id"])], "kinds": ["ocr"]})
    assert r.json()["requeued"] == 1
    assert db.query_one("select status from analysis where media_id = %s and kind = 'ocr'",
                        (m["id"],))["status"] == "queued"
    assert c.post("/api/v1/jobs/reanalyse", json={"kinds": ["bogus"]}).status_code == 422
    assert {x["kind"] for x in c.get(f"/api/v1/media/{m['id']}/jobs").json()} == {"detect", "ocr", "faces"}


# ---------------------------------------------------------------- function invocation
def test_function_invoke_forwards_with_the_callers_identity(tmp_path, alice, services):
    from gateway.app import create_app

    port = free_port()
    fdir = tmp_path / "echo"
    fdir.mkdir()
    (fdir / "handler.py").write_text("def handler(context, event):\n    return ''\n")
    (fdir / "function.yaml").write_text(f"""apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: pva-echo
spec:
  runtime: python:3.11
  handler: handler:handler
  triggers:
    http:
      kind: http
      attributes:
        port: {port}
""")

    class Echo(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            out = json.dumps({"owner": self.headers.get("X-PVA-Owner"), "auth": self.headers.get("Authorization"),
                              "path": self.path, "body": body.decode()}).encode()
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *a):
            pass

    srv = HTTPServer(("127.0.0.1", port), Echo)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        c = client_for(create_app(functions_dir=tmp_path), alice)
        r = c.post("/api/v1/functions/echo/invoke?name=a.jpg", content=b"payload",
                   headers={"X-PVA-Owner": "someone-else", "Content-Type": "application/octet-stream"})
        assert r.status_code == 201, r.text
        assert r.json() == {"owner": alice["username"], "auth": None, "path": "/?name=a.jpg", "body": "payload"}
        assert c.post("/api/v1/functions/pva-echo/invoke", content=b"x").status_code == 201
        r = c.post("/api/v1/functions/nope/invoke", content=b"x")
        assert r.status_code == 404 and "HTTP trigger" in r.json()["message"]
        assert client_for(create_app(functions_dir=tmp_path)).post("/api/v1/functions/echo/invoke").status_code == 401
    finally:
        srv.shutdown()
        srv.server_close()
    r = client_for(create_app(functions_dir=tmp_path), alice).post("/api/v1/functions/echo/invoke", content=b"x")
    assert r.status_code == 502 and "not answering" in r.json()["message"]


# ---------------------------------------------------------------- SeaweedFS relay
def _filer_event(bucket: str, key: str) -> dict:
    name = key.rsplit("/", 1)[-1]
    return {"key": f"/buckets/{bucket}/{key}", "event_type": "create",
            "message": {"new_entry": {"name": name, "attributes": {"file_size": 1234, "mime": "image/jpeg"}},
                        "new_parent_path": f"/buckets/{bucket}/{key.rsplit('/', 1)[0]}" if "/" in key
                        else f"/buckets/{bucket}"}}


def test_seaweedfs_hook_republishes_inbox_creations_in_minio_format(app, services):
    import urllib.parse

    import pika

    from pva.config import get_settings

    s = get_settings()
    conn = pika.BlockingConnection(pika.URLParameters(s.effective_amqp_url))
    ch = conn.channel()
    ch.exchange_declare(s.amqp_exchange, exchange_type="topic", durable=True)
    q = ch.queue_declare("", exclusive=True).method.queue
    ch.queue_bind(q, s.amqp_exchange, routing_key="storage.inbox")
    try:
        c = client_for(app)
        secret = s.secret("webhook_secret")
        ev = _filer_event(s.bucket_inbox, "alice/trip 1/été.jpg")
        assert c.post("/api/v1/hooks/seaweedfs", json=ev).status_code == 401
        assert c.post("/api/v1/hooks/seaweedfs", json=ev, headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": f"Bearer {secret}"}
        r = c.post("/api/v1/hooks/seaweedfs", json=ev, headers={**auth, "X-Forwarded-For": "203.0.113.9"})
        assert r.status_code == 404  # relayed through a proxy: not loopback
        other = _filer_event(s.bucket_originals, "alice/x.jpg")
        assert c.post("/api/v1/hooks/seaweedfs", json=other, headers=auth).json() == {"relayed": False}
        r = c.post("/api/v1/hooks/seaweedfs", json=ev, headers=auth)
        assert r.status_code == 200 and r.json()["relayed"] is True
        body = None
        for _ in range(50):
            method, props, body = ch.basic_get(q, auto_ack=True)
            if method:
                break
            time.sleep(0.1)
        assert body is not None, "no storage.inbox message arrived"
        msg = json.loads(body)
        rec = msg["Records"][0]
        assert rec["eventName"].startswith("s3:ObjectCreated:")
        assert rec["s3"]["bucket"]["name"] == s.bucket_inbox
        assert urllib.parse.unquote_plus(rec["s3"]["object"]["key"]) == "alice/trip 1/été.jpg"
        assert rec["s3"]["object"]["size"] == 1234
        from pva.services.inbox import minio_records

        assert minio_records(msg) == [(s.bucket_inbox, "alice/trip 1/été.jpg")]
    finally:
        conn.close()


# ---------------------------------------------------------------- health, metrics, errors
def test_health_readiness_and_metrics(app):
    c = client_for(app)
    assert c.get("/healthz").json() == {"status": "ok"}
    r = c.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json()["checks"] == {"db": "ok", "s3": "ok", "amqp": "ok"}
    assert c.get("/metrics").status_code == 401  # from another machine: an admin token is needed
    assert client_for(app, new_user()).get("/metrics").status_code == 403
    m = client_for(app, new_user(admin=True)).get("/metrics")
    assert m.status_code == 200 and "pva_http_requests_total" in m.text and 'route="/healthz"' in m.text
    local = client_for(app, client=("127.0.0.1", 40000))  # a scraper on this machine
    assert local.get("/metrics").status_code == 200


def test_readiness_reports_a_dead_dependency(app, monkeypatch):
    from pva.config import reload_settings

    monkeypatch.setenv("PVA_AMQP_URL", f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    reload_settings()
    try:
        r = client_for(app).get("/readyz")
        assert r.status_code == 503 and r.json()["checks"]["amqp"].startswith("error")
        assert r.json()["checks"]["db"] == "ok"
    finally:
        monkeypatch.undo()
        reload_settings()


def test_errors_are_json_with_a_message(app, ca):
    r = client_for(app).get("/api/v1/media")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized" and "log in" in r.json()["message"]
    r = ca.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"] == "not_found"
    r = ca.get("/api/v1/media/not-a-uuid")
    assert r.status_code == 422 and "media_id" in r.json()["message"]
    r = ca.post("/api/v1/albums", content=b"{bad json", headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert client_for(app).get("/api/openapi.json").json()["info"]["title"].startswith("PhotoAndVideoAnalysis")


def test_database_outage_is_a_503_with_retry_after(app, alice, monkeypatch):
    from pva.infra import db
    from pva.config import reload_settings

    c = client_for(app, alice)  # the token is made while the database is there
    monkeypatch.setenv("PVA_DATABASE_URL", "postgresql://nobody@/none?host=/nonexistent-dir&connect_timeout=1")
    db.close_pool()
    reload_settings()
    try:
        r = c.get("/api/v1/media")
        assert r.status_code == 503 and "database" in r.json()["message"] and r.headers["Retry-After"]
    finally:
        monkeypatch.undo()
        db.close_pool()
        reload_settings()
    assert c.get("/api/v1/media").status_code == 200


def test_album_by_name_is_one_album_for_concurrent_uploads_in_any_process(services):
    """`pva sync --album X` from several uploaders at once (each gateway process its own): one album X, found
    again later; another user's album of the same name is never used."""
    from concurrent.futures import ThreadPoolExecutor

    from test_gateway_helpers import new_user

    from pva.infra import db
    from pva.services import albums

    u, other = new_user(), new_user()
    theirs = albums.find_or_create(other["id"], "Holidays")
    with ThreadPoolExecutor(12) as pool:  # each call its own connection and transaction, as separate processes
        ids = set(pool.map(lambda _: albums.find_or_create(u["id"], "Holidays"), range(48)))
    assert len(ids) == 1 and theirs not in ids
    assert db.query_one("select count(*) as n from albums where owner_id = %s and name = 'Holidays'",
                        (u["id"],))["n"] == 1
    assert albums.find_or_create(u["id"], "Holidays") in ids
    assert albums.find_or_create(u["id"], "holidays") not in ids  # names are case-sensitive, like the UI
