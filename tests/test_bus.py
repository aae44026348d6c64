"""pva.infra.bus against the real RabbitMQ: message format, confirms, batches, reconnect after connection loss,
thread safety, topology from function.yaml.  Connection loss is produced by a TCP proxy in front of the real
broker (so other users of the shared broker are not disturbed): the proxy drops every connection and refuses
new ones for a while, as a restarting broker does."""
from __future__ import annotations

import json
import secrets
import shutil
import socket
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
ECHO_DIR = REPO / "tests" / "functions" / "echo"


# ---------------------------------------------------------------------------- helpers (also used by test_runtime)
class TcpProxy:
    """A TCP forwarder 127.0.0.1:<port> -> upstream that can drop all connections and refuse new ones."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._lsock: socket.socket | None = None
        self.resume()

    def resume(self) -> None:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port = s.getsockname()[1]
        self._lsock = s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()

    def _accept(self, lsock: socket.socket) -> None:
        while True:
            try:
                client, _ = lsock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.upstream, timeout=5)
                up.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, up]
            threading.Thread(target=self._pipe, args=(client, up), daemon=True).start()
            threading.Thread(target=self._pipe, args=(up, client), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def drop(self) -> None:
        """Close the listener and every proxied connection (the broker 'goes down')."""
        if self._lsock:
            try:
                self._lsock.shutdown(socket.SHUT_RDWR)  # wakes the accept() thread; close alone does not
            except OSError:
                pass
            self._lsock.close()
            self._lsock = None
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def url_for(self, amqp_url: str) -> str:
        parts = urlsplit(amqp_url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))

    def close(self) -> None:
        self.drop()


def upstream_of(url: str) -> tuple[str, int]:
    p = urlsplit(url)
    return p.hostname or "127.0.0.1", p.port or 5672


@pytest.fixture(scope="session")
def broker_url(request) -> str:
    """The real broker: settings.effective_amqp_url if it answers, else the stack fixture's isolated vhost."""
    from pva.config import get_settings

    url = get_settings().effective_amqp_url
    try:
        pika.BlockingConnection(pika.URLParameters(url)).close()
        return url
    except pika.exceptions.AMQPError:
        return request.getfixturevalue("amqp_url")


@pytest.fixture
def channel(broker_url):
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    ch = conn.channel()
    yield ch
    if conn.is_open:
        conn.close()


@pytest.fixture
def names(broker_url):
    """Exchange and queue names unique to this test, deleted afterwards."""
    rid = secrets.token_hex(4)
    n = {"exchange": f"pva-test-bus-{rid}", "queue": f"pva-test-bus-{rid}.q"}
    yield n
    conn = pika.BlockingConnection(pika.URLParameters(broker_url))
    ch = conn.channel()
    ch.queue_delete(n["queue"])
    ch.exchange_delete(n["exchange"])
    conn.close()


def bind_queue(ch, exchange: str, queue: str, key: str = "#") -> None:
    ch.exchange_declare(exchange, exchange_type="topic", durable=True)
    ch.queue_declare(queue, auto_delete=False)
    ch.queue_bind(queue, exchange, routing_key=key)


def drain(ch, queue: str) -> list[tuple]:
    out = []
    while True:
        m, props, body = ch.basic_get(queue, auto_ack=True)
        if m is None:
            return out
        out.append((m, props, body))


# ---------------------------------------------------------------------------- tests
def test_publish_sends_persistent_json_with_message_id_after_confirm(broker_url, channel, names, monkeypatch):
    from pva.infra import bus
    from pva.config import reload_settings

    monkeypatch.setenv("PVA_AMQP_URL", broker_url)
    monkeypatch.setenv("PVA_AMQP_EXCHANGE", names["exchange"])
    reload_settings()
    try:
        bus.declare_topology()
        bind_queue(channel, names["exchange"], names["queue"], "analysis.*")
        mid = bus.publish("analysis.detect", {"media_id": "m-1", "kind": "detect", "attempt": 1})
        given = bus.publish("analysis.ocr", {"media_id": "m-2"}, message_id="fixed-id", headers={"x": "1"})
        msgs = drain(channel, names["queue"])
    finally:
        bus.reset()
        monkeypatch.undo()
        reload_settings()
    assert given == "fixed-id" and mid and mid != given
    assert len(msgs) == 2
    (m1, p1, b1), (m2, p2, b2) = msgs
    assert (m1.exchange, m1.routing_key) == (names["exchange"], "analysis.detect")
    assert p1.content_type == "application/json" and p1.delivery_mode == 2 and p1.message_id == mid
    assert json.loads(b1) == {"media_id": "m-1", "kind": "detect", "attempt": 1}
    assert p2.message_id == "fixed-id" and p2.headers == {"x": "1"} and json.loads(b2) == {"media_id": "m-2"}
    # the exchange is a durable topic exchange: redeclaring it non-durable is refused by the broker
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        channel.exchange_declare(names["exchange"], exchange_type="topic", durable=False)
    assert e.value.reply_code == 406


