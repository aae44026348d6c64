"""Drops on the default stack: a file put into the inbox bucket by an S3 client the project does not otherwise use
(boto3) is ingested within 10 s, once, multipart uploads included, and nothing is left behind.

The module runs its own SeaweedFS through `pva up`'s code (pva.stack.seaweed.ensure) so that the filer's webhook
reaches the gateway this module starts (the filer reads its notification.toml only at start, and the shared
stack's filer posts to the gateway of `make run`), plus the real gateway (`pva serve`) and the real ingest
function (`pva functions serve`), on the session's database, RabbitMQ vhost and bucket names."""
from __future__ import annotations

import dataclasses
import json
import os
import random
import secrets
import socket
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import httpx
import pika
import pytest

import media_fixtures as mf
from conftest import REPO
from function_helpers import runtime_copy
from net_helpers import http_service

pytestmark = [pytest.mark.usefixtures("services"), pytest.mark.slow]

INGEST_WITHIN_SECONDS = 10


def _port_pair_free(port: int) -> bool:
    for p in (port, port + 10000):  # weed's gRPC port is its HTTP port + 10000
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                return False
    return True


def _weed_ports(n: int = 4) -> list[int]:
    rng = random.Random()
    out: list[int] = []
    while len(out) < n:
        p = rng.randrange(20000, 29000)
        if p not in out and _port_pair_free(p):
            out.append(p)
    return out


class Tap:
    """Every storage.inbox message published in this session's vhost, read from an exclusive queue."""

    def __init__(self, settings):
        self.conn = pika.BlockingConnection(pika.URLParameters(settings.effective_amqp_url))
        self.ch = self.conn.channel()
        self.ch.exchange_declare(settings.amqp_exchange, exchange_type="topic", durable=True)
        self.queue = self.ch.queue_declare("", exclusive=True).method.queue
        self.ch.queue_bind(self.queue, settings.amqp_exchange, routing_key="storage.inbox")
        self.keys: list[str] = []
        self.bodies: list[dict] = []

    def drain(self) -> list[str]:
        """The object keys announced so far."""
        while True:
            method, _, body = self.ch.basic_get(self.queue, auto_ack=True)
            if method is None:
                return self.keys
            self.bodies.append(json.loads(body))
            for rec in self.bodies[-1]["Records"]:
                self.keys.append(urllib.parse.unquote_plus(rec["s3"]["object"]["key"]))

    def close(self):
        self.conn.close()


@pytest.fixture(scope="module")
def drop_stack(services, tmp_path_factory):
    """(settings of this module's SeaweedFS, boto3 client on it, the gateway URL)."""
    import boto3
    from botocore.config import Config

    from pva.config import get_settings
    from pva.stack import seaweed
    from pva.infra.storage import Storage

    base = get_settings()
    tmp = tmp_path_factory.mktemp("drops")
    secret = secrets.token_urlsafe(24)
    s3_port, master, volume, filer = _weed_ports()
    s3_url = f"http://127.0.0.1:{s3_port}"
    env = dict(os.environ, PVA_S3_ENDPOINT=s3_url, PVA_WEBHOOK_SECRET=secret, PVA_HTTP_WORKERS="1")
    fdir = tmp / "functions"
    runtime_copy(REPO / "functions" / "ingest", fdir, workers=1)
    from pva.runtime import ServeProcess

    with http_service(lambda port: [sys.executable, "-m", "pva.cli", "serve", "--port", str(port)], env=env,
                      log_path=tmp / "gateway.log", cwd=REPO, what="pva serve") as (gw_url, _):
        settings = dataclasses.replace(
            base, data_dir=tmp / "data", s3_endpoint="", s3_port=s3_port, seaweed_master_port=master,
            seaweed_volume_port=volume, seaweed_filer_port=filer, http_host="127.0.0.1",
            http_port=int(gw_url.rsplit(":", 1)[1]), webhook_secret=secret)
        entry = seaweed.ensure(settings, {}, log=lambda *a: None)
        try:
            assert entry["url"] == s3_url and entry["started_by_us"]
            Storage(settings, endpoint=s3_url).ensure_buckets()
            client = boto3.client("s3", endpoint_url=s3_url, aws_access_key_id=settings.s3_access_key,
                                  aws_secret_access_key=settings.s3_secret_key, region_name=settings.s3_region,
                                  config=Config(s3={"addressing_style": "path"}))
            with ServeProcess(fdir, [], env=env, log_dir=fdir / "logs"):
                yield settings, client, gw_url
        finally:
            seaweed.stop(entry, settings, log=lambda *a: None)


