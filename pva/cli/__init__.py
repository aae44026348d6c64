"""The `pva` command: one module per command group, one style.

Each module in this package defines ``register(sub)``, which adds its subcommands to the argparse subparsers and
sets ``func`` on each: a handler ``_name(args) -> int`` that only reads the arguments, calls a service or function
(imported inside the handler, so `pva --help` stays fast and loads neither the gateway nor the models; at module
level only what the parser itself needs) and prints the outcome.  Failures print `pva <command>: <why>` on stderr
(``_common.fail``).  Exit codes: 0 done, 1 the operation failed (message on stderr), 2 usage or configuration error (a
group without its action prints its help and returns 2), 130 interrupted.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# The command groups, in the order `pva --help` lists them (each module defines register(subparsers)).
COMMAND_MODULES = [
    "pva.cli.stack",       # up, down, status
    "pva.cli.db",          # db migrate, db status, db recount
    "pva.cli.functions",   # functions serve, functions list
    "pva.cli.load",        # load
    "pva.cli.users",       # users create, users list
    "pva.cli.tokens",      # tokens create, tokens list, tokens revoke
    "pva.cli.models",      # models pull
    "pva.cli.faces",       # faces recluster
    "pva.cli.duplicates",  # duplicates hash, duplicates list
    "pva.cli.places",      # places (city, region, country of items with a location)
    "pva.cli.bursts",      # bursts, memories (issue 21: what the housekeeping cron prepares, now)
    "pva.cli.sync",        # sync
    "pva.cli.certs",       # certs
    "pva.cli.backup",      # backup, restore, check
    "pva.cli.serve",       # serve (the gateway + web UI)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pva", description="PhotoAndVideoAnalysis command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pva.config import SettingsError
    from pva.log import setup_logging

    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        setup_logging(json_logs=getattr(args, "json_logs", None))
        return int(args.func(args) or 0)
    except SettingsError as e:
        print(f"pva: configuration error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pva: interrupted", file=sys.stderr)
        return 130
