#!/usr/bin/env bash
# `make run`: start the embedded stack, the analysis functions and the gateway; print the URL.
# Ctrl-C stops the functions and the gateway; `make down` stops the stack.
set -euo pipefail
cd "$(dirname "$0")/.."
PVA=.venv/bin/pva
$PVA up
mkdir -p var/logs
# First run: an admin account with a generated password, printed once (change it in the UI).
.venv/bin/python - <<'PY'
from pva import db
from pva.config import get_settings
if not db.query("select 1 from users limit 1"):
    import secrets
    from pva.services.auth import create_user
    pw = secrets.token_urlsafe(12)
    create_user("admin", pw, is_admin=True)
    print(f"\n  first run: created user 'admin' with password {pw}\n")
PY
$PVA functions serve > var/logs/functions.log 2>&1 &
FUNCS=$!
trap 'kill $FUNCS 2>/dev/null; wait $FUNCS 2>/dev/null' EXIT INT TERM
PORT=$(.venv/bin/python -c 'from pva.config import get_settings; print(get_settings().http_port)')
URL=$(.venv/bin/python -c 'from pva.config import get_settings as g; s=g(); print(s.public_url or f"http://{s.http_host}:{s.http_port}/")')
if [ -f var/run/nginx.pid ]; then URL=$(.venv/bin/python -c 'from pva.config import get_settings as g; s=g(); print(f"https://localhost:{s.https_port}/")'); fi
echo "PhotoAndVideoAnalysis is starting: open $URL   (functions log: var/logs/functions.log; Ctrl-C to stop)"
# drops: the filer's webhook (written by `pva up`) reaches the gateway on PVA_HTTP_PORT, which `pva serve` uses
DROPS=$(.venv/bin/python -c 'from pva.config import get_settings as g; s=g(); print(f"s3://{s.bucket_inbox}/<username>/ at {s.effective_s3_endpoint}")')
echo "Drop files into $DROPS with any S3 client (keys PVA_S3_ACCESS_KEY / PVA_S3_SECRET_KEY)"
$PVA serve
