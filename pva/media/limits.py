"""The one pixel limit of every entry point, checked from the file's header before anything is decoded.

Upload, the ingest trigger, `pva load` (all through the Ingestor), the analysis functions (posted bytes and stored
media) and the gateway's similar-faces search all call :func:`check_image_header` (or :func:`check_pixels` with a
size they already hold), so a photo is refused or accepted the same way everywhere: a photo that ingest accepts is
one every analysis can open.

:func:`image_size` reads the dimensions of JPEG (SOF), PNG (IHDR), GIF (logical screen), WebP (VP8/VP8L/VP8X),
TIFF (IFD0, BigTIFF too) and HEIF/HEIC/AVIF (the largest ``ispe`` property) with a few small reads and seeks —
never the pixel data, and without Pillow (camera RAW: the full sensor image, from LibRaw's header parse in
pva.media.raw), whose plugins differ in how much they read on open.  Pillow's own guard
(``Image.MAX_IMAGE_PIXELS``, process-wide) is set from the same setting by :func:`guard_pillow` so it can never
refuse a photo the setting allows (it only errors at twice its value; the check here is the one that decides).
"""
from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

from .detect import HEAD_BYTES, FormatInfo, detect_file, is_raw
from .errors import ImageTooLargeError

_MAX_SEGMENTS = 4096  # JPEG markers / ISO boxes walked before giving up (a real file has a few dozen)


def pixel_limit(max_pixels: int | None = None) -> int:
    """The limit in pixels: ``max_pixels`` when given, else settings.max_image_pixels (PVA_MAX_IMAGE_PIXELS)."""
    if max_pixels is not None:
        return int(max_pixels)
    from ..config import get_settings

    return int(get_settings().max_image_pixels)


def check_pixels(width: int, height: int, max_pixels: int | None = None) -> None:
    """Raise ImageTooLargeError when width*height is over the limit; the message is the reason for the user."""
    limit = pixel_limit(max_pixels)
    if limit > 0 and width * height > limit:
        raise ImageTooLargeError(
            f"image is too large: {width}x{height} = {width * height / 1e6:.1f} megapixels, over the limit of "
            f"{limit / 1e6:.1f} megapixels (decompression-bomb protection, PVA_MAX_IMAGE_PIXELS); send a smaller "
            "image, or ask the administrator to raise the limit if this photo is genuine")


def guard_pillow(max_pixels: int | None = None) -> None:
    """Make Pillow's process-wide guard agree with the limit: raised to at least it, never lowered (another
    caller in this process may use a larger explicit limit).  Call before any Image.open."""
    from PIL import Image

    limit = max(pixel_limit(max_pixels), pixel_limit())
    if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < limit:
        Image.MAX_IMAGE_PIXELS = limit


def check_image_header(source, info: FormatInfo | None = None, *, max_pixels: int | None = None
                       ) -> tuple[int, int] | None:
    """Read the dimensions from the header of ``source`` (bytes, a path or a seekable binary file; its position is
    restored) and apply :func:`check_pixels`.  Returns (width, height), or None when the header does not say
    (not an image we know, or cut short): the decoder's own size is then checked before decoding.
    Also sets Pillow's guard (:func:`guard_pillow`)."""
    guard_pillow(max_pixels)
    size = image_size(source, info)
    if size is not None:
        check_pixels(*size, max_pixels=max_pixels)
    return size


