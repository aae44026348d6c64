"""SQL for login_failures: the throttles' memory, shared by every gateway process (see pva.auth).

Keys: 'u:<name>' (a name's failures from anywhere: slows, never refuses), 'c:<address>' (an address's failures
over all names), 'p:<address> <name>' (one address against one name) and 's:<user id>' (shares naming unknown
users).  All use the same 15-minute window, so the reconcile cron's prune serves them all."""
from __future__ import annotations

from pva.infra.db import execute, query, transaction


def recent(keys: list[str], since: float) -> list[dict]:
    """[{key, n, first}] failures per key after `since`."""
    return query("""select key, count(*) as n, min(at) as first from login_failures
                     where key = any(%s) and at > %s group by key""", (keys, since))


def record(keys: list[str], at: float, prune_before: float) -> None:
    with transaction() as cur:
        cur.execute("delete from login_failures where key = any(%s) and at <= %s", (keys, prune_before))
        cur.execute("insert into login_failures(key, at) select k, %s from unnest(%s::text[]) k", (at, keys))


def clear(keys: list[str]) -> None:
    execute("delete from login_failures where key = any(%s)", (keys,))


def clear_all() -> None:
    execute("delete from login_failures")


def prune(before: float) -> int:
    return execute("delete from login_failures where at <= %s", (before,))
