"""SHA-512 of files and of streams while they are being read (one pass: hash, count and upload together)."""
from __future__ import annotations

import hashlib
import io
import os
from typing import BinaryIO

CHUNK = 1024 * 1024


def sha512_file(path: str | os.PathLike, chunk_size: int = CHUNK) -> str:
    """Hex SHA-512 of the file's bytes (``bytes.fromhex(...)`` for the media.sha512 bytea column)."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        while True:
            block = f.read(chunk_size)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


class HashingReader(io.RawIOBase):
    """Wraps a binary stream; every byte read through it is hashed (SHA-512) and counted.

    Hand it to whatever consumes the stream (an S3 upload, a copy) and read ``hexdigest()``, ``digest()`` and
    ``bytes_read`` afterwards.  The first ``head_size`` bytes are kept in ``head`` so that the format can be
    detected (:func:`pva.media.detect_format`) from the same single pass.  Call ``drain()`` to read (and hash) what
    the consumer left unread.  Closing the reader does not close the wrapped stream.
    """

    def __init__(self, stream: BinaryIO, head_size: int = 64 * 1024):
        super().__init__()
        self._stream = stream
        self._hash = hashlib.sha512()
        self._head_size = head_size
        self._head = bytearray()
        self.bytes_read = 0

    # -- io.RawIOBase
    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        data = self._stream.read(len(b))
        if not data:
            return 0
        n = len(data)
        b[:n] = data
        self._update(data)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read() if size is None or size < 0 else self._stream.read(size)
        if data:
            self._update(data)
        return data or b""

    def readall(self) -> bytes:
        return self.read(-1)

    def _update(self, data: bytes) -> None:
        self._hash.update(data)
        self.bytes_read += len(data)
        if len(self._head) < self._head_size:
            self._head += data[: self._head_size - len(self._head)]

    # -- results
    @property
    def head(self) -> bytes:
        return bytes(self._head)

    def hexdigest(self) -> str:
        return self._hash.hexdigest()

    def digest(self) -> bytes:
        return self._hash.digest()

    def drain(self, chunk_size: int = CHUNK) -> int:
        """Read the rest of the stream (hashing it); returns the total byte count."""
        while self.read(chunk_size):
            pass
        return self.bytes_read
