"""RabbitMQ publishing for the whole system (DESIGN "Queues and events").

Every message is JSON (content type application/json), persistent (delivery_mode 2) and carries a message id;
it goes to the durable topic exchange ``settings.amqp_exchange`` ("pva") at ``settings.effective_amqp_url``.
Publishing waits for publisher confirms, so a returned id means the broker has taken the message.

* ``Publisher.publish(routing_key, body, message_id=None, headers=None) -> str`` — one message, confirmed.
* ``Publisher.publish_many(messages) -> list[str]`` — many messages, published back to back and confirmed as a
  batch (one round trip instead of one per message).  ``messages`` holds ``(routing_key, body)`` or
  ``(routing_key, body, message_id)`` tuples or dicts with those keys.
* Connection loss (broker restart, idle connection dropped, network) is handled inside: the publisher
  reconnects with backoff for up to ``retry_seconds`` and resends what was not confirmed (same message ids, so
  consumers can deduplicate), then raises ``BusError``.
* A Publisher is thread-safe (one lock around its connection).  The module-level ``publish`` /
  ``publish_many`` / ``declare_topology`` share one publisher per process (recreated after fork and when
  PVA_AMQP_URL / PVA_AMQP_EXCHANGE change).

Implementation note: pika's BlockingChannel waits for one confirm per publish.  For batches we register our
own confirm callback on the underlying channel (``channel._impl``, pika 1.x, pinned <2) and wait until every
delivery tag is acked.
"""
from __future__ import annotations

import datetime as _dt
import decimal
import json
import logging
import os
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable

import pika
import pika.exceptions as pex

from ..config import get_settings

log = logging.getLogger("pva.bus")

_RETRYABLE = (pex.AMQPConnectionError, pex.ConnectionClosed, pex.StreamLostError, pex.ChannelWrongStateError,
              pex.ConnectionWrongStateError, pex.ChannelClosed, pex.UnexpectedFrameError, OSError)
_BATCH = 2000  # messages in flight before waiting for their confirms


class BusError(RuntimeError):
    """A message could not be published (broker unreachable past the retry window, or refused it)."""