def _ingested(owner_id, rel: str):
    from pva.infra import db

    return db.query("select id, source, kind, size from media where owner_id = %s and original_path = %s",
                    (owner_id, rel))


def _inbox_keys(client, bucket: str) -> list[str]:
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _wait(pred, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(interval)
    return pred()


def test_drops_from_an_s3_client_are_ingested_once_within_ten_seconds(drop_stack, make_user, tmp_path):
    from boto3.s3.transfer import TransferConfig

    settings, client, _ = drop_stack
    bucket = settings.bucket_inbox
    user = make_user(f"drop-{secrets.token_hex(3)}")
    photo = mf.make_jpeg(tmp_path / "photo.jpg", size=(320, 200), make="DropCam")
    video = tmp_path / "big.mp4"
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
                    "nullsrc=s=640x360:r=25,geq=lum='random(1)*255':cb=128:cr=128", "-t", "4",
                    "-c:v", "mpeg4", "-q:v", "2", "-pix_fmt", "yuv420p", str(video)], check=True, timeout=120)
    assert video.stat().st_size >= 20 * 1024 * 1024  # above the 8 MB threshold: three parts or more
    unicode_photo = mf.make_jpeg(tmp_path / "u.jpg", size=(200, 320), make="Ünïcode")
    drops = [(photo, "trip/photo.jpg"), (video, "trip/big video.mp4"),
             (unicode_photo, "Reise 2024/Straßenfest in Köln — 夏.jpg")]
    tap = Tap(settings)
    multipart = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)
    parts: list[int] = []  # the video must really travel in parts, as aws-cli sends anything above 8 MB
    client.meta.events.register("before-call.s3.UploadPart", lambda params, **kw: parts.append(1))
    try:
        took = {}
        for path, rel in drops:
            t0 = time.monotonic()
            client.upload_file(str(path), bucket, f"{user['username']}/{rel}", Config=multipart)
            rows = _wait(lambda rel=rel: _ingested(user["id"], rel), INGEST_WITHIN_SECONDS)
            took[rel] = round(time.monotonic() - t0, 2)
            assert rows, f"{rel} was not ingested within {INGEST_WITHIN_SECONDS} s"
        print("seconds from put to ingested:", took)
        time.sleep(1.5)  # time for a duplicate event, were there one
        for path, rel in drops:
            rows = _ingested(user["id"], rel)
            assert len(rows) == 1 and rows[0]["source"] == "drop", (rel, rows)
            assert rows[0]["size"] == path.stat().st_size
        assert _ingested(user["id"], "trip/big video.mp4")[0]["kind"] == "video"
        assert len(parts) >= 3
        # announced exactly once each; multipart parts never
        announced = tap.drain()
        assert sorted(announced) == sorted(f"{user['username']}/{rel}" for _, rel in drops), announced
        # nothing left: the inbox is empty, no upload in progress, no part in the filer's .uploads folder
        assert _inbox_keys(client, bucket) == []
        assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
        r = httpx.get(f"http://127.0.0.1:{settings.seaweed_filer_port}/buckets/{bucket}/.uploads/",
                      headers={"Accept": "application/json"}, timeout=10)
        assert r.status_code == 404 or not (r.json().get("Entries") or []), r.text
    finally:
        tap.close()


def test_rejected_drops_and_their_reason_notes_are_not_announced_again(drop_stack, make_user):
    settings, client, _ = drop_stack
    bucket = settings.bucket_inbox
    user = make_user(f"drop-{secrets.token_hex(3)}")
    tap = Tap(settings)
    key = f"{user['username']}/notes/not a photo.bin"
    try:
        client.put_object(Bucket=bucket, Key=key, Body=b"these bytes are no photo or video" * 10)
        note = f"rejected/{key}.reason.txt"
        assert _wait(lambda: note in _inbox_keys(client, bucket), INGEST_WITHIN_SECONDS), _inbox_keys(client, bucket)
        time.sleep(2)  # the rejected copy and its note were created: give their events time to arrive, were any sent
        assert sorted(_inbox_keys(client, bucket)) == [f"rejected/{key}", note]
        assert tap.drain() == [key]
        reason = client.get_object(Bucket=bucket, Key=note)["Body"].read().decode()
        assert reason.strip()
    finally:
        tap.close()
        for k in (f"rejected/{key}", f"rejected/{key}.reason.txt"):
            client.delete_object(Bucket=bucket, Key=k)


