"""Streaming multipart upload: each file part is written once to a temporary file under <data_dir>/tmp while the body
arrives (never held in memory), then handed to ingest.  The request body is limited to max_upload_bytes.

One bad part never spoils the others: the reader below is our own (python-multipart gives up on the whole body at
the first malformed part header), so a part whose headers cannot be read (a raw CR in its file name, a file name of
kilobytes) becomes a per-file rejection and the parts after it are read as usual.  The type of every file part is
sniffed from its first bytes (pva.media.detect) while it streams: a part that is not a supported photo or video, or
whose header already shows too many pixels, stops being written at 64 KB and the rest of it is only scanned for the
next boundary (no disk, no hashing).

The answer (documented on the route): 200 with one result per file part, in the order sent; 415 with the same
body plus a ``message`` when every file part was refused from its first bytes as not a supported format.
"""
from __future__ import annotations

import os
import posixpath
import tempfile
import urllib.parse
from dataclasses import dataclass, field

from fastapi import HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from python_multipart.multipart import parse_options_header

from pva.config import get_settings
from pva.log import get_logger

from . import metrics

log = get_logger("pva.gateway.upload")
MAX_FILES = 1000
MAX_PART_HEADERS = 64 * 1024   # a part's header block; a longer one is refused (no storable name is that long)
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 100
FEED_BYTES = 1024 * 1024        # body bytes handed to the reader per threadpool call


def clean_relative_path(name: str) -> str:
    """A client-supplied name as a safe relative path ('../x', '/abs', backslashes, NULs removed)."""
    name = name.replace("\\", "/").replace("\x00", "")
    parts = [p for p in posixpath.normpath("/" + name).split("/") if p not in ("", ".", "..")]
    return "/".join(parts) or "upload"  # a name too long is refused by ingest, with its true length


@dataclass
class Part:
    """One file part of the body: on disk under ``path``, or refused while streaming (``reason``)."""
    index: int                           # 1-based among the file parts
    raw_name: bytes | None = None
    path: str | None = None
    size: int = 0
    reason: str | None = None
    unsupported: bool = False            # refused because its first bytes are not a supported format
    head: bytearray = field(default_factory=bytearray, repr=False)
    _fh: object = field(default=None, repr=False)

    @property
    def name(self) -> str:
        if self.raw_name:
            return self.raw_name.decode("utf-8", "replace")
        return f"upload-part-{self.index}"

    def refuse(self, reason: str, unsupported: bool = False) -> None:
        if self.reason is None:
            self.reason, self.unsupported = reason, unsupported
        self.discard()

    def discard(self) -> None:
        if self._fh is not None:
            try:
                self._fh.close()
            except OSError:
                pass
            self._fh = None
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.path = None