def _redact(url: str) -> str:
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def _json_default(o: Any):
    if isinstance(o, uuid.UUID):
        return str(o)
    if isinstance(o, (_dt.datetime, _dt.date, _dt.time)):
        return o.isoformat()
    if isinstance(o, (Path, decimal.Decimal)):
        return str(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def encode_body(body) -> bytes:
    if not isinstance(body, (dict, list)):
        raise TypeError(f"message body must be a dict (or list), got {type(body).__name__}")
    try:
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(f"message body is not JSON serializable: {e}") from None


class _Msg:
    __slots__ = ("routing_key", "body", "message_id", "headers")

    def __init__(self, routing_key: str, body: bytes, message_id: str, headers: dict | None):
        self.routing_key, self.body, self.message_id, self.headers = routing_key, body, message_id, headers


def _normalize(item) -> _Msg:
    if isinstance(item, dict):
        rk, body, mid, headers = item["routing_key"], item["body"], item.get("message_id"), item.get("headers")
    else:
        if not isinstance(item, (tuple, list)) or len(item) not in (2, 3):
            raise TypeError("each message must be (routing_key, body) or (routing_key, body, message_id)")
        rk, body, mid, headers = item[0], item[1], item[2] if len(item) == 3 else None, None
    if not isinstance(rk, str) or not rk:
        raise TypeError(f"routing key must be a non-empty string, got {rk!r}")
    return _Msg(rk, encode_body(body), str(mid) if mid else uuid.uuid4().hex, headers)


class Publisher:
    def __init__(self, url: str | None = None, exchange: str | None = None, *, retry_seconds: float = 15.0,
                 confirm_timeout: float = 30.0, mandatory: bool = False):
        s = get_settings()
        self.url = url or s.effective_amqp_url
        self.exchange = exchange or s.amqp_exchange
        self.retry_seconds = retry_seconds
        self.confirm_timeout = confirm_timeout
        self.mandatory = mandatory  # True: a message no queue is bound for raises BusError instead of vanishing
        self._lock = threading.RLock()
        self._conn: pika.BlockingConnection | None = None
        self._ch = None
        self._pending: dict[int, str] = {}   # delivery tag -> message id, awaiting confirm
        self._acked: set[str] = set()
        self._nacked: list[str] = []
        self._returned: list[str] = []
        self._next_tag = 1

    # ------------------------------------------------------------------ connection
    def _connect(self) -> None:
        params = pika.URLParameters(self.url)
        params.socket_timeout = 5
        params.blocked_connection_timeout = 60
        params.client_properties = {"connection_name": f"pva-publisher-{os.getpid()}"}
        conn = pika.BlockingConnection(params)
        try:
            ch = conn.channel()
            ch.exchange_declare(self.exchange, exchange_type="topic", durable=True)
            selected = []
            ch._impl.confirm_delivery(ack_nack_callback=self._on_confirm,
                                      callback=lambda _frame: selected.append(True))
            ch._impl.add_on_return_callback(self._on_return)
            self._wait(conn, lambda: bool(selected), 10, "confirm.select", ch)
        except BaseException:
            conn.close()
            raise
        self._conn, self._ch = conn, ch
        self._pending.clear()
        self._next_tag = 1

    def _reset(self) -> None:
        conn, self._conn, self._ch = self._conn, None, None
        self._pending.clear()
        if conn is not None:
            try:
                if conn.is_open:
                    conn.close()
            except Exception:  # noqa: BLE001 - already broken
                pass

    def _on_confirm(self, frame) -> None:
        m = frame.method
        tags = [t for t in self._pending if t <= m.delivery_tag] if m.multiple else [m.delivery_tag]
        nack = isinstance(m, pika.spec.Basic.Nack)
        for t in tags:
            mid = self._pending.pop(t, None)
            if mid is not None:
                (self._nacked.append(mid) if nack else self._acked.add(mid))

    def _on_return(self, _ch, _method, props, _body) -> None:
        self._returned.append(props.message_id)

    @staticmethod
    def _wait(conn, done, timeout: float, what: str, ch=None) -> None:
        expired = []
        timer = conn.call_later(timeout, lambda: expired.append(True))
        closed = (lambda: ch.is_closed) if ch is not None else (lambda: False)
        try:
            conn._flush_output(lambda: done() or bool(expired) or closed())
        finally:
            if conn.is_open:
                conn.remove_timeout(timer)
        if ch is not None and ch.is_closed:
            reason = getattr(ch, "_closing_reason", None)
            raise reason if isinstance(reason, pex.ChannelClosed) else pex.ChannelWrongStateError("channel closed")
        if not done():
            raise pex.AMQPConnectionError(f"no {what} from the broker within {timeout:.0f}s")

    # ------------------------------------------------------------------ publishing
    def _send(self, msgs: list[_Msg]) -> None:
        """Publish msgs on the current channel and wait for their confirms (updates _acked/_nacked)."""
        ch, conn = self._ch, self._conn
        for i in range(0, len(msgs), _BATCH):
            now = int(time.time())
            for m in msgs[i:i + _BATCH]:
                props = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                             message_id=m.message_id, timestamp=now, headers=m.headers,
                                             app_id="pva")
                self._pending[self._next_tag] = m.message_id
                self._next_tag += 1
                ch._impl.basic_publish(exchange=self.exchange, routing_key=m.routing_key, body=m.body,
                                       properties=props, mandatory=self.mandatory)
            self._wait(conn, lambda: not self._pending, self.confirm_timeout, "publisher confirm", ch)

    def publish_many(self, messages: Iterable) -> list[str]:
        """Publish JSON messages, confirmed as a batch; returns their message ids in order."""
        msgs = [_normalize(m) for m in messages]
        if not msgs:
            return []
        with self._lock:
            self._acked.clear()
            self._nacked.clear()
            self._returned.clear()
            todo = msgs
            deadline = time.monotonic() + self.retry_seconds
            backoff, nack_rounds = 0.1, 0
            while True:
                try:
                    if self._conn is None or not self._conn.is_open:
                        self._connect()
                    self._send(todo)
                    if self._returned and self.mandatory:
                        raise BusError(f"{len(self._returned)} message(s) unroutable: no queue is bound for "
                                       f"their routing key on exchange {self.exchange!r}")
                    if not self._nacked:
                        return [m.message_id for m in msgs]
                    nack_rounds += 1
                    if nack_rounds > 3:
                        raise BusError(f"broker refused (nack) {len(self._nacked)} message(s) repeatedly")
                    failed = set(self._nacked)
                    self._nacked.clear()
                    todo = [m for m in todo if m.message_id in failed]
                except pex.ChannelClosedByBroker as e:
                    self._reset()
                    if e.reply_code in (403, 404, 406):
                        raise BusError(f"broker refused: {e.reply_text} (exchange {self.exchange!r}; an exchange "
                                       f"declared with other settings must be deleted or renamed)") from None
                    self._retry_wait(e, deadline, backoff)
                    backoff = min(backoff * 2, 2.0)
                    todo = [m for m in todo if m.message_id not in self._acked]
                except _RETRYABLE as e:
                    self._reset()
                    self._retry_wait(e, deadline, backoff)
                    backoff = min(backoff * 2, 2.0)
                    todo = [m for m in todo if m.message_id not in self._acked]

    def _retry_wait(self, e: BaseException, deadline: float, backoff: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise BusError(f"cannot publish to {_redact(self.url)} (exchange {self.exchange!r}) after "
                           f"{self.retry_seconds:.0f}s: {type(e).__name__}: {e} — is RabbitMQ running? "
                           f"(`pva up` starts one; PVA_AMQP_URL points elsewhere)") from None
        log.warning("broker connection lost; reconnecting", extra={"error": f"{type(e).__name__}: {e}",
                                                                   "retry_in": round(backoff, 2)})
        time.sleep(min(backoff, left))

    def publish(self, routing_key: str, body: dict, message_id: str | None = None,
                headers: dict | None = None) -> str:
        """Publish one JSON message and wait for the broker's confirm; returns its message id."""
        return self.publish_many([{"routing_key": routing_key, "body": body, "message_id": message_id,
                                   "headers": headers}])[0]

    # ------------------------------------------------------------------ topology
    def declare_topology(self, functions_dir: str | Path | None = None) -> list[str]:
        """Declare the durable topic exchange; with ``functions_dir``, also every rabbit-mq trigger's exchange,
        queue and bindings from the function.yaml files there (so messages published before the functions
        start wait in their queues).  Returns the queue names declared."""
        queues: list[str] = []
        specs = []
        if functions_dir is not None:
            from ..runtime.spec import discover

            specs = discover(functions_dir)
        with self._lock:
            deadline = time.monotonic() + self.retry_seconds
            backoff = 0.1
            while True:
                try:
                    if self._conn is None or not self._conn.is_open:
                        self._connect()  # declares self.exchange
                    for s in specs:
                        for t in s.triggers.values():
                            if t.kind != "rabbit-mq":
                                continue
                            a = t.attributes
                            q = a.get("queueName") or f"nuclio-pva-{s.name}"
                            self._ch.exchange_declare(a["exchangeName"], exchange_type="topic",
                                                      durable=bool(a.get("durableExchange")))
                            self._ch.queue_declare(q, durable=bool(a.get("durableQueue")))
                            for topic in a.get("topics", []):
                                self._ch.queue_bind(q, a["exchangeName"], routing_key=topic)
                            queues.append(q)
                    return queues
                except pex.ChannelClosedByBroker as e:
                    self._reset()
                    raise BusError(f"broker refused topology: {e.reply_text} (an exchange or queue exists with "
                                   f"other settings; make function.yaml durable flags match or delete it)") from None
                except _RETRYABLE as e:
                    self._reset()
                    queues.clear()
                    self._retry_wait(e, deadline, backoff)
                    backoff = min(backoff * 2, 2.0)

    def close(self) -> None:
        with self._lock:
            self._reset()

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------- per-process publisher
_proc_lock = threading.Lock()
_proc_publisher: Publisher | None = None
_proc_pid: int | None = None


def get_publisher() -> Publisher:
    """The publisher of this process (thread-safe; recreated after fork or a settings change)."""
    global _proc_publisher, _proc_pid
    s = get_settings()
    with _proc_lock:
        p = _proc_publisher
        if p is None or _proc_pid != os.getpid() or p.url != s.effective_amqp_url or p.exchange != s.amqp_exchange:
            if p is not None and _proc_pid == os.getpid():
                p.close()
            _proc_publisher, _proc_pid = Publisher(), os.getpid()
        return _proc_publisher


def publish(routing_key: str, body: dict, message_id: str | None = None, headers: dict | None = None) -> str:
    return get_publisher().publish(routing_key, body, message_id=message_id, headers=headers)


def publish_many(messages: Iterable) -> list[str]:
    return get_publisher().publish_many(messages)


def declare_topology(functions_dir: str | Path | None = None) -> list[str]:
    return get_publisher().declare_topology(functions_dir)


def reset() -> None:
    """Close and forget the per-process publisher (tests, after changing PVA_AMQP_URL)."""
    global _proc_publisher
    with _proc_lock:
        if _proc_publisher is not None and _proc_pid == os.getpid():
            _proc_publisher.close()
        _proc_publisher = None
