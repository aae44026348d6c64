"""`pva db migrate` and `pva db status`."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("db", help="database schema")
    dsub = p.add_subparsers(dest="db_command", metavar="ACTION")
    m = dsub.add_parser("migrate", help="apply pending migrations (safe to rerun)")
    m.set_defaults(func=_migrate)
    s = dsub.add_parser("status", help="list migrations and whether they are applied")
    s.set_defaults(func=_status)
    p.set_defaults(func=lambda a: (p.print_help(), 2)[1])


def _migrate(args) -> int:
    from .migrate import migrate

    applied = migrate()
    print(f"database is up to date ({len(applied)} migration(s) applied now)")
    return 0


def _status(args) -> int:
    from .migrate import status

    for m, done in status():
        print(f"{m.version:03d} {m.name:30} {'applied' if done else 'pending'}")
    return 0
