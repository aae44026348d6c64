"""Readiness: do the services the gateway needs answer (the database, the object store, the broker)?
GET /readyz answers from here; each check is a short round trip with its own time limit."""
from __future__ import annotations

import asyncio
import os
import shutil
from typing import Callable

from ..config import get_settings
from ..infra import db
from ..infra.storage import get_storage

CHECK_TIMEOUT_SECONDS = 5.0


def check_db() -> None:
    db.query_one("select 1 as ok")


def check_s3() -> None:
    if not get_storage().ping():
        raise RuntimeError("object store does not answer")


def check_amqp() -> None:
    import pika

    params = pika.URLParameters(get_settings().effective_amqp_url)
    params.socket_timeout = 3
    params.blocked_connection_timeout = 3
    params.connection_attempts = 1
    conn = pika.BlockingConnection(params)
    conn.close()


CHECKS: dict[str, Callable[[], None]] = {"db": check_db, "s3": check_s3, "amqp": check_amqp}


async def readiness() -> dict:
    """{"status": "ready" | "not ready", "checks": {name: "ok" | "error: <type>: <message>"}}: all checks at
    once, each in a thread (they block) and cut off after CHECK_TIMEOUT_SECONDS.  A failed check is reported,
    never raised: this is the health answer."""
    async def one(name, fn):
        try:
            await asyncio.wait_for(asyncio.to_thread(fn), timeout=CHECK_TIMEOUT_SECONDS)
            return name, "ok"
        except Exception as e:  # report, do not raise
            return name, f"error: {type(e).__name__}: {str(e)[:200]}"

    results = dict(await asyncio.gather(*(one(n, f) for n, f in CHECKS.items())))
    return {"status": "ready" if all(v == "ok" for v in results.values()) else "not ready", "checks": results}


def host_figures() -> dict:
    """What an operator watches on the machine the gateway runs on: {"load": (1, 5, 15 min), "cpus",
    "memory_bytes": {"total", "available"} (None off Linux), "data_disk_bytes": {"total", "free"} of the data
    directory (originals, database and previews live there on one machine)}."""
    mem = None
    try:
        with open("/proc/meminfo") as f:
            info = {k: int(v.split()[0]) * 1024 for k, v in (line.split(":", 1) for line in f) if v.strip()}
        mem = {"total": info.get("MemTotal"), "available": info.get("MemAvailable")}
    except (OSError, ValueError):
        pass
    disk = shutil.disk_usage(get_settings().data_dir)
    return {"load": os.getloadavg(), "cpus": os.cpu_count() or 1, "memory_bytes": mem,
            "data_disk_bytes": {"total": disk.total, "free": disk.free}}
