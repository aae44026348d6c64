-- Bursts and "On this day" memories (issue 21).
--
-- Bursts: photos of one owner's one camera (make + model) taken within pva.services.bursts.GAP_SECONDS of the
-- next are one burst.  Every member carries the id of the burst's first photo (its own id on that photo) and the
-- number of photos; a photo in no burst has both null.  Kept by pva.services.bursts after ingest, trash and
-- restore; an owner's whole library is rebuilt by the housekeeping cron when bursts_built has no row for them
-- (existing libraries after this migration, new users) and by `pva bursts rebuild`.  The library listing stacks a
-- burst by reading only rows with burst_id null or equal to their id (bench/bursts.py: the filter costs nothing
-- measurable on the date-ordered walk; computing the stacks in the listing query does).
alter table media add column if not exists burst_id uuid;
alter table media add column if not exists burst_size int;
create index if not exists media_burst on media(burst_id) where burst_id is not null;
-- a camera's photos in time order: the neighbours of a new (or trashed, or restored) photo, and the rebuild
create index if not exists media_camera_time on media(owner_id, camera_model, (coalesce(camera_make, '')), taken_at)
    where kind = 'photo' and trashed_at is null and camera_model is not null and taken_at is not null;
create table if not exists bursts_built (
    owner_id  uuid primary key references users(id) on delete cascade,
    built_at  timestamptz not null default now()
);

-- Memories: the calendar day an item was taken on, as the camera's clock showed it (taken_at_local, else the UTC
-- date), month * 100 + day; the same expression as pva/db/memories.py's MONTH_DAY.
create index if not exists media_owner_month_day on media(owner_id,
    ((extract(month from coalesce(taken_at_local, taken_at at time zone 'UTC')) * 100
      + extract(day from coalesce(taken_at_local, taken_at at time zone 'UTC')))::int))
    where trashed_at is null and taken_at is not null;

-- Prepared by the housekeeping cron (pva.services.memories.prepare_due) for the days around today, so that the
-- library page only reads them: one row per owner, day shown and earlier year, its items in capture order
-- (trashed items, later burst frames and near-duplicates left out).
create table if not exists memories (
    owner_id    uuid not null references users(id) on delete cascade,
    day         date not null,
    year        int not null,
    media_ids   uuid[] not null,
    total       int not null,          -- the items of that day and year before near-duplicates were left out
    primary key (owner_id, day, year)
);
create table if not exists memories_prepared (
    owner_id     uuid primary key references users(id) on delete cascade,
    days         date[] not null,
    prepared_at  timestamptz not null default now()
);
