-- The whole data model of DESIGN.md.  Every user-owned row carries owner_id (directly or through media).
create extension if not exists vector;

create table users (
    id            uuid primary key default gen_random_uuid(),
    username      text not null unique check (length(username) between 1 and 64),
    display_name  text not null default '',
    password_hash text not null,
    is_admin      boolean not null default false,
    disabled      boolean not null default false,
    created_at    timestamptz not null default now()
);

create table api_tokens (
    id           uuid primary key default gen_random_uuid(),
    user_id      uuid not null references users(id) on delete cascade,
    name         text not null default '',
    token_hash   bytea not null unique,          -- sha256 of the token; the token itself is never stored
    prefix       text not null,                  -- first characters, to recognise a token in the UI
    scopes       text[] not null default '{read}',
    kind         text not null default 'api' check (kind in ('api', 'session')),
    csrf_hash    bytea,                          -- sessions: sha256 of the CSRF token
    created_at   timestamptz not null default now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);
create index api_tokens_user on api_tokens(user_id);

create table media (
    id               uuid primary key default gen_random_uuid(),
    owner_id         uuid not null references users(id) on delete cascade,
    sha512           bytea not null,
    kind             text not null check (kind in ('photo', 'video')),
    format           text not null,               -- jpeg, png, heic, tiff, webp, gif, mp4, mov, mkv, avi, webm
    mime             text not null,
    size             bigint not null check (size >= 0),
    width            int,
    height           int,
    duration         double precision,            -- seconds (videos)
    taken_at         timestamptz,
    taken_at_offset  int,                         -- minutes east of UTC when the file says so
    taken_at_local   timestamp,                   -- wall-clock time as the camera recorded it
    camera_make      text,
    camera_model     text,
    lens             text,
    gps_lat          double precision check (gps_lat between -90 and 90),
    gps_lon          double precision check (gps_lon between -180 and 180),
    gps_alt          double precision,
    gps_override_lat double precision check (gps_override_lat between -90 and 90),
    gps_override_lon double precision check (gps_override_lon between -180 and 180),
    gps_override_alt double precision,
    orientation      smallint,
    storage_key      text not null,               -- key in the originals bucket
    original_path    text not null,               -- relative path as it arrived (load folder / upload name)
    filename         text not null,
    thumb_key        text,                        -- grid size (~256 px)
    preview_key      text,                        -- preview size (~1440 px)
    status           text not null default 'ready' check (status in ('ready', 'processing', 'error')),
    source           text not null default 'upload', -- load, upload, drop, http, sync
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    trashed_at       timestamptz,
    metadata         jsonb not null default '{}'::jsonb,
    name_tsv         tsvector generated always as (to_tsvector('simple', coalesce(filename, '') || ' ' ||
                                                   regexp_replace(coalesce(original_path, ''), '[/_.-]', ' ', 'g'))) stored,
    unique (owner_id, sha512),
    unique (storage_key)
);
create index media_owner_taken on media(owner_id, (coalesce(taken_at, created_at)) desc, id desc);
create index media_owner_created on media(owner_id, created_at desc, id desc);
create index media_owner_gps on media(owner_id, coalesce(gps_override_lat, gps_lat), coalesce(gps_override_lon, gps_lon));
create index media_owner_camera on media(owner_id, camera_make, camera_model);
create index media_owner_format on media(owner_id, kind, format);
create index media_name_tsv on media using gin(name_tsv);
create index media_trashed on media(trashed_at) where trashed_at is not null;

