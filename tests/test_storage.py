"""pva.infra.storage against a real S3 server: SeaweedFS started by `pva.stack.up(only=["s3"])` in a temporary data dir
on free ports (the dev stack is not touched)."""
from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from pva.infra.storage import (NotFound, ObjectInfo, Storage, StorageError, StorageUnavailable, get_storage,
                         parse_endpoint)
from test_stack import free_port


@pytest.fixture(scope="module")
def st():
    from pva import stack
    from pva.config import get_settings

    d = Path(tempfile.mkdtemp(prefix="pva-storage-test-"))
    taken: set[int] = set()
    settings = replace(get_settings(), data_dir=d, s3_endpoint="", **{
        k: free_port((0, 10000), taken)
        for k in ("s3_port", "seaweed_master_port", "seaweed_volume_port", "seaweed_filer_port")})
    try:
        state = stack.up(settings, log=lambda m: None, only=["s3"])
        storage = Storage(settings, endpoint=state["s3"]["url"])
        yield storage
    finally:
        stack.down(settings, log=lambda m: None, only=["s3"])
        shutil.rmtree(d, ignore_errors=True)


def test_up_created_the_three_buckets(st):
    names = {b.name for b in st.client.list_buckets()}
    assert {st.originals, st.thumbs, st.inbox} <= names


def test_put_bytes_with_content_type_and_metadata_then_stat(st):
    data = b"\xff\xd8 not really a jpeg " * 100
    etag = st.put(st.originals, "2024/Été/photo 1.jpg", data, content_type="image/jpeg",
                  metadata={"sha512": "ab" * 64, "original-path": "Été 2024/photo 1.jpg", "pct": "100% sure"})
    info = st.stat(st.originals, "2024/Été/photo 1.jpg")
    assert isinstance(info, ObjectInfo)
    size, tag, ctype, meta = info
    assert (size, tag, ctype) == (len(data), etag, "image/jpeg")
    assert tag == hashlib.md5(data).hexdigest()
    assert meta == {"sha512": "ab" * 64, "original-path": "Été 2024/photo 1.jpg", "pct": "100% sure"}
    assert st.exists(st.originals, "2024/Été/photo 1.jpg")


def test_stream_of_unknown_length_is_uploaded_in_parts_and_streamed_back(st):
    blob = os.urandom(17 * 1024 * 1024 + 123)  # more than one 16 MiB part

    class OneWay(io.RawIOBase):  # not seekable, no length: like an HTTP upload body
        def __init__(self, b):
            self._b, self._pos = b, 0

        def readable(self):
            return True

        def readinto(self, buf):
            n = min(len(buf), len(self._b) - self._pos, 65536)
            buf[:n] = self._b[self._pos:self._pos + n]
            self._pos += n
            return n

    etag = st.put(st.originals, "big/blob.bin", OneWay(blob), length=-1)
    assert etag.endswith("-2"), etag  # a multipart ETag: two parts
    assert st.stat(st.originals, "big/blob.bin").size == len(blob)
    h, chunks = hashlib.sha256(), 0
    with st.get_stream(st.originals, "big/blob.bin") as body:
        assert body.length == len(blob)
        for chunk in body:
            h.update(chunk)
            chunks += 1
    assert h.hexdigest() == hashlib.sha256(blob).hexdigest()
    assert chunks > 1


def test_range_get_returns_the_requested_bytes(st):
    data = bytes(range(256)) * 40
    st.put(st.thumbs, "r/range.bin", data)
    with st.get_stream(st.thumbs, "r/range.bin", offset=1000, length=300) as s:
        assert s.read() == data[1000:1300]
    assert st.get_bytes(st.thumbs, "r/range.bin", offset=len(data) - 10) == data[-10:]
    with pytest.raises(ValueError):
        st.get_stream(st.thumbs, "r/range.bin", offset=-1)


def test_presigned_get_is_fetched_without_credentials(st):
    st.put(st.thumbs, "p/ü thumb.webp", b"RIFF....WEBP", content_type="image/webp")
    url = st.presigned_get(st.thumbs, "p/ü thumb.webp", expires=120)
    r = httpx.get(url, timeout=10)
    assert r.status_code == 200 and r.content == b"RIFF....WEBP"
    assert r.headers["content-type"] == "image/webp"
    # the same object without the signature is refused: the server really checks
    assert httpx.get(url.split("?")[0], timeout=10).status_code == 403


