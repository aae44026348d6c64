"""`pva load DIR [--owner USER]`."""
from __future__ import annotations

from ._common import fail


def register(sub) -> None:
    p = sub.add_parser("load", help="batch load a folder: move its photos and videos into the library")
    p.add_argument("dir", help="the load folder (its files are moved into storage keeping the hierarchy)")
    p.add_argument("--owner", help="user who will own the files (default: the only user, if there is one)")
    p.add_argument("--workers", type=int, default=0, help="parallel ingest processes (default: CPU count)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_load)


def _load(args) -> int:
    from rich.console import Console

    from pva.services.ingest import resolve_owner
    from pva.services.load import default_owner, load

    console = Console(stderr=True)
    if not args.owner:
        try:
            args.owner = default_owner()
        except LookupError as e:
            raise SystemExit(f"pva load: {e}") from None
    try:
        owner = resolve_owner(args.owner)
    except LookupError as e:
        return fail(f"pva load: {e}", 2)
    summary = load(args.dir, owner, workers=args.workers or None, progress=not args.no_progress,
                   console=console)
    c = summary.counts
    print(f"{summary.total} file(s) in {summary.seconds:.1f} s ({summary.files_per_second:.1f} files/s): "
          f"{c['added']} added, {c['duplicate']} duplicate, {c['rejected']} rejected, {c['failed']} failed")
    for rel, reason in summary.rejected:
        print(f"  rejected  {rel!r}: {reason}")
    for rel, reason in summary.failed:
        print(f"  failed    {rel!r}: {reason}")
    if summary.rejected:
        print(f"rejected files are in {args.dir}/rejected/ with a .reason.txt beside each")
    if summary.failed:
        return fail("some files could not be stored because of a service error; they are still in the load folder: "
                    "check `pva status` and run the same command again")
    return 0
