-- People that can be fixed (issue 18 item 9).
--
-- A video's face row stands for one person in the whole video: the best of that person's keyframe faces, with
-- the time ranges (seconds, [[start, end], ...]) in which the person appears.  Photos leave it null.
alter table faces add column if not exists time_ranges jsonb;

-- A merge remembers what it moved, so "undo" puts both people back as they were: the source people's rows
-- (id, name, hidden, cover, centroid, created_at) and each moved face's previous person and lock.  Undo
-- recreates the sources under their old ids and moves back the faces still in the target.
create table if not exists people_merges (
    id          bigserial primary key,
    owner_id    uuid not null references users(id) on delete cascade,
    target_id   uuid not null,
    sources     jsonb not null,   -- [{id, name, hidden, cover_face_id, centroid, created_at}]
    faces       jsonb not null,   -- [{id, person_id, locked}]
    merged_at   timestamptz not null default now(),
    undone_at   timestamptz
);
create index if not exists people_merges_owner_target on people_merges(owner_id, target_id);
