"""Serving a stored object over HTTP: ETag and If-None-Match (304), Range and If-Range (206/416),
Cache-Control and Content-Disposition.  Used by every route that answers with a file (originals, thumbnails,
face crops), so they all behave alike; each route checks access first and then calls :func:`stream_object`."""
from __future__ import annotations

import re
import urllib.parse

from fastapi import HTTPException, Request, Response
from fastapi.responses import StreamingResponse

from .deps import not_found

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) for a single satisfiable byte range; None for no/ignored Range; raises 416."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None  # multiple or malformed ranges: send the whole object (allowed by RFC 9110)
    if not m.group(1):
        n = int(m.group(2))
        if n == 0:
            raise HTTPException(416, "empty suffix range", headers={"Content-Range": f"bytes */{size}"})
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        raise HTTPException(416, f"range not satisfiable: the object has {size} bytes",
                            headers={"Content-Range": f"bytes */{size}"})
    return start, min(end, size - 1)


def _etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match as RFC 9110 13.1.2 reads it: '*', or a list of (weak or strong) tags compared weakly."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag.removeprefix("W/") in tags


def stream_object(request: Request, bucket: str, key: str, *, content_type: str | None, filename: str | None,
                  etag_hint: str, inline: bool = True, max_age: int | None = None) -> Response:
    """Serve an object with its ETag.  max_age None (media files): `no-cache`, so the browser asks again on every
    view and a share that was revoked stops showing at once; the access check runs before the 304, and a 304 is
    one row read and one HEAD on the store.  A number: cacheable for that long (only for owner-only files)."""
    from pva.services.media import open_object, stat

    info = stat(bucket, key)
    if info is None:
        raise not_found("file")
    etag = f'"{info.etag or etag_hint}"'
    cache = "private, no-cache" if max_age is None else f"private, max-age={max_age}"
    headers = {"Accept-Ranges": "bytes", "ETag": etag, "Cache-Control": cache}
    if filename:
        quoted = urllib.parse.quote(filename, safe="")
        ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
        headers["Content-Disposition"] = (f"{'inline' if inline else 'attachment'}; filename=\"{ascii_name}\"; "
                                          f"filename*=UTF-8''{quoted}")
    if _etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    size = info.size
    rng = _parse_range(request.headers.get("range"), size)
    if rng and request.headers.get("if-range") not in (None, etag):
        rng = None
    ctype = content_type or info.content_type or "application/octet-stream"
    if size == 0:
        return Response(b"", media_type=ctype, headers=headers)
    start, end = rng or (0, size - 1)
    stream = open_object(bucket, key, offset=start, length=end - start + 1)
    headers["Content-Length"] = str(end - start + 1)
    status = 200
    if rng:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    if request.method == "HEAD":
        stream.close()
        return Response(status_code=status, headers=headers, media_type=ctype)
    return StreamingResponse(stream.iter_chunks(), status_code=status, headers=headers, media_type=ctype)


__all__ = ["stream_object"]
