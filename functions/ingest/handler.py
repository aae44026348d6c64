"""Ingest: files from batch load / folder sync (media.ingest), object-store drops (storage.inbox, MinIO
notification format) and direct HTTP POSTs.  The work is in pva.services.inbox; this only dispatches."""
import json

from pva.services import inbox


def init_context(context):
    context.user_data.ingestor = inbox.get_ingestor()  # storage client and settings, once per worker


def handler(context, event):
    if event.trigger.kind == "http":
        body = event.body if isinstance(event.body, (bytes, bytearray)) else json.dumps(event.body).encode()
        status, payload = inbox.handle_http(body, dict(event.headers or {}), dict(event.fields or {}),
                                            method=event.method or "POST", path=event.path or "/")
        return context.Response(body=json.dumps(payload), headers={}, content_type="application/json",
                                status_code=status)
    routing_key = (event.path or "").rsplit("/", 1)[-1]
    try:
        results = inbox.handle_message(routing_key, event.body)
    except inbox.BadEvent as e:
        context.logger.warn_with("malformed ingest message dropped", error=str(e), routing_key=routing_key)
        return {"error": str(e)}
    for r in results:
        context.logger.info_with("ingested", status=r["status"], name=r["name"], media_id=r["media_id"],
                                 reason=r["reason"])
    # one dict per event, also when nothing was ingested (rejected/ copies, reason notes, redeliveries): Nuclio's
    # wrapper turns a returned list into a batch reply, and for an empty one its Go side reads a result that is
    # not there, so the message is never acked and the queue stalls
    return {"results": results}
