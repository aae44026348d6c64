"""SQL for the users table."""
from __future__ import annotations

from uuid import UUID

from pva.infra.db import query, query_one, transaction

_COLS = "id, username, display_name, is_admin, disabled, created_at"


class UserExists(ValueError):
    pass


def create(username: str, password_hash: str, *, display_name: str = "", is_admin: bool = False) -> dict:
    import psycopg2

    try:
        with transaction() as cur:
            cur.execute(
                f"""insert into users(username, display_name, password_hash, is_admin)
                    values (%s, %s, %s, %s) returning {_COLS}""",
                (username, display_name, password_hash, is_admin))
            return cur.fetchone()
    except psycopg2.errors.UniqueViolation:
        raise UserExists(f"user {username!r} already exists") from None


def get(user_id: UUID) -> dict | None:
    return query_one(f"select {_COLS} from users where id = %s", (user_id,))


def get_by_username(username: str) -> dict | None:
    """The user row including password_hash (for login)."""
    return query_one(f"select {_COLS}, password_hash from users where username = %s", (username,))


def list_all() -> list[dict]:
    return query(f"select {_COLS} from users order by username")


def set_password_hash(user_id: UUID, password_hash: str) -> None:
    query("update users set password_hash = %s where id = %s returning id", (password_hash, user_id))


def set_disabled(user_id: UUID, disabled: bool) -> dict | None:
    return query_one(f"update users set disabled = %s where id = %s returning {_COLS}", (disabled, user_id))


def count() -> int:
    return query_one("select count(*) as n from users")["n"]