def test_list_by_prefix_recursive_and_one_level(st):
    for k in ("l/a/1.jpg", "l/a/b/2.jpg", "l/c/3.jpg", "lx/4.jpg"):
        st.put(st.inbox, k, k.encode())
    assert [o.object_name for o in st.list(st.inbox, "l/a/")] == ["l/a/1.jpg", "l/a/b/2.jpg"]
    entries = list(st.list(st.inbox, "l/", recursive=False))
    assert [(o.key, o.is_dir) for o in entries] == [("l/a/", True), ("l/c/", True)]
    assert [o.size for o in st.list(st.inbox, "l/c/")] == [len(b"l/c/3.jpg")]


def test_delete_makes_the_object_missing_and_is_idempotent(st):
    st.put(st.inbox, "d/gone.txt", b"x")
    st.delete(st.inbox, "d/gone.txt")
    assert st.stat(st.inbox, "d/gone.txt") is None
    assert not st.exists(st.inbox, "d/gone.txt")
    st.delete(st.inbox, "d/gone.txt")  # again: no error
    with pytest.raises(NotFound, match=r"s3://.*/d/gone.txt does not exist"):
        st.get_stream(st.inbox, "d/gone.txt")


def test_copy_keeps_bytes_content_type_and_metadata(st):
    st.put(st.inbox, "c/src.png", b"\x89PNG...", content_type="image/png", metadata={"owner": "alice"})
    st.copy(st.inbox, "c/src.png", st.originals, "c/dst.png")
    assert st.get_bytes(st.originals, "c/dst.png") == b"\x89PNG..."
    info = st.stat(st.originals, "c/dst.png")
    assert info.content_type == "image/png" and info.metadata == {"owner": "alice"}
    assert st.exists(st.inbox, "c/src.png")
    with pytest.raises(NotFound):
        st.copy(st.inbox, "c/missing.png", st.originals, "c/x.png")


def test_put_file_guesses_the_content_type(st, tmp_path):
    p = tmp_path / "clip.mp4"
    p.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 100)
    st.put_file(st.originals, "f/clip.mp4", p, metadata={"k": "v"})
    info = st.stat(st.originals, "f/clip.mp4")
    assert (info.size, info.content_type, info.metadata) == (p.stat().st_size, "video/mp4", {"k": "v"})
    with pytest.raises(StorageError, match="not a readable file"):
        st.put_file(st.originals, "f/none", tmp_path / "none.bin")


def test_missing_bucket_is_not_found(st):
    with pytest.raises(NotFound, match="bucket 'no-such-bucket-x' does not exist"):
        st.stat("no-such-bucket-x", "k")
    with pytest.raises(NotFound):
        list(st.list("no-such-bucket-x"))


def test_unreachable_server_raises_a_clear_error_after_retries(st):
    port = free_port()
    dead = Storage(st.settings, endpoint=f"127.0.0.1:{port}", attempts=2, backoff=0.01)
    with pytest.raises(StorageUnavailable, match=rf"127.0.0.1:{port} is not reachable.*pva up"):
        dead.stat("bkt-x", "k")
    with pytest.raises(StorageUnavailable):
        list(dead.list("bkt-x"))


def test_endpoint_forms():
    assert parse_endpoint("http://127.0.0.1:8333") == ("127.0.0.1:8333", False)
    assert parse_endpoint("https://s3.example.org/") == ("s3.example.org", True)
    assert parse_endpoint("minio:9000") == ("minio:9000", False)
    for bad in ("ftp://x:1", "http://h:1/bucket", ""):
        with pytest.raises(StorageError):
            parse_endpoint(bad)


def test_get_storage_is_cached_per_process_and_recreated_after_fork():
    a = get_storage()
    assert get_storage() is a
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a new client, not the parent's (its connection pool is not fork-safe)
        try:
            os.write(w, b"new" if get_storage() is not a and get_storage() is get_storage() else b"same")
        finally:
            os._exit(0)
    os.close(w)
    got = os.read(r, 10)
    os.waitpid(pid, 0)
    assert got == b"new"
