"""One worker process of the local processor: one function, one trigger, one event at a time.

Started by the supervisor as ``python -m pva.runtime.worker '<json config>'`` with spec.env already in its
environment.  It imports the handler the way Nuclio's python wrapper does (``module:function`` from the function
directory, which is put first on sys.path), calls ``init_context(context)`` once, then takes events from its
trigger and hands the handler nuclio_sdk ``Context``/``Event`` objects.  Return values are encoded as Nuclio's
python wrapper encodes them and read back as its Go processor reads them (nuclio_wire.py): anything that is not
exactly one result (a list, a generator of several items, ...) is refused as a failed event and logged naming the
function, because on Nuclio it would stall or silently drop work.  An exception becomes a 500 and is logged.

SIGTERM (or SIGINT) drains: the event in progress finishes (and is acked), nothing new is taken, the process
exits 0.  Handler code runs on the worker's main thread, one event at a time (as in Nuclio, where each
worker is one python process).  Because a long analysis would starve AMQP heartbeats, the rabbit-mq consumer
connection disables them and relies on TCP keepalive to notice a dead broker.
"""
from __future__ import annotations

import asyncio
import base64
import ctypes
import datetime as dt
import http.server
import importlib
import inspect
import json
import logging
import os
import select
import signal
import socket
import sys
import time
import traceback
import types
import uuid
import zlib
from urllib.parse import parse_qsl, urlsplit

from . import nuclio_wire

EXIT_INIT_FAILED = 3
_GENERATORS = (types.GeneratorType, types.AsyncGeneratorType)
log = logging.getLogger("pva.runtime.worker")


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


# Cron events carry no timestamp on Nuclio: pkg/processor/trigger/cron/event.go GetTimestamp returns the epoch.
_EPOCH = dt.datetime(1970, 1, 1)


def _parse_body(body: bytes, content_type: str | None):
    """Nuclio's rule: a body is decoded from JSON only when the content type is exactly ``application/json``
    (nuclio_sdk/event.py, the wrapper's event deserializer), else it stays bytes; so does a charset suffix."""
    if content_type == "application/json" and body:
        try:
            return json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            log.warning("body is not valid JSON although content type is application/json; passing bytes",
                        extra={"error": str(e)})
    return body


class _ContextFilter(logging.Filter):
    """Adds function / trigger / worker_id to every record and flattens nuclio_sdk's ``with`` fields."""

    def __init__(self, fields: dict):
        super().__init__()
        self.fields = fields

    def filter(self, record: logging.LogRecord) -> bool:
        for k, v in self.fields.items():
            if not hasattr(record, k):
                setattr(record, k, v)
        extra = record.__dict__.pop("with", None)
        if isinstance(extra, dict):
            for k, v in extra.items():
                key = k if k not in record.__dict__ else f"with_{k}"
                setattr(record, key, v)
        return True


