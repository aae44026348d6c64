"""What functions/ingest does with each kind of event (the handler only dispatches here).

Ingest acts only on what is its own (DESIGN.md, "Trust boundary"): messages come from the project's services, yet
a wrong or forged one must not make it read or delete anything else.

- routing key ``media.ingest``: ``{"path": "/abs/file", "owner": "user", "relative_path": "a/b.jpg",
  "source": "load"}`` (a file on a disk the function can read; it is left where it is) or
  ``{"bucket": "...", "key": "...", "owner": "user"}`` (an inbox object to ingest and remove).  A ``path`` is
  honoured only for a regular file under a load root, compared after resolving symlinks and ``..``: the folders
  listed in PVA_LOAD_ROOTS, or the folders `pva load` declared for that owner (table load_roots).  Anything else
  is rejected with its reason (recorded in the owner's rejections) and the file is not touched;
- routing key ``storage.inbox``: a MinIO bucket notification (``Records[].s3.bucket.name`` and the URL-escaped
  ``Records[].s3.object.key``).  The first path segment of the key names the owner (``alice/trip/1.jpg``).  Added
  and duplicate objects are removed from the inbox; rejected ones are moved under ``rejected/`` with a
  ``.reason.txt`` object beside them (never deleted);
- for both object forms: only the configured inbox bucket (PVA_BUCKET_INBOX).  An event naming any other bucket
  (originals, thumbs, anything) is logged and ignored: nothing is read, stat'ed, copied or deleted.  Keys under
  ``rejected/``, in an ``.uploads/`` folder (SeaweedFS keeps multipart parts at ``.uploads/<id>/000N_*.part``
  until the upload completes) and ``*.reason.txt`` notes are never ingested nor moved;
- HTTP POST with the file as the body, authenticated (pva.services.function_auth: a user's API token or the gateway's
  signature, with the ``upload`` scope; the caller is the owner), ``X-PVA-Filename`` (or ``?name=``) the
  file name; answers the ingest result as JSON.
"""
from __future__ import annotations

import logging
import os
import stat
import tempfile
import urllib.parse
from pathlib import Path

from ..config import get_settings
from ..db import load_roots as load_roots_q
from ..infra import db
from .drops import REASON_SUFFIX, REJECTED_PREFIX, announced
from .ingest import IngestResult, get_ingestor, resolve_owner  # noqa: F401 (re-exported for handlers)

log = logging.getLogger("pva.ingest.events")  # the name its log lines always had


class BadEvent(ValueError):
    """The event itself is malformed (not the file): answered with 400 / nacked, with this reason."""


class PathRefused(ValueError):
    """A media.ingest ``path`` the function must not read; the message is the reason shown to the owner."""


def load_roots_for(owner: dict) -> list[str]:
    """The folders a path message for `owner` may name: PVA_LOAD_ROOTS plus the roots `pva load` declared."""
    configured = [r.strip() for r in get_settings().load_roots.split(os.pathsep) if r.strip()]
    with db.transaction() as cur:
        declared = load_roots_q.for_owner(cur, owner["id"])
    return configured + declared


def confined_path(path: str, roots: list[str]) -> str:
    """The resolved path of `path` when it is a regular file inside one of `roots` (both compared after
    os.path.realpath, so a symlink or ``..`` cannot lead out); PathRefused with the reason otherwise.  The caller
    reads the resolved path, not `path`, so the links resolved here are not followed a second time."""
    if not isinstance(path, str) or not os.path.isabs(path):
        raise PathRefused("a media.ingest path must be absolute")
    try:
        real = os.path.realpath(path)
    except ValueError:  # a NUL byte in the path
        raise PathRefused("a media.ingest path must not contain NUL bytes") from None
    if not any(_inside(real, root) for root in roots):
        raise PathRefused("the file is not under a load root (a folder loaded with `pva load` for this owner, "
                          "or one listed in PVA_LOAD_ROOTS); it was left where it is")
    try:
        mode = os.stat(real).st_mode
    except FileNotFoundError:
        raise PathRefused("there is no file at this path (moved or deleted since the message was sent)") from None
    except OSError as e:
        raise PathRefused(f"the file cannot be read ({e.strerror}); check its permissions") from None
    if not stat.S_ISREG(mode):
        raise PathRefused("not a regular file (a folder, device or pipe is never ingested)")
    return real


