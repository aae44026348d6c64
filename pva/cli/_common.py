"""What every command module shares: a command group that prints its help without an action, failing, and the
progress bar of a long command."""
from __future__ import annotations

import sys
from contextlib import contextmanager


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


@contextmanager
def progress_bar(label: str, disable: bool, unit: str = "items", rate_width: int | None = 7):
    """A progress bar on stderr (DISABLE: the command's --no-progress): `LABEL ━━━ done/total  N UNIT/s  elapsed
    ETA remaining`; with rate_width=None `LABEL ━━━ done/total UNIT elapsed`, for a few long steps where a rate
    and an ETA say little.  Yields progress(done, total), the callback the services take; the total may change
    as the service finds out more."""
    import time

    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    if rate_width is None:
        tail = [TextColumn(unit), TimeElapsedColumn()]
    else:
        tail = [TextColumn(f"{{task.fields[rate]:>{rate_width}.0f}} {unit}/s"), TimeElapsedColumn(),
                TextColumn("ETA"), TimeRemainingColumn()]
    t0 = time.perf_counter()
    with Progress(TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), *tail,
                  console=Console(stderr=True), disable=disable, transient=False) as bar:
        task = bar.add_task(label, total=None, rate=0.0)

        def progress(done: int, total: int) -> None:
            bar.update(task, total=total, completed=done, rate=done / max(1e-6, time.perf_counter() - t0))

        yield progress
