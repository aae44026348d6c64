"""`pva users create|list` and `pva tokens create|list|revoke`."""
from __future__ import annotations

import getpass
import sys


def register(sub) -> None:
    u = sub.add_parser("users", help="manage users")
    usub = u.add_subparsers(dest="users_command", metavar="ACTION")
    c = usub.add_parser("create", help="create a user (asks for the password)")
    c.add_argument("name")
    c.add_argument("--admin", action="store_true", help="the user can manage users and all jobs")
    c.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    c.add_argument("--display-name", default="")
    c.set_defaults(func=_users_create)
    lst = usub.add_parser("list", help="list users")
    lst.set_defaults(func=_users_list)
    u.set_defaults(func=lambda a: (u.print_help(), 2)[1])

    t = sub.add_parser("tokens", help="manage API tokens")
    tsub = t.add_subparsers(dest="tokens_command", metavar="ACTION")
    tc = tsub.add_parser("create", help="create an API token for a user (printed once)")
    tc.add_argument("user")
    tc.add_argument("--scopes", default="read", help="comma-separated: read,write,upload,admin (default read)")
    tc.add_argument("--name", default="", help="a label to recognise the token")
    tc.add_argument("--expires-days", type=int, default=None)
    tc.set_defaults(func=_tokens_create)
    tl = tsub.add_parser("list", help="list a user's API tokens")
    tl.add_argument("user")
    tl.set_defaults(func=_tokens_list)
    tr = tsub.add_parser("revoke", help="revoke a token by id")
    tr.add_argument("user")
    tr.add_argument("token_id")
    tr.set_defaults(func=_tokens_revoke)
    t.set_defaults(func=lambda a: (t.print_help(), 2)[1])


def _read_password(args) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    p1 = getpass.getpass("password: ")
    p2 = getpass.getpass("again: ")
    if p1 != p2:
        raise SystemExit("pva: the passwords differ")
    return p1


def _users_create(args) -> int:
    from . import auth
    from .db.users import UserExists

    try:
        user = auth.create_user(args.name, _read_password(args), is_admin=args.admin,
                                display_name=args.display_name)
    except (auth.AuthError, UserExists) as e:
        print(f"pva: {e}", file=sys.stderr)
        return 1
    print(f"created user {user['username']} ({user['id']}){' admin' if user['is_admin'] else ''}")
    return 0


def _users_list(args) -> int:
    from .db import users

    for u in users.list_all():
        flags = ",".join(f for f, on in (("admin", u["is_admin"]), ("disabled", u["disabled"])) if on)
        print(f"{u['id']}  {u['username']:24} {flags}")
    return 0


def _user_or_fail(name: str):
    from .db import users

    u = users.get_by_username(name)
    if u is None:
        print(f"pva: no user named {name!r} (see `pva users list`)", file=sys.stderr)
    return u


def _tokens_create(args) -> int:
    from . import auth

    user = _user_or_fail(args.user)
    if user is None:
        return 1
    try:
        token, row = auth.create_token(user["id"], args.scopes, name=args.name, expires_in_days=args.expires_days)
    except auth.AuthError as e:
        print(f"pva: {e}", file=sys.stderr)
        return 1
    print(f"token id {row['id']} scopes {','.join(row['scopes'])} (store it now; it is not shown again):",
          file=sys.stderr)
    print(token)
    return 0


def _tokens_list(args) -> int:
    from . import auth

    user = _user_or_fail(args.user)
    if user is None:
        return 1
    for t in auth.list_tokens(user["id"]):
        state = "revoked" if t["revoked_at"] else "active"
        print(f"{t['id']}  {t['prefix']}…  {','.join(t['scopes']):24} {state:8} {t['name']}")
    return 0


def _tokens_revoke(args) -> int:
    import uuid

    from . import auth

    user = _user_or_fail(args.user)
    if user is None:
        return 1
    try:
        tid = uuid.UUID(args.token_id)
    except ValueError:
        print("pva: token id must be a UUID (see `pva tokens list USER`)", file=sys.stderr)
        return 1
    if not auth.revoke_token(tid, user["id"]):
        print("pva: no such token for that user", file=sys.stderr)
        return 1
    print("revoked")
    return 0