create table comments (
    id         uuid primary key default gen_random_uuid(),
    media_id   uuid not null references media(id) on delete cascade,
    author_id  uuid not null references users(id) on delete cascade,
    body       text not null check (length(body) between 1 and 10000),
    body_tsv   tsvector generated always as (to_tsvector('simple', body)) stored,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index comments_media on comments(media_id, created_at);
create index comments_tsv on comments using gin(body_tsv);

create table albums (
    id             uuid primary key default gen_random_uuid(),
    owner_id       uuid not null references users(id) on delete cascade,
    name           text not null check (length(name) between 1 and 200),
    description    text not null default '',
    cover_media_id uuid references media(id) on delete set null,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create index albums_owner on albums(owner_id, created_at desc);

create table album_media (
    album_id uuid not null references albums(id) on delete cascade,
    media_id uuid not null references media(id) on delete cascade,
    added_at timestamptz not null default now(),
    primary key (album_id, media_id)
);
create index album_media_media on album_media(media_id);

create table album_shares (
    album_id  uuid not null references albums(id) on delete cascade,
    user_id   uuid not null references users(id) on delete cascade,
    created_at timestamptz not null default now(),
    primary key (album_id, user_id)
);
create index album_shares_user on album_shares(user_id);

-- Analysis job state: the source of truth (the queue only carries wake-ups).
create table analysis (
    media_id      uuid not null references media(id) on delete cascade,
    kind          text not null check (kind in ('detect', 'faces', 'ocr', 'transcribe')),
    status        text not null default 'queued' check (status in ('queued', 'running', 'done', 'failed')),
    attempts      int not null default 0,
    error         text,
    progress      real,                          -- 0..1 while running (long videos)
    model         text,
    model_version text,
    result_summary jsonb,
    queued_at     timestamptz not null default now(),
    published_at  timestamptz,
    started_at    timestamptz,
    lease_until   timestamptz,
    worker        text,
    finished_at   timestamptz,
    updated_at    timestamptz not null default now(),
    primary key (media_id, kind)
);
create index analysis_status on analysis(status, kind);
create index analysis_lease on analysis(lease_until) where status = 'running';

create table detections (
    id          bigserial primary key,
    media_id    uuid not null references media(id) on delete cascade,
    label       text not null,
    confidence  real not null check (confidence between 0 and 1),
    x           real not null,   -- normalized box: left, top, width, height in 0..1
    y           real not null,
    w           real not null,
    h           real not null,
    model       text not null,
    model_version text not null default '',
    video_time  double precision  -- seconds into the video (keyframe), null for photos
);
create index detections_media on detections(media_id);
create index detections_label on detections(label, confidence desc);

create table people (
    id          uuid primary key default gen_random_uuid(),
    owner_id    uuid not null references users(id) on delete cascade,
    name        text,
    hidden      boolean not null default false,
    cover_face_id bigint,
    centroid    vector(128),
    face_count  int not null default 0,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create index people_owner on people(owner_id);

create table faces (
    id          bigserial primary key,
    media_id    uuid not null references media(id) on delete cascade,
    owner_id    uuid not null references users(id) on delete cascade,
    x           real not null,
    y           real not null,
    w           real not null,
    h           real not null,
    embedding   vector(128) not null,
    person_id   uuid references people(id) on delete set null,
    person_locked boolean not null default false,  -- the user moved/assigned it: reclustering keeps it
    crop_key    text,
    model       text not null,
    model_version text not null default '',
    video_time  double precision,
    created_at  timestamptz not null default now()
);
create index faces_media on faces(media_id);
create index faces_owner_person on faces(owner_id, person_id);
create index faces_embedding_hnsw on faces using hnsw (embedding vector_l2_ops) with (m = 16, ef_construction = 64);

alter table people add constraint people_cover_face_fk foreign key (cover_face_id) references faces(id) on delete set null;

create table ocr (
    media_id    uuid primary key references media(id) on delete cascade,
    text        text not null default '',
    words       jsonb not null default '[]'::jsonb,   -- [{text, conf, x, y, w, h}] normalized boxes
    language    text not null default 'eng',
    rotation    int not null default 0,
    model       text not null,
    model_version text not null default '',
    text_tsv    tsvector generated always as (to_tsvector('simple', text)) stored,
    created_at  timestamptz not null default now()
);
create index ocr_tsv on ocr using gin(text_tsv);

create table transcripts (
    media_id    uuid primary key references media(id) on delete cascade,
    text        text not null default '',
    segments    jsonb not null default '[]'::jsonb,   -- [{start, end, text}]
    language    text,
    engine      text not null,
    model       text not null,
    has_audio   boolean not null default true,
    text_tsv    tsvector generated always as (to_tsvector('simple', text)) stored,
    created_at  timestamptz not null default now()
);
create index transcripts_tsv on transcripts using gin(text_tsv);

-- Files that could not be ingested, with their reason (visible in the UI; nothing is dropped silently).
create table rejections (
    id         bigserial primary key,
    owner_id   uuid references users(id) on delete cascade,
    source     text not null,
    name       text not null,
    size       bigint,
    sha512     bytea,
    reason     text not null,
    created_at timestamptz not null default now()
);
create index rejections_owner on rejections(owner_id, created_at desc);
