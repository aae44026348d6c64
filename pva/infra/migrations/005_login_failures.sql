-- Failed logins, shared by every gateway process (the limiter was per process: with N workers an attacker got
-- N times the attempts).  One row per failure per key ('u:<name>' and 'c:<address>'); `at` is seconds since
-- the epoch on the limiter's clock.  Rows older than the window are pruned on write and by the reconcile cron.
create table if not exists login_failures (
    key text not null,
    at  double precision not null
);
create index if not exists login_failures_key_at on login_failures (key, at);
