"""`pva places [--redo] [--batch N]`: name the places (city, region, country) of the items that have a location
and no place yet, e.g. a library made before place names existed (issue 21)."""
from __future__ import annotations

from ._common import fail


def register(sub) -> None:
    p = sub.add_parser("places", help="look up the city, region and country of items with a location and none yet "
                                      "(offline; a library from before place names)")
    p.add_argument("--redo", action="store_true", help="also items named with an older gazetteer")
    p.add_argument("--batch", type=int, default=5000, help="items per transaction (default: 5000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_places)


def _places(args) -> int:
    import time

    from rich.console import Console
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    from pva.services import places as places_service

    if args.batch < 1:
        return fail("pva places: --batch must be at least 1", 2)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    columns = [TextColumn("[bold]places"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]:>9.0f} items/s"), TimeElapsedColumn(), TextColumn("ETA"),
               TimeRemainingColumn()]
    with Progress(*columns, console=console, disable=args.no_progress, transient=False) as bar:
        task = bar.add_task("places", total=None, rate=0.0)

        def progress(done: int, named: int, total: int) -> None:
            bar.update(task, total=total, completed=done,
                       rate=done / max(1e-6, time.perf_counter() - t0))

        try:
            out = places_service.fill_missing(batch=args.batch, redo=args.redo, progress=progress)
        except Exception as e:  # the database or the gazetteer: say which, not a traceback
            return fail(f"pva places: {e}")
    seconds = time.perf_counter() - t0
    print(f"{out['looked_up']} item(s) looked up in {seconds:.1f} s: {out['named']} named, "
          f"{out['looked_up'] - out['named']} with no place within reach")
    return 0
