"""Every function directory under functions/, run by the local runtime with the events Nuclio's triggers send
(HTTP requests, RabbitMQ messages including the exact bodies MinIO's AMQP target publishes, cron ticks), and each
reply checked the way Nuclio's Go processor reads it.

Sources, by path and line: github.com/nuclio/nuclio 1.14.1 (commit 9e837f6a07fc) and github.com/minio/minio
(commit 7aac2a2c5b7c).  The runtime records every reply line the Nuclio python wrapper would have written
(Processor(reply_dir=...)); ``nuclio_reads`` below decodes it independently of pva.runtime, from result.go.
"""
from __future__ import annotations

import base64
import datetime as dt
import json
import time
import urllib.parse
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import pika
import pytest

import media_fixtures as mf
from conftest import REPO
from function_helpers import runtime_copy, signed_headers

pytestmark = pytest.mark.usefixtures("services")

FUNCTION_DIRS = sorted(p for p in (REPO / "functions").iterdir() if (p / "function.yaml").is_file())


def _kinds(fdir: Path) -> set[str]:
    from pva.runtime import load_function

    return {t.kind for t in load_function(fdir).triggers.values()}


KINDS = {d.name: _kinds(d) for d in FUNCTION_DIRS}
WITH_HTTP = [n for n, k in KINDS.items() if "http" in k]
ANALYSIS_QUEUES = [n for n, k in KINDS.items() if "rabbit-mq" in k and n != "ingest"]
WITH_CRON = [n for n, k in KINDS.items() if "cron" in k]


# ------------------------------------------------------------------ reading a reply as Nuclio's Go side does
def nuclio_reads(wire: str) -> dict:
    """The one result Nuclio's processor takes from a reply line, or an AssertionError saying why it gets none.

    - pkg/processor/runtime/rpc/connection/abstract.go l.198-202: a line starting with 'r' is a reply.
    - pkg/processor/runtime/rpc/result/result.go l.70-87: the payload is first decoded as a JSON array (a batch:
      that many results), else as one object; l.34-44 are the fields and their Go types (status_code int,
      content_type/body/body_encoding string, headers map); l.60-67: body_encoding "text" or "base64".
    - pkg/processor/runtime/rpc/abstract.go l.80-91: a single event takes Results[0], so an array of any
      length is wrong (empty: index panic, the rabbit message is never acked; longer: the rest is dropped).
    - pkg/processor/trigger/http/trigger.go l.593-610: only string header values reach the HTTP client.
    """
    assert wire.startswith("r"), wire[:40]
    data = json.loads(wire[1:])
    assert not isinstance(data, list), f"a batch of {len(data)} results where Nuclio takes exactly one: {wire[:200]}"
    assert isinstance(data, dict), wire[:200]
    assert type(data.get("status_code")) is int, data.get("status_code")
    for k in ("content_type", "body", "body_encoding"):
        assert isinstance(data.get(k), str), (k, data.get(k))
    headers = data.get("headers") or {}
    assert isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values()), headers
    assert data["body_encoding"] in ("text", "base64"), data["body_encoding"]
    body = data["body"].encode() if data["body_encoding"] == "text" else base64.b64decode(data["body"])
    return {"status": data["status_code"], "content_type": data["content_type"], "body": body, "headers": headers}


def json_result(wire: str, status: int) -> dict:
    """A reply that is one JSON result with ``status``; its decoded body."""
    r = nuclio_reads(wire)
    assert r["status"] == status, (r["status"], r["body"][:300])
    assert r["content_type"] == "application/json", r["content_type"]
    payload = json.loads(r["body"])
    assert isinstance(payload, dict), payload
    return payload


