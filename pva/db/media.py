"""SQL for the media table: ingest (insert, dedupe, lookups by id), access checks and the owner's edits (GPS
override, trash, restore, purge).  Search lives in pva/db/search/."""
from __future__ import annotations

from uuid import UUID

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
    """The owner's item with these bytes: as its original, or as one of its companion files (a live photo's MOV,
    a RAW of a RAW+JPEG pair: issue 22)."""
    cur.execute("""select id, storage_key, original_path, trashed_at from media where owner_id = %s and sha512 = %s
                   union all
                   select m.id, f.storage_key, coalesce(f.original_path, m.original_path), m.trashed_at
                     from media_files f join media m on m.id = f.media_id
                    where f.owner_id = %s and f.sha512 = %s and f.origin = 'file'
                   limit 1""", (owner_id, sha512, owner_id, sha512))
    return cur.fetchone()


def have_shas(cur, owner_id, shas: list[bytes]) -> dict[bytes, str]:
    """Which of these SHA-512 digests the owner already has: {digest: media_id}."""
    cur.execute("""select sha512, id from media where owner_id = %s and sha512 = any(%s)
                   union all  -- a companion file (live photo MOV, RAW of a pair) counts as had (issue 22)
                   select sha512, media_id from media_files
                    where owner_id = %s and sha512 = any(%s) and origin = 'file'""", (owner_id, shas, owner_id, shas))
    return {bytes(r["sha512"]): str(r["id"]) for r in cur.fetchall()}


def key_taken(cur, storage_key: str) -> bool:
    cur.execute("""select 1 from media where storage_key = %s
                   union all select 1 from media_files where storage_key = %s and bucket = 'originals'""",
                (storage_key, storage_key))
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
    cur.execute("select storage_key from media union all "
                "select storage_key from media_files where bucket = 'originals'")
    return {r["storage_key"] for r in cur.fetchall()}


# ---------------------------------------------------------------- access checks and the owner's edits
# (moved from pva/db/search.py, issue 17: pva/services/media.py and the services of albums, jobs and functions check
# access here.)  Like the functions above they take the caller's cursor: the service holds the transaction.
#
# Access rule: a user sees media they own, and (read-only) media in albums shared with them.  Each function takes
# the viewing user's id and returns None / nothing for rows they may not see.

# the location shown and searched: the owner's override, else the file's own
LAT = "coalesce(m.gps_override_lat, m.gps_lat)"
LON = "coalesce(m.gps_override_lon, m.gps_lon)"
_VISIBLE = """(m.owner_id = %(u)s or (m.trashed_at is null and exists (
                 select 1 from album_media am join album_shares s on s.album_id = am.album_id
                  where am.media_id = m.id and s.user_id = %(u)s)))"""


def _rows(cur, sql: str, params) -> list[dict]:
    cur.execute(sql, params)
    return cur.fetchall() if cur.description else []


def media_access(cur, media_id: UUID, user_id: UUID) -> dict | None:
    """The media row (all columns) plus access='owner'|'shared' when the user may see it, else None."""
    cur.execute(f"""select m.*, case when m.owner_id = %(u)s then 'owner' else 'shared' end as access,
                           {LAT} as lat, {LON} as lon
                      from media m where m.id = %(id)s and {_VISIBLE}""", {"id": media_id, "u": user_id})
    return cur.fetchone()


def owned_media_ids(cur, user_id: UUID, media_ids: list[UUID], include_trashed: bool = False) -> set[UUID]:
    rows = _rows(cur, f"""select id from media where owner_id = %s and id = any(%s::uuid[])
                          {'' if include_trashed else 'and trashed_at is null'}""", (user_id, list(media_ids)))
    return {r["id"] for r in rows}


def set_gps_override(cur, media_id: UUID, owner_id: UUID, lat: float, lon: float, alt: float | None) -> bool:
    return bool(_rows(cur, """update media set gps_override_lat = %s, gps_override_lon = %s, gps_override_alt = %s,
                                     updated_at = now()
                               where id = %s and owner_id = %s returning id""", (lat, lon, alt, media_id, owner_id)))


def clear_gps_override(cur, media_id: UUID, owner_id: UUID) -> bool:
    return bool(_rows(cur, """update media set gps_override_lat = null, gps_override_lon = null,
                                     gps_override_alt = null, updated_at = now()
                               where id = %s and owner_id = %s returning id""", (media_id, owner_id)))


def trash(cur, media_id: UUID, owner_id: UUID) -> bool:
    return bool(_rows(cur, """update media set trashed_at = coalesce(trashed_at, now()), updated_at = now()
                               where id = %s and owner_id = %s returning id""", (media_id, owner_id)))


def restore(cur, media_id: UUID, owner_id: UUID) -> bool:
    return bool(_rows(cur, """update media set trashed_at = null, updated_at = now()
                               where id = %s and owner_id = %s returning id""", (media_id, owner_id)))


