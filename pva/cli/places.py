"""`pva places [--redo] [--batch N]`: name the places (city, region, country) of the items that have a location
and no place yet, e.g. a library made before place names existed (issue 21)."""
from __future__ import annotations

from ._common import fail, progress_bar


def register(sub) -> None:
    p = sub.add_parser("places", help="look up the city, region and country of items with a location and none yet "
                                      "(offline; a library from before place names)")
    p.add_argument("--redo", action="store_true", help="also items named with an older gazetteer")
    p.add_argument("--batch", type=int, default=5000, help="items per transaction (default: 5000)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_places)


def _places(args) -> int:
    import time

    from pva.services import places as places_service

    if args.batch < 1:
        return fail("pva places: --batch must be at least 1", 2)
    t0 = time.perf_counter()
    with progress_bar("places", args.no_progress, rate_width=9) as progress:
        try:  # the service also reports how many it named: the bar shows only how far it is
            out = places_service.fill_missing(batch=args.batch, redo=args.redo,
                                              progress=lambda done, _named, total: progress(done, total))
        except Exception as e:  # the database or the gazetteer: say which, not a traceback
            return fail(f"pva places: {e}")
    seconds = time.perf_counter() - t0
    print(f"{out['looked_up']} item(s) looked up in {seconds:.1f} s: {out['named']} named, "
          f"{out['looked_up'] - out['named']} with no place within reach")
    return 0