# ------------------------------------------------------------------ one function on the local runtime
@dataclass
class Served:
    name: str
    spec: object
    proc: object
    replies: Path

    def lines(self, trigger_kind: str) -> list[dict]:
        out = []
        for p in sorted(self.replies.glob(f"{self.spec.name}.*.jsonl")):
            out += [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
        return [x for x in out if x["trigger_kind"] == trigger_kind]

    def next_reply(self, trigger_kind: str, before: int, timeout: float = 60) -> dict:
        """The reply after the first ``before`` ones (one worker per trigger, so replies come in event order)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.lines(trigger_kind)
            if len(got) > before:
                return got[before]
            time.sleep(0.05)
        raise AssertionError(f"{self.name}: no reply to {trigger_kind} event #{before + 1} after {timeout}s")

    def queue(self) -> tuple[str, list[str]]:
        t = self.queue_trigger()
        return t.attributes["exchangeName"], t.attributes["topics"]

    def queue_trigger(self):
        return next(t for t in self.spec.triggers.values() if t.kind == "rabbit-mq")


@pytest.fixture(scope="module")
def served(request, tmp_path_factory):
    """The function named by the test's parameter, on the local runtime with one worker a trigger, a cron every
    second and its replies recorded; one processor per function for the whole module."""
    from pva.runtime import Processor, ProcessorError, load_function

    name = request.param
    if name == "detect":
        from pva.config import get_settings

        if get_settings().effective_detect_model is None:
            pytest.skip("no YOLO model here (../shared/models is absent and none was pulled with `pva models pull`): "
                        "functions/detect cannot start")
    root = tmp_path_factory.mktemp(f"conformance-{name}")
    fdir = runtime_copy(REPO / "functions" / name, root / "functions", cron="1s")
    spec = load_function(fdir)
    replies = root / "replies"
    proc = Processor([spec], log_dir=root / "logs", reply_dir=replies)
    try:
        proc.start(timeout=120)
    except ProcessorError as e:
        logs = "\n".join(p.read_text()[-2000:] for p in (root / "logs").glob("*.log"))
        pytest.fail(f"functions/{name} did not start on the local runtime: {e}\n{logs}")
    try:
        yield Served(name, spec, proc, replies)
    finally:
        proc.stop()


def test_every_function_directory_is_run_with_each_of_its_trigger_kinds():
    """Each trigger kind a function declares has a conformance test here; none is left out."""
    covered = {("http", n) for n in WITH_HTTP} | {("cron", n) for n in WITH_CRON} | \
        {("rabbit-mq", n) for n in ANALYSIS_QUEUES + (["ingest"] if "ingest" in KINDS else [])}
    declared = {(k, n) for n, kinds in KINDS.items() for k in kinds}
    assert declared == covered, declared ^ covered
    assert {"ingest", "detect", "faces", "ocr", "transcribe", "transcode", "reconcile"} <= set(KINDS)


# ------------------------------------------------------------------ HTTP
def _http(served: Served, body: bytes, content_type: str, headers: dict) -> tuple[httpx.Response, dict]:
    before = len(served.lines("http"))
    port = served.proc.http_port(served.spec.name)
    resp = httpx.post(f"http://127.0.0.1:{port}/", content=body, headers={"Content-Type": content_type, **headers},
                      timeout=120)
    return resp, served.next_reply("http", before)


# what each function answers for a posted photo: the analyses answer their results (transcribe: no audio, an
# empty transcript; transcode: not a video, refused), ingest stores it for the signing owner
PHOTO_STATUS = {"detect": 200, "faces": 200, "ocr": 200, "transcribe": 200, "transcode": 422, "ingest": 201}


@pytest.mark.parametrize("served", WITH_HTTP, indirect=True)
def test_http_requests_get_exactly_one_json_result_with_the_status_the_client_sees(served, tmp_path):
    """Nuclio's http trigger (pkg/processor/trigger/http/trigger.go l.426-640) answers with the one result the
    processor reads (rpc/abstract.go l.80-91; result.go l.34-87): its status code (l.637-639), content type
    (l.632-635) and body (l.628).  Requests: no credentials, a forged signature, a signed request the function
    refuses as bad input, a signed request for something that does not exist and a signed photo; each must come
    back as one JSON result whose status is what the HTTP client got."""
    analysis = served.name != "ingest"
    good = json.dumps({"media_id": str(uuid.uuid4())}).encode() if analysis else b"not a photo at all"
    ctype = "application/json" if analysis else "application/octet-stream"
    signed = signed_headers(good, ctype, scopes=("read", "write", "upload"))
    forged = {**signed, "X-PVA-Signature": "v2=" + "0" * 64}
    cases = [("no credentials", good, ctype, {}, 401), ("forged signature", good, ctype, forged, 401)]
    if analysis:
        bad = b'{"no_media_id": 1}'
        cases += [("JSON without media_id", bad, ctype, signed_headers(bad, ctype), 400),
                  ("unknown media id", good, ctype, signed, 404)]
    else:
        cases += [("bytes that are no media file", good, ctype, signed, 422)]
    photo = mf.make_jpeg(tmp_path / "p.jpg", make=f"Conformance{served.name}").read_bytes()
    cases.append(("a photo", photo, "image/jpeg", signed_headers(photo, "image/jpeg"), PHOTO_STATUS[served.name]))
    for what, body, ct, headers, status in cases:
        resp, rec = _http(served, body, ct, headers)
        payload = json_result(rec["reply"], status)
        assert resp.status_code == status, (what, resp.status_code, resp.text[:300])
        assert resp.headers["content-type"] == "application/json", what
        assert resp.json() == payload, what
        assert rec["outcome"] == "ok" and rec["trigger_kind"] == "http", (what, rec)
        if status >= 400:
            assert "error" in payload or payload.get("status") == "rejected", (what, payload)
        else:
            assert payload.get("results") is not None or payload.get("status") == "added", (what, payload)


# ------------------------------------------------------------------ RabbitMQ
def _publish(served: Served, routing_key: str, body: bytes, props: pika.BasicProperties) -> dict:
    """Publish one message as a producer would and wait for the reply the function gave it."""
    before = len(served.lines("rabbitMq"))
    exchange, _ = served.queue()
    conn = pika.BlockingConnection(pika.URLParameters(served.queue_trigger().effective_url()))
    try:
        ch = conn.channel()
        ch.confirm_delivery()
        ch.basic_publish(exchange, routing_key, body, props, mandatory=True)
    finally:
        conn.close()
    return served.next_reply("rabbitMq", before)


@pytest.mark.parametrize("served", ANALYSIS_QUEUES, indirect=True)
def test_analysis_queue_messages_get_exactly_one_result_each(served):
    """Nuclio's rabbit-mq trigger hands one delivery at a time to a worker and acks it after the handler ran
    (pkg/processor/trigger/rabbitmq/trigger.go l.341-358); the handler sees event.trigger.kind "rabbitMq"
    (l.54-60; rpc/encoder/encode.go l.32-35) and path "<exchange>/<routing key>" (rabbitmq/event.go l.69-71).
    A wake-up for a job that does not exist, a body that is not JSON and a JSON body without media_id must each
    be answered with one result (rpc/abstract.go l.80-91), never a batch, so the queue keeps moving."""
    _, topics = served.queue()
    json_props = pika.BasicProperties(content_type="application/json", delivery_mode=2)
    cases = [("wake-up for an unknown media id", json.dumps({"media_id": str(uuid.uuid4())}).encode(), json_props),
             ("not JSON", b"\x00garbage", pika.BasicProperties(content_type="application/octet-stream")),
             ("JSON without media_id", b'{"hello": "world"}', json_props)]
    for what, body, props in cases:
        rec = _publish(served, topics[0], body, props)
        payload = json_result(rec["reply"], 200)
        assert rec["outcome"] == "ok" and rec["path"].endswith("/" + topics[0]), (what, rec)
        if what.startswith("wake-up"):
            assert payload.get("kind") and payload.get("outcome"), payload
        else:
            assert "error" in payload, (what, payload)


def minio_amqp_message(event_name: str, bucket: str, key: str, *, size: int, etag: str,
                       content_type: str = "image/jpeg") -> tuple[bytes, pika.BasicProperties]:
    """Body and properties exactly as MinIO's AMQP target publishes a bucket notification.

    - internal/event/target/amqp.go l.235-276 ``send``: the body is ``json.Marshal(event.Log{EventName, Key,
      Records: []event.Event{eventData}})`` with Key "<bucket>/<unescaped object name>" (l.236-242); headers
      minio-bucket and minio-event (l.247-250); content type application/json, the configured delivery mode,
      no message id (l.257-263).
    - internal/event/event.go l.38-102: the Event/Metadata/Object/... structs and their json names, in field
      order; Log's fields have no tags, so they marshal as "EventName", "Key", "Records"; empty versionId is
      omitted (omitempty), maps marshal with sorted keys.
    - internal/event/name.go l.156-190, l.261-263: eventName marshals as "s3:ObjectCreated:Put" etc.
    - cmd/event-notification.go l.165-241 ``ToEvent``: eventVersion "2.0", eventSource "minio:s3", eventTime in
      AMZTimeFormat, configurationId "Config", arn "arn:aws:s3:::<bucket>", the object key url.QueryEscape'd
      (l.189-192: "/" becomes %2F, a space "+"), sequencer the mod time in hex nanoseconds.
    Go's encoder escapes <, > and & as \\u003c, \\u003e, \\u0026 and leaves other UTF-8 as it is."""
    now = dt.datetime.now(dt.timezone.utc)
    principal = "minioadmin"
    event = {
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "",
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z",
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"principalId": principal, "region": "", "sourceIPAddress": "10.0.0.7"},
        "responseElements": {"x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8",
                             "x-amz-request-id": "17E0D2C3A1B2C3D4", "x-minio-deployment-id": str(uuid.uuid4()),
                             "x-minio-origin-endpoint": "http://10.0.0.5:9000"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": principal},
                          "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": urllib.parse.quote_plus(key, safe=""), "size": size, "eTag": etag,
                          "contentType": content_type, "userMetadata": {"content-type": content_type},
                          "sequencer": f"{time.time_ns():X}"}},
        "source": {"host": "10.0.0.7", "port": "", "userAgent": "aws-cli/2.15.0 Python/3.11 md/command#s3.cp"},
    }
    body = json.dumps({"EventName": event_name, "Key": f"{bucket}/{key}", "Records": [event]},
                      ensure_ascii=False, separators=(",", ":"))
    body = body.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    props = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                 headers={"minio-bucket": bucket, "minio-event": event_name})
    return body.encode("utf-8"), props


