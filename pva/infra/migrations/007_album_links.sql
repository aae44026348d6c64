-- Public links to an album (issue 18 item 4): anyone holding the link sees the album's photos read-only.  Only the
-- SHA-256 of the random token is stored (the owner sees the token once, when the link is made); a password is
-- hashed like users' passwords (argon2id).  A revoked or expired link answers like one that never existed.
create table if not exists album_links (
    id            uuid primary key default gen_random_uuid(),
    album_id      uuid not null references albums(id) on delete cascade,
    token_hash    bytea not null unique check (length(token_hash) = 32),
    expires_at    timestamptz,
    password_hash text,
    created_at    timestamptz not null default now(),
    revoked_at    timestamptz
);
create index if not exists album_links_album on album_links(album_id);
