"""`pva bursts`: group every library's photos into bursts again; `pva memories`: prepare every library's "On this
day" memories now (issue 21).  The housekeeping cron does both by itself (a library never grouped, then daily;
memories hourly and when the day changes): these are for an operator who does not want to wait."""
from __future__ import annotations

from ._common import fail, progress_bar


def register(sub) -> None:
    p = sub.add_parser("bursts", help="group the photos of every library into bursts again (photos of one camera "
                                      "within 2 s of the next)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_bursts)
    p = sub.add_parser("memories", help='prepare the "On this day" memories of every library now')
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_memories)


def _run(name: str, fn, args) -> dict | None:
    with progress_bar(name, args.no_progress, unit="libraries", rate_width=None) as progress:
        return fn(progress=progress)


def _bursts(args) -> int:
    from pva.services import bursts

    try:
        out = _run("bursts", bursts.rebuild_all, args)
    except Exception as e:  # the database: say so, not a traceback
        return fail(f"pva bursts: {e}")
    print(f"{out['owners']} librar{'y' if out['owners'] == 1 else 'ies'} grouped: {out['changed']} photo(s) changed")
    return 0


def _memories(args) -> int:
    from pva.services import memories

    try:
        out = _run("memories", memories.prepare_all, args)
    except Exception as e:
        return fail(f"pva memories: {e}")
    print(f"{out['owners']} librar{'y' if out['owners'] == 1 else 'ies'} prepared: {out['memories']} memories "
          f"for {', '.join(d.isoformat() for d in out['days'])}")
    return 0
