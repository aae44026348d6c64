"""SQL for backup, restore and the library check (pva/services/backup.py, pva/services/check.py).

Every function takes a cursor; the services decide the transaction (a backup reads the referenced objects inside
the REPEATABLE READ transaction whose snapshot pg_dump also uses, so the list matches the dump exactly).
"""
from __future__ import annotations

# Every object a media row references: its original, and in the thumbs bucket the grid thumbnail, the preview,
# the video keyframes (metadata.keyframes[].key), a video's web preview (web_video_key) and the face crops; and
# its companion files (issue 22: a live photo's MOV, the RAW of a pair in originals; an extracted motion clip in
# thumbs).  One row per (bucket, key).
REFERENCED_OBJECTS_SQL = """
select distinct on (bucket, key) bucket, key, media_id, sha512, size, mime from (
    select 'originals' as bucket, m.storage_key as key, m.id as media_id, m.sha512, m.size, m.mime, 0 as pref
      from media m
    union all
    select c.bucket, c.storage_key, c.media_id, case when c.bucket = 'originals' then c.sha512 end,
           case when c.bucket = 'originals' then c.size end, c.mime, 0
      from media_files c
    union all
    select 'thumbs', v.k, m.id, null, null, 'image/jpeg', 1
      from media m cross join lateral (values (m.thumb_key), (m.preview_key)) v(k)
     where v.k is not null
    union all
    select 'thumbs', m.web_video_key, m.id, null, null, 'video/mp4', 1  -- a video's web preview (issue 22)
      from media m where m.web_video_key is not null
    union all
    select 'thumbs', f.metadata->>'web_video_key', f.media_id, null, null, 'video/mp4', 1  -- a motion clip's
      from media_files f where f.metadata->>'web_video_key' is not null
    union all
    select 'thumbs', kf->>'key', m.id, null, null, 'image/jpeg', 1
      from media m
     cross join lateral jsonb_array_elements(case when jsonb_typeof(m.metadata->'keyframes') = 'array'
                                                  then m.metadata->'keyframes' else '[]'::jsonb end) kf
     where kf->>'key' is not null
    union all
    select 'thumbs', f.crop_key, f.media_id, null, null, 'image/jpeg', 1
      from faces f where f.crop_key is not null
) refs
order by bucket, key, pref"""


def begin_snapshot(cur) -> str:
    """Make the current transaction REPEATABLE READ and export its snapshot (for pg_dump --snapshot).  Must be the
    first statement of the transaction."""
    cur.execute("set transaction isolation level repeatable read, read only")
    cur.execute("select pg_export_snapshot() as snapshot")
    return cur.fetchone()["snapshot"]


def server_version(cur) -> tuple[int, str]:
    """(major version, full version text) of the server, to pick a matching pg_dump/pg_restore."""
    cur.execute("select current_setting('server_version_num')::int as num, current_setting('server_version') as v")
    r = cur.fetchone()
    return r["num"] // 10000, r["v"]


def referenced_objects(cur) -> list[dict]:
    """(bucket 'originals'|'thumbs', key, media_id, sha512 bytes|None, size|None, mime) of every referenced
    object."""
    cur.execute(REFERENCED_OBJECTS_SQL)
    return list(cur.fetchall())


def schema_versions(cur) -> list[int]:
    cur.execute("select version from schema_migrations order by version")
    return [r["version"] for r in cur.fetchall()]


def library_size(cur) -> dict:
    """How much a database holds: {'tables': n, 'users': n, 'media': n} (users/media None without the tables).
    Restore refuses a database that holds users or media."""
    cur.execute("""select count(*) as n from pg_tables where schemaname = 'public'""")
    out = {"tables": cur.fetchone()["n"], "users": None, "media": None}
    for table in ("users", "media"):
        cur.execute("select to_regclass(%s) is not null as present", (f"public.{table}",))
        if cur.fetchone()["present"]:
            cur.execute(f"select count(*) as n from {table}")  # noqa: S608 - table from the fixed tuple above
            out[table] = cur.fetchone()["n"]
    return out


def originals_for_check(cur) -> list[dict]:
    """(id, storage_key, size, sha512, mime) of every media row and of every companion file kept in the originals
    bucket (issue 22; id: its item's), in key order."""
    cur.execute("""select id, storage_key, size, sha512, mime from media
                   union all
                   select media_id, storage_key, size, sha512, mime from media_files where bucket = 'originals'
                   order by storage_key""")
    return list(cur.fetchall())


def requeue_interrupted_jobs(cur) -> int:
    """After a restore no worker holds a lease: jobs that were running when the backup was taken go back to
    queued (attempts kept) so reconcile publishes them again."""
    cur.execute("""update analysis set status = 'queued', worker = null, lease_until = null, published_at = null,
                          updated_at = now()
                    where status = 'running'""")
    return cur.rowcount


def unpublished_jobs(cur, limit: int = 100000) -> list[dict]:
    cur.execute("""select media_id, kind, attempts from analysis where status = 'queued'
                    order by queued_at limit %s""", (limit,))
    return list(cur.fetchall())


def requeue_kind_for_media(cur, media_ids: list, kind: str) -> list[dict]:
    """Put one analysis kind of these media back to queued (its stored side data did not come back)."""
    cur.execute("""update analysis set status = 'queued', error = null, published_at = null, lease_until = null,
                          attempts = 0, queued_at = now(), updated_at = now()
                    where media_id = any(%s::uuid[]) and kind = %s and status <> 'queued'
                returning media_id, kind, attempts""", ([str(m) for m in media_ids], kind))
    return list(cur.fetchall())


def installed_extensions(cur) -> set[str]:
    cur.execute("select extname from pg_extension")
    return {r["extname"] for r in cur.fetchall()}
