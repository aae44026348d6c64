"""What every command module shares: a command group that prints its help without an action, and failing."""
from __future__ import annotations

import sys


def group(sub, name: str, help: str, dest: str, metavar: str = "ACTION"):
    """A command with actions (`pva NAME ACTION`): returns (its parser, its action subparsers).  Without an
    action it prints its help and exits 2."""
    p = sub.add_parser(name, help=help)
    actions = p.add_subparsers(dest=dest, metavar=metavar)
    p.set_defaults(func=lambda _args: (p.print_help(), 2)[1])
    return p, actions


def fail(message: str, code: int = 1) -> int:
    """Print MESSAGE on stderr and return CODE (1: the operation failed; 2: usage or configuration)."""
    print(message, file=sys.stderr)
    return code
