"""`pva serve [--host --port]`: the gateway (API; the web UI adds its routers) on uvicorn.

The gateway is named by a string for uvicorn: `pva` imports nothing of gateway/ until a worker starts."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("serve", help="run the HTTP gateway (API and web UI)")
    p.add_argument("--host", default=None, help="listen address (default PVA_HTTP_HOST, 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default PVA_HTTP_PORT, 8000)")
    p.add_argument("--workers", type=int, default=None,
                   help="gateway processes (default PVA_HTTP_WORKERS, else one per core up to 4)")
    p.add_argument("--reload", action="store_true", help="development: restart on code changes")
    p.set_defaults(func=_serve)


def _serve(args) -> int:
    import uvicorn

    from pva.config import get_settings

    s = get_settings()
    workers = None if args.reload else (args.workers or s.effective_http_workers)
    if workers and workers > 1:  # the processes' metrics meet in one directory (emptied: old pids' files go)
        import os
        import shutil

        mdir = s.run_dir / f"prometheus-{args.port or s.http_port}"
        shutil.rmtree(mdir, ignore_errors=True)
        mdir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(mdir)
    uvicorn.run("gateway.app:create_serving_app", factory=True, host=args.host or s.http_host,
                port=args.port or s.http_port, workers=workers, reload=args.reload,
                proxy_headers=True, forwarded_allow_ips=s.forwarded_allow_ips, log_config=None,
                access_log=False)
    return 0