def test_publish_many_confirms_a_batch_and_keeps_order(broker_url, channel, names):
    from pva.infra.bus import Publisher

    bind_queue(channel, names["exchange"], names["queue"])
    with Publisher(broker_url, names["exchange"]) as pub:
        items = [("a.b", {"i": i}) for i in range(1500)] + [("a.c", {"i": 1500}, "id-1500"),
                                                           {"routing_key": "a.d", "body": {"i": 1501}}]
        ids = pub.publish_many(items)
    assert len(ids) == 1502 and len(set(ids)) == 1502 and ids[1500] == "id-1500"
    ch2 = channel.connection.channel()
    got = drain(ch2, names["queue"])
    assert [json.loads(b)["i"] for _, _, b in got] == list(range(1502))
    assert [p.message_id for _, p, _ in got] == ids


def test_publish_reconnects_after_the_broker_connection_is_lost(broker_url, channel, names):
    from pva.infra.bus import Publisher

    bind_queue(channel, names["exchange"], names["queue"])
    proxy = TcpProxy(upstream_of(broker_url))
    try:
        pub = Publisher(proxy.url_for(broker_url), names["exchange"], retry_seconds=10)
        pub.publish("k", {"n": 1})
        proxy.drop()                      # broker gone: connection reset, new connections refused
        result: dict = {}

        def later():
            try:
                result["id"] = pub.publish("k", {"n": 2})
            except Exception as e:  # noqa: BLE001
                result["error"] = e
        t = threading.Thread(target=later)
        t.start()
        time.sleep(0.8)
        assert t.is_alive(), f"publish should be retrying while the broker is down, got {result}"
        proxy.resume()                    # broker back
        t.join(15)
        assert "error" not in result, result
        assert result.get("id")
        pub.close()
    finally:
        proxy.close()
    got = [json.loads(b)["n"] for _, _, b in drain(channel, names["queue"])]
    assert got == [1, 2]


def test_publish_gives_up_with_a_clear_error_when_the_broker_stays_down(broker_url, names):
    from pva.infra.bus import BusError, Publisher

    proxy = TcpProxy(upstream_of(broker_url))
    url = proxy.url_for(broker_url)
    proxy.drop()
    t0 = time.monotonic()
    with pytest.raises(BusError) as e:
        Publisher(url, names["exchange"], retry_seconds=1.0).publish("k", {"n": 1})
    assert time.monotonic() - t0 < 8
    msg = str(e.value)
    assert "cannot publish" in msg and "RabbitMQ" in msg and "guest:***@" in msg and ":guest@" not in msg


def test_one_publisher_is_safe_to_share_between_threads(broker_url, channel, names):
    from pva.infra.bus import Publisher

    bind_queue(channel, names["exchange"], names["queue"])
    pub = Publisher(broker_url, names["exchange"])
    ids: list[str] = []
    lock = threading.Lock()

    def work(t):
        for i in range(150):
            mid = pub.publish("t", {"t": t, "i": i})
            with lock:
                ids.append(mid)
    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    pub.close()
    got = drain(channel, names["queue"])
    assert len(ids) == 600 and len(set(ids)) == 600
    assert sorted(p.message_id for _, p, _ in got) == sorted(ids)


def test_bad_message_bodies_are_rejected_with_a_clear_error(broker_url, names):
    from pva.infra.bus import Publisher

    pub = Publisher(broker_url, names["exchange"])
    with pytest.raises(TypeError, match="must be a dict"):
        pub.publish("k", "not a dict")
    with pytest.raises(TypeError, match="not JSON serializable"):
        pub.publish("k", {"x": object()})
    with pytest.raises(TypeError, match="routing key"):
        pub.publish_many([("", {"x": 1})])
    pub.close()


def test_declare_topology_binds_the_queues_named_in_function_yaml(broker_url, channel, names, tmp_path):
    from pva.infra.bus import Publisher

    fdir = tmp_path / "functions" / "echo"
    fdir.mkdir(parents=True)
    shutil.copy(ECHO_DIR / "handler.py", fdir / "handler.py")
    doc = yaml.safe_load((ECHO_DIR / "function.yaml").read_text())
    attrs = doc["spec"]["triggers"]["bus"]["attributes"]
    attrs.update(exchangeName=names["exchange"], queueName=names["queue"], topics=["echo.#"])
    (fdir / "function.yaml").write_text(yaml.safe_dump(doc))
    with Publisher(broker_url, names["exchange"]) as pub:
        assert pub.declare_topology(tmp_path / "functions") == [names["queue"]]
        pub.publish("echo.early", {"before": "the function runs"})
        pub.publish("other.key", {"not": "bound"})
    got = drain(channel, names["queue"])
    assert [json.loads(b) for _, _, b in got] == [{"before": "the function runs"}]
    # durableQueue: true in function.yaml -> the queue survives broker restarts
    with pytest.raises(pika.exceptions.ChannelClosedByBroker):
        channel.queue_declare(names["queue"], durable=False)