def test_filer_events_for_parts_bookkeeping_and_other_buckets_are_not_relayed(drop_stack):
    """Posts as SeaweedFS's filer sends them (weed/notification/webhook/http.go): only a new file in the inbox is
    relayed; a multipart part, a rejected copy, a reason note, an update in place, a directory and another bucket
    are answered 200 without a relay (a non-2xx answer would make the filer retry)."""
    settings, _, gw_url = drop_stack
    inbox = settings.bucket_inbox
    auth = {"Authorization": f"Bearer {settings.webhook_secret}"}

    def event(path: str, etype: str = "create", old: bool = False, directory: bool = False) -> dict:
        parent, name = path.rsplit("/", 1)
        msg = {"new_entry": {"name": name, "is_directory": directory, "attributes": {"file_size": 10}},
               "new_parent_path": parent}
        if old:
            msg["old_entry"] = {"name": name, "attributes": {"file_size": 5}}
        return {"key": path, "event_type": etype, "message": msg}

    upload = "5d1c0ffee_0f9e"
    ignored = [event(f"/buckets/{inbox}/.uploads/{upload}/0001_3c1f.part"),
               event(f"/buckets/{inbox}/.uploads/{upload}", directory=True),
               event(f"/buckets/{inbox}/rejected/bob/x.jpg"),
               event(f"/buckets/{inbox}/rejected/bob/x.jpg.reason.txt"),
               event(f"/buckets/{inbox}/bob/x.jpg", "update", old=True),
               event(f"/buckets/{inbox}/bob", directory=True),
               event(f"/buckets/{settings.bucket_originals}/bob/x.jpg")]
    for ev in ignored:
        r = httpx.post(gw_url + "/api/v1/hooks/seaweedfs", json=ev, headers=auth, timeout=10)
        assert r.status_code == 200 and r.json() == {"relayed": False}, (ev["key"], r.text)
    renamed = event(f"/buckets/{inbox}/bob/renamed.jpg", "rename", old=True)
    renamed["key"] = f"/buckets/{inbox}/bob/before.jpg"
    r = httpx.post(gw_url + "/api/v1/hooks/seaweedfs", json=renamed, headers=auth, timeout=10)
    assert r.json() == {"relayed": True, "bucket": inbox, "key": "bob/renamed.jpg"}


def test_a_drop_whose_event_was_lost_is_announced_by_the_sweep(services, make_user, monkeypatch):
    """An inbox of its own on the shared stack gets no filer events at all (the shared filer's webhook watches the
    inbox of `make run`): exactly a drop whose event was lost.  The sweep announces it once it is old enough, not
    before, not twice in a row, a bounded number per call, and never ingest's own bookkeeping; ingest then takes
    the drop from the announcement."""
    from conftest import _reload

    from pva.services import drops
    from pva.config import get_settings
    from pva.services import inbox as events
    from pva.infra.storage import get_storage

    inbox = f"{get_settings().bucket_inbox}-sweep"
    monkeypatch.setenv("PVA_BUCKET_INBOX", inbox)
    s = _reload()
    st = get_storage()
    st.ensure_buckets([inbox])
    user = make_user(f"sweep-{secrets.token_hex(3)}")
    keys = [f"{user['username']}/left behind.jpg", f"{user['username']}/trip/also left.jpg"]
    tap = Tap(s)
    try:
        for i, key in enumerate(keys):
            data = mf.make_jpeg(Path(s.tmp_dir) / f"sweep-{secrets.token_hex(3)}.jpg", make=f"Sweep{i}").read_bytes()
            st.put(inbox, key, data, length=len(data), content_type="image/jpeg")
        for k in (f"rejected/{keys[0]}", f"rejected/{keys[0]}.reason.txt"):
            st.put(inbox, k, b"x", length=1)
        assert drops.sweep_inbox(3600) == 0  # too young: the event path has it
        later = time.time() + 60
        assert drops.sweep_inbox(30, now=later, limit=1) == 1  # bounded per call
        assert drops.sweep_inbox(30, now=later, limit=1) == 1  # the other one
        assert drops.sweep_inbox(30, now=later) == 0  # not again on the next tick
        assert sorted(_wait(lambda: len(tap.drain()) >= 2 and tap.keys, 5)) == sorted(keys)
        for body in tap.bodies:  # what functions/ingest does with each announcement
            events.handle_message("storage.inbox", body)
        assert len(_ingested(user["id"], "left behind.jpg")) == 1
        assert len(_ingested(user["id"], "trip/also left.jpg")) == 1
        assert [o.key for o in st.list(inbox)] == [f"rejected/{keys[0]}", f"rejected/{keys[0]}.reason.txt"]
        assert drops.sweep_inbox(30, now=later + 7200) == 0  # gone: nothing more to announce
    finally:
        tap.close()
        st.remove_bucket(inbox)
        monkeypatch.undo()
        _reload()
