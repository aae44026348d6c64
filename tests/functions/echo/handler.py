"""Echo test function: records what the runtime hands it and returns what the event asks for.

Every event is written as JSON to $RECORD_DIR/<trigger kind>-<event id or uuid>-<phase>.json ("start" before
acting, "done" after), so tests can assert the Event/Context fields the runtime filled in.

What to do comes from the HTTP path ("/str", "/bytes", ...) or from the JSON body's "action" key:
str, bytes, dict, list, tuple, response, raise, sleep (with "seconds").
"""
import base64
import json
import os
import time
import uuid


def init_context(context):
    context.user_data.greeting = os.environ.get("ECHO_GREETING", "")
    context.user_data.init_pid = os.getpid()
    context.logger.info_with("echo initialised", greeting=context.user_data.greeting)


def _record(context, event, phase, extra=None):
    body = event.body
    if isinstance(body, bytes):
        body = {"__bytes__": base64.b64encode(body).decode()}
    rec = {
        "phase": phase,
        "id": event.id,
        "body": body,
        "content_type": event.content_type,
        "headers": {str(k): (v.decode() if isinstance(v, bytes) else v) for k, v in event.headers.items()},
        "fields": event.fields,
        "path": event.path,
        "method": event.method,
        "url": event.url,
        "size": event.size,
        "timestamp": event.timestamp.isoformat() if hasattr(event.timestamp, "isoformat") else event.timestamp,
        "trigger_kind": event.trigger.kind,
        "trigger_name": event.trigger.name,
        "context_trigger_name": context.trigger_name,
        "context_trigger_kind": context.trigger.kind,
        "worker_id": context.worker_id,
        "greeting": context.user_data.greeting,
        "pid": os.getpid(),
        "init_pid": context.user_data.init_pid,
    }
    rec.update(extra or {})
    d = os.environ["RECORD_DIR"]
    os.makedirs(d, exist_ok=True)
    name = f"{event.trigger.kind}-{event.id or uuid.uuid4()}-{phase}.json"
    tmp = os.path.join(d, "." + name)
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.replace(tmp, os.path.join(d, name))


def handler(context, event):
    if event.trigger.kind == "http":
        action = event.path.strip("/") or "str"
        seconds = float(event.fields.get("seconds", 0) or 0)
    else:
        action = event.body.get("action", "str") if isinstance(event.body, dict) else "str"
        seconds = float(event.body.get("seconds", 0)) if isinstance(event.body, dict) else 0.0
    _record(context, event, "start", {"action": action})
    context.logger.info_with("echo event", action=action, event_id=event.id)
    if action == "sleep":
        time.sleep(seconds)
    _record(context, event, "done", {"action": action})
    if action == "raise":
        raise ValueError("echo was asked to fail")
    if action == "bytes":
        return b"\x00\x01binary"
    if action == "dict":
        return {"echo": event.body if not isinstance(event.body, bytes) else None, "ok": True}
    if action == "list":
        return [1, "two", 3.0]
    if action == "tuple":
        return 201, {"created": True}
    if action == "response":
        return context.Response(body="made", headers={"X-Echo": "yes"}, content_type="text/x-echo",
                                status_code=202)
    return f"{context.user_data.greeting}: {action}"
