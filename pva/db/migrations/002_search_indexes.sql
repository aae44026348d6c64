-- Search support for the gateway (pva/db/search.py), measured with bench/search.py on 1,000,000 media.
--
-- Every listing is "one owner, not trashed, newest first, keyset on (sort key, id)".  The planner can only pick
-- well between "read in date order and filter" (dense filters) and "find the few matches, then sort" (rare
-- filters) when the filter is a column of media with statistics.  So labels and text are also kept on the media
-- row, maintained by triggers from detections / ocr / transcripts / comments (the analysis code needs no change):
--   media.label_tags  {'dog:0', ..., 'dog:7'}: a detection of 'dog' with confidence >= 0.k for each k
--                     (confidence is real: 0.9 is stored as 0.8999..., hence the rounding)
--   media.text_tsv    OCR text || transcript || comments (the file name is in name_tsv)
-- Written to be safe to re-run (if not exists / or replace).

alter table media add column if not exists label_tags text[] not null default '{}';
alter table media add column if not exists text_tsv tsvector;

create or replace function pva_media_label_tags(mid uuid) returns text[] language sql stable as $$
    select coalesce(array_agg(distinct d.label || ':' || b order by d.label || ':' || b), '{}')
      from detections d, generate_series(0, least(9, floor(round(d.confidence::numeric, 4) * 10)::int)) b
     where d.media_id = mid
$$;

create or replace function pva_media_text_tsv(mid uuid) returns tsvector language sql stable as $$
    select nullif(coalesce((select o.text_tsv from ocr o where o.media_id = mid), ''::tsvector)
               || coalesce((select t.text_tsv from transcripts t where t.media_id = mid), ''::tsvector)
               || coalesce((select to_tsvector('simple', string_agg(c.body, ' ')) from comments c
                             where c.media_id = mid), ''::tsvector), ''::tsvector)
$$;

create or replace function pva_sync_label_tags() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        update media m set label_tags = pva_media_label_tags(m.id)
         where m.id in (select distinct media_id from old_rows);
    else
        update media m set label_tags = pva_media_label_tags(m.id)
         where m.id in (select distinct media_id from new_rows);
    end if;
    return null;
end $$;

create or replace function pva_sync_text_tsv() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        update media m set text_tsv = pva_media_text_tsv(m.id)
         where m.id in (select distinct media_id from old_rows);
    else
        update media m set text_tsv = pva_media_text_tsv(m.id)
         where m.id in (select distinct media_id from new_rows);
    end if;
    return null;
end $$;

drop trigger if exists detections_tags_ins on detections;
drop trigger if exists detections_tags_upd on detections;
drop trigger if exists detections_tags_del on detections;
create trigger detections_tags_ins after insert on detections referencing new table as new_rows
    for each statement execute function pva_sync_label_tags();
create trigger detections_tags_upd after update on detections referencing new table as new_rows
    for each statement execute function pva_sync_label_tags();
create trigger detections_tags_del after delete on detections referencing old table as old_rows
    for each statement execute function pva_sync_label_tags();

do $$
declare t text;
begin
    foreach t in array array['ocr', 'transcripts', 'comments'] loop
        execute format('drop trigger if exists %1$s_text_ins on %1$I', t);
        execute format('drop trigger if exists %1$s_text_upd on %1$I', t);
        execute format('drop trigger if exists %1$s_text_del on %1$I', t);
        execute format('create trigger %1$s_text_ins after insert on %1$I referencing new table as new_rows '
                       'for each statement execute function pva_sync_text_tsv()', t);
        execute format('create trigger %1$s_text_upd after update on %1$I referencing new table as new_rows '
                       'for each statement execute function pva_sync_text_tsv()', t);
        execute format('create trigger %1$s_text_del after delete on %1$I referencing old table as old_rows '
                       'for each statement execute function pva_sync_text_tsv()', t);
    end loop;
end $$;

-- rows that existed before this migration
update media m set label_tags = pva_media_label_tags(m.id) where exists (select 1 from detections d where d.media_id = m.id);
update media m set text_tsv = pva_media_text_tsv(m.id)
 where exists (select 1 from ocr o where o.media_id = m.id) or exists (select 1 from transcripts t where t.media_id = m.id)
    or exists (select 1 from comments c where c.media_id = m.id);

-- timeline / date range, by date taken (falls back to date added) and by date added
create index if not exists media_live_taken on media (owner_id, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null;
create index if not exists media_live_added on media (owner_id, created_at desc, id desc)
    where trashed_at is null;

-- items without a location
create index if not exists media_live_nogps on media (owner_id, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null and coalesce(gps_override_lat, gps_lat) is null;

-- camera, file format and kind, each in date order
create index if not exists media_live_camera
    on media (owner_id, camera_make, camera_model, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null;
create index if not exists media_live_format on media (owner_id, format, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null;
create index if not exists media_live_kind on media (owner_id, kind, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null;

-- labels and text on the media row (rare values: bitmap from these, then sort; common ones: date order + recheck)
create index if not exists media_live_label_tags on media using gin (label_tags) where trashed_at is null;
create index if not exists media_live_text on media using gin ((name_tsv || coalesce(text_tsv, ''::tsvector)))
    where trashed_at is null;

-- exact confidence re-check of a label on one media item; facet counts by label
create index if not exists detections_media_label on detections (media_id, label, confidence);

-- people: the media of one person
create index if not exists faces_person_media on faces (person_id, media_id) where person_id is not null;
