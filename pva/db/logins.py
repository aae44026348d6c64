"""SQL for login_failures: the throttles' memory, shared by every gateway process (see pva.services.auth).

Keys: 'u:<name>' (a name's failures from anywhere: slows, never refuses), 'c:<address>' (an address's failures
over all names), 'p:<address> <name>' (one address against one name) and 's:<user id>' (shares naming unknown
users).  All use the same 15-minute window, so the reconcile cron's prune (pva.services.housekeeping) serves them
all.  Every function takes a cursor: the caller owns the transaction."""
from __future__ import annotations


def recent(cur, keys: list[str], since: float) -> list[dict]:
    """[{key, n, first}] failures per key after `since`."""
    cur.execute("""select key, count(*) as n, min(at) as first from login_failures
                    where key = any(%s) and at > %s group by key""", (keys, since))
    return list(cur.fetchall())


def record(cur, keys: list[str], at: float, prune_before: float) -> None:
    cur.execute("delete from login_failures where key = any(%s) and at <= %s", (keys, prune_before))
    cur.execute("insert into login_failures(key, at) select k, %s from unnest(%s::text[]) k", (at, keys))


def clear(cur, keys: list[str]) -> None:
    cur.execute("delete from login_failures where key = any(%s)", (keys,))


def clear_all(cur) -> None:
    cur.execute("delete from login_failures")


def prune(cur, before: float) -> int:
    cur.execute("delete from login_failures where at <= %s", (before,))
    return cur.rowcount
