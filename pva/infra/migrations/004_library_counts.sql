-- Search at a million media, second step (measured with bench/search.py; see 002 for the first).
--
-- 1. media.person_ids / album_ids: the people and albums of a media row, kept by triggers on faces and
--    album_media like label_tags (002).  The person filter becomes an array test on the row (GIN for rare people,
--    a cheap recheck in date order for common ones) instead of a subquery per row, and people and albums are
--    counted with the rest of the row.
-- 2. media.geo_cell: the 1-degree cell of the effective location (the override when set, else EXIF), generated.
--    A map box becomes a short list of cells: the page is merged from one date-ordered index walk per cell, and a
--    sparse box is a bitmap of its cells.  (pgserver has no PostGIS and no btree_gist; this needs neither.)
-- 3. media_counts: exact counts (and bytes) of one owner's live media per value of kind, format, camera, GPS
--    presence, label tag, person and album, for all time ('a'), per year ('y') and per month ('m').  Stats, the timeline
--    and facet counts without filters (or with a date range of whole months) read these instead of counting a
--    million rows; search uses them to know in advance whether a filter is rare.
--    Writers never contend on counter rows: a statement-level trigger on media appends signed deltas to
--    media_count_deltas (updates that change no counted value append nothing); readers add the deltas to the
--    counters; pva_fold_media_counts(), run by the reconcile cron, moves deltas into the counters.
--    pva_rebuild_media_counts(owner) recounts from the media rows (`pva db recount`).

-- 1. people on the media row
alter table media add column if not exists person_ids uuid[] not null default '{}';
alter table media add column if not exists album_ids uuid[] not null default '{}';

create or replace function pva_media_person_ids(mid uuid) returns uuid[] language sql stable as $$
    select coalesce(array_agg(distinct f.person_id order by f.person_id), '{}')
      from faces f where f.media_id = mid and f.person_id is not null
$$;

create or replace function pva_media_album_ids(mid uuid) returns uuid[] language sql stable as $$
    select coalesce(array_agg(am.album_id order by am.album_id), '{}') from album_media am where am.media_id = mid
$$;

-- kept like label_tags (002): pva_sync_media_column on the tables they come from
select pva_media_column_triggers('faces', 'faces_people', 'person_ids', 'pva_media_person_ids');
select pva_media_column_triggers('album_media', 'album_media_ids', 'album_ids', 'pva_media_album_ids');

update media m set person_ids = p.ids
  from (select media_id, array_agg(distinct person_id order by person_id) as ids from faces
         where person_id is not null group by media_id) p
 where p.media_id = m.id;
update media m set album_ids = a.ids
  from (select media_id, array_agg(album_id order by album_id) as ids from album_media group by media_id) a
 where a.media_id = m.id;

create index if not exists media_live_person_ids on media using gin (person_ids) where trashed_at is null;

-- 2. map cells: row = floor(lat) + 90 (0..180), column = floor(lon) + 180 (0..360); 361 columns so that
--    lon = 180 does not alias the next row
alter table media add column if not exists geo_cell int generated always as (
    (floor(coalesce(gps_override_lat, gps_lat))::int + 90) * 361 + floor(coalesce(gps_override_lon, gps_lon))::int + 180
) stored;
create index if not exists media_live_geo on media (owner_id, geo_cell, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null and geo_cell is not null;

-- make and model go together (a model has one make): without this the planner multiplies their frequencies and
-- takes a common camera for a rare one
create statistics if not exists media_camera_stats (dependencies, mcv) on camera_make, camera_model from media;

-- 3. counters
create table if not exists media_counts (
    owner_id uuid not null references users(id) on delete cascade,
    grain    "char" not null check (grain in ('a', 'y', 'm')),   -- all time, year, month (of the date taken, UTC)
    period   date,                                               -- first day of the year / month; null for 'a'
    dim      text not null,                                      -- kind, format, camera, gps, tag, person, album
    v1       text,
    v2       text,                                               -- camera model
    n        bigint not null,
    bytes    bigint not null,
    unique nulls not distinct (owner_id, dim, grain, period, v1, v2)  -- one value, or one dimension per period
);

create table if not exists media_count_deltas (
    owner_id uuid not null,
    grain    "char" not null,
    period   date,
    dim      text not null,
    v1       text,
    v2       text,
    n        bigint not null,
    bytes    bigint not null
);
create index if not exists media_count_deltas_owner on media_count_deltas (owner_id, dim);

-- the counter keys of one media row (none when it is in the trash), each with +sign / +sign*size.  Columns are
-- passed one by one (a whole-row argument trips the planner when the function is inlined into a grouped query).
create or replace function pva_media_count_keys(sign int, owner_id uuid, kind text, format text, camera_make text,
                                                camera_model text, lat double precision, sort_at timestamptz,
                                                trashed_at timestamptz, size bigint, label_tags text[],
                                                person_ids uuid[], album_ids uuid[])
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
                    union all select 'album', a::text, null from unnest($13) a) d(dim, v1, v2)
     where $9 is null