def _inside(real: str, root: str) -> bool:
    """`real` (resolved) lies strictly below `root` once that is resolved too."""
    if not os.path.isabs(root):
        return False  # a relative root would depend on the function's working directory
    try:
        r = os.path.realpath(root)
    except ValueError:
        return False
    return real != r and os.path.commonpath([r, real]) == r


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
    if bucket != s.bucket_inbox:
        # only the inbox is ours to read and empty; the originals or thumbs bucket must never lose an object
        log.warning("event for a bucket other than the inbox ignored: nothing read or deleted",
                    extra={"bucket": bucket, "key": key, "inbox": s.bucket_inbox})
        return None
    if not announced(key):  # the inbox's own bookkeeping and unfinished multipart parts
        log.info("inbox bookkeeping or multipart part ignored", extra={"bucket": bucket, "key": key})
        return None
    ing = get_ingestor()
    st = ing.storage
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
    st.put(bucket, dest + REASON_SUFFIX, data, length=len(data), content_type="text/plain; charset=utf-8")
    st.delete(bucket, key)


def ingest_path(body: dict) -> IngestResult:
    """A media.ingest message naming a file: ingested when it lies under the owner's load roots, else rejected
    (recorded for the owner, logged) and left in place."""
    owner_name, path = body.get("owner"), body.get("path")
    if not owner_name or not isinstance(owner_name, str):
        raise BadEvent("media.ingest message without owner (a username or user id)")
    if not isinstance(path, str) or not path:
        raise BadEvent("media.ingest path must be a non-empty string")
    try:
        owner = resolve_owner(owner_name)
    except LookupError as e:
        raise BadEvent(str(e)) from None
    rel = body.get("relative_path") or os.path.basename(path)
    source = body.get("source") or "load"
    if not isinstance(rel, str) or not isinstance(source, str):
        raise BadEvent("media.ingest relative_path and source must be strings")
    ing = get_ingestor()
    try:
        real = confined_path(path, load_roots_for(owner))
    except PathRefused as e:
        log.warning("media.ingest path refused; the file was not touched",
                    extra={"path": path, "owner": owner["username"], "reason": str(e)})
        return ing._reject(owner, source, rel, str(e))
    return ing.ingest_file(Path(real), owner, rel, source=source)


def handle_message(routing_key: str, body) -> list[dict]:
    """The ingest results of one queue message (empty when it named nothing ingest may take)."""
    if not isinstance(body, dict):
        raise BadEvent("the message body must be a JSON object")
    if routing_key.endswith("storage.inbox") or "Records" in body:
        results = [ingest_object(b, k) for b, k in minio_records(body)]
        return [r.as_dict() for r in results if r is not None]
    if "path" in body:
        return [ingest_path(body).as_dict()]
    if "bucket" in body and "key" in body:
        if not all(isinstance(body.get(f), str) for f in ("bucket", "key")) or \
                not isinstance(body.get("owner") or "", str):
            raise BadEvent("media.ingest bucket, key and owner must be strings")
        res = ingest_object(body["bucket"], body["key"], owner=body.get("owner"))
        return [res.as_dict()] if res else []
    raise BadEvent("media.ingest message needs either path+owner or bucket+key")


def handle_http(body: bytes, headers: dict, query: dict, *, method: str = "POST", path: str = "/"
                ) -> tuple[int, dict]:
    """A file POSTed to the ingest trigger, for the authenticated caller (a user's API token or the gateway's
    signature, pva.services.function_auth) holding the `upload` scope; the owner is always that caller."""
    from . import function_auth as fa

    query = query or {}
    try:
        caller = fa.verify(method, path, headers, body, query=query)
        fa.require(caller, "upload")
    except fa.AuthFailed as e:
        return e.status, {"error": str(e)}
    hdr = {str(k).lower(): v for k, v in (headers or {}).items()}
    name = hdr.get("x-pva-filename") or query.get("name") or "upload"
    user = {"id": caller.user_id, "username": caller.username}
    import io

    res = get_ingestor().ingest_stream(io.BytesIO(body or b""), user, urllib.parse.unquote(name),
                                       source="http")
    code = {"added": 201, "duplicate": 200, "rejected": 422, "failed": 503}[res.status]
    # storage keys stay inside (as in the upload route's answer): the media id is what a client uses
    return code, {k: v for k, v in res.as_dict().items() if k != "storage_key"}
