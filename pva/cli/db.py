"""`pva db migrate`, `pva db status` and `pva db recount`."""
from __future__ import annotations

from ._common import group


def register(sub) -> None:
    _p, dsub = group(sub, "db", "database schema", "db_command")
    m = dsub.add_parser("migrate", help="apply pending migrations (safe to rerun)")
    m.set_defaults(func=_migrate)
    s = dsub.add_parser("status", help="list migrations and whether they are applied")
    s.set_defaults(func=_status)
    r = dsub.add_parser("recount", help="recount the library counters (stats, facets) from the media rows")
    r.add_argument("--user", default=None, help="only this user's library (user name); default everyone's")
    r.set_defaults(func=_recount)


def _migrate(args) -> int:
    from pva.infra.migrate import migrate

    applied = migrate()
    print(f"database is up to date ({len(applied)} migration(s) applied now)")
    return 0


def _status(args) -> int:
    from pva.infra.migrate import status

    for m, done in status():
        print(f"{m.version:03d} {m.name:30} {'applied' if done else 'pending'}")
    return 0


def _recount(args) -> int:
    import time

    from pva.services import stats
    from pva.infra.db import query_one

    owner = None
    if args.user:
        row = query_one("select id from users where username = %s", (args.user,))
        if row is None:
            print(f"pva db recount: no user named {args.user!r} (see `pva users list`)")
            return 1
        owner = row["id"]
    print(f"recounting {'the library of ' + args.user if args.user else 'every library'}; "
          "media writes wait until it finishes ...", flush=True)
    t = time.perf_counter()
    n = stats.recount(owner)
    print(f"wrote {n} counter rows in {time.perf_counter() - t:.1f}s")
    return 0