$$;

create or replace function pva_count_media() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        insert into media_count_deltas
        select k.owner_id, k.grain, k.period, k.dim, k.v1, k.v2, sum(k.n), sum(k.bytes)
          from new_rows r cross join lateral pva_media_count_keys(1, r.owner_id, r.kind, r.format, r.camera_make, r.camera_model,
            coalesce(r.gps_override_lat, r.gps_lat), coalesce(r.taken_at, r.created_at), r.trashed_at,
            r.size, r.label_tags, r.person_ids, r.album_ids) k
         group by 1, 2, 3, 4, 5, 6;
    elsif tg_op = 'DELETE' then
        insert into media_count_deltas
        select k.owner_id, k.grain, k.period, k.dim, k.v1, k.v2, sum(k.n), sum(k.bytes)
          from old_rows r cross join lateral pva_media_count_keys(-1, r.owner_id, r.kind, r.format, r.camera_make, r.camera_model,
            coalesce(r.gps_override_lat, r.gps_lat), coalesce(r.taken_at, r.created_at), r.trashed_at,
            r.size, r.label_tags, r.person_ids, r.album_ids) k
         group by 1, 2, 3, 4, 5, 6;
    else  -- an update: only the values that changed (most updates change none)
        insert into media_count_deltas
        select k.owner_id, k.grain, k.period, k.dim, k.v1, k.v2, sum(k.n), sum(k.bytes)
          from (select x.* from new_rows r cross join lateral pva_media_count_keys(1, r.owner_id, r.kind, r.format, r.camera_make, r.camera_model,
            coalesce(r.gps_override_lat, r.gps_lat), coalesce(r.taken_at, r.created_at), r.trashed_at,
            r.size, r.label_tags, r.person_ids, r.album_ids) x
                union all
                select x.* from old_rows r cross join lateral pva_media_count_keys(-1, r.owner_id, r.kind, r.format, r.camera_make, r.camera_model,
            coalesce(r.gps_override_lat, r.gps_lat), coalesce(r.taken_at, r.created_at), r.trashed_at,
            r.size, r.label_tags, r.person_ids, r.album_ids) x) k
         group by 1, 2, 3, 4, 5, 6
        having sum(k.n) <> 0 or sum(k.bytes) <> 0;
    end if;
    return null;
end $$;

drop trigger if exists media_counts_ins on media;
drop trigger if exists media_counts_upd on media;
drop trigger if exists media_counts_del on media;
create trigger media_counts_ins after insert on media referencing new table as new_rows
    for each statement execute function pva_count_media();
create trigger media_counts_upd after update on media referencing old table as old_rows new table as new_rows
    for each statement execute function pva_count_media();
create trigger media_counts_del after delete on media referencing old table as old_rows
    for each statement execute function pva_count_media();

-- move the deltas into the counters (one folder at a time); returns the number of counter rows touched
create or replace function pva_fold_media_counts() returns bigint language plpgsql as $$
declare touched bigint;
begin
    perform pg_advisory_xact_lock(7412553004);
    with d as (delete from media_count_deltas returning *),
         s as (select owner_id, grain, period, dim, v1, v2, sum(n) as n, sum(bytes) as bytes from d
                group by 1, 2, 3, 4, 5, 6 order by 1, 4, 2, 3, 5, 6),
         up as (insert into media_counts as c select * from s
                on conflict (owner_id, dim, grain, period, v1, v2)
                do update set n = c.n + excluded.n, bytes = c.bytes + excluded.bytes returning 1)
    select count(*) into touched from up;
    return touched;
end $$;

-- recount from the media rows: one owner, or everyone with null
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
            m.size, m.label_tags, m.person_ids, m.album_ids) k
     where owner is null or m.owner_id = owner
     group by 1, 2, 3, 4, 5, 6;
    get diagnostics written = row_count;
    return written;
end $$;

select pva_rebuild_media_counts(null);
