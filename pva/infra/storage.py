"""S3 object store through the `minio` SDK (MinIO in production, SeaweedFS with `pva up`).

    from pva.infra.storage import get_storage, NotFound
    st = get_storage()                      # per process, re-created after fork or when the endpoint changes
    st.put(st.originals, "2024/a.jpg", fileobj, length=-1, content_type="image/jpeg", metadata={"sha512": h})
    size, etag, ctype, meta = st.stat(st.originals, "2024/a.jpg")
    with st.get_stream(st.originals, "2024/a.jpg", offset=0, length=1024) as body:
        for chunk in body: ...

Idempotent operations (stat, get, list, delete, copy, put of bytes/files/seekable streams, bucket creation) are
retried with backoff on connection errors.  A missing object raises `NotFound`; an unreachable server raises
`StorageUnavailable` (both are `StorageError`).  User metadata values may hold any text: values that are not plain
ASCII are percent-encoded on the wire and decoded by `stat`.
"""
from __future__ import annotations

import io
import mimetypes
import os
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator, NamedTuple
from urllib.parse import quote, unquote, urlsplit

import urllib3
from minio import Minio
from minio.commonconfig import ComposeSource, CopySource
from minio.error import S3Error

from ..config import get_settings
from ..errors import Transient

PART_SIZE = 16 * 1024 * 1024  # multipart part size for streams of unknown length
CHUNK = 256 * 1024
COPY_LIMIT = 5 * 1024**3  # single-request server-side copy limit; larger objects are copied part by part
_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchObject", "NotFound", "ResourceNotFound"}
# safe = printable ASCII except '%': everything else in a metadata value is percent-encoded
_META_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


class StorageError(RuntimeError):
    """Object-store failure; the message names the object and what to do."""


class NotFound(StorageError, KeyError):
    """The bucket or object does not exist."""

    def __init__(self, bucket: str, key: str | None = None):
        self.bucket, self.key = bucket, key
        what = f"s3://{bucket}/{key}" if key is not None else f"bucket {bucket!r}"
        super().__init__(f"{what} does not exist")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


class StorageUnavailable(StorageError, Transient):
    """The S3 server did not answer (after retries); a job waits for it (pva.errors)."""


class ObjectInfo(NamedTuple):
    size: int
    etag: str
    content_type: str
    metadata: dict[str, str]


class ObjectEntry(NamedTuple):
    object_name: str
    size: int | None
    etag: str | None
    last_modified: Any
    is_dir: bool

    @property
    def key(self) -> str:
        return self.object_name


_CONNECTION_ERRORS = (urllib3.exceptions.MaxRetryError, urllib3.exceptions.ProtocolError,
                      urllib3.exceptions.NewConnectionError, urllib3.exceptions.TimeoutError,
                      ConnectionError, TimeoutError)


def parse_endpoint(endpoint: str) -> tuple[str, bool]:
    """'http://host:port', 'https://host' or 'host:port' -> ('host:port', secure)."""
    endpoint = endpoint.strip()
    if not endpoint:
        raise StorageError("no S3 endpoint: set PVA_S3_ENDPOINT or start the embedded stack with `pva up`")
    if "://" not in endpoint:
        return endpoint.rstrip("/"), False
    u = urlsplit(endpoint)
    if u.scheme not in ("http", "https") or not u.netloc:
        raise StorageError(f"S3 endpoint {endpoint!r} is not http(s)://host[:port] or host:port")
    if u.path not in ("", "/"):
        raise StorageError(f"S3 endpoint {endpoint!r} must not have a path (MinIO/S3 serve buckets at the root)")
    return u.netloc, u.scheme == "https"


def _encode_meta(metadata: dict | None) -> dict | None:
    if not metadata:
        return None
    out = {}
    for k, v in metadata.items():
        k = str(k).lower()
        if not k.isascii() or not k.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"metadata key {k!r} must be ASCII letters, digits, '-' or '_'")
        out[k] = quote(str(v), safe=_META_SAFE)
    return out


def _decode_meta(headers) -> dict[str, str]:
    out = {}
    for k, v in headers.items():
        kl = k.lower()
        if kl.startswith("x-amz-meta-"):
            out[kl[len("x-amz-meta-"):]] = unquote(v)
    return out