class MultipartReader:
    """Incremental multipart/form-data reader: ``feed(bytes)`` as the body arrives, then ``finish()``.

    ``parts`` are the file parts in order, ``fields`` the plain fields (text).  Never raises for one bad part."""

    def __init__(self, boundary: bytes, tmp_dir, max_part_bytes: int):
        self.delim = b"\r\n--" + boundary
        self.tmp_dir = str(tmp_dir)
        self.max_part_bytes = max_part_bytes
        self.buf = bytearray(b"\r\n")  # the first boundary has no CRLF in front of it
        self.state = "preamble"        # preamble | after | headers | body | end
        self.parts: list[Part] = []
        self.fields: dict[str, list[str]] = {}
        self._part: Part | None = None
        self._field: tuple[str, bytearray] | None = None
        self._skip = False              # the current part's data is discarded (refused, or a field over the limit)

    # ------------------------------------------------------------------ input
    def feed(self, data: bytes) -> None:
        self.buf += data
        while self._step():
            pass

    def finish(self) -> None:
        """The body ended: a part still open (no closing boundary) is refused; the others stand."""
        self.feed(b"")
        if self.state in ("headers", "body", "after") and self._part is not None:
            self._part.refuse("the request ended inside this file (no closing boundary): send it again")
        self._close_part()
        if self.state == "preamble":
            raise ValueError("no multipart boundary found in the body")

    def close(self) -> None:
        for p in self.parts:
            p.discard()

    # ------------------------------------------------------------------ states
    def _step(self) -> bool:
        buf = self.buf
        if self.state == "end":
            buf.clear()
            return False
        if self.state == "preamble":
            i = buf.find(self.delim)
            if i < 0:
                del buf[:max(0, len(buf) - len(self.delim))]
                return False
            del buf[:i + len(self.delim)]
            self.state = "after"
            return True
        if self.state == "after":  # just past a delimiter: '--' ends the body, else padding and CRLF
            if len(buf) < 2:
                return False
            if buf[:2] == b"--":
                self.state = "end"
                return False
            eol = buf.find(b"\r\n")
            if eol < 0:
                if len(buf) > 1024:
                    raise ValueError("malformed multipart boundary line")
                return False
            del buf[:eol + 2]
            self.state = "headers"
            return True
        if self.state == "headers":
            end = 0 if buf[:2] == b"\r\n" else buf.find(b"\r\n\r\n", 0, MAX_PART_HEADERS + 4)
            if end < 0:
                if len(buf) > MAX_PART_HEADERS:  # the rest of the headers and the data are skipped as data
                    self._start_part(None, "the headers of this part are over 64 KB (a file name that long cannot be "
                                           "stored): shorten the file name and send it again")
                    self.state = "body"
                    return True
                return False
            block = bytes(buf[:end])
            del buf[:end + (2 if end == 0 else 4)]
            self._start_part(block, None)
            self.state = "body"
            return True
        # body: everything up to the next delimiter belongs to the current part
        i = buf.find(self.delim)
        if i < 0:
            keep = len(self.delim) + 1
            if len(buf) > keep:
                self._data(buf, len(buf) - keep)
            return False
        self._data(buf, i)
        del buf[:len(self.delim)]
        self._close_part()
        self.state = "after"
        return True

    # ------------------------------------------------------------------ parts
    def _start_part(self, block: bytes | None, refused: str | None) -> None:
        self._skip = False
        if block is None:
            self._new_file(None).refuse(refused)
            self._skip = True
            return
        try:
            disposition = _disposition(block)
        except ValueError as e:
            self._new_file(None).refuse(f"this part's headers cannot be read ({e}); send the file again with a "
                                        "plain file name")
            self._skip = True
            return
        if "filename" not in disposition:
            name = disposition.get("name", b"").decode("utf-8", "replace")
            if len(self.fields) >= MAX_FIELDS:
                self._skip = True
            else:
                self._field = (name, bytearray())
            return
        part = self._new_file(disposition["filename"])
        if len(self.parts) > MAX_FILES:
            part.refuse(f"at most {MAX_FILES} files per request: send this one in another request")
            self._skip = True
            return
        fd, part.path = tempfile.mkstemp(dir=self.tmp_dir, prefix="upload-")
        part._fh = os.fdopen(fd, "wb")

    def _new_file(self, raw_name: bytes | None) -> Part:
        part = Part(index=len(self.parts) + 1, raw_name=raw_name)
        self.parts.append(part)
        self._part = part
        return part

    def _data(self, buf: bytearray, n: int) -> None:
        """The first n bytes of buf are data of the current part; they are consumed."""
        if n <= 0:
            return
        if self._skip:
            del buf[:n]
            return
        if self._field is not None:
            value = self._field[1]
            value += buf[:max(0, min(n, MAX_FIELD_BYTES - len(value)))]
            del buf[:n]
            return
        part = self._part
        if part is None or part._fh is None:
            del buf[:n]
            return
        chunk = bytes(buf[:n])
        del buf[:n]
        part.size += len(chunk)
        if part.size > self.max_part_bytes:
            part.refuse(f"file is larger than the limit of {self.max_part_bytes} bytes (PVA_MAX_UPLOAD_BYTES)")
            self._skip = True
            return
        part._fh.write(chunk)
        if len(part.head) < _head_bytes():
            part.head += chunk[:_head_bytes() - len(part.head)]
            if len(part.head) >= _head_bytes() and not self._sniff(part):
                self._skip = True

    def _sniff(self, part: Part) -> bool:
        """Refuse the part from its first bytes when they already say no; True when it may go on."""
        from pva.services.ingest import head_reason
        from pva.media import detect_format

        reason = head_reason(bytes(part.head))
        if reason is None:
            return True
        part.refuse(reason, unsupported=detect_format(bytes(part.head)) is None)
        return False

    def _close_part(self) -> None:
        if self._field is not None:
            name, value = self._field
            self.fields.setdefault(name, []).append(bytes(value).decode("utf-8", "replace")[:4096])
            self._field = None
        part, self._part = self._part, None
        if part is not None and part._fh is not None:
            part._fh.close()
            part._fh = None
            if len(part.head) < _head_bytes() and part.size:  # a short file: sniff it whole
                self._sniff(part)
        self._skip = False


def _head_bytes() -> int:
    from pva.media import HEAD_BYTES

    return HEAD_BYTES


