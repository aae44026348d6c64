"""`pva users create|list`."""
from __future__ import annotations

import getpass
import sys

from ._common import fail, group


def register(sub) -> None:
    _u, usub = group(sub, "users", "manage users", "users_command")
    c = usub.add_parser("create", help="create a user (asks for the password)")
    c.add_argument("name")
    c.add_argument("--admin", action="store_true", help="the user can manage users and all jobs")
    c.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    c.add_argument("--display-name", default="")
    c.set_defaults(func=_create)
    lst = usub.add_parser("list", help="list users")
    lst.set_defaults(func=_list)


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    p1 = getpass.getpass("password: ")
    p2 = getpass.getpass("again: ")
    if p1 != p2:
        raise SystemExit("pva: the passwords differ")
    return p1


def _create(args) -> int:
    from pva.errors import ServiceError
    from pva.services import auth

    try:
        user = auth.create_user(args.name, _read_password(args), is_admin=args.admin,
                                display_name=args.display_name)
    except ServiceError as e:  # a bad name or password, a taken name
        return fail(f"pva: {e}")
    print(f"created user {user['username']} ({user['id']}){' admin' if user['is_admin'] else ''}")
    return 0


def _list(args) -> int:
    from pva.services import auth

    for u in auth.list_users():
        flags = ",".join(f for f, on in (("admin", u["is_admin"]), ("disabled", u["disabled"])) if on)
        print(f"{u['id']}  {u['username']:24} {flags}")
    return 0