class ObjectStream:
    """A streaming object body: iterate for chunks, or read(n); close() (or `with`) releases the connection."""

    def __init__(self, response, bucket: str, key: str):
        self._r = response
        self.bucket, self.key = bucket, key
        self.headers = response.headers
        self.content_type = response.headers.get("Content-Type", "application/octet-stream")
        cl = response.headers.get("Content-Length")
        self.length = int(cl) if cl is not None else None

    def read(self, n: int = -1) -> bytes:
        return self._r.read(None if n is None or n < 0 else n)

    def iter_chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        try:
            yield from self._r.stream(size)
        finally:
            self.close()

    def __iter__(self) -> Iterator[bytes]:
        return self.iter_chunks()

    def readinto(self, b) -> int:
        data = self._r.read(len(b))
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._r.close()
        finally:
            self._r.release_conn()

    def __enter__(self) -> "ObjectStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Storage:
    def __init__(self, settings=None, endpoint: str | None = None, timeout: float = 60.0, attempts: int = 4,
                 backoff: float = 0.25):
        self.settings = s = settings or get_settings()
        self.endpoint = endpoint or s.effective_s3_endpoint
        host, secure = parse_endpoint(self.endpoint)
        self.attempts, self.backoff = max(1, attempts), backoff
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(timeout, 5.0), read=timeout),
            maxsize=16,
            retries=urllib3.Retry(total=2, connect=0, read=0, backoff_factor=0.2,
                                  status_forcelist=[500, 502, 503, 504]),
        )
        self.client = Minio(host, access_key=s.s3_access_key, secret_key=s.s3_secret_key, secure=secure,
                            region=s.s3_region, http_client=http)
        self.originals, self.thumbs, self.inbox = s.bucket_originals, s.bucket_thumbs, s.bucket_inbox

    # ------------------------------------------------------------------ plumbing
    def _call(self, what: str, fn: Callable[[], Any], bucket: str, key: str | None = None,
              retry: bool = True, rewind: Callable[[], None] | None = None):
        attempts = self.attempts if retry else 1
        for i in range(attempts):
            try:
                return fn()
            except S3Error as e:
                if e.code in _MISSING:
                    raise NotFound(bucket, key if e.code not in ("NoSuchBucket",) else None) from None
                raise StorageError(f"S3 {what} s3://{bucket}/{key or ''} failed: {e.code}: {e.message}") from e
            except _CONNECTION_ERRORS as e:
                if i + 1 >= attempts:
                    raise StorageUnavailable(
                        f"S3 at {self.endpoint} is not reachable ({what} s3://{bucket}/{key or ''}: "
                        f"{type(e).__name__}); is the stack up? run `pva up` or check PVA_S3_ENDPOINT") from e
                time.sleep(self.backoff * (2 ** i))
                if rewind is not None:
                    rewind()

    # ------------------------------------------------------------------ buckets
    def ensure_buckets(self, names: list[str] | None = None) -> None:
        """Create the originals, thumbs and inbox buckets (or `names`) when missing."""
        for b in names or [self.originals, self.thumbs, self.inbox]:
            def _make(b=b):
                if not self.client.bucket_exists(b):
                    try:
                        self.client.make_bucket(b)
                    except S3Error as e:
                        if e.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                            raise
            self._call("create bucket", _make, b)

    # ------------------------------------------------------------------ writes
    def put(self, bucket: str, key: str, data: bytes | bytearray | memoryview | BinaryIO, length: int = -1,
            content_type: str = "application/octet-stream", metadata: dict | None = None) -> str:
        """Store `data` (bytes or a readable stream).  With length=-1 a stream is sent as a multipart upload without
        reading it whole.  Returns the ETag."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            buf = bytes(data)
            stream: BinaryIO = io.BytesIO(buf)
            length = len(buf)
        else:
            stream = data
        meta = _encode_meta(metadata)
        part_size = PART_SIZE if length is None or length < 0 else 0
        length = -1 if length is None else length
        rewind = None
        try:
            start = stream.tell() if stream.seekable() else None
        except (AttributeError, OSError, ValueError):
            start = None
        if start is not None:
            def rewind():
                stream.seek(start)
        result = self._call("put", lambda: self.client.put_object(
            bucket, key, stream, length, content_type=content_type or "application/octet-stream",
            metadata=meta, part_size=part_size), bucket, key, retry=start is not None, rewind=rewind)
        return result.etag

    def put_file(self, bucket: str, key: str, path: str | os.PathLike, content_type: str | None = None,
                 metadata: dict | None = None) -> str:
        path = Path(path)
        if not path.is_file():
            raise StorageError(f"cannot upload {path}: not a readable file")
        ctype = content_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        meta = _encode_meta(metadata)
        result = self._call("put", lambda: self.client.fput_object(
            bucket, key, str(path), content_type=ctype, metadata=meta), bucket, key)
        return result.etag

    def copy(self, src_bucket: str, src_key: str, dst_bucket: str, dst_key: str) -> str:
        """Server-side copy (content type and metadata go with it).  Returns the new ETag."""
        info = self.stat(src_bucket, src_key)
        if info is None:
            raise NotFound(src_bucket, src_key)
        if info.size > COPY_LIMIT:
            fn = lambda: self.client.compose_object(dst_bucket, dst_key, [ComposeSource(src_bucket, src_key)])
        else:
            fn = lambda: self.client.copy_object(dst_bucket, dst_key, CopySource(src_bucket, src_key))
        return self._call("copy", fn, src_bucket, src_key).etag

    def delete(self, bucket: str, key: str) -> None:
        """Remove an object; removing a missing object is not an error."""
        try:
            self._call("delete", lambda: self.client.remove_object(bucket, key), bucket, key)
        except NotFound as e:
            if e.key is None:
                raise

    def remove_bucket(self, bucket: str) -> None:
        """Delete every object of a bucket, then the bucket (scratch buckets of tests and benchmarks); a missing
        bucket is not an error."""
        try:
            for o in self.list(bucket, ""):
                self.delete(bucket, o.key)
        except NotFound:
            return
        self._call("remove bucket", lambda: self.client.remove_bucket(bucket), bucket, None)

    # ------------------------------------------------------------------ reads
    def stat(self, bucket: str, key: str) -> ObjectInfo | None:
        """(size, etag, content_type, metadata) or None when the object is missing."""
        try:
            o = self._call("stat", lambda: self.client.stat_object(bucket, key), bucket, key)
        except NotFound as e:
            # a HEAD answers a bare 404 for a missing bucket too: tell the two apart
            if e.key is None or not self._call("stat", lambda: self.client.bucket_exists(bucket), bucket):
                raise NotFound(bucket) from None
            return None
        return ObjectInfo(o.size, (o.etag or "").strip('"'), o.content_type or "application/octet-stream",
                          _decode_meta(o.metadata or {}))

    def exists(self, bucket: str, key: str) -> bool:
        return self.stat(bucket, key) is not None

    def get_stream(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> ObjectStream:
        """The object's body as a stream (a byte range with offset/length).  Close it (or use `with`)."""
        if offset < 0 or (length is not None and length <= 0):
            raise ValueError("offset must be >= 0 and length > 0 (or None for the rest of the object)")
        r = self._call("get", lambda: self.client.get_object(bucket, key, offset=offset, length=length or 0),
                       bucket, key)
        return ObjectStream(r, bucket, key)

    def get_bytes(self, bucket: str, key: str, offset: int = 0, length: int | None = None) -> bytes:
        with self.get_stream(bucket, key, offset, length) as s:
            return s.read()

    def download(self, bucket: str, key: str, path: str | os.PathLike) -> Path:
        """Write the object to `path` (through a temporary file, renamed when complete)."""
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        with self.get_stream(bucket, key) as s, open(tmp, "wb") as f:
            for chunk in s:
                f.write(chunk)
        os.replace(tmp, path)
        return path

    def presigned_get(self, bucket: str, key: str, expires: int | timedelta = 3600,
                      response_headers: dict | None = None) -> str:
        """A URL that GETs the object without credentials until it expires (seconds or timedelta)."""
        if not isinstance(expires, timedelta):
            expires = timedelta(seconds=int(expires))
        return self.client.presigned_get_object(bucket, key, expires=expires, response_headers=response_headers)

    def list(self, bucket: str, prefix: str = "", recursive: bool = True) -> Iterator[ObjectEntry]:
        """Objects under `prefix` (sorted by key); with recursive=False, 'directories' come as is_dir entries.
        A connection error before the first entry is retried; later ones raise StorageUnavailable."""
        for i in range(self.attempts):
            yielded = 0
            try:
                for o in self.client.list_objects(bucket, prefix=prefix or None, recursive=recursive):
                    yielded += 1
                    yield ObjectEntry(o.object_name, o.size, (o.etag or "").strip('"') or None, o.last_modified,
                                      bool(o.is_dir))
                return
            except S3Error as e:
                if e.code in _MISSING:
                    raise NotFound(bucket) from None
                raise StorageError(f"S3 list s3://{bucket}/{prefix} failed: {e.code}: {e.message}") from e
            except _CONNECTION_ERRORS as e:
                if yielded or i + 1 >= self.attempts:
                    raise StorageUnavailable(
                        f"S3 at {self.endpoint} is not reachable while listing s3://{bucket}/{prefix} "
                        f"({type(e).__name__}); run `pva up` or check PVA_S3_ENDPOINT") from e
                time.sleep(self.backoff * (2 ** i))

    def ping(self) -> bool:
        try:
            self.client.list_buckets()
            return True
        except Exception:
            return False


_storage: Storage | None = None
_storage_key: tuple | None = None
_lock = threading.Lock()


def get_storage() -> Storage:
    """The per-process Storage (re-created after fork and when the endpoint, keys or buckets change)."""
    global _storage, _storage_key
    s = get_settings()
    key = (os.getpid(), s.effective_s3_endpoint, s.s3_access_key, s.s3_secret_key, s.bucket_originals,
           s.bucket_thumbs, s.bucket_inbox)
    with _lock:
        if _storage is None or _storage_key != key:
            _storage, _storage_key = Storage(s), key
        return _storage


def reset() -> None:
    """Forget the cached Storage (tests call this after changing settings)."""
    global _storage, _storage_key
    with _lock:
        _storage, _storage_key = None, None
