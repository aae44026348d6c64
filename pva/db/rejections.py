"""SQL for the rejections table: files that could not be ingested, with their reason."""
from __future__ import annotations


def insert(cur, owner_id, source: str, name: str, reason: str, size: int | None = None,
           sha512: bytes | None = None) -> int:
    cur.execute(
        """insert into rejections(owner_id, source, name, size, sha512, reason)
           values (%s, %s, %s, %s, %s, %s) returning id""",
        (owner_id, source, name[:1000], size, sha512, reason[:2000]))
    return cur.fetchone()["id"]


def recent(cur, owner_id, limit: int = 100) -> list[dict]:
    cur.execute("""select id, source, name, size, reason, created_at from rejections
                    where owner_id = %s order by created_at desc limit %s""", (owner_id, limit))
    return list(cur.fetchall())
