-- Place names, offline (issue 21): every item with a location (the owner's override, else the file's GPS) gets
-- the city, region and country nearest to it (pva/media/places.py: GeoNames places of 1000+ people, none beyond
-- 50 km), looked up at ingest, when the override changes, and by `pva places` for rows made before this migration.
--
-- places: one row per (country, region, city) that some item was named after; a few thousand rows for a large
--   library (the gazetteer has 155,000 places), so the names are stored once and searched here: "Lisbon" or
--   "Portugal" first becomes a short list of place ids, then media_live_place finds the items.
-- media.place_id: the place, null when there is none (no location, or nothing within reach);
-- media.place_version: the gazetteer version it was looked up with, null when it has not been looked up yet (the
--   worklist of `pva places`: media_place_todo, which empties as the command runs).

create table if not exists places (
    id           serial primary key,
    country_code text not null,
    country      text not null,
    region       text,
    city         text not null,
    folded       text not null default '',  -- the names without accents ("Obidos" finds Óbidos), from Python
    name_tsv     tsvector generated always as (to_tsvector('simple', city || ' ' || coalesce(region, '') || ' '
                                                            || country || ' ' || country_code || ' ' || folded)) stored,
    unique nulls not distinct (country_code, region, city)
);
create index if not exists places_name on places using gin (name_tsv);
create index if not exists places_country on places (country_code);

alter table media add column if not exists place_id int references places(id);
alter table media add column if not exists place_version smallint;

-- search by place: one date-ordered walk per place id, or a bitmap of the few place ids a name gives
create index if not exists media_live_place on media (owner_id, place_id, (coalesce(taken_at, created_at)) desc, id desc)
    where trashed_at is null and place_id is not null;
-- items with a location whose place has not been looked up
create index if not exists media_place_todo on media (id)
    where place_version is null and coalesce(gps_override_lat, gps_lat) is not null;

-- a location that changes by any path forgets its place (the service that changed it looks it up again in the same
-- transaction; `pva places` catches any other writer)
create or replace function pva_media_place_reset() returns trigger language plpgsql as $$
begin
    if coalesce(new.gps_override_lat, new.gps_lat) is distinct from coalesce(old.gps_override_lat, old.gps_lat)
       or coalesce(new.gps_override_lon, new.gps_lon) is distinct from coalesce(old.gps_override_lon, old.gps_lon) then
        new.place_id := null;
        new.place_version := null;
    end if;
    return new;
end $$;
drop trigger if exists media_place_reset on media;
create trigger media_place_reset before update of gps_lat, gps_lon, gps_override_lat, gps_override_lon on media
    for each row execute function pva_media_place_reset();
