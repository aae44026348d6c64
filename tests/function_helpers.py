"""Helpers for tests that run a real function directory through the local Nuclio-compatible runtime."""
from __future__ import annotations

import importlib.util
import json
import logging
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import yaml

FUNCTIONS = Path(__file__).resolve().parent.parent / "functions"


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


def import_handler(name: str):
    """functions/NAME/handler.py imported as a module of its own, the way the runtime imports it."""
    spec = importlib.util.spec_from_file_location(f"{name}_handler_under_test", FUNCTIONS / name / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_handler(name: str):
    """functions/NAME/handler.py loaded the way the runtime loads it, init_context run once (in a queue worker's
    context).  Returns call(kind, body, content_type="", owner=None): its handler's answer to an event as Nuclio
    hands it over ("http": signed as the gateway signs, for `owner`, default a spare user; else from the queue);
    call.task is the function's task."""
    import nuclio_sdk

    module = import_handler(name)
    context = nuclio_sdk.Context(logger=nuclio_sdk.Logger(logging.INFO, name=f"test.{name}"),
                                 platform=nuclio_sdk.Platform("local", namespace="pva"),
                                 worker_id=0, trigger=nuclio_sdk.TriggerInfo("rabbit-mq", "queue"))
    module.init_context(context)

    def call(kind: str, body, content_type: str = "", owner: str | None = None):
        headers = signed_headers(body, content_type, owner=owner) if kind == "http" else {}
        event = nuclio_sdk.Event(body=body, content_type=content_type, trigger=nuclio_sdk.TriggerInfo(kind, kind),
                                 fields={}, headers=headers, _id=str(uuid.uuid4()),
                                 method="POST" if kind == "http" else "", path="/", url="")
        return module.handler(context, event)

    call.task = context.user_data.task
    return call
