"""SQL for the users table.  Every function takes a cursor: the caller (pva.services.auth) owns the transaction."""
from __future__ import annotations

from uuid import UUID

_COLS = "id, username, display_name, is_admin, disabled, created_at"


class UserExists(ValueError):
    pass


def create(cur, username: str, password_hash: str, *, display_name: str = "", is_admin: bool = False) -> dict:
    """The new user's row; UserExists for a taken name (the transaction is then aborted: the caller's to end)."""
    import psycopg2

    try:
        cur.execute(
            f"""insert into users(username, display_name, password_hash, is_admin)
                values (%s, %s, %s, %s) returning {_COLS}""",
            (username, display_name, password_hash, is_admin))
    except psycopg2.errors.UniqueViolation:
        raise UserExists(f"user {username!r} already exists") from None
    return cur.fetchone()


def get(cur, user_id: UUID) -> dict | None:
    cur.execute(f"select {_COLS} from users where id = %s", (user_id,))
    return cur.fetchone()


def get_by_username(cur, username: str) -> dict | None:
    """The user row including password_hash (for login)."""
    cur.execute(f"select {_COLS}, password_hash from users where username = %s", (username,))
    return cur.fetchone()


def list_all(cur) -> list[dict]:
    cur.execute(f"select {_COLS} from users order by username")
    return list(cur.fetchall())


def set_password_hash(cur, user_id: UUID, password_hash: str) -> None:
    cur.execute("update users set password_hash = %s where id = %s", (password_hash, user_id))


def get_password_hash(cur, user_id: UUID) -> str | None:
    cur.execute("select password_hash from users where id = %s", (user_id,))
    row = cur.fetchone()
    return row["password_hash"] if row else None


def set_disabled(cur, user_id: UUID, disabled: bool) -> dict | None:
    cur.execute(f"update users set disabled = %s where id = %s returning {_COLS}", (disabled, user_id))
    return cur.fetchone()


def update(cur, user_id: UUID, *, is_admin: bool | None = None, disabled: bool | None = None,
           display_name: str | None = None) -> dict | None:
    """Change the given fields (None leaves one as it is); the user's row, or None when there is no such user."""
    cur.execute(f"""update users set is_admin = coalesce(%s, is_admin), disabled = coalesce(%s, disabled),
                                     display_name = coalesce(%s, display_name)
                     where id = %s returning {_COLS}""", (is_admin, disabled, display_name, user_id))
    return cur.fetchone()


def count(cur) -> int:
    cur.execute("select count(*) as n from users")
    return cur.fetchone()["n"]


def find(cur, key: str) -> dict | None:
    """id and username of the user whose id or username is ``key`` (the owner argument of ingest and the CLI)."""
    cur.execute("select id, username from users where id::text = %s or username = %s", (str(key), str(key)))
    return cur.fetchone()