def purge(cur, owner_id: UUID | None, *, media_id: UUID | None = None,
          older_than_days: int | None = None) -> list[dict]:
    """Delete trashed media rows (of one owner, or everyone's with owner_id None); returns what the caller cleans
    up after them: their object keys (storage_key, thumb_key, preview_key, crop_keys, keyframe_keys, companion_keys:
    [[bucket, key]] of its companion files and their web previews) and derived_ids (the item's id and the ids its
    companion files had as items of their own, whose derived objects live under "<id>/" in the thumbs bucket), and
    person_ids (the people its faces were in, to refresh).  With older_than_days only items trashed that long ago
    go.  The rows that named them without a foreign key (prepared memories) forget them in the same statement."""
    return _rows(cur, """with gone as (
                           delete from media
                            where trashed_at is not null
                              and (%(owner)s::uuid is null or owner_id = %(owner)s::uuid)
                              and (%(id)s::uuid is null or id = %(id)s::uuid)
                              and (%(days)s::int is null or trashed_at < now() - make_interval(days => %(days)s::int))
                           returning id, owner_id, storage_key, thumb_key, preview_key, web_video_key, metadata),
                         forgot as (
                           update memories y set media_ids = array(select x from unnest(y.media_ids) x
                                                                    where x not in (select id from gone))
                            where y.owner_id in (select owner_id from gone)
                              and y.media_ids && array(select id from gone))
                         select g.id, g.owner_id, g.storage_key, g.thumb_key, g.preview_key, g.web_video_key,
                                coalesce((select array_agg(f.crop_key) from faces f
                                           where f.media_id = g.id and f.crop_key is not null), '{}') as crop_keys,
                                coalesce((select array_agg(distinct f.person_id) from faces f
                                           where f.media_id = g.id and f.person_id is not null), '{}') as person_ids,
                                coalesce((select array_agg(kf->>'key')
                                            from jsonb_array_elements(case when jsonb_typeof(g.metadata->'keyframes')
                                                                                = 'array'
                                                                           then g.metadata->'keyframes'
                                                                           else '[]'::jsonb end) kf
                                           where kf->>'key' is not null), '{}') as keyframe_keys,
                                g.metadata->'analysis_preview'->>'key' as analysis_key,
                                coalesce((select array_agg(array[c.bucket, c.storage_key]) from media_files c
                                           where c.media_id = g.id), '{}')
                                || coalesce((select array_agg(array['thumbs', c.metadata->>'web_video_key'])
                                               from media_files c
                                              where c.media_id = g.id and c.metadata->>'web_video_key' is not null),
                                            '{}') as companion_keys,
                                array[g.id::text]
                                || coalesce((select array_agg(c.metadata->>'was_media_id') from media_files c
                                              where c.media_id = g.id and c.metadata->>'was_media_id' is not null),
                                            '{}') as derived_ids
                           from gone g""",
                 {"owner": owner_id, "id": media_id, "days": older_than_days})


def owners_with_expired_trash(cur, older_than_days: int) -> list[UUID]:
    """The owners with items trashed more than ``older_than_days`` ago (the expired purge goes owner by owner)."""
    rows = _rows(cur, """select distinct owner_id from media
                          where trashed_at is not null and trashed_at < now() - make_interval(days => %s::int)""",
                 (older_than_days,))
    return [r["owner_id"] for r in rows]


# ---------------------------------------------------------------- many at once (issue 18: select many, act once)
# Each returns the ids it acted on: the caller's own among `media_ids`; the others (missing, someone else's) are
# left alone and the service counts them as not found.
def trash_many(cur, owner_id: UUID, media_ids: list[UUID]) -> list[UUID]:
    rows = _rows(cur, """update media set trashed_at = coalesce(trashed_at, now()), updated_at = now()
                          where owner_id = %s and id = any(%s::uuid[]) returning id""", (owner_id, list(media_ids)))
    return [r["id"] for r in rows]


def restore_many(cur, owner_id: UUID, media_ids: list[UUID]) -> list[UUID]:
    rows = _rows(cur, """update media set trashed_at = null, updated_at = now()
                          where owner_id = %s and id = any(%s::uuid[]) returning id""", (owner_id, list(media_ids)))
    return [r["id"] for r in rows]


def set_gps_override_many(cur, owner_id: UUID, media_ids: list[UUID], lat: float, lon: float,
                          alt: float | None) -> list[UUID]:
    rows = _rows(cur, """update media set gps_override_lat = %s, gps_override_lon = %s, gps_override_alt = %s,
                                updated_at = now()
                          where owner_id = %s and id = any(%s::uuid[]) returning id""",
                 (lat, lon, alt, owner_id, list(media_ids)))
    return [r["id"] for r in rows]


def visible_files(cur, user_id: UUID, media_ids: list[UUID]) -> list[dict]:
    """Where the originals of the items among `media_ids` the user may see are stored, in the order asked:
    id, storage_key, filename, size, mime, taken_at, created_at."""
    return _rows(cur, f"""select m.id, m.storage_key, m.filename, m.size, m.mime, m.taken_at, m.created_at
                            from unnest(%(ids)s::uuid[]) with ordinality as x(id, n) join media m on m.id = x.id
                           where {_VISIBLE} order by x.n""", {"ids": list(media_ids), "u": user_id})
