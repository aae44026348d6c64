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

-- One statement trigger function keeps every such derived column of media (label_tags, text_tsv here; person_ids
-- and album_ids in 004): tg_argv = (media column, function computing it from a media id).  The statement's rows
-- (transition tables; EXECUTE sees them) name the media to recompute; only media whose value changes are written.
create or replace function pva_sync_media_column() returns trigger language plpgsql as $$
declare ids text;
begin
    ids := case tg_op when 'INSERT' then 'select media_id from new_rows'
                      when 'DELETE' then 'select media_id from old_rows'
                      else 'select media_id from new_rows union select media_id from old_rows' end;
    execute format('update media m set %1$I = %2$I(m.id) where m.id in (%3$s) and m.%1$I is distinct from %2$I(m.id)',
                   tg_argv[0], tg_argv[1], ids);
    return null;
end $$;

-- (re)create the insert/update/delete triggers <name>_ins/_upd/_del on `tab` keeping media.<col> with <fn>
create or replace function pva_media_column_triggers(tab text, name text, col text, fn text) returns void
language plpgsql as $$
begin
    execute format('drop trigger if exists %1$I on %2$I', name || '_ins', tab);
    execute format('drop trigger if exists %1$I on %2$I', name || '_upd', tab);
    execute format('drop trigger if exists %1$I on %2$I', name || '_del', tab);
    execute format('create trigger %1$I after insert on %2$I referencing new table as new_rows '
                   'for each statement execute function pva_sync_media_column(%3$L, %4$L)', name || '_ins', tab, col, fn);
    execute format('create trigger %1$I after update on %2$I referencing old table as old_rows new table as new_rows '
                   'for each statement execute function pva_sync_media_column(%3$L, %4$L)', name || '_upd', tab, col, fn);
    execute format('create trigger %1$I after delete on %2$I referencing old table as old_rows '
                   'for each statement execute function pva_sync_media_column(%3$L, %4$L)', name || '_del', tab, col, fn);
end $$;

select pva_media_column_triggers('detections', 'detections_tags', 'label_tags', 'pva_media_label_tags');
select pva_media_column_triggers(t, t || '_text', 'text_tsv', 'pva_media_text_tsv')
  from unnest(array['ocr', 'transcripts', 'comments']) t;

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
