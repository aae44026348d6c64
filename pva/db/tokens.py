"""SQL for api_tokens (API tokens and login sessions; only hashes are stored).  Every function takes a cursor:
the caller (pva.services.auth) owns the transaction."""
from __future__ import annotations

from datetime import datetime
from uuid import UUID

_COLS = "id, user_id, name, prefix, scopes, kind, created_at, last_used_at, expires_at, revoked_at"


def insert(cur, user_id: UUID, token_hash: bytes, prefix: str, scopes: list[str], *, name: str = "",
           kind: str = "api", csrf_hash: bytes | None = None, expires_at: datetime | None = None) -> dict:
    cur.execute(
        f"""insert into api_tokens(user_id, name, token_hash, prefix, scopes, kind, csrf_hash, expires_at)
            values (%s, %s, %s, %s, %s, %s, %s, %s) returning {_COLS}""",
        (user_id, name, token_hash, prefix, scopes, kind, csrf_hash, expires_at))
    return cur.fetchone()


def find_active(cur, token_hash: bytes) -> dict | None:
    """The live token with this hash joined to its (enabled) user, or None."""
    cur.execute(
        """select t.id, t.user_id, t.name, t.prefix, t.scopes, t.kind, t.csrf_hash, t.last_used_at, t.expires_at,
                   u.username, u.is_admin
              from api_tokens t join users u on u.id = t.user_id
             where t.token_hash = %s and t.revoked_at is null and not u.disabled
               and (t.expires_at is null or t.expires_at > now())""",
        (token_hash,))
    return cur.fetchone()


def touch(cur, token_id: UUID) -> None:
    """Record use, at most once a minute per token (keeps reads cheap)."""
    cur.execute("""update api_tokens set last_used_at = now()
                    where id = %s and (last_used_at is null or last_used_at < now() - interval '60 seconds')""",
                (token_id,))


def list_for_user(cur, user_id: UUID, kind: str = "api") -> list[dict]:
    cur.execute(f"select {_COLS} from api_tokens where user_id = %s and kind = %s order by created_at desc",
                (user_id, kind))
    return list(cur.fetchall())


def revoke(cur, token_id: UUID, user_id: UUID) -> bool:
    """Revoke one of the user's tokens; False when it is not theirs (or unknown)."""
    cur.execute("""update api_tokens set revoked_at = coalesce(revoked_at, now())
                    where id = %s and user_id = %s returning id""", (token_id, user_id))
    return cur.fetchone() is not None


def revoke_by_hash(cur, token_hash: bytes) -> None:
    cur.execute("update api_tokens set revoked_at = now() where token_hash = %s and revoked_at is null",
                (token_hash,))


def revoke_sessions(cur, user_id: UUID, *, keep: UUID | None = None) -> int:
    """Revoke the user's live login sessions (all but `keep`); returns how many."""
    cur.execute("""update api_tokens set revoked_at = now()
                    where user_id = %s and kind = 'session' and revoked_at is null and id is distinct from %s""",
                (user_id, keep))
    return cur.rowcount


def purge_expired_sessions(cur) -> int:
    cur.execute("""delete from api_tokens where kind = 'session'
                    and (expires_at < now() - interval '1 day' or revoked_at < now() - interval '1 day')""")
    return cur.rowcount
