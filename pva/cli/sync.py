"""`pva sync DIR... --server URL [--token TOKEN] [--watch] [--album NAME] [--concurrency N] [--dry-run]`.

The token is read from PVA_SYNC_TOKEN when --token is not given (so it does not show in `ps`).
Exit codes: 0 all good, 1 some files rejected or failed, 2 usage/configuration error, 3 server unreachable
after waiting --wait seconds, 130 interrupted.
"""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

TOKEN_ENV = "PVA_SYNC_TOKEN"
SERVER_ENV = "PVA_SYNC_SERVER"


def register(sub) -> None:
    p = sub.add_parser(
        "sync", help="upload folders to a PhotoAndVideoAnalysis server (resumable, optionally watching)",
        description="Upload the photos and videos under DIR... to a server: files are hashed locally, the "
                    "server is asked which it already has, the rest are uploaded as <folder name>/<relative "
                    "path>. Local files are never modified or deleted. Exit codes: 0 all good, 1 some files "
                    "rejected or failed, 2 usage/configuration error, 3 server unreachable after --wait.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("dirs", nargs="+", metavar="DIR", type=Path, help="folders to sync")
    p.add_argument("--server", default=os.environ.get(SERVER_ENV),
                   help=f"base URL of the gateway, e.g. https://photos.home (or {SERVER_ENV})")
    p.add_argument("--token", default=None,
                   help=f"API token with the 'upload' scope; prefer the {TOKEN_ENV} environment variable "
                        "(a command-line argument is visible to other users in `ps`)")
    p.add_argument("--watch", action="store_true", help="after the first pass, keep uploading new files")
    p.add_argument("--settle", type=float, default=5.0,
                   help="--watch: seconds a file must stay unchanged (size and mtime) before it is uploaded")
    p.add_argument("--album", default=None, help="also put every synced file into this album (created if needed)")
    p.add_argument("--concurrency", type=int, default=4, help="parallel uploads")
    p.add_argument("--dry-run", action="store_true", help="hash and ask the server, but upload and record nothing")
    p.add_argument("--state", type=Path, default=None,
                   help="state database (default $XDG_STATE_HOME/pva-sync/state.db, ~/.local/state/...)")
    p.add_argument("--ca-cert", type=Path, default=None,
                   help="PEM CA certificate to trust for the server (e.g. ca.crt from `pva certs` on a home server)")
    p.add_argument("--wait", type=float, default=300.0,
                   help="seconds to keep retrying while the server does not answer before giving up (exit 3)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (the summary is still printed)")
    p.set_defaults(func=_cmd)


def _cmd(args) -> int:
    from pva.sync.engine import SyncOptions, run_sync
    from pva.sync.progress import RichReporter

    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    token = args.token or os.environ.get(TOKEN_ENV, "")
    opts = SyncOptions(roots=args.dirs, server=args.server or "", token=token.strip(), album=args.album,
                       concurrency=args.concurrency, dry_run=args.dry_run, state_path=args.state,
                       ca_cert=args.ca_cert, wait=args.wait, settle=args.settle)
    reporter = RichReporter(show_progress=not args.no_progress)
    stop = threading.Event()

    def _on_signal(signum, frame):
        if stop.is_set():  # a second Ctrl-C: do not wait for the uploads in flight
            raise KeyboardInterrupt
        reporter.notice("stopping after the uploads in flight (Ctrl-C again to quit now)")
        stop.set()

    old_int = signal.signal(signal.SIGINT, _on_signal)
    old_term = signal.signal(signal.SIGTERM, _on_signal)
    try:
        summary = run_sync(opts, reporter=reporter, stop=stop, watch=args.watch)
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    out = summary.text(dry_run=args.dry_run)
    print(out, file=sys.stderr if summary.exit_code else sys.stdout)
    return summary.exit_code

