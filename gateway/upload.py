"""Streaming multipart upload: each file part is written once to a temporary file under <data_dir>/tmp while the
body arrives (never held in memory), then handed to ingest.  The request body is limited to max_upload_bytes."""
from __future__ import annotations

import io
import posixpath
from pathlib import Path

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from python_multipart.multipart import File, FormParser, parse_options_header

from pva.config import get_settings
from pva.log import get_logger

from . import metrics

log = get_logger("pva.gateway.upload")
MAX_FILES = 1000


def clean_relative_path(name: str) -> str:
    """A client-supplied name as a safe relative path ('../x', '/abs', backslashes, NULs removed)."""
    name = name.replace("\\", "/").replace("\x00", "")
    parts = [p for p in posixpath.normpath("/" + name).split("/") if p not in ("", ".", "..")]
    return "/".join(parts)[:1024] or "upload"


async def receive_files(request: Request) -> tuple[list[tuple[str, File]], dict[str, list[str]]]:
    """Parse a multipart body into (name, File) pairs (files on disk) and plain fields."""
    s = get_settings()
    ctype = request.headers.get("content-type", "")
    mime, params = parse_options_header(ctype)
    if mime != b"multipart/form-data" or b"boundary" not in params:
        raise HTTPException(415, "send files as multipart/form-data (field name 'files', one part per file)")
    limit = s.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload of {declared} bytes exceeds the limit of {limit} bytes per request "
                                 "(PVA_MAX_UPLOAD_BYTES); send fewer or smaller files per request")
    tmp_dir = s.tmp_dir
    files: list[tuple[str, File]] = []
    fields: dict[str, list[str]] = {}

    def on_file(f: File) -> None:
        if len(files) >= MAX_FILES:
            f.close()
            raise HTTPException(413, f"at most {MAX_FILES} files per request")
        raw = f.file_name or b"upload"
        files.append((raw.decode("utf-8", "replace"), f))

    def on_field(f) -> None:
        if len(fields) > 100:
            return
        fields.setdefault((f.field_name or b"").decode("utf-8", "replace"), []).append(
            (f.value or b"").decode("utf-8", "replace")[:4096])

    parser = FormParser("multipart/form-data", on_field, on_file, boundary=params[b"boundary"],
                        config={"UPLOAD_DIR": str(tmp_dir), "MAX_MEMORY_FILE_SIZE": 64 * 1024,
                                "UPLOAD_DELETE_TMP": True, "MAX_FIELD_SIZE": 64 * 1024})
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise HTTPException(413, f"upload exceeds the limit of {limit} bytes per request "
                                         "(PVA_MAX_UPLOAD_BYTES); send fewer or smaller files per request")
            if chunk:
                await run_in_threadpool(parser.write, chunk)
        await run_in_threadpool(parser.finalize)
    except HTTPException:
        close_all(files)
        raise
    except Exception as e:  # malformed multipart
        close_all(files)
        raise HTTPException(400, f"could not parse the multipart body: {e}") from None
    return files, fields


def close_all(files) -> None:
    for _, f in files:
        try:
            f.close()
        except Exception:
            pass


def ingest_one(owner: dict, name: str, f: File) -> dict:
    """Hand one received file to ingest; a per-file result dict (never raises for a bad file)."""
    from pva.ingest import service

    rel = clean_relative_path(name)
    try:
        if f.in_memory or f.actual_file_name is None:
            obj = f.file_object
            obj.seek(0)
            res = service.ingest_stream(owner, io.BufferedReader(obj) if not hasattr(obj, "read") else obj,
                                        posixpath.basename(rel), source="upload", relative_path=rel)
        else:
            f.flush_to_disk()
            f.file_object.flush()
            path = Path(f.actual_file_name.decode() if isinstance(f.actual_file_name, bytes)
                        else f.actual_file_name)
            res = service.get_ingestor().ingest_file(path, service.resolve_owner(owner), rel, source="upload")
        out = res.as_dict()
    except Exception as e:  # a service failure: tell the client to retry this file, keep going with the others
        log.exception("upload ingest failed", extra={"name": rel})
        out = {"status": "failed", "name": rel, "reason": f"server error while storing the file ({type(e).__name__});"
                                                          " retry later", "media_id": None, "sha512": None}
    finally:
        try:
            f.close()
        except Exception:
            pass
    metrics.UPLOADS.labels(out.get("status", "?")).inc()
    keep = ("status", "name", "media_id", "reason", "sha512", "kind", "format", "size", "warnings")
    return {k: out.get(k) for k in keep if k in out}
