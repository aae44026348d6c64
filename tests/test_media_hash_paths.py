"""SHA-512 of files and streams, and safe relative names for what users send."""
from __future__ import annotations

import hashlib
import io
import os

import pytest

from pva.media import HashingReader, UnsafePathError, detect_format, safe_relative_path, sha512_file


def test_sha512_file_matches_hashlib_across_chunk_boundaries(tmp_path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    p = tmp_path / "blob"
    p.write_bytes(data)
    assert sha512_file(p) == hashlib.sha512(data).hexdigest()
    assert sha512_file(p, chunk_size=1000) == hashlib.sha512(data).hexdigest()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert sha512_file(empty) == hashlib.sha512(b"").hexdigest()


def test_hashing_reader_hashes_counts_and_keeps_the_head_while_a_consumer_reads():
    data = b"\xff\xd8\xff\xe0" + os.urandom(200_000)
    reader = HashingReader(io.BytesIO(data), head_size=1024)
    out = bytearray()
    while chunk := reader.read(7000):  # a consumer reading in its own chunk size
        out += chunk
    assert bytes(out) == data
    assert reader.bytes_read == len(data)
    assert reader.hexdigest() == hashlib.sha512(data).hexdigest()
    assert reader.digest() == hashlib.sha512(data).digest()
    assert reader.head == data[:1024]
    assert detect_format(reader.head).format == "jpeg"


def test_hashing_reader_supports_readinto_buffered_wrapping_and_drain():
    data = os.urandom(100_000)
    reader = HashingReader(io.BytesIO(data))
    buffered = io.BufferedReader(reader, buffer_size=4096)
    first = buffered.read(10)
    assert first == data[:10]
    total = reader.drain()  # the rest, read and hashed without a consumer
    assert total == len(data)
    assert reader.hexdigest() == hashlib.sha512(data).hexdigest()


@pytest.mark.parametrize("name,expected", [
    ("holiday/2024/IMG_0001.jpg", "holiday/2024/IMG_0001.jpg"),
    ("holiday\\2024\\IMG_0001.jpg", "holiday/2024/IMG_0001.jpg"),
    ("./a//b/./c.jpg", "a/b/c.jpg"),
    (" a / b.jpg ", "a/b.jpg"),
    ("Cafe\u0301.jpg", "Caf\u00e9.jpg"),                  # macOS NFD becomes NFC
    ("caf\u00e9.jpg".encode("utf-8"), "caf\u00e9.jpg"),   # bytes that are UTF-8
    ("family \U0001F468\u200D\U0001F469.jpg", "family \U0001F468\u200D\U0001F469.jpg"),  # emoji ZWJ kept
])
def test_safe_relative_path_normalises(name, expected):
    assert safe_relative_path(name) == expected


@pytest.mark.parametrize("name,reason", [
    ("../etc/passwd", "'..'"),
    ("a/../../b.jpg", "'..'"),
    ("/etc/passwd", "absolute"),
    ("\\\\server\\share\\x.jpg", "absolute"),
    ("C:\\Users\\me\\x.jpg", "absolute"),
    ("a\x00.jpg", "NUL"),
    ("a\nb.jpg", "control character U+000A"),
    ("photo\u202egpj.exe", "U+202E"),                      # right-to-left override trick
    (b"caf\xe9.jpg", "not valid UTF-8"),
    ("x" * 256 + ".jpg", "too long"),
    ("/".join(["d" * 200] * 6), "too long"),
    ("", "empty"),
    ("./ /.", "empty"),
])
def test_safe_relative_path_rejects_with_the_reason(name, reason):
    with pytest.raises(UnsafePathError) as e:
        safe_relative_path(name)
    assert reason in str(e.value)
