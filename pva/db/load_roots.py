"""SQL for load_roots: the folders `pva load` declared for an owner (see pva.services.inbox for their use)."""
from __future__ import annotations


def declare(cur, owner_id, path: str) -> None:
    """Record (or refresh) that `owner_id` loads from `path` (already resolved by the caller)."""
    cur.execute("""insert into load_roots(owner_id, path) values (%s, %s)
                   on conflict (owner_id, path) do update set declared_at = now()""", (owner_id, path))


def for_owner(cur, owner_id) -> list[str]:
    cur.execute("select path from load_roots where owner_id = %s order by path", (owner_id,))
    return [r["path"] for r in cur.fetchall()]
