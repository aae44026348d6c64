"""The local Nuclio-compatible runtime on the real RabbitMQ: events reach the echo test function
(tests/functions/echo) through rabbit-mq, http and cron triggers with Nuclio's Event fields; return values and
exceptions are handled as Nuclio does; crashed workers are replaced; SIGTERM drains; bad function.yaml files are
refused with the file and key named.

Each test generates its function.yaml into tmp_path from the checked-in one, with an exchange/queue unique to
the run and an ephemeral HTTP port, so parallel runs do not collide."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pika
import pika.exceptions
import pytest
import yaml

from test_bus import TcpProxy, broker_url, upstream_of  # noqa: F401 - broker_url is a fixture

REPO = Path(__file__).resolve().parent.parent
ECHO_DIR = REPO / "tests" / "functions" / "echo"


# ---------------------------------------------------------------------------- helpers
def make_echo(root: Path, rid: str, *, cron_interval: str = "1h", http_workers: int = 2,
              extra_spec: dict | None = None) -> dict:
    """Copy the echo function into root/functions/echo with run-unique broker names; returns the names."""
    fdir = root / "functions" / "echo"
    fdir.mkdir(parents=True, exist_ok=True)
    shutil.copy(ECHO_DIR / "handler.py", fdir / "handler.py")
    doc = yaml.safe_load((ECHO_DIR / "function.yaml").read_text())
    spec = doc["spec"]
    rec = root / "records"
    spec["env"] = [{"name": "RECORD_DIR", "value": str(rec)}, {"name": "ECHO_GREETING", "value": "hi " + rid}]
    bus = spec["triggers"]["bus"]["attributes"]
    names = {"exchange": f"pva-test-rt-{rid}", "queue": f"pva-test-rt-{rid}.echo", "records": rec,
             "dir": root / "functions", "greeting": "hi " + rid}
    bus.update(exchangeName=names["exchange"], queueName=names["queue"], topics=["echo.#", "other.exact"])
    spec["triggers"]["web"]["attributes"].pop("port")          # ephemeral port
    spec["triggers"]["web"]["numWorkers"] = http_workers
    spec["triggers"]["tick"]["attributes"]["interval"] = cron_interval
    spec["triggers"]["tick"]["attributes"]["event"].update(path="/tick", method="POST")  # cron/event.go has both
    spec.update(extra_spec or {})
    (fdir / "function.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return names


def wait_for(pred, timeout: float = 15.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def records(rec: Path, kind: str | None = None, phase: str = "done", event_id: str | None = None) -> list[dict]:
    if not rec.is_dir():
        return []
    out = []
    for p in sorted(rec.glob("*.json")):
        if p.name.startswith("."):
            continue  # being written (the handler renames it into place)
        r = json.loads(p.read_text())
        if r["phase"] == phase and (kind is None or r["trigger_kind"] == kind) and \
                (event_id is None or r["id"] == event_id):
            out.append(r)
    return out


def cleanup_broker(url: str, names: dict, extra_queues=()) -> None:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    for q in (names["queue"], *extra_queues):
        ch.queue_delete(q)
    ch.exchange_delete(names["exchange"])
    conn.close()


def queue_depth(url: str, queue: str) -> int:
    conn = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return conn.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        conn.close()


@pytest.fixture(scope="module")
def echo(broker_url, tmp_path_factory):  # noqa: F811
    """One running processor with the echo function (1 rabbit worker, 2 http workers, cron every 1s)."""
    from pva.infra.bus import Publisher
    from pva.config import reload_settings
    from pva.runtime import Processor, discover

    root = tmp_path_factory.mktemp("echo")
    rid = secrets.token_hex(4)
    names = make_echo(root, rid, cron_interval="1s")
    old = os.environ.get("PVA_AMQP_URL")
    os.environ["PVA_AMQP_URL"] = broker_url
    reload_settings()
    proc = Processor(discover(names["dir"]), log_dir=root / "logs", drain_timeout=10)
    proc.start(timeout=60)
    pub = Publisher(broker_url, names["exchange"])
    try:
        yield {**names, "proc": proc, "pub": pub, "url": broker_url, "logs": root / "logs"}
    finally:
        pub.close()
        proc.stop()
        cleanup_broker(broker_url, names)
        if old is None:
            os.environ.pop("PVA_AMQP_URL", None)
        else:
            os.environ["PVA_AMQP_URL"] = old
        reload_settings()


# ---------------------------------------------------------------------------- triggers and events
def test_rabbit_message_reaches_handler_with_nuclio_event_fields(echo):
    t0 = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    mid = echo["pub"].publish("echo.created", {"action": "dict", "media_id": "abc"}, message_id=f"m-{t0.timestamp()}",
                              headers={"x-trace": "t1"})
    r = wait_for(lambda: records(echo["records"], "rabbitMq", event_id=mid), what="rabbit event")[0]
    assert r["body"] == {"action": "dict", "media_id": "abc"}          # application/json -> dict
    assert r["content_type"] == "application/json"
    assert r["headers"] == {"x-trace": "t1"}
    assert r["path"] == f"{echo['exchange']}/echo.created"            # <exchange>/<routingKey>
    # Nuclio's rabbit trigger calls itself "rabbitMq" in events (rabbitmq/trigger.go l.58) whatever the yaml says;
    # the context keeps the kind as written (trigger/registry.go l.65 -> the wrapper's --trigger-kind)
    assert r["trigger_kind"] == "rabbitMq" and r["trigger_name"] == "bus" and r["context_trigger_name"] == "bus"
    assert r["context_trigger_kind"] == "rabbit-mq"
    assert r["worker_id"] == 0 and r["size"] == len(b'{"action":"dict","media_id":"abc"}')
    assert r["greeting"] == echo["greeting"]                          # spec.env reached init_context
    assert r["init_pid"] == r["pid"]                                  # init_context ran in this worker
    ts = dt.datetime.fromisoformat(r["timestamp"])
    assert abs((ts - t0).total_seconds()) < 5
    # a second topic binding works, a non-bound key is not delivered
    mid2 = echo["pub"].publish("other.exact", {"action": "str"})
    echo["pub"].publish("not.bound", {"action": "str"}, message_id="never")
    wait_for(lambda: records(echo["records"], "rabbitMq", event_id=mid2), what="second topic")
    assert not records(echo["records"], "rabbitMq", phase="start", event_id="never")
    assert wait_for(lambda: queue_depth(echo["url"], echo["queue"]) == 0 or None, what="acked")  # success acks


def test_rabbit_non_json_body_is_passed_as_bytes(echo):
    conn = pika.BlockingConnection(pika.URLParameters(echo["url"]))
    conn.channel().basic_publish(echo["exchange"], "echo.raw", b"\x00raw bytes",
                                 pika.BasicProperties(content_type="application/octet-stream", message_id="raw-1",
                                                      type="upload", reply_to="reply.key"))
    conn.close()
    r = wait_for(lambda: records(echo["records"], "rabbitMq", event_id="raw-1"), what="raw event")[0]
    assert base64.b64decode(r["body"]["__bytes__"]) == b"\x00raw bytes"
    assert r["method"] == "upload" and r["url"] == "reply.key"       # AMQP type / reply_to, as Nuclio maps them


@pytest.mark.parametrize("path,status,ctype,body", [
    ("str", 200, "text/plain", None),
    ("bytes", 200, "text/plain", b"\x00\x01binary"),
    ("dict", 200, "application/json", {"echo": {"q": 1}, "ok": True}),
    ("tuple", 201, "application/json", {"created": True}),
    ("response", 202, "text/x-echo", b"made"),
])
def test_http_return_values_become_responses_as_in_nuclio(echo, path, status, ctype, body):
    port = echo["proc"].http_port("echo")
    r = httpx.post(f"http://127.0.0.1:{port}/{path}?a=1&b=two", json={"q": 1}, headers={"X-Test": "yes"},
                   timeout=10)
    assert r.status_code == status
    assert r.headers["content-type"] == ctype
    if body is None:
        assert r.text == f"{echo['greeting']}: {path}"
    elif isinstance(body, bytes):
        assert r.content == body
    else:
        assert r.json() == body
    if path == "response":
        assert r.headers["x-echo"] == "yes"
    rec = [x for x in records(echo["records"], "http") if x["path"] == f"/{path}"][-1]
    assert rec["method"] == "POST" and rec["fields"] == {"a": "1", "b": "two"}
    assert rec["body"] == {"q": 1} and rec["content_type"] == "application/json"
    assert rec["headers"]["X-Test"] == "yes" and rec["url"].endswith(f"/{path}?a=1&b=two")
    assert rec["trigger_kind"] == "http" and rec["trigger_name"] == "web" and rec["worker_id"] in (0, 1)


def test_http_non_json_body_is_bytes_and_oversized_body_is_refused(echo):
    port = echo["proc"].http_port("echo")
    r = httpx.put(f"http://127.0.0.1:{port}/str", content=b"plain text", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200
    rec = [x for x in records(echo["records"], "http") if x["method"] == "PUT"][-1]
    assert base64.b64decode(rec["body"]["__bytes__"]) == b"plain text"
    big = httpx.post(f"http://127.0.0.1:{port}/str", content=b"x" * (1048576 + 1))
    assert big.status_code == 413 and "maxRequestBodySize" in big.text


def test_http_requests_are_spread_over_the_workers_sharing_the_socket(echo):
    port = echo["proc"].http_port("echo")
    # 6 concurrent slow requests on 2 workers: both workers must take some
    with httpx.Client(timeout=20) as client:
        results = []
        threads = [threading.Thread(target=lambda: results.append(
            client.get(f"http://127.0.0.1:{port}/sleep", params={"seconds": "0.3", "spread": "1"})))
            for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert [r.status_code for r in results] == [200] * 6
    workers = {x["worker_id"] for x in records(echo["records"], "http") if x["fields"].get("spread") == "1"}
    assert workers == {0, 1}


def test_cron_interval_delivers_the_configured_event(echo):
    recs = wait_for(lambda: len(records(echo["records"], "cron")) >= 2 and records(echo["records"], "cron"),
                    timeout=10, what="two cron ticks")
    r = recs[0]
    # as Nuclio's cron event (cron/event.go): no content type, so the body stays bytes despite the header; the
    # configured path and method; the epoch as timestamp
    assert base64.b64decode(r["body"]["__bytes__"]) == b'{"tick": true}' and r["content_type"] == ""
    assert r["headers"] == {"Content-Type": "application/json", "X-Origin": "cron"}
    assert r["path"] == "/tick" and r["method"] == "POST" and r["timestamp"] == "1970-01-01T00:00:00"
    assert r["trigger_kind"] == "cron" and r["trigger_name"] == "tick"
    t = sorted(p.stat().st_mtime for p in echo["records"].glob("cron-*-done.json"))[:2]
    assert 0.5 < t[1] - t[0] < 2.5


def test_worker_logs_are_json_lines_with_function_trigger_and_worker(echo):
    port = echo["proc"].http_port("echo")
    httpx.get(f"http://127.0.0.1:{port}/str")
    lines = []
    for p in echo["logs"].glob("echo.web.*.log"):
        lines += [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
    ev = [x for x in lines if x.get("msg") == "echo event"]
    assert ev and all(x["function"] == "echo" and x["trigger"] == "web" and x["worker_id"] in (0, 1) for x in ev)
    assert any(x.get("msg") == "echo initialised" and x.get("greeting") == echo["greeting"] for x in lines)


# ---------------------------------------------------------------------------- failures
def test_handler_exception_is_acked_as_nuclio_does_and_a_list_return_is_nacked_without_requeue(echo):
    """Nuclio acks a message once the handler ran, raised or not (rabbitmq/trigger.go l.341-358); a list return,
    which Nuclio's processor cannot read as one result, is refused locally: nacked, so dead-lettered here."""
    if not shutil.which("rabbitmqctl"):
        pytest.skip("rabbitmqctl is needed to attach a dead-letter policy that makes the nack observable")
    url, q = echo["url"], echo["queue"]
    vhost = pika.URLParameters(url).virtual_host
    dlx, dlq, policy = q + ".dlx", q + ".dead", "pva-test-" + secrets.token_hex(3)
    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.exchange_declare(dlx, exchange_type="fanout")
    ch.queue_declare(dlq)
    ch.queue_bind(dlq, dlx)
    r = subprocess.run(["rabbitmqctl", "set_policy", "-p", vhost, "--apply-to", "queues", policy,
                        f"^{q.replace('.', '[.]')}$", json.dumps({"dead-letter-exchange": dlx})],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    try:
        time.sleep(0.3)  # policy propagation
        port = echo["proc"].http_port("echo")
        resp = httpx.get(f"http://127.0.0.1:{port}/raise")
        assert resp.status_code == 500 and "echo was asked to fail" in resp.text
        mid = echo["pub"].publish("echo.fail", {"action": "raise"})
        listed = echo["pub"].publish("echo.list", {"action": "list"})
        # the list return is nacked without requeue -> dead-lettered once, never redelivered to the function
        dead = wait_for(lambda: ch.basic_get(dlq, auto_ack=True)[2], what="dead-lettered message")
        assert json.loads(dead) == {"action": "list"}
        time.sleep(0.5)
        assert ch.basic_get(dlq, auto_ack=True)[2] is None, "the raising handler's message was not acked"
        assert len(records(echo["records"], "rabbitMq", phase="start", event_id=mid)) == 1
        assert len(records(echo["records"], "rabbitMq", phase="start", event_id=listed)) == 1
        assert queue_depth(url, q) == 0
        # the worker survived and logged the error with its traceback
        ok = echo["pub"].publish("echo.after", {"action": "str"})
        wait_for(lambda: records(echo["records"], "rabbitMq", event_id=ok), what="next message")
        lines = [json.loads(x) for x in (echo["logs"] / "echo.bus.0.log").read_text().splitlines() if x.strip()]
        errs = [x for x in lines if x.get("msg", "").startswith("handler raised")]
        assert errs and errs[-1]["level"] == "error" and "ValueError" in errs[-1]["traceback"]
        assert errs[-1]["event_id"] == mid
        refused = [x for x in lines if x.get("event_id") == listed and x.get("level") == "error"]
        assert refused and refused[-1]["msg"].startswith("echo: the handler returned a list of 3 item(s)")
    finally:
        subprocess.run(["rabbitmqctl", "clear_policy", "-p", vhost, policy], capture_output=True, timeout=60)
        ch.queue_delete(dlq)
        ch.exchange_delete(dlx)
        conn.close()


SHAPES_HANDLER = """
def handler(context, event):
    what = event.path.strip("/")
    if what == "list":
        return [{"a": 1}]
    if what == "empty":
        return []
    if what == "gen2":
        return (x for x in ("a", "b"))
    if what == "gen1":
        return (x for x in ["only"])
    if what == "badstatus":
        return context.Response(body="x", status_code="200")
    return {"ok": True}
"""


def test_returns_that_nuclio_would_not_read_as_one_result_are_refused_with_a_500_naming_the_function(tmp_path):
    """Nuclio's wrapper sends a list as a batch (_nuclio_wrapper.py l.458-468) and its processor takes Results[0]
    (rpc/abstract.go l.80-91): [] panics, a longer list drops the rest; a status_code Go cannot decode as an int
    leaves no result (rpc/result/result.go l.34-44, l.70-81).  Locally each is a 500, logged naming the function,
    and the reply Nuclio would have read is recorded in the reply directory."""
    from pva.runtime import Processor, load_function

    fdir = tmp_path / "shapes"
    fdir.mkdir()
    (fdir / "handler.py").write_text(SHAPES_HANDLER)
    (fdir / "function.yaml").write_text(yaml.safe_dump({
        "apiVersion": "nuclio.io/v1", "kind": "NuclioFunction", "metadata": {"name": "shapes"},
        "spec": {"handler": "handler:handler", "runtime": "python:3.11",
                 "triggers": {"web": {"kind": "http", "numWorkers": 1, "attributes": {"mode": "sync"}}}}}))
    replies = tmp_path / "replies"
    with Processor([load_function(fdir)], log_dir=tmp_path / "logs", reply_dir=replies) as proc:
        port = proc.http_port("shapes")
        got = {w: httpx.get(f"http://127.0.0.1:{port}/{w}", timeout=10)
               for w in ("list", "empty", "gen2", "badstatus", "gen1", "dict")}
    for w in ("list", "empty", "gen2", "badstatus"):
        assert got[w].status_code == 500, (w, got[w].text)
        assert got[w].headers["content-type"] == "text/plain"
        assert got[w].text.startswith("shapes: the handler returned") and "not exactly one result" in got[w].text
    assert got["gen1"].status_code == 200 and got["gen1"].text == "only"
    assert got["dict"].status_code == 200 and got["dict"].json() == {"ok": True}
    log = [json.loads(x) for x in (tmp_path / "logs" / "shapes.web.0.log").read_text().splitlines() if x.strip()]
    refused = [x["msg"] for x in log if x.get("level") == "error"]
    assert len(refused) == 4 and all(m.startswith("shapes: the handler returned") for m in refused), refused
    assert any("a list of 0 item(s)" in m and "panics on an empty batch" in m for m in refused)
    assert any("yielded 2 items" in m for m in refused)
    recs = {r["path"]: r for r in map(json.loads, (replies / "shapes.web.0.jsonl").read_text().splitlines())}
    assert recs["/empty"]["reply"] == "r[]" and recs["/empty"]["outcome"] == "refused"
    assert recs["/list"]["reply"].startswith("r[{") and recs["/dict"]["outcome"] == "ok"
    assert json.loads(recs["/dict"]["reply"][1:])["body"] == json.dumps({"ok": True})
    assert {r["trigger_kind"] for r in recs.values()} == {"http"}


def test_sigkilled_worker_is_replaced_and_the_next_message_is_processed(echo):
    proc = echo["proc"]
    [old] = proc.worker_pids("echo", "bus")
    os.kill(old, signal.SIGKILL)
    wait_for(lambda: proc.worker_pids("echo", "bus") and proc.worker_pids("echo", "bus") != [old],
             what="replacement worker")
    proc.wait_ready(30)
    [new] = proc.worker_pids("echo", "bus")
    mid = echo["pub"].publish("echo.after-kill", {"action": "str"})
    r = wait_for(lambda: records(echo["records"], "rabbitMq", event_id=mid), what="message after kill")[0]
    assert r["pid"] == new != old and r["init_pid"] == new      # init_context ran again in the new worker
    st = proc.status()["functions"]["echo"]["triggers"]["bus"]["workers"][0]
    assert st["restarts"] >= 1 and st["ready"]


def test_rabbit_worker_reconnects_after_losing_the_broker(broker_url, tmp_path, monkeypatch):  # noqa: F811
    """PVA_AMQP_URL replaces the trigger url (here: a proxy); dropping the connection is survived."""
    from pva.infra.bus import Publisher
    from pva.config import reload_settings
    from pva.runtime import Processor, discover

    names = make_echo(tmp_path, secrets.token_hex(4))
    proxy = TcpProxy(upstream_of(broker_url))
    monkeypatch.setenv("PVA_AMQP_URL", proxy.url_for(broker_url))
    reload_settings()
    try:
        with Processor(discover(names["dir"]), log_dir=tmp_path / "logs", drain_timeout=5) as proc, \
                Publisher(broker_url, names["exchange"]) as pub:
            m1 = pub.publish("echo.a", {"action": "str"})
            wait_for(lambda: records(names["records"], "rabbitMq", event_id=m1), what="first message")
            proxy.drop()
            time.sleep(0.3)
            proxy.resume()
            m2 = pub.publish("echo.b", {"action": "str"})
            r = wait_for(lambda: records(names["records"], "rabbitMq", event_id=m2), timeout=20,
                         what="message after reconnect")[0]
            assert r["pid"] == proc.worker_pids("echo", "bus")[0]      # same worker, reconnected in place
        log = (tmp_path / "logs" / "echo.bus.0.log").read_text()
        assert "reconnecting" in log
    finally:
        proxy.close()
        monkeypatch.undo()
        reload_settings()
        cleanup_broker(broker_url, names)


def test_sigterm_drains_current_events_and_takes_no_new_ones(broker_url, tmp_path):  # noqa: F811
    from pva.infra.bus import Publisher
    from pva.runtime import ServeProcess

    names = make_echo(tmp_path, secrets.token_hex(4), http_workers=1)
    try:
        with ServeProcess(names["dir"], ["echo"], env={"PVA_AMQP_URL": broker_url}, log_dir=tmp_path / "logs",
                          drain_timeout=20) as srv, Publisher(broker_url, names["exchange"]) as pub:
            port = srv.http_port("echo")
            slow = pub.publish("echo.slow", {"action": "sleep", "seconds": 1.5})
            http_result: dict = {}
            t = threading.Thread(target=lambda: http_result.update(
                r=httpx.get(f"http://127.0.0.1:{port}/sleep", params={"seconds": "1.5"}, timeout=20)))
            t.start()
            wait_for(lambda: records(names["records"], "rabbitMq", phase="start", event_id=slow),
                     what="slow rabbit event started")
            wait_for(lambda: [x for x in records(names["records"], "http", phase="start")], what="slow http started")
            os.kill(srv.pid, signal.SIGTERM)
            time.sleep(0.2)
            late = pub.publish("echo.late", {"action": "str"})
            rc = srv.proc.wait(30)
            t.join(10)
        assert rc == 0, srv.output()
        assert records(names["records"], "rabbitMq", event_id=slow), "in-flight message was not finished"
        assert http_result["r"].status_code == 200, "in-flight HTTP request was not answered"
        assert not records(names["records"], "rabbitMq", phase="start", event_id=late), "took a new message"
        assert queue_depth(broker_url, names["queue"]) == 1           # left for the next consumer
        assert '"ready"' in srv.output() and '"stopped"' in srv.output()
    finally:
        cleanup_broker(broker_url, names)


def test_worker_that_cannot_initialise_fails_startup_naming_the_function(tmp_path):
    from pva.runtime import Processor, ProcessorError, discover

    names = make_echo(tmp_path, "init")
    (names["dir"] / "echo" / "handler.py").write_text("raise ImportError('missing model file')\n"
                                                      "def handler(context, event):\n    return ''\n")
    with pytest.raises(ProcessorError, match=r"echo/(bus|web|tick)#\d .*function\.yaml.*failed to start"):
        Processor(discover(names["dir"]), log_dir=tmp_path / "logs").start(timeout=30)
    logs = "".join(p.read_text() for p in (tmp_path / "logs").glob("*.log"))
    assert "function failed to initialise" in logs and "missing model file" in logs


def test_trigger_whose_queue_conflicts_with_the_broker_fails_startup_clearly(broker_url, tmp_path,  # noqa: F811
                                                                            monkeypatch):
    from pva.config import reload_settings
    from pva.runtime import Processor, ProcessorError, discover

    names = make_echo(tmp_path, secrets.token_hex(4))
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    conn.channel().queue_declare(names["queue"], durable=False)   # function.yaml says durableQueue: true
    conn.close()
    monkeypatch.setenv("PVA_AMQP_URL", broker_url)
    reload_settings()
    try:
        with pytest.raises(ProcessorError, match=r"echo/bus#0 .*failed to start \(exit code 3\)"):
            Processor(discover(names["dir"]), log_dir=tmp_path / "logs").start(timeout=30)
        log = (tmp_path / "logs" / "echo.bus.0.log").read_text()
        assert "broker refused the trigger's exchange/queue" in log and "durableQueue" in log
    finally:
        monkeypatch.undo()
        reload_settings()
        cleanup_broker(broker_url, names)


# ---------------------------------------------------------------------------- function.yaml
BAD_YAML = [
    ("spec.triggers.bus.attributes.topics", "must be a list of strings",
     lambda d: d["spec"]["triggers"]["bus"]["attributes"].__setitem__("topics", "echo.#")),
    ("spec.hander", "unknown spec key", lambda d: d["spec"].__setitem__("hander", "x:y")),
    ("spec.triggers.bus.attributes.topic", "unknown rabbit-mq attribute key",
     lambda d: d["spec"]["triggers"]["bus"]["attributes"].__setitem__("topic", ["a"])),
    ("spec.triggers.bus.kind", "run only on real Nuclio",
     lambda d: d["spec"]["triggers"]["bus"].__setitem__("kind", "kafka-cluster")),
    ("spec.triggers.web.numWorkers", "must be an integer",
     lambda d: d["spec"]["triggers"]["web"].__setitem__("numWorkers", "two")),
    ("spec.handler", "must look like module:function", lambda d: d["spec"].__setitem__("handler", "handler")),
    ("spec.handler", "not found", lambda d: d["spec"].__setitem__("handler", "nosuchmodule:handler")),
    ("spec.env", "must be a list of {name: ..., value: ...}",
     lambda d: d["spec"].__setitem__("env", {"RECORD_DIR": "/tmp"})),
    ("spec.triggers.tick.attributes", "exactly one of interval",
     lambda d: d["spec"]["triggers"]["tick"]["attributes"].__setitem__("schedule", "* * * * *")),
    ("spec.triggers.tick.attributes.interval", "not a duration",
     lambda d: d["spec"]["triggers"]["tick"]["attributes"].__setitem__("interval", "10 seconds")),
    ("spec.triggers.bus.attributes.exchangeName", "is required",
     lambda d: d["spec"]["triggers"]["bus"]["attributes"].pop("exchangeName")),
    ("metadata.name", "DNS label", lambda d: d["metadata"].__setitem__("name", "Echo_Fn")),
    ("apiVersion", "nuclio.io/v1", lambda d: d.__setitem__("apiVersion", "v1")),
    # keys that are not in Nuclio's structs (pkg/functionconfig/types.go, trigger/*/types.go): Nuclio would
    # silently ignore them, so they are typos or wishes here
    ("spec.avatar", "unknown spec key", lambda d: d["spec"].__setitem__("avatar", "x.png")),
    ("spec.streamChunkTimeout", "unknown spec key", lambda d: d["spec"].__setitem__("streamChunkTimeout", "1s")),
    ("spec.triggers.bus.attributes.onError", "unknown rabbit-mq attribute key",
     lambda d: d["spec"]["triggers"]["bus"]["attributes"].__setitem__("onError", "ack")),
    ("spec.triggers.bus.attributes.requeueOnError", "unknown rabbit-mq attribute key",
     lambda d: d["spec"]["triggers"]["bus"]["attributes"].__setitem__("requeueOnError", True)),
    ("spec.triggers.web.attributes.maxRequestHeaderSize", "unknown http attribute key",
     lambda d: d["spec"]["triggers"]["web"]["attributes"].__setitem__("maxRequestHeaderSize", 8192)),
    ("spec.triggers.web.mode", "unknown trigger key", lambda d: d["spec"]["triggers"]["web"].__setitem__("mode", "x")),
    ("spec.triggers.web.attributes.mode", "\"sync\" or \"async\"",
     lambda d: d["spec"]["triggers"]["web"]["attributes"].__setitem__("mode", "fast")),
    ("spec.triggers.web.batch.mode", "batching runs only on real Nuclio",
     lambda d: d["spec"]["triggers"]["web"].__setitem__("batch", {"mode": "enable", "batchSize": 4})),
    ("spec.triggers.tick.attributes.event.query", "unknown cron event key",
     lambda d: d["spec"]["triggers"]["tick"]["attributes"]["event"].__setitem__("query", "a=1")),
]


@pytest.mark.parametrize("key,message,mutate", BAD_YAML, ids=[b[0] + ":" + b[1][:20] for b in BAD_YAML])
def test_malformed_function_yaml_is_refused_naming_the_file_and_key(tmp_path, key, message, mutate):
    from pva.runtime import SpecError, load_function

    fdir = tmp_path / "x"
    fdir.mkdir()
    shutil.copy(ECHO_DIR / "handler.py", fdir / "handler.py")
    doc = yaml.safe_load((ECHO_DIR / "function.yaml").read_text())
    mutate(doc)
    (fdir / "function.yaml").write_text(yaml.safe_dump(doc))
    with pytest.raises(SpecError) as e:
        load_function(fdir)
    assert str(e.value).startswith(f"{fdir / 'function.yaml'}: {key}: "), str(e.value)
    assert message in str(e.value)


def test_every_key_nuclio_reads_is_accepted_and_rabbitMq_names_the_same_trigger(tmp_path):
    """Keys from Nuclio's own structs that the loader once refused: cron event.path/method (cron/event.go
    l.26-32), http mode/readBufferSize/reduceMemoryUsage/cors/disablePortPublishing (http/types.go l.33-48),
    Trigger and Spec fields (functionconfig/types.go l.69-101, l.384-476); and the second registered spelling of
    the rabbit kind (rabbitmq/factory.go l.78-79)."""
    from pva.runtime import load_function

    fdir = tmp_path / "x"
    fdir.mkdir()
    shutil.copy(ECHO_DIR / "handler.py", fdir / "handler.py")
    doc = yaml.safe_load((ECHO_DIR / "function.yaml").read_text())
    doc["metadata"]["resourceVersion"] = "7"
    doc["spec"].update(preemptionMode="prevent", imagePullPolicy="IfNotPresent", hostIPC=False,
                       devices=["/dev/null"], dealerURI="", disableSensitiveFieldsMasking=False)
    bus, web, tick = (doc["spec"]["triggers"][k] for k in ("bus", "web", "tick"))
    bus.update(kind="rabbitMq", workerAvailabilityTimeoutMilliseconds=10000, workerTerminationTimeout="10s",
               explicitAckMode="disable", disabled=False)
    web["attributes"].update(mode="async", readBufferSize=16384, reduceMemoryUsage=True,
                             cors={"enabled": True}, disablePortPublishing=True, serviceType="ClusterIP")
    web["batch"] = {"mode": "disable"}
    tick["attributes"]["event"].update(path="/reconcile", method="POST")
    (fdir / "function.yaml").write_text(yaml.safe_dump(doc))
    spec = load_function(fdir)
    b = spec.triggers["bus"]
    assert (b.kind, b.declared_kind, b.event_kind) == ("rabbit-mq", "rabbitMq", "rabbitMq")
    assert spec.triggers["web"].attributes["mode"] == "async"
    assert spec.triggers["tick"].attributes["event"]["path"] == "/reconcile"


def test_serve_with_a_malformed_function_yaml_exits_with_the_error(tmp_path):
    fdir = tmp_path / "functions" / "x"
    fdir.mkdir(parents=True)
    shutil.copy(ECHO_DIR / "handler.py", fdir / "handler.py")
    doc = yaml.safe_load((ECHO_DIR / "function.yaml").read_text())
    doc["spec"]["triggers"]["q"] = {"kind": "rabbit-mq", "attributes": {"exchangeName": "e", "topics": [1]}}
    (fdir / "function.yaml").write_text(yaml.safe_dump(doc))
    r = subprocess.run([sys.executable, "-m", "pva.cli", "functions", "serve", "--dir", str(tmp_path / "functions")],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2
    assert f"{fdir / 'function.yaml'}: spec.triggers.q.attributes.topics: must be a list of strings" in r.stderr
    bad_yaml = tmp_path / "functions" / "x" / "function.yaml"
    bad_yaml.write_text("apiVersion: nuclio.io/v1\nspec: [unclosed\n")
    r = subprocess.run([sys.executable, "-m", "pva.cli", "functions", "list", "--dir", str(tmp_path / "functions")],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2 and f"{bad_yaml}: not valid YAML" in r.stderr


def test_load_function_and_discover_expose_the_spec(tmp_path, monkeypatch):
    from pva.config import reload_settings
    from pva.runtime import SpecError, discover, load_function

    spec = load_function(ECHO_DIR / "function.yaml")
    assert spec.name == "echo" and spec.handler == "handler:handler" and spec.module == "handler"
    assert spec.path == ECHO_DIR and spec.runtime == "python:3.11"
    assert spec.env["ECHO_GREETING"] == "hello from spec.env"
    bus, web, tick = spec.triggers["bus"], spec.triggers["web"], spec.triggers["tick"]
    assert (bus.kind, bus.num_workers, bus.attributes["topics"], bus.attributes["prefetchCount"]) == \
        ("rabbit-mq", 1, ["echo.#"], 1)
    assert (web.kind, web.num_workers, web.attributes["port"]) == ("http", 2, 18391)
    assert tick.kind == "cron" and tick.attributes["interval"] == "1h"
    # the yaml url is used unless PVA_AMQP_URL (or the stack) says otherwise
    monkeypatch.setenv("PVA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("PVA_AMQP_URL", raising=False)
    reload_settings()
    assert bus.effective_url() == "amqp://guest:guest@127.0.0.1:5672/"
    monkeypatch.setenv("PVA_AMQP_URL", "amqp://u:p@10.1.2.3:5673/v")
    reload_settings()
    assert bus.effective_url() == "amqp://u:p@10.1.2.3:5673/v"
    monkeypatch.undo()
    reload_settings()
    # discover: all functions sorted, duplicate names refused
    for n in ("b", "a"):
        shutil.copytree(ECHO_DIR, tmp_path / "fns" / n)
    with pytest.raises(SpecError, match="metadata.name: 'echo' is already used"):
        discover(tmp_path / "fns")
    doc = yaml.safe_load((tmp_path / "fns" / "b" / "function.yaml").read_text())
    doc["metadata"]["name"] = "b-echo"
    (tmp_path / "fns" / "b" / "function.yaml").write_text(yaml.safe_dump(doc))
    assert [s.name for s in discover(tmp_path / "fns")] == ["b-echo", "echo"]


def test_cron_schedules_and_durations_parse_like_nuclio():
    from pva.runtime.cron import CronSchedule
    from pva.runtime.spec import parse_duration

    assert parse_duration("10s") == 10 and parse_duration("1m30s") == 90 and parse_duration("250ms") == 0.25
    with pytest.raises(ValueError):
        parse_duration("10")
    t = dt.datetime(2024, 3, 8, 10, 7, 30)            # a Friday
    assert CronSchedule("*/5 * * * *").next_after(t) == dt.datetime(2024, 3, 8, 10, 10)
    assert CronSchedule("0 9 * * mon-fri").next_after(t) == dt.datetime(2024, 3, 11, 9, 0)
    assert CronSchedule("30 */10 * * * *").next_after(t) == dt.datetime(2024, 3, 8, 10, 10, 30)
    assert CronSchedule("@daily").next_after(t) == dt.datetime(2024, 3, 9)
    assert CronSchedule("@every 90s").next_after(t) == t + dt.timedelta(seconds=90)
    assert CronSchedule("0 0 29 2 *").next_after(t) == dt.datetime(2028, 2, 29)
    for bad in ("* * *", "61 * * * *", "*/0 * * * *", "0 0 * * funday"):
        with pytest.raises(ValueError):
            CronSchedule(bad)


def test_functions_list_shows_triggers():
    r = subprocess.run([sys.executable, "-m", "pva.cli", "functions", "list", "--dir", str(ECHO_DIR.parent)],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "echo  (handler:handler, python:3.11)" in r.stdout
    assert "bus: rabbit-mq x1  exchange=pva-test queue=pva-test.echo topics=echo.#" in r.stdout
    assert "web: http x2  port=18391" in r.stdout and "tick: cron x1  interval=1h" in r.stdout
