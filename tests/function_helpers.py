"""Helpers for tests that run a real function directory through the local Nuclio-compatible runtime."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import yaml


def runtime_copy(src: Path, dst_root: Path, *, workers: int = 1) -> Path:
    """A copy of a function directory for an isolated run: its own queue, an ephemeral HTTP port."""
    spec = yaml.safe_load((src / "function.yaml").read_text())
    for t in spec["spec"]["triggers"].values():
        t["numWorkers"] = workers
        if t["kind"] == "http":
            t["attributes"].pop("port", None)
        if t["kind"] == "rabbit-mq":
            t["attributes"]["queueName"] += f"-{uuid.uuid4().hex[:8]}"
    dst = dst_root / src.name
    dst.mkdir(parents=True)
    (dst / "function.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (dst / "handler.py").write_text((src / "handler.py").read_text())
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
