"""`pva up`, `pva down`, `pva status`: the embedded stack for one machine."""
from __future__ import annotations

import json

from pva.stack import SERVICES

from ._common import fail


def register(sub) -> None:
    p = sub.add_parser("up", help="start the embedded stack (Postgres, RabbitMQ, S3); idempotent")
    p.add_argument("--only", nargs="+", choices=SERVICES, metavar="SERVICE",
                   help=f"only these services ({', '.join(SERVICES)})")
    p.set_defaults(func=_up)
    p = sub.add_parser("down", help="stop what `pva up` started (servers it found running are left alone)")
    p.add_argument("--only", nargs="+", choices=SERVICES, metavar="SERVICE")
    p.set_defaults(func=_down)
    p = sub.add_parser("status", help="each service, its URL and whether it answers (exit 1 if one does not)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_status)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _up(args) -> int:
    from pva.stack import StackError, up

    try:
        up(log=_say, only=args.only)
    except StackError as e:
        fail(f"pva up: {e}")
        _print_status(only=args.only)
        return 1
    return _print_status(only=args.only)


def _down(args) -> int:
    from pva.stack import StackError, down

    try:
        outcome = down(log=_say, only=args.only)
    except StackError as e:
        return fail(f"pva down: {e}")
    if not outcome:
        print("nothing to stop (no stack recorded)")
    for name, what in outcome.items():
        if what.startswith("left running"):
            print(f"{name}: {what}")
    return 0


def _print_status(only=None) -> int:
    from pva.stack import redact, status

    rows = [r for r in status() if not only or r["service"] in only]
    width = max(len(redact(r["url"]) or "-") for r in rows)
    for r in rows:
        mark = "up  " if r["answers"] else "DOWN"
        who = ("started by pva up, pid %s" % r["pid"]) if r["started_by_us"] else "external"
        print(f"{r['service']:9} {mark} {redact(r['url']) or '-':{width}}  {who}  ({r['detail']})")
        if not r["answers"] and r.get("log_tail"):
            print(f"    last lines of {r['log']}:")
            for line in r["log_tail"].splitlines():
                print(f"    | {line}")
    if not only:
        from pva.services.models import models_status

        for m in models_status():
            print(f"{m['analysis']:10} {'ok  ' if m['ok'] else 'MISSING'} {m['detail']}")
    return 0 if all(r["answers"] for r in rows) else 1


def _status(args) -> int:
    from pva.stack import redact, status

    if args.json:
        rows = status()
        for r in rows:
            r["url"] = redact(r["url"]) or None
        print(json.dumps(rows, indent=2, default=str))
        return 0 if all(r["answers"] for r in rows) else 1
    return _print_status()
