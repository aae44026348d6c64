"""Helpers for tests that run a real function directory through the local Nuclio-compatible runtime."""
from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import yaml


def runtime_copy(src: Path, dst_root: Path, *, workers: int | None = 1, queue_suffix: str | None = None,
                 cron: str | None = None, queue_workers: int | None = None) -> Path:
    """A copy of a function directory for an isolated run, its HTTP trigger on an ephemeral port.
    workers: numWorkers of every trigger (None: as in the spec); queue_workers: of the queue trigger only.
    queue_suffix: appended to the queue name (None: a random one, so runs never share a queue; "": unchanged,
    for a test that has a RabbitMQ vhost of its own).  cron: the cron triggers' interval."""
    spec = yaml.safe_load((src / "function.yaml").read_text())
    for t in spec["spec"]["triggers"].values():
        if workers is not None:
            t["numWorkers"] = workers
        if t["kind"] == "http":
            t["attributes"].pop("port", None)
        if t["kind"] == "cron" and cron is not None:
            t["attributes"]["interval"] = cron
        if t["kind"] == "rabbit-mq":
            t["attributes"]["queueName"] += f"-{uuid.uuid4().hex[:8]}" if queue_suffix is None else queue_suffix
            if queue_workers is not None:
                t["numWorkers"] = queue_workers
    dst = dst_root / src.name
    shutil.copytree(src, dst)
    (dst / "function.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return dst


def post(port: int, body: bytes, content_type: str) -> tuple[int, dict]:
    """POST to a function's HTTP trigger; (status, JSON body)."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/", data=body, method="POST",
                                 headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
