-- Place counters (issue 21): the library counters of 004 get a 'place' dimension, v1 = media.place_id (a city of
-- `places`; a country is the sum of its cities, added up when read: pva/db/counts.py place_totals).  Unfiltered
-- place facets and the stats page read these instead of counting media_live_place (several hundred ms at 1M).
-- Kept by the same statement-level triggers as the other dimensions (ingest names the place in an update of the
-- new row, a GPS override change renames it, trash/restore/purge count like any other value), backfilled by a
-- recount below.

create or replace function pva_media_count_keys(sign int, owner_id uuid, kind text, format text, camera_make text,
                                                camera_model text, lat double precision, sort_at timestamptz,
                                                trashed_at timestamptz, size bigint, label_tags text[],
                                                person_ids uuid[], album_ids uuid[], place_id int)
returns table (owner_id uuid, grain "char", period date, dim text, v1 text, v2 text, n bigint, bytes bigint)
language sql immutable as $$
    select $2, g.grain, g.period, d.dim, d.v1, d.v2, $1::bigint, $1 * $10
      from (values ('a'::"char", null::date),
                   ('y', date_trunc('year', $8 at time zone 'UTC')::date),
                   ('m', date_trunc('month', $8 at time zone 'UTC')::date)) g(grain, period),
           lateral (select 'kind'::text, $3, null::text
                    union all select 'format', $4, null
                    union all select 'camera', $5, $6
                    union all select 'gps', case when $7 is null then 'without' else 'with' end, null
                    union all select 'tag', t, null from unnest($11) t
                    union all select 'person', p::text, null from unnest($12) p
                    union all select 'album', a::text, null from unnest($13) a
                    union all select 'place', $14::text, null where $14 is not null) d(dim, v1, v2)
     where $9 is null
$$;

create or replace function pva_count_media() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into media_count_deltas
        select k.owner_id, k.grain, k.period, k.dim, k.v1, k.v2, sum(k.n), sum(k.bytes)
          from new_rows r cross join lateral pva_media_count_keys(1, r.owner_id, r.kind, r.format, r.camera_make, r.camera_model,
            coalesce(r.gps_override_lat, r.gps_lat), coalesce(r.taken_at, r.created_at), r.trashed_at,
            r.size, r.label_tags, r.person_ids, r.album_ids, r.place_id) k
         group by 1, 2, 3, 4, 5, 6;
    elsif tg_op = 'DELETE' then
        insert into media_count_deltas
        select k.owner_id, k.grain, k.period, k.dim, k.v1, k.v2, sum(k.n), sum(k.bytes)
          from old_rows r cross join lateral pva_media_count_keys(-1, r.owner_id, r.kind, r.format, r.camera_make, r.camera_model,
            coalesce(r.gps_override_lat, r.gps_lat), coalesce(r.taken_at, r.created_at), r.trashed_at,
            r.size, r.label_tags, r.person_ids, r.album_ids, r.place_id) k
         group by 1, 2, 3, 4, 5, 6;
    else  -- an update: only the values that changed (most updates change none)
        insert into media_count_deltas
        select k.owner_id, k.grain, k.period, k.dim, k.v1, k.v2, sum(k.n), sum(k.bytes)
          from (select x.* from new_rows r cross join lateral pva_media_count_keys(1, r.owner_id, r.kind, r.format, r.camera_make, r.camera_model,
            coalesce(r.gps_override_lat, r.gps_lat), coalesce(r.taken_at, r.created_at), r.trashed_at,
            r.size, r.label_tags, r.person_ids, r.album_ids, r.place_id) x
                union all
                select x.* from old_rows r cross join lateral pva_media_count_keys(-1, r.owner_id, r.kind, r.format, r.camera_make, r.camera_model,
            coalesce(r.gps_override_lat, r.gps_lat), coalesce(r.taken_at, r.created_at), r.trashed_at,
            r.size, r.label_tags, r.person_ids, r.album_ids, r.place_id) x) k
         group by 1, 2, 3, 4, 5, 6
        having sum(k.n) <> 0 or sum(k.bytes) <> 0;
    end if;
    return null;
end $$;

create or replace function pva_rebuild_media_counts(owner uuid) returns bigint language plpgsql as $$
declare written bigint;
begin
    perform pg_advisory_xact_lock(7412553004);
    lock table media in share mode;  -- writers of media wait until the recount commits (then their deltas count)
    delete from media_count_deltas d where owner is null or d.owner_id = owner;
    delete from media_counts c where owner is null or c.owner_id = owner;
    insert into media_counts
    select k.owner_id, k.grain, k.period, k.dim, k.v1, k.v2, sum(k.n), sum(k.bytes)
      from media m cross join lateral pva_media_count_keys(1, m.owner_id, m.kind, m.format, m.camera_make, m.camera_model,
            coalesce(m.gps_override_lat, m.gps_lat), coalesce(m.taken_at, m.created_at), m.trashed_at,
            m.size, m.label_tags, m.person_ids, m.album_ids, m.place_id) k
     where owner is null or m.owner_id = owner
     group by 1, 2, 3, 4, 5, 6;
    get diagnostics written = row_count;
    return written;
end $$;

-- the 13-argument version of 004 has no caller left
drop function if exists pva_media_count_keys(int, uuid, text, text, text, text, double precision, timestamptz,
                                             timestamptz, bigint, text[], uuid[], uuid[]);

-- backfill: once (a library that already has place counters keeps them; the triggers keep them from here)
do $$
begin
    if not exists (select 1 from media_counts where dim = 'place')
       and exists (select 1 from media where place_id is not null and trashed_at is null) then
        perform pva_rebuild_media_counts(null);
    end if;
end $$;
