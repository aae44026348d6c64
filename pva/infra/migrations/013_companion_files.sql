-- Companion files (issue 22): one item can hold several files.
--
-- An Apple live photo is the still (the item) plus a short MOV carrying the same content identifier; an Android
-- motion photo is a JPEG whose embedded MP4 is extracted (the original stays byte-identical); a RAW+JPEG pair
-- from the same shot (same folder, same base name) is the JPEG (shown) plus the RAW.  The item's own file stays
-- in media.storage_key; every other file of the item is a row here:
--   role    what the file is to the item: 'motion' (live/motion photo clip), 'raw' (the RAW of a RAW+JPEG pair)
--   origin  'file': it arrived as a file of its own (its SHA-512 counts for dedupe and POST /media/have);
--           'embedded': extracted from the item's original (derived: kept in the thumbs bucket)
--   bucket  where storage_key lives: 'originals' for arrived files, 'thumbs' for extracted ones
create table if not exists media_files (
    id            uuid primary key default gen_random_uuid(),
    media_id      uuid not null references media(id) on delete cascade,
    owner_id      uuid not null references users(id) on delete cascade,
    role          text not null check (role in ('motion', 'raw')),
    origin        text not null default 'file' check (origin in ('file', 'embedded')),
    bucket        text not null default 'originals' check (bucket in ('originals', 'thumbs')),
    storage_key   text not null,
    sha512        bytea not null,
    size          bigint not null check (size >= 0),
    format        text not null,
    mime          text not null,
    duration      double precision,
    original_path text,                 -- relative path as it arrived (null for an extracted clip)
    filename      text not null,
    metadata      jsonb not null default '{}'::jsonb,   -- probe facts, the transcription decision and its reason
    created_at    timestamptz not null default now(),
    unique (media_id, role),
    unique (bucket, storage_key)
);
create index if not exists media_files_owner_sha on media_files(owner_id, sha512);

-- What pairs an item with the files that join it, independent of arrival order: every item that can take part
-- in a pair records its keys ('live:<content identifier>', 'shot:<folder/base name, lower case>') and its part
-- ('still' | 'motion' for live photos, 'jpeg' | 'raw' for RAW+JPEG).  A file arriving looks up its partner here.
create table if not exists media_pair_keys (
    media_id uuid not null references media(id) on delete cascade,
    owner_id uuid not null references users(id) on delete cascade,
    pair_key text not null,
    part     text not null check (part in ('still', 'motion', 'jpeg', 'raw')),
    primary key (media_id, pair_key)
);
create index if not exists media_pair_keys_lookup on media_pair_keys(owner_id, pair_key, part);

-- items stored before this migration can still meet their RAW: their shot keys from the path they arrived with
insert into media_pair_keys(media_id, owner_id, pair_key, part)
select id, owner_id, 'shot:' || lower(regexp_replace(original_path, '\.[^./]*$', '')),
       case when format in ('jpeg', 'heic', 'heif') then 'jpeg' else 'raw' end
  from media
 where format in ('jpeg', 'heic', 'heif', 'dng', 'cr2', 'cr3', 'nef', 'arw', 'orf', 'rw2', 'raf')
on conflict do nothing;
