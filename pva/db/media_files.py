"""SQL for an item's companion files (issue 22: live photos, motion photos, RAW+JPEG pairs) and the pair keys that
join them whatever order they arrive in.  Every function takes the caller's cursor; pva/services/companions.py
holds the transaction (and the advisory lock of the pair keys it looks at)."""
from __future__ import annotations

from uuid import UUID

from psycopg2.extras import Json

FILE_COLUMNS = ("media_id", "owner_id", "role", "origin", "bucket", "storage_key", "sha512", "size", "format",
                "mime", "duration", "original_path", "filename", "metadata")


def _rows(cur, sql: str, params) -> list[dict]:
    cur.execute(sql, params)
    return cur.fetchall() if cur.description else []


def lock_keys(cur, owner_id, keys: list[str]) -> None:
    """Serialise every ingest that looks at these pair keys of this owner until the transaction ends (in one
    order, so two ingests never wait on each other crosswise)."""
    for k in sorted(set(keys)):
        cur.execute("select pg_advisory_xact_lock(hashtextextended(%s, 22))", (f"{owner_id}|{k}",))


def insert_file(cur, row: dict) -> dict:
    cols = [c for c in FILE_COLUMNS if c in row]
    vals = [Json(row[c]) if c == "metadata" else row[c] for c in cols]
    cur.execute(f"insert into media_files({', '.join(cols)}) values ({', '.join(['%s'] * len(cols))}) "
                "returning id, media_id, role", vals)
    return cur.fetchone()


def add_keys(cur, media_id, owner_id, keys: list[tuple[str, str]]) -> None:
    for key, part in keys:
        cur.execute("""insert into media_pair_keys(media_id, owner_id, pair_key, part) values (%s, %s, %s, %s)
                       on conflict do nothing""", (media_id, owner_id, key, part))


def partners(cur, owner_id, key: str, part: str, exclude=None) -> list[dict]:
    """Items of the owner holding `key` as `part` (oldest first), with their roles already filled."""
    return _rows(cur, """select m.id, m.kind, m.format, m.trashed_at, m.original_path,
                                coalesce((select array_agg(f.role) from media_files f where f.media_id = m.id),
                                         '{}') as roles
                           from media_pair_keys k join media m on m.id = k.media_id
                          where k.owner_id = %s and k.pair_key = %s and k.part = %s
                            and (%s::uuid is null or m.id <> %s::uuid)
                          order by m.created_at, m.id""", (owner_id, key, part, exclude, exclude))


def has_role(cur, media_id, role: str) -> bool:
    cur.execute("select 1 from media_files where media_id = %s and role = %s", (media_id, role))
    return cur.fetchone() is not None


def absorb(cur, source_id, target_id, role: str, metadata: dict) -> dict | None:
    """Turn the standalone item `source_id` into the `role` file of `target_id`: its original becomes a companion
    file (same object, same SHA-512), its albums and comments move to the target, and its row goes (with its
    analysis results).  Returns the derived object keys of the row that went (thumbnails, keyframes, face crops, a
    web preview of the video), for the caller to delete after commit, and the people its faces were in ("people":
    their counts are refreshed after commit); None when the source is gone."""
    src = _rows(cur, "select * from media where id = %s for update", (source_id,))
    if not src:
        return None
    m = src[0]
    insert_file(cur, {"media_id": target_id, "owner_id": m["owner_id"], "role": role, "origin": "file",
                      "bucket": "originals", "storage_key": m["storage_key"], "sha512": bytes(m["sha512"]),
                      "size": m["size"], "format": m["format"], "mime": m["mime"], "duration": m["duration"],
                      "original_path": m["original_path"], "filename": m["filename"],
                      "metadata": {**metadata, "was_media_id": str(source_id)}})
    cur.execute("""insert into album_media(album_id, media_id, added_at)
                   select album_id, %s, added_at from album_media where media_id = %s on conflict do nothing""",
                (target_id, source_id))
    cur.execute("update albums set cover_media_id = %s where cover_media_id = %s", (target_id, source_id))
    cur.execute("update comments set media_id = %s where media_id = %s", (target_id, source_id))
    crops = _rows(cur, "select crop_key from faces where media_id = %s and crop_key is not null", (source_id,))
    people = _rows(cur, "select distinct person_id from faces where media_id = %s and person_id is not null",
                   (source_id,))
    frames = (m.get("metadata") or {}).get("keyframes") or []
    preview = (m.get("metadata") or {}).get("analysis_preview")  # a RAW's analysis preview (issue 20)
    derived = [k for k in (m.get("thumb_key"), m.get("preview_key"), m.get("web_video_key"),
                           preview.get("key") if isinstance(preview, dict) else None,
                           *(f.get("key") for f in frames if isinstance(f, dict)),
                           *(r["crop_key"] for r in crops)) if k]
    cur.execute("delete from media where id = %s", (source_id,))
    return {"derived": derived, "row": m, "people": [r["person_id"] for r in people]}


def files_of(cur, media_id) -> list[dict]:
    """The item's companion files, in role order."""
    return _rows(cur, """select id, role, origin, bucket, storage_key, sha512, size, format, mime, duration,
                                original_path, filename, metadata, created_at
                           from media_files where media_id = %s order by role""", (media_id,))


def file_of(cur, media_id, role: str) -> dict | None:
    rows = _rows(cur, "select * from media_files where media_id = %s and role = %s", (media_id, role))
    return rows[0] if rows else None


def arrived_files_of(cur, media_ids: list) -> list[dict]:
    """The companion files of these items that arrived as files of their own (origin 'file': a live photo's MOV,
    the RAW of a pair; not a clip extracted from the item's original), by item then role: media_id, role,
    storage_key, size, format, filename."""
    return _rows(cur, """select media_id, role, storage_key, size, format, filename from media_files
                          where media_id = any(%s::uuid[]) and origin = 'file' and bucket = 'originals'
                          order by media_id, role""", ([str(i) for i in media_ids],))


def set_file_metadata(cur, media_id, role: str, patch: dict) -> None:
    cur.execute("update media_files set metadata = metadata || %s where media_id = %s and role = %s",
                (Json(patch), media_id, role))


def roles_for(cur, media_ids: list[UUID]) -> dict[str, list[str]]:
    """{media id: [roles]} of the items among media_ids that have companion files (for grids and lists)."""
    rows = _rows(cur, """select media_id, array_agg(role order by role) as roles from media_files
                          where media_id = any(%s::uuid[]) group by media_id""", ([str(i) for i in media_ids],))
    return {str(r["media_id"]): list(r["roles"]) for r in rows}
