"""Bus benchmark: RabbitMQ messages/s through pva.infra.bus and the local function runtime, beside raw pika measured
in the same run on the same broker (persistent messages, durable queue, publisher confirms):

  publish     raw pika BlockingChannel with confirm_delivery (one confirm per message, each one an fsync on a
              durable queue, so measured on fewer messages) vs pva.infra.bus Publisher.publish (same);
              raw pika without confirms (the ceiling: nothing known to be stored) vs pva.infra.bus publish_many
              (confirmed as a batch)
  consume     a raw pika consumer process (basic_consume, prefetch N, json.loads, ack) on a pre-filled queue
              vs `pva functions serve` running a no-op function (rabbit-mq trigger, same prefetch) on the same
  end to end  raw pika publish (no confirms) + raw consumer vs pva publish_many + the no-op function,
              publisher and consumer running concurrently

Consumption is timed from the first to the last message handled (stamped by the consumer itself), so process
start-up is not counted.

    .venv/bin/python bench/bus.py [--messages 5000] [--prefetch 100] [--workers 1]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

from _env import REPO, table

sys.path.insert(0, str(REPO))

NOOP_HANDLER = '''
import os, time

MARK = os.environ["BENCH_MARK_DIR"]


def handler(context, event):
    # a no-op function; the first and last message of a run stamp the time so the bench can measure
    body = event.body
    if body.get("first") or body.get("last"):
        with open(os.path.join(MARK, body["run"] + ("-first" if body.get("first") else "-last")), "w") as f:
            f.write(repr(time.time()))
'''


def make_function(root: Path, exchange: str, queue: str, prefetch: int, workers: int, mark: Path) -> Path:
    import yaml

    fdir = root / "functions" / "noop"
    fdir.mkdir(parents=True)
    (fdir / "handler.py").write_text(NOOP_HANDLER)
    doc = {
        "apiVersion": "nuclio.io/v1", "kind": "NuclioFunction", "metadata": {"name": "noop"},
        "spec": {"runtime": "python:3.11", "handler": "handler:handler",
                 "env": [{"name": "BENCH_MARK_DIR", "value": str(mark)}],
                 "triggers": {"bus": {"kind": "rabbit-mq", "numWorkers": workers, "attributes": {
                     "exchangeName": exchange, "queueName": queue, "topics": ["bench.#"],
                     "prefetchCount": prefetch, "durableExchange": True, "durableQueue": True}}}},
    }
    (fdir / "function.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return root / "functions"


def messages(n: int, run: str) -> list[tuple[str, dict]]:
    out = [("bench.msg", {"media_id": f"{i:08d}", "kind": "detect", "attempt": 1, "run": run}) for i in range(n)]
    out[0][1]["first"] = True
    out[-1][1]["last"] = True
    return out


def wait_marks(mark: Path, run: str, timeout: float = 300) -> float:
    first, last = mark / f"{run}-first", mark / f"{run}-last"
    deadline = time.monotonic() + timeout
    while not (first.exists() and last.exists()):
        if time.monotonic() > deadline:
            raise SystemExit(f"messages of run {run} not handled within {timeout}s")
        time.sleep(0.01)
    time.sleep(0.02)
    return float(last.read_text()) - float(first.read_text())


def raw_consumer(url: str, queue: str, prefetch: int, mark: str, ready) -> None:
    """Raw pika: consume, decode JSON, ack each — what the runtime does minus the Nuclio event plumbing."""
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=prefetch)

    def on_message(ch, method, props, body):
        b = json.loads(body)
        if b.get("first") or b.get("last"):
            with open(os.path.join(mark, b["run"] + ("-first" if b.get("first") else "-last")), "w") as f:
                f.write(repr(time.time()))
        ch.basic_ack(method.delivery_tag)
        if b.get("last"):
            ch.stop_consuming()

    ch.basic_consume(queue, on_message)
    ready.set()
    ch.start_consuming()
    conn.close()


def raw_publish(url: str, exchange: str, msgs, confirm: bool = True) -> float:
    import pika

    conn = pika.BlockingConnection(pika.URLParameters(url))
    ch = conn.channel()
    if confirm:
        ch.confirm_delivery()
    t = time.perf_counter()
    for i, (rk, body) in enumerate(msgs):
        ch.basic_publish(exchange, rk, json.dumps(body).encode(),
                         pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                              message_id=f"raw-{i}"))
    dt = time.perf_counter() - t
    conn.close()
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--single", type=int, default=300, help="messages for the confirm-each rows")
    ap.add_argument("--prefetch", type=int, default=100)
    ap.add_argument("--workers", type=int, default=1, help="numWorkers of the no-op function")
    args = ap.parse_args()
    n = args.messages

    import pika

    from pva.infra.bus import Publisher
    from pva.config import get_settings
    from pva.runtime import ServeProcess

    url = get_settings().effective_amqp_url
    rid = secrets.token_hex(3)
    exchange, q_raw, q_fn = f"pva-bench-{rid}", f"pva-bench-{rid}.raw", f"pva-bench-{rid}.noop"
    tmp = Path(tempfile.mkdtemp(prefix="pva-bench-bus-"))
    mark = tmp / "marks"
    mark.mkdir()
    admin = pika.BlockingConnection(pika.URLParameters(url))
    ach = admin.channel()
    ach.exchange_declare(exchange, exchange_type="topic", durable=True)
    for q in (q_raw, q_fn):
        ach.queue_declare(q, durable=True)
    ach.queue_bind(q_raw, exchange, "raw.#")
    ach.queue_bind(q_fn, exchange, "bench.#")
    rows = []
    try:
        pub = Publisher(url, exchange)
        # ---------------------------------------------------------------- publish (into the raw queue)
        raw_msgs = [("raw.msg", b) for _, b in messages(n, "p0")]
        n1 = min(n, args.single)
        t_raw = raw_publish(url, exchange, raw_msgs[:n1])
        t = time.perf_counter()
        for rk, body in raw_msgs[:n1]:
            pub.publish(rk, body)
        t_one = time.perf_counter() - t
        t_nc = raw_publish(url, exchange, raw_msgs, confirm=False)
        t = time.perf_counter()
        pub.publish_many(raw_msgs)
        t_many = time.perf_counter() - t
        ach.queue_purge(q_raw)
        rows += [("publish", f"raw pika, confirm each ({n1})", f"{n1 / t_raw:,.0f}", "1.00"),
                 ("", f"pva publish, confirm each ({n1})", f"{n1 / t_one:,.0f}", f"{t_raw / t_one:.2f}"),
                 ("", "raw pika, no confirms", f"{n / t_nc:,.0f}", "1.00"),
                 ("", "pva publish_many, batch confirm", f"{n / t_many:,.0f}", f"{t_nc / t_many:.2f}")]

        # ---------------------------------------------------------------- consume a pre-filled queue
        pub.publish_many([("raw.msg", b) for _, b in messages(n, "c-raw")])
        ready = mp.get_context("spawn").Event()
        p = mp.get_context("spawn").Process(target=raw_consumer, args=(url, q_raw, args.prefetch, str(mark), ready))
        p.start()
        c_raw = wait_marks(mark, "c-raw")
        p.join(30)
        pub.publish_many(messages(n, "c-fn"))  # waits in the function's queue until it starts
        fdir = make_function(tmp, exchange, q_fn, args.prefetch, args.workers, mark)
        with ServeProcess(fdir, ["noop"], env={"PVA_AMQP_URL": url, "PVA_LOG_LEVEL": "WARNING"},
                          log_dir=tmp / "logs") as srv:
            c_fn = wait_marks(mark, "c-fn")
            rows += [("consume + ack, no-op", "raw pika consumer process", f"{n / c_raw:,.0f}", "1.00"),
                     ("", f"pva runtime, {args.workers} worker(s)", f"{n / c_fn:,.0f}", f"{c_raw / c_fn:.2f}")]

            # ------------------------------------------------------------ end to end, runtime already running
            t = time.perf_counter()
            pub.publish_many(messages(n, "e-fn"))
            wait_marks(mark, "e-fn")
            e_fn = time.perf_counter() - t
            srv_out = srv.output()
        ready = mp.get_context("spawn").Event()
        p = mp.get_context("spawn").Process(target=raw_consumer, args=(url, q_raw, args.prefetch, str(mark), ready))
        p.start()
        ready.wait(30)
        t = time.perf_counter()
        raw_publish(url, exchange, [("raw.msg", b) for _, b in messages(n, "e-raw")], confirm=False)
        wait_marks(mark, "e-raw")
        e_raw = time.perf_counter() - t
        p.join(30)
        rows += [("publish + handle", "raw pika (no confirms) + consumer", f"{n / e_raw:,.0f}", "1.00"),
                 ("", "pva publish_many + runtime", f"{n / e_fn:,.0f}", f"{e_raw / e_fn:.2f}")]
        pub.close()
    finally:
        for q in (q_raw, q_fn):
            ach.queue_delete(q)
        ach.exchange_delete(exchange)
        admin.close()
    print(f"bus benchmark: {n} persistent JSON messages, durable queue, prefetch {args.prefetch}, "
          f"{os.cpu_count()} cores, broker {url.split('@')[-1]}")
    print(table(rows, ("stage", "path", "msg/s", "ratio vs raw")))
    if "error" in srv_out and '"level": "error"' in srv_out:
        print("note: the runtime logged errors, see", tmp / "logs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
