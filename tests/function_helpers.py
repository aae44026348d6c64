"""Helpers for tests that run a real function directory through the local Nuclio-compatible runtime."""
from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.parse
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


ALL_SCOPES = ("read", "write", "upload")
_owners: dict[str, str] = {}


def function_owner() -> str:
    """A user name for requests whose owner does not matter (one per test database, created on first use)."""
    from pva.infra import db
    from pva.config import get_settings

    url = get_settings().effective_database_url
    if url not in _owners:
        name = f"fn-caller-{uuid.uuid4().hex[:6]}"
        db.query_one("insert into users(username, password_hash) values (%s, '!') returning id", (name,))
        _owners[url] = name
    return _owners[url]


def signed_headers(body, content_type: str, *, owner: str | None = None, scopes=ALL_SCOPES, method: str = "POST",
                   path: str = "/", query: dict | None = None, now: float | None = None) -> dict[str, str]:
    """Headers that authenticate a function request as the gateway signs it (pva.services.function_auth), for `owner`
    (default: function_owner()) holding `scopes`.  `body` as posted (bytes) or as the handler sees it (a dict)."""
    from pva.services import function_auth

    return function_auth.sign(method, path, owner or function_owner(), body, content_type=content_type,
                              scopes=scopes, query=query, now=now)


def post(port: int, body: bytes, content_type: str, *, owner: str | None = None, scopes=ALL_SCOPES,
         token: str | None = None, sign: bool = True, headers: dict | None = None, query: dict | None = None,
         path: str = "/") -> tuple[int, dict]:
    """POST to a function's HTTP trigger; (status, JSON body).  Authenticated like the gateway does it (signed for
    `owner`, default function_owner(), with `scopes`) unless `token` is given (Authorization: Bearer) or
    sign=False; `headers` are added last (to forge or drop something)."""
    hdrs = {"Content-Type": content_type}
    if token is not None:
        hdrs["Authorization"] = f"Bearer {token}"
    elif sign:
        hdrs.update(signed_headers(body, content_type, owner=owner, scopes=scopes, path=path, query=query))
    hdrs.update(headers or {})
    qs = f"?{urllib.parse.urlencode(query)}" if query else ""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}{qs}", data=body, method="POST", headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
