"""What functions/ingest does with each kind of event (the handler only dispatches here).

- routing key ``media.ingest``: ``{"path": "/abs/file", "owner": "user", "relative_path": "a/b.jpg",
  "source": "load"}`` (a file on a disk the function can read; it is left where it is) or
  ``{"bucket": "...", "key": "...", "owner": "user"}`` (an object to ingest and remove);
- routing key ``storage.inbox``: a MinIO bucket notification (``Records[].s3.bucket.name`` and the URL-escaped
  ``Records[].s3.object.key``).  The first path segment of the key names the owner (``alice/trip/1.jpg``).  Added
  and duplicate objects are removed from the inbox; rejected ones are moved under ``rejected/`` with a
  ``.reason.txt`` object beside them (never deleted);
- HTTP POST with the file as the body: ``X-PVA-Owner`` names the owner, ``X-PVA-Filename`` (or ``?name=``) the
  file name; answers the ingest result as JSON.
"""
from __future__ import annotations

import logging
import os
import tempfile
import urllib.parse
from pathlib import Path

from ..config import get_settings
from .service import IngestResult, get_ingestor, resolve_owner  # noqa: F401 (re-exported for handlers)

log = logging.getLogger("pva.ingest.events")
REJECTED_PREFIX = "rejected/"


class BadEvent(ValueError):
    """The event itself is malformed (not the file): answered with 400 / nacked, with this reason."""


def minio_records(body: dict) -> list[tuple[str, str]]:
    """(bucket, key) for every ObjectCreated record of a MinIO/S3 notification."""
    recs = body.get("Records")
    if not isinstance(recs, list):
        raise BadEvent("not an S3 notification: no Records list")
    out = []
    for r in recs:
        try:
            name = str(r.get("eventName", "s3:ObjectCreated:Put"))
            if "ObjectCreated" not in name:
                continue
            bucket = r["s3"]["bucket"]["name"]
            key = urllib.parse.unquote_plus(r["s3"]["object"]["key"])
        except (KeyError, TypeError, AttributeError):
            raise BadEvent("S3 notification record without s3.bucket.name / s3.object.key") from None
        out.append((bucket, key))
    return out


def ingest_object(bucket: str, key: str, owner=None) -> IngestResult | None:
    """Ingest one object from the inbox bucket, then remove it (or move it aside when rejected)."""
    s = get_settings()
    ing = get_ingestor()
    st = ing.storage
    if key.startswith(REJECTED_PREFIX) or key.endswith(".reason.txt"):
        return None  # our own bookkeeping objects
    parts = key.split("/", 1)
    if owner is None:
        if len(parts) != 2 or not parts[0]:
            owner_name, rel = None, key
        else:
            owner_name, rel = parts
    else:
        owner_name, rel = owner, (parts[1] if len(parts) == 2 else key)
    if st.stat(bucket, key) is None:
        log.info("inbox object already gone (handled by an earlier delivery)", extra={"key": key})
        return None
    try:
        user = resolve_owner(owner_name) if owner_name else None
    except LookupError:
        user = None
    if user is None:
        reason = (f"no user named {owner_name!r}: put files under <username>/ in the inbox bucket"
                  if owner_name else "put files under <username>/ in the inbox bucket")
        _move_rejected(st, bucket, key, reason)
        return IngestResult("rejected", key, reason=reason)
    tmp_dir = s.tmp_dir
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="drop-")
    os.close(fd)
    try:
        st.download(bucket, key, tmp)
        res = ing.ingest_file(Path(tmp), user, rel, source="drop")
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
    if res.status in ("added", "duplicate"):
        st.delete(bucket, key)
    elif res.status == "rejected":
        _move_rejected(st, bucket, key, res.reason or "rejected")
    return res


def _move_rejected(st, bucket: str, key: str, reason: str) -> None:
    dest = REJECTED_PREFIX + key
    st.copy(bucket, key, bucket, dest)
    data = (reason.rstrip() + "\n").encode()
    st.put(bucket, dest + ".reason.txt", data, length=len(data), content_type="text/plain; charset=utf-8")
    st.delete(bucket, key)


def handle_message(routing_key: str, body) -> list[dict]:
    if not isinstance(body, dict):
        raise BadEvent("the message body must be a JSON object")
    if routing_key.endswith("storage.inbox") or "Records" in body:
        results = [ingest_object(b, k) for b, k in minio_records(body)]
        return [r.as_dict() for r in results if r is not None]
    if "path" in body:
        owner = body.get("owner")
        if not owner:
            raise BadEvent("media.ingest message without owner")
        rel = body.get("relative_path") or Path(body["path"]).name
        res = get_ingestor().ingest_file(Path(body["path"]), resolve_owner(owner), rel,
                                         source=body.get("source", "load"))
        return [res.as_dict()]
    if "bucket" in body and "key" in body:
        res = ingest_object(body["bucket"], body["key"], owner=body.get("owner"))
        return [res.as_dict()] if res else []
    raise BadEvent("media.ingest message needs either path+owner or bucket+key")


def handle_http(body: bytes, headers: dict, query: dict) -> tuple[int, dict]:
    hdr = {str(k).lower(): v for k, v in (headers or {}).items()}
    owner = hdr.get("x-pva-owner") or query.get("owner")
    name = hdr.get("x-pva-filename") or query.get("name") or "upload"
    if not owner:
        return 400, {"error": "say who owns the file with the X-PVA-Owner header"}
    try:
        user = resolve_owner(owner)
    except LookupError as e:
        return 404, {"error": str(e)}
    import io

    res = get_ingestor().ingest_stream(io.BytesIO(body or b""), user, urllib.parse.unquote(name),
                                       source="http")
    code = {"added": 201, "duplicate": 200, "rejected": 422, "failed": 503}[res.status]
    return code, res.as_dict()
