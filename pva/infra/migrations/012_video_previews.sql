-- Web previews of videos (issue 22): the transcode function's H.264/AAC MP4 of a video a browser cannot play as
-- stored, in the thumbs bucket; null when the original plays as it is (or has not been looked at yet).
alter table media add column if not exists web_video_key text;

-- 'transcode' joins the analysis kinds.  The check is rebuilt from the kinds it allows now (other migrations of
-- the same day may have added theirs), so the order in which they run does not matter.
do $$
declare
    def text;
    kinds text;
begin
    select pg_get_constraintdef(c.oid) into def
      from pg_constraint c
     where c.conrelid = 'analysis'::regclass and c.conname = 'analysis_kind_check';
    if def is not null and def like '%''transcode''%' then
        return;
    end if;
    select string_agg(quote_literal(k), ', ' order by k) into kinds
      from (select distinct m[1] as k from regexp_matches(coalesce(def, ''), '''([a-z_]+)''', 'g') as m
            union select unnest(array['detect', 'faces', 'ocr', 'transcribe', 'transcode'])) ks;
    alter table analysis drop constraint if exists analysis_kind_check;
    execute format('alter table analysis add constraint analysis_kind_check check (kind in (%s))', kinds);
end $$;
