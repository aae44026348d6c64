-- Near-duplicates (issue 21).
--
-- media.phash: the 64-bit DCT perceptual hash of a photo (of its grid thumbnail) or of a video's poster keyframe
-- (pva/media/phash.py; each keyframe's own hash is in metadata.keyframes[].phash).  Null until hashed: ingest
-- hashes every new item, `pva duplicates hash` the items ingested before this migration.
alter table media add column if not exists phash bit(64);

-- Lookup at 1M items: multi-index hashing.  Two hashes within 11 bits of each other (pva.media.phash.NEAR is
-- 10) agree within 2 bits on at least one of their four 16-bit chunks, so a lookup probes each chunk's index with
-- the 137 values within 2 bits of its own chunk and checks the full Hamming distance, bit_count(phash # h), on
-- the candidates there: the hash, kind and id are in the index, so only the matches visit the table
-- (bench/duplicates.py).  pgvector's bit type and HNSW bit_hamming_ops need pgvector 0.7; the embedded pgserver
-- ships 0.6.
create index if not exists media_phash_chunk0 on media (owner_id, (((phash::bigint) >> 48) & 65535))
    include (phash, kind, id) where phash is not null;
create index if not exists media_phash_chunk1 on media (owner_id, (((phash::bigint) >> 32) & 65535))
    include (phash, kind, id) where phash is not null;
create index if not exists media_phash_chunk2 on media (owner_id, (((phash::bigint) >> 16) & 65535))
    include (phash, kind, id) where phash is not null;
create index if not exists media_phash_chunk3 on media (owner_id, ((phash::bigint) & 65535))
    include (phash, kind, id) where phash is not null;
-- (the first version of this migration named them media_phash_c0..3, without id)
drop index if exists media_phash_c0;
drop index if exists media_phash_c1;
drop index if exists media_phash_c2;
drop index if exists media_phash_c3;

-- Near-duplicate pairs, found when the newer item is hashed (ingest or `pva duplicates hash`): a < b, both the
-- same owner's and the same kind.  The Duplicates page groups them (connected components of the pairs whose items
-- are not in the trash).  "Not duplicates" on a group sets dismissed_at on its pairs: remembered, never shown
-- again; an item that arrives later and matches one of them makes a new pair, shown on its own.
create table if not exists media_near_duplicates (
    owner_id      uuid not null references users(id) on delete cascade,
    a             uuid not null references media(id) on delete cascade,
    b             uuid not null references media(id) on delete cascade,
    distance      smallint not null check (distance between 0 and 64),
    found_at      timestamptz not null default now(),
    dismissed_at  timestamptz,
    primary key (a, b),
    check (a < b)
);
create index if not exists media_near_duplicates_owner on media_near_duplicates(owner_id) where dismissed_at is null;
create index if not exists media_near_duplicates_b on media_near_duplicates(b);

-- The planner sizes a lookup from statistics on the chunk expressions; a partial index's expressions get none of
-- their own, and without them it guesses thousands of candidates and scans the whole table (bench/duplicates.py).
create statistics if not exists media_phash_c0_stats on ((((phash::bigint) >> 48) & 65535)) from media;
create statistics if not exists media_phash_c1_stats on ((((phash::bigint) >> 32) & 65535)) from media;
create statistics if not exists media_phash_c2_stats on ((((phash::bigint) >> 16) & 65535)) from media;
create statistics if not exists media_phash_c3_stats on (((phash::bigint) & 65535)) from media;
