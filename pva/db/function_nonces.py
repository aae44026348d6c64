"""SQL for function_nonces: the nonces of signed function requests already used, shared by every function
process on every host (see pva.services.function_auth and 016_function_nonces.sql).  Every function takes a
cursor: the caller owns the transaction."""
from __future__ import annotations

PRUNE_ON_USE = 64  # expired rows an insert removes on its way (skipping rows another process is removing)


def use(cur, nonce: str, expires_at: float, now: float) -> bool:
    """Record `nonce` as used until `expires_at`; False when it was used already.  A few expired rows go first."""
    cur.execute("""with pruned as (
                       delete from function_nonces where nonce in (
                           select nonce from function_nonces where expires_at < %s
                            order by expires_at limit %s for update skip locked))
                   insert into function_nonces(nonce, expires_at) values (%s, %s) on conflict do nothing""",
                (now, PRUNE_ON_USE, nonce, expires_at))
    return cur.rowcount == 1


def prune(cur, now: float) -> int:
    """Forget every nonce whose request can no longer be accepted; returns how many went."""
    cur.execute("delete from function_nonces where expires_at < %s", (now,))
    return cur.rowcount
