"""SQL for the media table (ingest side: insert, dedupe, lookups by id).  Search lives in pva/db/search.py."""
from __future__ import annotations

from psycopg2.extras import Json

COLUMNS = ("owner_id", "sha512", "kind", "format", "mime", "size", "width", "height", "duration", "taken_at",
           "taken_at_offset", "taken_at_local", "camera_make", "camera_model", "lens", "gps_lat", "gps_lon",
           "gps_alt", "orientation", "storage_key", "original_path", "filename", "thumb_key", "preview_key",
           "status", "source", "metadata")


def insert(cur, row: dict) -> dict:
    """Insert a media row; returns (id, created_at).  Raises psycopg2.errors.UniqueViolation on a duplicate
    (owner, sha512) or storage key — the caller decides what that means."""
    cols = [c for c in COLUMNS if c in row]
    vals = [Json(row[c]) if c == "metadata" else row[c] for c in cols]
    if "id" in row:
        cols, vals = ["id", *cols], [row["id"], *vals]
    cur.execute(
        f"insert into media({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))}) returning id, created_at",
        vals)
    return cur.fetchone()


def find_by_sha(cur, owner_id, sha512: bytes) -> dict | None:
    cur.execute("select id, storage_key, original_path, trashed_at from media where owner_id = %s and sha512 = %s",
                (owner_id, sha512))
    return cur.fetchone()


def have_shas(cur, owner_id, shas: list[bytes]) -> dict[bytes, str]:
    """Which of these SHA-512 digests the owner already has: {digest: media_id}."""
    cur.execute("select sha512, id from media where owner_id = %s and sha512 = any(%s)", (owner_id, shas))
    return {bytes(r["sha512"]): str(r["id"]) for r in cur.fetchall()}


def key_taken(cur, storage_key: str) -> bool:
    cur.execute("select 1 from media where storage_key = %s", (storage_key,))
    return cur.fetchone() is not None


def get(cur, media_id, owner_id=None) -> dict | None:
    """A media row by id; with owner_id, only when that user owns it."""
    cur.execute("select * from media where id = %s and (%s::uuid is null or owner_id = %s::uuid)",
                (media_id, owner_id, owner_id))
    return cur.fetchone()


def set_metadata_keys(cur, media_id, patch: dict) -> None:
    cur.execute("update media set metadata = metadata || %s, updated_at = now() where id = %s",
                (Json(patch), media_id))


def storage_keys(cur) -> set[str]:
    cur.execute("select storage_key from media")
    return {r["storage_key"] for r in cur.fetchall()}
