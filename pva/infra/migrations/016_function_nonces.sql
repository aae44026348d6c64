-- Nonces of the gateway's signed function requests (pva/services/function_auth.py): a captured request could be
-- replayed for as long as its timestamp is inside the five-minute window, so every signature carries a random
-- 128-bit nonce and the first function process to see it inserts it here; a second insert of the same nonce (any
-- process, any host) finds it taken and the request is refused.  A row is kept until its signature's timestamp
-- has left the window (plus a minute for the clocks of different hosts), then pruned by the insert path and by
-- the reconcile cron, through the index on expires_at.
create table if not exists function_nonces (
    nonce      text primary key,
    expires_at double precision not null  -- seconds since the epoch
);
create index if not exists function_nonces_expires_at on function_nonces (expires_at);