def test_minio_body_matches_what_the_target_marshals():
    """The builder above against the shape amqp.go l.242 and event.go l.97-102 give: top-level keys in Log's
    field order, the escaped object key beside the unescaped Key, and nothing but those three keys."""
    body, props = minio_amqp_message("s3:ObjectCreated:Put", "pva-inbox", "alice/Été 2024/a&b.jpg", size=3,
                                     etag="0cc175b9c0f1b6a831c399e269772661")
    text = body.decode()
    assert text.startswith('{"EventName":"s3:ObjectCreated:Put","Key":"pva-inbox/alice/Été 2024/a\\u0026b.jpg",')
    doc = json.loads(body)
    assert list(doc) == ["EventName", "Key", "Records"] and len(doc["Records"]) == 1
    assert doc["Records"][0]["s3"]["object"]["key"] == "alice%2F%C3%89t%C3%A9+2024%2Fa%26b.jpg"
    assert "versionId" not in doc["Records"][0]["s3"]["object"]
    assert props.message_id is None and props.headers == {"minio-bucket": "pva-inbox",
                                                          "minio-event": "s3:ObjectCreated:Put"}


@pytest.mark.parametrize("served", ["ingest"], indirect=True)
def test_ingest_answers_every_minio_notification_with_exactly_one_result(served, make_user, buckets, tmp_path):
    """The storage.inbox messages a MinIO bucket notification produces (bodies: minio_amqp_message above), as
    Nuclio's rabbit-mq trigger delivers them (rabbitmq/trigger.go l.341-358, one at a time, acked after the
    handler; event.go l.32-34 content type, l.69-71 path).  Each must be one JSON result (rpc/abstract.go
    l.80-91, result.go l.70-87): a Put, a CompleteMultipartUpload (the eTag of a multipart object), and the
    events that ingest nothing - the rejected/ copy and its .reason.txt note that MinIO announces after a
    rejection, and a redelivery of an event whose object is already gone.  With prefetchCount 1 a single
    unreadable reply would stop the queue on Nuclio, so every event here is followed by the next one."""
    from pva.infra.storage import get_storage

    user = make_user()
    inbox, st = buckets["inbox"], get_storage()
    _, topics = served.queue()
    assert "storage.inbox" in topics
    photo = mf.make_jpeg(tmp_path / "a.jpg", make="ConformancePut").read_bytes()
    big = mf.make_jpeg(tmp_path / "b.jpg", make="ConformanceMultipart").read_bytes()
    put_key = f"{user['username']}/Été 2024/beach & sun.jpg"
    mpu_key = f"{user['username']}/multipart.jpg"
    for key, data in ((put_key, photo), (mpu_key, big)):
        st.put(inbox, key, data, length=len(data), content_type="image/jpeg")
    note = f"rejected/{user['username']}/broken.jpg"
    st.put(inbox, note, b"x", length=1, content_type="image/jpeg")
    st.put(inbox, note + ".reason.txt", b"not a photo\n", length=12, content_type="text/plain; charset=utf-8")

    put_event = minio_amqp_message("s3:ObjectCreated:Put", inbox, put_key, size=len(photo),
                                   etag="5d41402abc4b2a76b9719d911017c592")
    events = [
        ("put", put_event, 1),
        ("complete multipart upload", minio_amqp_message("s3:ObjectCreated:CompleteMultipartUpload", inbox,
                                                         mpu_key, size=len(big),
                                                         etag="e2fc714c4727ee9395f324cd2e7f331f-2"), 1),
        ("rejected/ copy", minio_amqp_message("s3:ObjectCreated:Put", inbox, note, size=1, etag="9dd4e461"), 0),
        ("reason note", minio_amqp_message("s3:ObjectCreated:Put", inbox, note + ".reason.txt", size=12,
                                           etag="1f3870be", content_type="text/plain"), 0),
        ("redelivery of the put", put_event, 0),
    ]
    for what, (body, props), n_results in events:
        rec = _publish(served, "storage.inbox", body, props)
        payload = json_result(rec["reply"], 200)
        assert rec["outcome"] == "ok" and rec["path"].endswith("/storage.inbox"), (what, rec)
        assert isinstance(payload.get("results"), list) and len(payload["results"]) == n_results, (what, payload)
        if n_results:
            assert payload["results"][0]["status"] == "added", (what, payload)
    assert st.stat(inbox, put_key) is None and st.stat(inbox, mpu_key) is None      # ingested, removed
    assert st.stat(inbox, note) is not None and st.stat(inbox, note + ".reason.txt") is not None  # left alone


# ------------------------------------------------------------------ cron
@pytest.mark.parametrize("served", WITH_CRON, indirect=True)
def test_cron_ticks_get_exactly_one_json_result(served):
    """Nuclio's cron trigger submits its configured event on every tick (pkg/processor/trigger/cron/trigger.go
    l.181-186; the event of cron/event.go l.26-32, kind "cron" from l.51-57) and reads one result back
    (rpc/abstract.go l.80-91).  The runtime copy ticks every second; two consecutive ticks are checked."""
    first = served.next_reply("cron", 0, timeout=30)
    second = served.next_reply("cron", 1, timeout=30)
    for rec in (first, second):
        payload = json_result(rec["reply"], 200)
        assert rec["outcome"] == "ok" and rec["trigger_kind"] == "cron", rec
        assert isinstance(payload, dict) and payload, payload