def _disposition(block: bytes) -> dict[str, bytes]:
    """The parameters of the Content-Disposition header in a part's header block (name, filename), leniently:
    a raw CR or LF inside a quoted file name is kept (and refused later by the name check, for that file only);
    filename* (RFC 5987, UTF-8 percent-encoded) wins over filename."""
    low = block.lower()
    at = low.find(b"content-disposition:")
    if at < 0:
        raise ValueError("no Content-Disposition header")
    i = at + len(b"content-disposition:")
    n = len(block)
    semi = block.find(b";", i)
    if semi < 0:
        return {}
    params: dict[str, bytes] = {}
    i = semi + 1
    while i < n:
        while i < n and block[i:i + 1] in (b" ", b"\t", b";"):
            i += 1
        if block[i:i + 2] == b"\r\n":
            break
        eq = block.find(b"=", i)
        if eq < 0:
            break
        key = block[i:eq].strip().lower().decode("latin-1")
        i = eq + 1
        if block[i:i + 1] == b'"':
            i += 1
            value = bytearray()
            while i < n and block[i:i + 1] != b'"':
                if block[i:i + 1] == b"\\" and i + 1 < n:
                    i += 1
                value += block[i:i + 1]
                i += 1
            if i >= n:
                raise ValueError("a quoted parameter is not closed")
            i += 1
            params[key] = bytes(value)
        else:
            end = i
            while end < n and block[end:end + 1] not in (b";", b"\r"):
                end += 1
            params[key] = block[i:end].strip()
            i = end
    if "filename*" in params:
        charset, _, rest = params.pop("filename*").partition(b"'")
        _lang, _, encoded = rest.partition(b"'")
        if charset.lower() in (b"utf-8", b"utf8"):
            params["filename"] = urllib.parse.unquote_to_bytes(encoded)
    return params


async def receive_files(request: Request) -> tuple[list[Part], dict[str, list[str]]]:
    """Read a multipart body into file parts (on disk, or refused with their reason) and plain fields."""
    s = get_settings()
    ctype = request.headers.get("content-type", "")
    mime, params = parse_options_header(ctype)
    if mime != b"multipart/form-data" or not params.get(b"boundary"):
        raise HTTPException(415, "send files as multipart/form-data (field name 'files', one part per file)")
    limit = s.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"upload of {declared} bytes exceeds the limit of {limit} bytes per request "
                                 "(PVA_MAX_UPLOAD_BYTES); send fewer or smaller files per request")
    reader = MultipartReader(params[b"boundary"], s.tmp_dir, limit)
    received = 0
    pending: list[bytes] = []
    pending_size = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise HTTPException(413, f"upload exceeds the limit of {limit} bytes per request "
                                         "(PVA_MAX_UPLOAD_BYTES); send fewer or smaller files per request")
            pending.append(chunk)
            pending_size += len(chunk)
            if pending_size >= FEED_BYTES:  # one threadpool hop per MiB, not per network read
                await run_in_threadpool(reader.feed, b"".join(pending))
                pending, pending_size = [], 0
        await run_in_threadpool(reader.feed, b"".join(pending))
        await run_in_threadpool(reader.finish)
    except HTTPException:
        reader.close()
        raise
    except Exception as e:  # a body that is not multipart at all
        reader.close()
        raise HTTPException(400, f"could not parse the multipart body: {e}") from None
    return reader.parts, reader.fields


def close_all(parts: list[Part]) -> None:
    for p in parts:
        p.discard()


def ingest_one(owner: dict, part: Part) -> dict:
    """Hand one received file to ingest; a per-file result dict (never raises for a bad file)."""
    from pva.services import ingest as service

    rel = clean_relative_path(part.name)
    try:
        if part.reason is not None or part.path is None:
            res = service.reject(owner, "upload", rel, part.reason or "nothing was received for this file",
                                 size=part.size or None)
        else:
            res = service.ingest_file(owner, part.path, rel, source="upload")
        out = res.as_dict()
    except Exception as e:  # a service failure: tell the client to retry this file, keep going with the others
        log.exception("upload ingest failed", extra={"name": rel})
        out = {"status": "failed", "name": rel, "reason": f"server error while storing the file ({type(e).__name__});"
                                                          " retry later", "media_id": None, "sha512": None}
    finally:
        part.discard()
    metrics.UPLOADS.labels(out.get("status", "?")).inc()
    keep = ("status", "name", "media_id", "reason", "sha512", "kind", "format", "size", "warnings")
    return {k: out.get(k) for k in keep if k in out}


def upload_answer(parts: list[Part], results: list[dict]):
    """200 with the per-file results; 415 (same body, plus a message) when every file part was refused from its
    first bytes as not a supported photo or video."""
    counts: dict[str, int] = {}
    for r in results:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    body = {"results": results, "counts": counts}
    if parts and all(p.unsupported for p in parts):
        first = results[0].get("reason") or "not a supported photo or video format"
        message = first if len(parts) == 1 else f"none of the {len(parts)} files is a supported photo or video " \
                                                f"format; the first: {first}"
        return JSONResponse({"error": "unsupported_media_type", "message": message, **body}, status_code=415)
    return body