def image_size(source, info: FormatInfo | None = None) -> tuple[int, int] | None:
    """(width, height) as stored (before EXIF orientation) from the header, or None when it cannot tell."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _size_of(io.BytesIO(bytes(source)), info)
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return _size_of(f, info)
    pos = source.tell()
    try:
        return _size_of(source, info)
    finally:
        source.seek(pos)


def _size_of(f: BinaryIO, info: FormatInfo | None) -> tuple[int, int] | None:
    f.seek(0)
    head = f.read(HEAD_BYTES)
    info = info or detect_file(f, head)  # (a DNG whose IFDs come after its data is still a DNG)
    if info is None or info.kind != "photo":
        return None
    try:
        size = _dimensions(f, head, info)
    except (struct.error, ValueError, OSError):
        return None
    # 0 pixels (a JPEG whose height comes later in a DNL marker, or damage): the decoder's own size decides
    return size if size and size[0] > 0 and size[1] > 0 else None


def _dimensions(f: BinaryIO, head: bytes, info: FormatInfo) -> tuple[int, int] | None:
    if info.format == "png":
        return _png(head)
    if info.format == "gif":
        return struct.unpack("<HH", head[6:10]) if len(head) >= 10 else None
    if info.format == "webp":
        return _webp(head)
    if info.format == "jpeg":
        return _jpeg(f)
    if info.format == "tiff":
        return _tiff(f)
    if info.format in ("heic", "heif", "avif"):
        return _heif(f)
    if is_raw(info):  # the full sensor image, from LibRaw's header parse (nothing is unpacked) of the file on disk;
        # bytes are most often only the head of an upload (LibRaw would complain it is cut short), and pva.media.raw
        # checks the size itself before decoding
        from .libraw import sensor_size

        name = getattr(f, "name", None)
        return sensor_size(name, info) if isinstance(name, str) and os.path.isfile(name) else None
    return None


def _png(head: bytes) -> tuple[int, int] | None:
    if len(head) < 24 or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def _webp(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:
        w = int.from_bytes(head[24:27], "little") + 1
        h = int.from_bytes(head[27:30], "little") + 1
        return w, h
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        w, h = struct.unpack("<HH", head[26:30])
        return w & 0x3FFF, h & 0x3FFF
    return None


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(f: BinaryIO) -> tuple[int, int] | None:
    """Walk the marker segments to the first SOF (frame header); None at SOS/EOI or when cut short."""
    f.seek(2)
    for _ in range(_MAX_SEGMENTS):
        b = f.read(1)
        while b and b != b"\xff":  # tolerate junk between segments, as decoders do
            b = f.read(1)
        while b == b"\xff":  # fill bytes
            b = f.read(1)
        if not b:
            return None
        marker = b[0]
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:
            continue
        if marker in (0xD9, 0xDA):
            return None
        seg = f.read(2)
        if len(seg) < 2:
            return None
        length = struct.unpack(">H", seg)[0]
        if marker in _SOF:
            body = f.read(5)
            if len(body) < 5:
                return None
            h, w = struct.unpack(">HH", body[1:5])
            return w, h
        if length < 2:
            return None
        f.seek(length - 2, io.SEEK_CUR)
    return None


def _tiff(f: BinaryIO) -> tuple[int, int] | None:
    f.seek(0)
    hdr = f.read(16)
    order = "<" if hdr[:2] == b"II" else ">"
    big = struct.unpack(order + "H", hdr[2:4])[0] == 43
    if big:
        ifd = struct.unpack(order + "Q", hdr[8:16])[0]
        count_fmt, entry_size, count_size = "Q", 20, 8
    else:
        ifd = struct.unpack(order + "I", hdr[4:8])[0]
        count_fmt, entry_size, count_size = "H", 12, 2
    f.seek(ifd)
    raw = f.read(count_size)
    if len(raw) < count_size:
        return None
    n = min(struct.unpack(order + count_fmt, raw)[0], 1024)
    entries = f.read(n * entry_size)
    dims: dict[int, int] = {}
    for k in range(len(entries) // entry_size):
        e = entries[k * entry_size:(k + 1) * entry_size]
        tag, typ = struct.unpack(order + "HH", e[:4])
        if tag not in (256, 257):
            continue
        value = e[12:] if big else e[8:]
        if typ == 3:  # SHORT
            dims[tag] = struct.unpack(order + "H", value[:2])[0]
        elif typ == 4:  # LONG
            dims[tag] = struct.unpack(order + "I", value[:4])[0]
        elif typ == 16:  # LONG8 (BigTIFF)
            dims[tag] = struct.unpack(order + "Q", value[:8])[0]
    if 256 in dims and 257 in dims:
        return dims[256], dims[257]
    return None


def _boxes(f: BinaryIO, start: int, end: int | None):
    """(type, payload start, payload end) of the ISO-BMFF boxes between start and end (None: end of file)."""
    pos = start
    for _ in range(_MAX_SEGMENTS):
        if end is not None and pos + 8 > end:
            return
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            return
        size, kind = struct.unpack(">I4s", hdr)
        payload = pos + 8
        if size == 1:
            ext = f.read(8)
            if len(ext) < 8:
                return
            size, payload = struct.unpack(">Q", ext)[0], pos + 16
        elif size == 0:
            f.seek(0, io.SEEK_END)
            size = f.tell() - pos
        if size < payload - pos:
            return
        box_end = pos + size if end is None else min(pos + size, end)
        yield kind, payload, box_end
        pos += size


def _heif(f: BinaryIO) -> tuple[int, int] | None:
    """The largest image spatial extent (``ispe``) in meta/iprp/ipco: the primary image or its grid is never
    larger than that, so the check is conservative."""
    best: tuple[int, int] | None = None
    for kind, start, end in _boxes(f, 0, None):
        if kind != b"meta":
            continue
        for k2, s2, e2 in _boxes(f, start + 4, end):  # meta is a full box: 4 bytes of version and flags
            if k2 != b"iprp":
                continue
            for k3, s3, e3 in _boxes(f, s2, e2):
                if k3 != b"ipco":
                    continue
                for k4, s4, e4 in _boxes(f, s3, e3):
                    if k4 == b"ispe" and e4 - s4 >= 12:
                        f.seek(s4 + 4)
                        w, h = struct.unpack(">II", f.read(8))
                        if best is None or w * h > best[0] * best[1]:
                            best = (w, h)
        break
    return best
