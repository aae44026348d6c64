-- Folders `pva load` has loaded from, per owner.  A media.ingest message with a "path" is honoured only for a
-- regular file under one of these roots (of the message's owner) or under PVA_LOAD_ROOTS: the queue must not
-- become a way to read any file the function host can read.  `path` is stored resolved (realpath).
create table if not exists load_roots (
    owner_id    uuid not null references users(id) on delete cascade,
    path        text not null check (left(path, 1) = '/'),
    declared_at timestamptz not null default now(),
    primary key (owner_id, path)
);