class Worker:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.function = cfg["function"]
        self.trigger_name = cfg["trigger"]
        self.kind = cfg["kind"]
        # event.trigger.kind is what the Go trigger calls itself ("rabbitMq"); context.trigger.kind is the kind as
        # written in function.yaml (trigger/registry.go l.65 passes it to the wrapper's --trigger-kind).
        self.event_kind = cfg.get("event_kind") or self.kind
        self.declared_kind = cfg.get("declared_kind") or self.kind
        self.reply_dir = cfg.get("reply_dir") or os.environ.get("PVA_FUNCTIONS_REPLY_DIR") or None
        self.worker_id = int(cfg["worker_id"])
        self.num_workers = int(cfg["num_workers"])
        self.attrs = cfg["attributes"]
        self.stopping = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.entry = None
        self.context = None

    # ------------------------------------------------------------------ setup
    def setup(self) -> None:
        import nuclio_sdk
        import nuclio_sdk.json_encoder

        fdir = self.cfg["function_dir"]
        if fdir not in sys.path:
            sys.path.insert(0, fdir)
        module_name, _, entry_name = self.cfg["handler"].partition(":")
        module = importlib.import_module(module_name)
        entry = getattr(module, entry_name, None)
        if not callable(entry):
            raise RuntimeError(f"{self.cfg['handler']}: {module_name} has no function {entry_name!r}")
        self.entry = entry
        self.encoder = nuclio_sdk.json_encoder.Encoder()
        sdk_logger = nuclio_sdk.Logger(logging.getLogger().level or logging.INFO, name=f"pva.function.{self.function}")
        self.platform = nuclio_sdk.Platform("local", namespace="pva")
        self.trigger_info = nuclio_sdk.TriggerInfo(self.event_kind, self.trigger_name)
        self.context = nuclio_sdk.Context(logger=sdk_logger, platform=self.platform, worker_id=self.worker_id,
                                          trigger=nuclio_sdk.TriggerInfo(self.declared_kind, self.trigger_name))
        init = getattr(module, "init_context", None)
        if callable(init):
            self._call(init, self.context)

    def _call(self, fn, *args):
        out = fn(*args)
        if inspect.isawaitable(out):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            out = self._loop.run_until_complete(out)
        return out

    def signal_ready(self) -> None:
        fd = self.cfg.get("ready_fd")
        if fd is not None:
            try:
                os.write(fd, b"ready\n")
                os.close(fd)
            except OSError:
                pass
            self.cfg["ready_fd"] = None
        log.info("worker ready")

    # ------------------------------------------------------------------ events
    def make_event(self, body, content_type, headers=None, fields=None, _id=None, method="", path="/", url="",
                   timestamp=None, size=None):
        import nuclio_sdk

        return nuclio_sdk.Event(
            body=body, content_type=content_type or "", trigger=self.trigger_info, fields=fields or {},
            headers=headers or {}, _id=_id or str(uuid.uuid4()), method=method, path=path,
            size=size, timestamp=timestamp or _utcnow(), url=url)

    def invoke(self, event) -> tuple[dict, bool]:
        """Run the handler; returns (Nuclio response dict, succeeded)."""
        resp, outcome = self.handle(event)
        return resp, outcome == "ok"

    def handle(self, event) -> tuple[dict, str]:
        """Run the handler; returns (Nuclio response dict, outcome): outcome is "ok", "raised" (the handler
        raised: a 500, as Nuclio's wrapper answers) or "refused" (its return is not exactly one result)."""
        started = time.monotonic()
        wire, what = None, "a generator"
        try:
            out = self._call_handler(event)
            what = nuclio_wire.describe(out)
            wire = nuclio_wire.encode(self.encoder.encode, out)
            resp, outcome = nuclio_wire.single_result(wire), "ok"
        except nuclio_wire.ReplyRefused as e:
            log.error("%s: the handler returned %s for one %s event, which Nuclio's processor does not read as "
                      "exactly one result (%s); return one dict, str, bytes, (status, body) or context.Response",
                      self.function, what, self.event_kind, e, extra={"event_id": event.id, "path": event.path})
            resp = {"body": f"{self.function}: the handler returned {what}, not exactly one result ({e}); "
                            f"see the function's log", "body_encoding": "text", "content_type": "text/plain",
                    "headers": {}, "status_code": 500}
            outcome = "refused"
        except Exception as e:  # noqa: BLE001 - the handler's error is reported, never crashes the worker
            tb = traceback.format_exc()
            log.error("handler raised %s: %s", type(e).__name__, e,
                      extra={"event_id": event.id, "path": event.path, "traceback": tb})
            resp = {"body": f"Exception caught in handler: {type(e).__name__}: {e}", "body_encoding": "text",
                    "content_type": "text/plain", "headers": {}, "status_code": 500}
            outcome = "raised"
        if self.reply_dir:
            self._record_reply(event, wire if wire is not None else "r" + json.dumps(resp), outcome)
        log.debug("event handled", extra={"event_id": event.id, "status": resp.get("status_code"),
                                          "outcome": outcome,
                                          "duration_ms": round((time.monotonic() - started) * 1000, 2)})
        return resp, outcome

    def _record_reply(self, event, wire: str, outcome: str) -> None:
        """Append the reply line Nuclio's processor would have read to <reply_dir>/<function>.<trigger>.<id>.jsonl
        (PVA_FUNCTIONS_REPLY_DIR; conformance tests read it back as Nuclio's Go side does)."""
        rec = {"function": self.function, "trigger": self.trigger_name, "trigger_kind": self.event_kind,
               "event_id": event.id, "path": event.path, "outcome": outcome, "reply": wire}
        try:
            os.makedirs(self.reply_dir, exist_ok=True)
            name = os.path.join(self.reply_dir, f"{self.function}.{self.trigger_name}.{self.worker_id}.jsonl")
            with open(name, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec) + "\n")
        except OSError as e:
            log.warning("cannot record the reply in %s: %s", self.reply_dir, e)

    def _call_handler(self, event):
        out = self.entry(self.context, event)
        if inspect.isawaitable(out):
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            out = self._loop.run_until_complete(out)
        return self._single_item(out)

    def _single_item(self, out):
        """A generator (or a Response whose body is one) stands for one result only when it yields exactly one
        item: the 1.14.1 wrapper does not iterate it at all (it would send ``str(generator)``) and newer ones
        stream every item as a chunk of one HTTP answer, which no queue or cron trigger reads."""
        import nuclio_sdk

        body_gen = isinstance(out, nuclio_sdk.Response) and isinstance(out.body, _GENERATORS)
        gen = out.body if body_gen else out
        if not isinstance(gen, _GENERATORS):
            return out
        if isinstance(gen, types.AsyncGeneratorType):
            async def drain():
                return [x async for x in gen]
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
            items = self._loop.run_until_complete(drain())
        else:
            items = list(gen)
        if len(items) != 1:
            raise nuclio_wire.ReplyRefused(f"it yielded {len(items)} items")
        if body_gen:
            item = items[0]
            out.body = item.body if isinstance(item, nuclio_sdk.Response) else item
            return out
        return items[0]

    def finish(self) -> None:
        cb = getattr(self.platform, "_termination_callback", None) if self.context else None
        if cb:
            try:
                self._call(cb)
            except Exception:  # noqa: BLE001
                log.exception("termination callback failed")

    def sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < end:
            time.sleep(min(0.1, max(0.0, end - time.monotonic())))

    # ------------------------------------------------------------------ triggers
    def run(self) -> None:
        {"rabbit-mq": self.run_rabbit, "http": self.run_http, "cron": self.run_cron}[self.kind]()

    def run_rabbit(self) -> None:
        import pika
        import pika.exceptions

        a = self.attrs
        exchange, queue, topics = a["exchangeName"], a["queueName"], a["topics"]
        prefetch = int(a.get("prefetchCount") or 0)
        backoff = 0.5
        while not self.stopping:
            conn = None
            try:
                params = pika.URLParameters(self.cfg["url"])
                params.client_properties = {"connection_name":
                                            f"pva-{self.function}-{self.trigger_name}-{self.worker_id}"}
                # Handlers run on this thread and may take minutes: no AMQP heartbeats (they would go
                # unanswered and the broker would drop us mid-event); TCP keepalive detects a dead peer.
                params.heartbeat = 0
                params.tcp_options = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}
                conn = pika.BlockingConnection(params)
                ch = conn.channel()
                ch.exchange_declare(exchange, exchange_type="topic", durable=bool(a.get("durableExchange")))
                ch.queue_declare(queue, durable=bool(a.get("durableQueue")))
                for topic in topics:
                    ch.queue_bind(queue, exchange, routing_key=topic)
                if prefetch:
                    ch.basic_qos(prefetch_count=prefetch)
                if backoff > 0.5:
                    log.info("reconnected to broker", extra={"queue": queue})
                backoff = 0.5
                self.signal_ready()


                for method, props, body in ch.consume(queue, inactivity_timeout=0.25):
                    if self.stopping:
                        break  # a message delivered while draining is requeued by cancel() below
                    if method is None:
                        continue
                    ts = _utcnow()
                    if props.timestamp:
                        ts = dt.datetime.fromtimestamp(props.timestamp, dt.timezone.utc).replace(tzinfo=None)
                    event = self.make_event(
                        body=_parse_body(body, props.content_type), content_type=props.content_type,
                        headers=dict(props.headers or {}), _id=props.message_id, method=props.type or "",
                        path=f"{method.exchange}/{method.routing_key}", url=props.reply_to or "", timestamp=ts,
                        size=len(body))
                    _, outcome = self.handle(event)
                    # Nuclio acks once the handler has run, whether it returned or raised (rabbitmq/trigger.go
                    # l.341-358: only a failure to submit the event leaves it unacked), so a raising handler
                    # loses the message there too.  A refused reply is nacked without requeue instead: the
                    # event counts as failed (and is dead-lettered where a policy says so) without coming
                    # back to the same handler forever.
                    if outcome == "refused":
                        ch.basic_nack(method.delivery_tag, requeue=False)
                    else:
                        ch.basic_ack(method.delivery_tag)
                    if self.stopping:
                        break
                ch.cancel()  # prefetched but unhandled messages go back to the queue
                conn.close()
                return
            except (pika.exceptions.AMQPError, OSError) as e:
                if self.stopping:
                    return
                if isinstance(e, pika.exceptions.ChannelClosedByBroker) and e.reply_code in (403, 404, 406):
                    log.error("broker refused the trigger's exchange/queue: %s (make durableExchange/durableQueue "
                              "match the existing exchange and queue, or delete them)", e.reply_text,
                              extra={"exchange": exchange, "queue": queue})
                    if self.cfg.get("ready_fd") is not None:  # never became ready: a configuration error
                        raise SystemExit(EXIT_INIT_FAILED) from None
                log.warning("broker connection lost, reconnecting in %.1fs: %s", backoff, e or type(e).__name__)
                try:
                    if conn is not None and conn.is_open:
                        conn.close()
                except Exception:  # noqa: BLE001
                    pass
                self.sleep(backoff)
                backoff = min(backoff * 2, 10.0)

    def run_http(self) -> None:
        lsock = socket.socket(fileno=self.cfg["listen_fd"])
        lsock.setblocking(False)
        max_body = int(self.attrs.get("maxRequestBodySize") or 4 * 1024 * 1024)
        worker = self

        class Handler(_HTTPHandler):
            pass
        Handler.worker = worker
        Handler.max_body = max_body
        self.signal_ready()
        while not self.stopping:
            try:
                r, _, _ = select.select([lsock], [], [], 0.25)
            except InterruptedError:
                continue
            if not r:
                continue
            try:
                conn, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                continue  # another worker took it
            except OSError as e:
                log.warning("accept failed: %s", e)
                continue
            conn.setblocking(True)
            try:
                Handler(conn, addr, None)
            except Exception:  # noqa: BLE001
                log.exception("http connection failed")
            finally:
                try:
                    conn.close()
                except OSError:
                    pass
        lsock.close()

    def run_cron(self) -> None:
        from .cron import CronSchedule
        from .duration import parse_duration

        a = self.attrs
        ev = a.get("event") or {}
        body_s = ev.get("body") or ""
        headers = {str(k): v for k, v in (ev.get("headers") or {}).items()}
        tick = {"body": body_s, "headers": headers, "path": ev.get("path") or "", "method": ev.get("method") or ""}
        self.signal_ready()
        if "interval" in a:
            interval = parse_duration(a["interval"])
            base = float(self.cfg.get("cron_base") or time.time())
            k = int((time.time() - base) // interval) + 1
            while not self.stopping:
                while k % self.num_workers != self.worker_id:
                    k += 1
                self.sleep(base + k * interval - time.time())
                if self.stopping:
                    break
                self._tick(**tick)
                k = max(k + 1, int((time.time() - base) // interval) + 1)  # skip ticks missed while busy
        else:
            sched = CronSchedule(a["schedule"])
            after = dt.datetime.now()
            while not self.stopping:
                nxt = sched.next_after(after)
                after = nxt
                if zlib.crc32(str(int(nxt.timestamp())).encode()) % self.num_workers != self.worker_id:
                    continue
                self.sleep((nxt - dt.datetime.now()).total_seconds())
                if self.stopping:
                    break
                self._tick(**tick)
                after = max(after, dt.datetime.now())

    def _tick(self, body: str, headers: dict, path: str, method: str) -> None:
        """One cron event as Nuclio's cron trigger builds it (cron/event.go): the configured body, headers, path
        and method; no content type (AbstractEvent's is empty), so the body stays bytes even when a
        Content-Type header says JSON; the epoch as timestamp."""
        raw = body.encode("utf-8")
        event = self.make_event(body=raw, content_type="", headers=dict(headers), path=path, method=method,
                                size=len(raw), timestamp=_EPOCH)
        self.invoke(event)


class _HTTPHandler(http.server.BaseHTTPRequestHandler):
    """One request per connection (HTTP/1.0 semantics) so a worker is never held by an idle keep-alive."""
    worker: Worker
    max_body: int
    timeout = 60
    server_version = "pva-functions"

    def log_message(self, format, *args):  # noqa: A002 - access logs go through our JSON logger
        log.debug("http %s", format % args)

    def _read_body(self) -> bytes | None:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537).strip():
                        pass
                    break
                total += size
                if total > self.max_body:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(3)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > self.max_body:
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        for k, v in (headers or {}).items():
            # Nuclio's http trigger sets only string (or Go int) header values (http/trigger.go l.593-610); a
            # number arrives from the JSON reply as a float64, so on Nuclio it is silently dropped: here too
            if not isinstance(v, str):
                log.warning("response header %s dropped: its value %r is not a string (Nuclio drops it too)", k, v)
                continue
            if k.lower() not in ("content-length", "content-type", "connection", "transfer-encoding"):
                self.send_header(str(k), v)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _linger(self, limit: int = 64 * 1024 * 1024, seconds: float = 2.0) -> None:
        """Lingering close after refusing a body we did not read: closing a socket with unread input makes
        the kernel send RST, which can destroy the 413 before the client reads it (it is still sending).
        Half-close our side, then discard what the client keeps sending, bounded in bytes and time."""
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(seconds)
            deadline, seen = time.monotonic() + seconds, 0
            while seen < limit and time.monotonic() < deadline:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                seen += len(chunk)
        except OSError:
            pass

    def _handle(self) -> None:
        self.close_connection = True
        try:
            body = self._read_body()
        except (ValueError, OSError):
            self._send(400, b"malformed request body", "text/plain")
            return
        if body is None:
            self._send(413, f"request body larger than maxRequestBodySize ({self.max_body} bytes)".encode(),
                       "text/plain")
            self._linger()
            return
        parts = urlsplit(self.path)
        headers = dict(self.headers.items())
        ctype = self.headers.get("Content-Type", "")
        host = self.headers.get("Host", "")
        event = self.worker.make_event(
            body=_parse_body(body, ctype), content_type=ctype, headers=headers,
            fields=dict(parse_qsl(parts.query, keep_blank_values=True)), method=self.command,
            path=parts.path or "/", url=f"http://{host}{self.path}" if host else self.path, size=len(body))
        resp, _ = self.worker.invoke(event)
        out = resp.get("body", "")
        if resp.get("body_encoding") == "base64":
            data = base64.b64decode(out)
        else:
            data = out.encode("utf-8") if isinstance(out, str) else bytes(out or b"")
        status = resp.get("status_code") or 200
        try:
            status = int(status)
        except (TypeError, ValueError):
            status = 500
        self._send(status, data, resp.get("content_type") or "text/plain", resp.get("headers"))

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle


def _die_with_parent(parent_pid: int) -> None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: drain when the supervisor dies
    except OSError:
        pass
    if parent_pid and os.getppid() != parent_pid:
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cfg = json.loads(argv[0])
    _die_with_parent(int(cfg.get("parent_pid") or 0))
    from ..log import setup_logging

    setup_logging()
    flt = _ContextFilter({"function": cfg["function"], "trigger": cfg["trigger"], "worker_id": cfg["worker_id"]})
    for h in logging.getLogger().handlers:
        h.addFilter(flt)
    w = Worker(cfg)

    def on_signal(signum, _frame):
        if not w.stopping:
            w.stopping = True
            log.info("draining: finishing the current event, taking no new ones", extra={"signal": signum})

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        w.setup()
    except BaseException as e:  # noqa: BLE001 - report import/init errors clearly, then exit non-zero
        log.error("function failed to initialise: %s: %s", type(e).__name__, e,
                  extra={"handler": cfg["handler"], "traceback": traceback.format_exc()})
        return EXIT_INIT_FAILED
    try:
        w.run()
    finally:
        w.finish()
    log.info("worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
