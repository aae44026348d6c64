"""`pva tokens create|list|revoke USER ...`: API tokens (the secret is printed once, on create)."""
from __future__ import annotations

import sys

from ._common import fail, group


def register(sub) -> None:
    _t, tsub = group(sub, "tokens", "manage API tokens", "tokens_command")
    tc = tsub.add_parser("create", help="create an API token for a user (printed once)")
    tc.add_argument("user")
    tc.add_argument("--scopes", default="read", help="comma-separated: read,write,upload,admin (default read)")
    tc.add_argument("--name", default="", help="a label to recognise the token")
    tc.add_argument("--expires-days", type=int, default=None)
    tc.set_defaults(func=_create)
    tl = tsub.add_parser("list", help="list a user's API tokens")
    tl.add_argument("user")
    tl.set_defaults(func=_list)
    tr = tsub.add_parser("revoke", help="revoke a token by id")
    tr.add_argument("user")
    tr.add_argument("token_id")
    tr.set_defaults(func=_revoke)


def _user_or_fail(name: str):
    from pva.services import auth

    u = auth.find_user(name)
    if u is None:
        fail(f"pva: no user named {name!r} (see `pva users list`)")
    return u


def _create(args) -> int:
    from pva.services import auth

    user = _user_or_fail(args.user)
    if user is None:
        return 1
    try:
        token, row = auth.create_token(user["id"], args.scopes, name=args.name, expires_in_days=args.expires_days)
    except auth.AuthError as e:
        return fail(f"pva: {e}")
    print(f"token id {row['id']} scopes {','.join(row['scopes'])} (store it now; it is not shown again):",
          file=sys.stderr)
    print(token)
    return 0


def _list(args) -> int:
    from pva.services import auth

    user = _user_or_fail(args.user)
    if user is None:
        return 1
    for t in auth.list_tokens(user["id"]):
        state = "revoked" if t["revoked_at"] else "active"
        print(f"{t['id']}  {t['prefix']}…  {','.join(t['scopes']):24} {state:8} {t['name']}")
    return 0


def _revoke(args) -> int:
    import uuid

    from pva.services import auth

    user = _user_or_fail(args.user)
    if user is None:
        return 1
    try:
        tid = uuid.UUID(args.token_id)
    except ValueError:
        return fail("pva: token id must be a UUID (see `pva tokens list USER`)")
    if not auth.revoke_token(tid, user["id"]):
        return fail("pva: no such token for that user")
    print("revoked")
    return 0
