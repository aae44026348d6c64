"""The `pva` command.  Each domain module registers its own subcommands with ``register(subparsers)``;
the handler it sets (``func``) receives the parsed args and returns an exit code."""
from __future__ import annotations

import argparse
import importlib
import sys

# Domain modules that contribute subcommands (each defines register(subparsers)).
COMMAND_MODULES = [
    "pva.stack.commands",      # up, down, status
    "pva.db.commands",         # db migrate, db status
    "pva.runtime.commands",    # functions serve, functions list
    "pva.ingest.commands",     # load
    "pva.auth_commands",       # users create/list, tokens
    "pva.analysis.commands",   # models pull, faces recluster, jobs reconcile
    "pva.sync.commands",       # sync
    "pva.certs",               # certs
    "pva.backup_commands",     # backup, restore, check
    "gateway.commands",        # serve (the gateway + web UI)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pva", description="PhotoAndVideoAnalysis command line")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name or name.startswith(str(e.name) + "."):
                continue  # that part of the product is not built yet
            raise
        mod.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from .config import SettingsError
    from .log import setup_logging

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


if __name__ == "__main__":
    sys.exit(main())
