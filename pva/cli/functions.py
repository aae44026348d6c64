"""`pva functions serve [NAME...]` and `pva functions list`."""
from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path

from ._common import fail, group

log = logging.getLogger("pva.runtime")


def register(sub) -> None:
    _p, fsub = group(sub, "functions", "run or list the serverless functions (local Nuclio-compatible runtime)",
                     "functions_command", metavar="SUBCOMMAND")

    s = fsub.add_parser("serve", help="run functions from their function.yaml until SIGTERM/Ctrl-C",
                        description="Run each function's triggers (rabbit-mq, http, cron) with numWorkers worker "
                                    "processes each; crashed workers are restarted; SIGTERM drains. "
                                    "rabbit-mq trigger urls are replaced by PVA_AMQP_URL (or the broker `pva up` "
                                    "recorded) when set.")
    s.add_argument("names", nargs="*", metavar="NAME", help="functions to run (metadata.name); default: all")
    s.add_argument("--dir", type=Path, default=None, help="functions directory (default: ./functions)")
    s.add_argument("--host", default="127.0.0.1", help="address for http triggers (default 127.0.0.1)")
    s.add_argument("--log-dir", type=Path, default=None,
                   help="write each worker's JSON log to DIR/<function>.<trigger>.<worker>.log (default: stderr)")
    s.add_argument("--ready-file", type=Path, default=None,
                   help="write JSON (pid, ports, worker pids) here once every worker is ready")
    s.add_argument("--drain-timeout", type=float, default=30.0,
                   help="seconds a worker may take to finish its current event on shutdown (default 30)")
    s.set_defaults(func=_serve)

    ls = fsub.add_parser("list", help="validate and list the functions and their triggers")
    ls.add_argument("--dir", type=Path, default=None, help="functions directory (default: ./functions)")
    ls.set_defaults(func=_list)


def _specs(args):
    from pva.runtime.processor import default_functions_dir
    from pva.runtime.spec import discover, select

    return select(discover(args.dir or default_functions_dir()), getattr(args, "names", None))


def _list(args) -> int:
    from pva.runtime.spec import SpecError

    try:
        specs = _specs(args)
    except SpecError as e:
        return fail(f"pva: {e}", 2)
    if not specs:
        print("no functions found")
    for s in specs:
        print(f"{s.name}  ({s.handler}, {s.runtime})  {s.path}")
        for t in s.triggers.values():
            a = t.attributes
            if t.kind == "rabbit-mq":
                detail = (f"exchange={a['exchangeName']} queue={a.get('queueName') or '(default)'} "
                          f"topics={','.join(a['topics']) or '-'} prefetch={a.get('prefetchCount', 0)}")
            elif t.kind == "http":
                detail = f"port={a.get('port', 'auto')} maxRequestBodySize={a.get('maxRequestBodySize')}"
            else:
                detail = f"interval={a['interval']}" if "interval" in a else f"schedule={a['schedule']!r}"
            print(f"  - {t.name}: {t.kind} x{t.num_workers}  {detail}")
    return 0


def _serve(args) -> int:
    from pva.runtime.processor import Processor, ProcessorError
    from pva.runtime.spec import SpecError

    try:
        specs = _specs(args)
        if not specs:
            return fail("pva: no functions to serve (no */function.yaml found)", 2)
        proc = Processor(specs, host=args.host, log_dir=args.log_dir, ready_file=args.ready_file,
                         drain_timeout=args.drain_timeout)
    except (SpecError, ProcessorError) as e:
        return fail(f"pva: {e}", 2)
    stop = threading.Event()

    def on_signal(signum, _frame):
        log.info("shutting down: draining workers", extra={"signal": signum})
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        proc.start()
    except ProcessorError as e:
        return fail(f"pva: {e}")
    while not stop.wait(0.5):
        if proc.stopped.is_set():
            log.error("supervisor stopped unexpectedly")
            return 1
    proc.stop()
    return 0
