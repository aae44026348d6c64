"""Generators of RAW test files: a real (LibRaw-readable) DNG, and the headers of the other RAW formats.

Plain functions, no pytest dependency.  ``make_dng`` writes a small but complete DNG the way cameras and Adobe's
converter do: IFD0 with the camera's tags (DNGVersion, Make, Model, Orientation, colour matrix), a SubIFD with the
Bayer (RGGB) sensor data, optionally a second SubIFD with a JPEG preview, an EXIF IFD (date, exposure) and a GPS IFD.
The sensor data is the canonical corner picture of media_fixtures (red, green, blue, white quadrants as displayed),
stored for the orientation asked, so a demosaic shows the corners where they belong.

``make_tiff_raw`` writes the same structure with another maker's name and raw compression tag (a NEF or ARW as far
as sniffing goes); ``raw_header`` gives the first bytes of the formats that have their own magic (CR2, CR3, ORF,
RW2, RAF) for detection tests.
"""
from __future__ import annotations

import io
import struct
from pathlib import Path

from PIL import Image

from media_fixtures import corner_picture, stored_for_orientation

# TIFF field types
BYTE, ASCII, SHORT, LONG, RATIONAL, UNDEFINED, SRATIONAL = 1, 2, 3, 4, 5, 7, 10
_SIZES = {BYTE: 1, ASCII: 1, SHORT: 2, LONG: 4, RATIONAL: 8, UNDEFINED: 1, SRATIONAL: 8}
# XYZ (D65) -> linear sRGB: with it as the DNG ColorMatrix1 the "camera" sees linear sRGB, so colours come out true
_XYZ_TO_SRGB = (3.2406, -1.5372, -0.4986, -0.9689, 1.8758, 0.0415, 0.0557, -0.2040, 1.0570)
WHITE = 4095  # 12-bit sensor
_PLACEHOLDER = 0x7EADBEEF


def _pack(typ: int, values) -> bytes:
    if typ == ASCII:
        return values.encode("latin-1") + b"\0"
    if typ in (BYTE, UNDEFINED):
        return bytes(values)
    if typ == SHORT:
        return struct.pack(f"<{len(values)}H", *values)
    if typ == LONG:
        return struct.pack(f"<{len(values)}I", *values)
    if typ in (RATIONAL, SRATIONAL):
        fmt = "<ii" if typ == SRATIONAL else "<II"
        out = b""
        for v in values:
            num, den = v if isinstance(v, tuple) else (round(v * 10000), 10000)
            out += struct.pack(fmt, num, den)
        return out
    raise ValueError(typ)


class _Tiff:
    """A little-endian TIFF built bottom-up: data blocks first, then each IFD after the IFDs it points to."""

    def __init__(self, magic: bytes = b"II*\x00"):
        self.buf = bytearray(magic + b"\0\0\0\0")

    def data(self, blob: bytes) -> int:
        if len(self.buf) % 2:
            self.buf += b"\0"
        pos = len(self.buf)
        self.buf += blob
        return pos

    def ifd(self, entries: list[tuple[int, int, object]]) -> int:
        """Write one IFD (entries: (tag, type, values)); returns its offset."""
        if len(self.buf) % 2:
            self.buf += b"\0"
        start = len(self.buf)
        entries = sorted(entries, key=lambda e: e[0])
        extra_at = start + 2 + 12 * len(entries) + 4
        table, extra = b"", b""
        for tag, typ, values in entries:
            if not isinstance(values, (list, tuple, bytes, str)):
                values = [values]
            blob = _pack(typ, values)
            count = len(blob) // _SIZES[typ]
            if len(blob) <= 4:
                table += struct.pack("<HHI", tag, typ, count) + blob.ljust(4, b"\0")
            else:
                table += struct.pack("<HHII", tag, typ, count, extra_at + len(extra))
                extra += blob + (b"\0" if len(blob) % 2 else b"")
        self.buf += struct.pack("<H", len(entries)) + table + b"\0\0\0\0" + extra
        return start

    def finish(self, ifd0: int) -> bytes:
        self.buf[4:8] = struct.pack("<I", ifd0)
        return bytes(self.buf)


def bayer(displayed: Image.Image, orientation: int = 1) -> tuple[bytes, int, int]:
    """RGGB 16-bit sensor data (12-bit values) of ``displayed`` as stored for ``orientation``: (data, w, h)."""
    import numpy as np

    stored = stored_for_orientation(displayed.convert("RGB"), orientation)
    w, h = stored.size
    rgb = np.asarray(stored, dtype=np.float32) / np.float32(255.0)
    channel = np.empty((h, w), dtype=np.intp)  # R G / G B
    channel[0::2, 0::2], channel[0::2, 1::2], channel[1::2, 0::2], channel[1::2, 1::2] = 0, 1, 1, 2
    v = np.take_along_axis(rgb, channel[:, :, None], axis=2)[:, :, 0]
    data = np.round((v ** 2.2) * (WHITE - 256)).astype("<u2") + 256  # linear light above a black level of 256
    return data.tobytes(), w, h


def _jpeg(im: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def make_dng(path, *, size: tuple[int, int] = (96, 64), orientation: int = 1, preview: int | None = 1200,
             make: str = "PVA Test", model: str = "Sensor One", taken: str | None = "2024:05:01 10:20:30",
             offset: str | None = "+02:00", gps: tuple[float, float] | None = (48.8583, 2.2945),
             iso: int = 200, displayed: Image.Image | None = None, dng: bool = True,
             raw_compression: int = 1) -> Path:
    """A DNG of the corner picture (``size`` as displayed) with EXIF ``orientation``, and a JPEG preview whose long
    side is ``preview`` (None: no preview at all, only the sensor data).

    ``dng=False`` leaves out DNGVersion: with ``make="SONY"`` and a Sony model that is an uncompressed ARW as far as
    both the sniffer and LibRaw are concerned (LibRaw then uses its own colour table for the model).
    ``raw_compression``: the sensor data's Compression tag (52546, DNG 1.7's JPEG XL, is one LibRaw cannot decode)."""
    path = Path(path)
    w_d, h_d = size
    shown = displayed if displayed is not None else corner_picture(size)
    raw, w, h = bayer(shown, orientation)
    t = _Tiff()
    raw_at = _PLACEHOLDER  # the sensor data goes last, as cameras write it: a cut file keeps its IFDs and preview
    sub_ifds = [t.ifd([
        (254, LONG, 0), (256, LONG, w), (257, LONG, h), (258, SHORT, 16), (259, SHORT, raw_compression),
        (262, SHORT, 32803),
        (273, LONG, raw_at), (277, SHORT, 1), (278, LONG, h), (279, LONG, len(raw)), (284, SHORT, 1),
        (0x828D, SHORT, [2, 2]), (0x828E, BYTE, [0, 1, 1, 2]), (0xC617, SHORT, 1),
        (0xC61A, SHORT, 256), (0xC61D, SHORT, WHITE),
    ])]
    if preview:
        scale = preview / max(w_d, h_d)
        big = stored_for_orientation(shown.resize((round(w_d * scale), round(h_d * scale)),
                                                  Image.Resampling.NEAREST), orientation)
        jpg = _jpeg(big)
        jpg_at = t.data(jpg)
        sub_ifds.append(t.ifd([
            (254, LONG, 1), (256, LONG, big.width), (257, LONG, big.height), (258, SHORT, [8, 8, 8]),
            (259, SHORT, 7), (262, SHORT, 6), (273, LONG, jpg_at), (277, SHORT, 3), (278, LONG, big.height),
            (279, LONG, len(jpg)), (284, SHORT, 1),
        ]))
    exif = [(0x829D, RATIONAL, [(28, 10)]), (0x829A, RATIONAL, [(1, 250)]), (0x8827, SHORT, iso),
            (0x920A, RATIONAL, [(50, 1)])]
    if taken:
        exif += [(0x9003, ASCII, taken), (0x9004, ASCII, taken)]
    if offset:
        exif.append((0x9011, ASCII, offset))
    exif_at = t.ifd(exif)
    entries = [
        (254, LONG, 1), (256, LONG, 16), (257, LONG, 16), (258, SHORT, [8, 8, 8]), (259, SHORT, 1),
        (262, SHORT, 2), (271, ASCII, make), (272, ASCII, model), (274, SHORT, orientation), (277, SHORT, 3),
        (278, LONG, 16), (284, SHORT, 1), (0x014A, LONG, sub_ifds), (0x8769, LONG, exif_at),
        (0xC614, ASCII, f"{make} {model}"),
        (0xC621, SRATIONAL, list(_XYZ_TO_SRGB)), (0xC65A, SHORT, 21), (0xC628, RATIONAL, [1.0, 1.0, 1.0]),
    ]
    if dng:
        entries += [(0xC612, BYTE, [1, 4, 0, 0]), (0xC613, BYTE, [1, 1, 0, 0])]
    thumb = stored_for_orientation(shown.resize((16, 16)), 1).tobytes()  # the tiny IFD0 thumbnail (uncompressed)
    thumb_at = t.data(thumb)
    entries += [(273, LONG, thumb_at), (279, LONG, len(thumb))]
    if gps:
        lat, lon = gps
        gps_at = t.ifd([(0, BYTE, [2, 3, 0, 0]), (1, ASCII, "N" if lat >= 0 else "S"),
                        (2, RATIONAL, _dms(abs(lat))), (3, ASCII, "E" if lon >= 0 else "W"),
                        (4, RATIONAL, _dms(abs(lon)))])
        entries.append((0x8825, LONG, gps_at))
    out = bytearray(t.finish(t.ifd(entries)))
    at = out.index(struct.pack("<I", _PLACEHOLDER))
    out[at:at + 4] = struct.pack("<I", len(out))
    path.write_bytes(bytes(out + raw))
    return path


def _dms(deg: float) -> list[tuple[int, int]]:
    d = int(deg)
    m = int((deg - d) * 60)
    s = (deg - d - m / 60) * 3600
    return [(d, 1), (m, 1), (round(s * 1000), 1000)]


def make_tiff_raw(path, *, make: str = "NIKON CORPORATION", compression: int = 34713, dng: bool = False) -> Path:
    """A TIFF-structured RAW as far as sniffing goes: a small RGB IFD0 (the camera's thumbnail) pointing to a
    SubIFD of CFA sensor data with the maker's raw ``compression`` (34713 Nikon NEF, 32767 Sony ARW)."""
    path = Path(path)
    t = _Tiff()
    raw_at = t.data(b"\0" * 64)
    sub = t.ifd([(254, LONG, 0), (256, LONG, 4), (257, LONG, 4), (258, SHORT, 16), (259, SHORT, compression),
                 (262, SHORT, 32803), (273, LONG, raw_at), (277, SHORT, 1), (279, LONG, 64)])
    thumb_at = t.data(b"\x80" * 48)
    entries = [(254, LONG, 1), (256, LONG, 4), (257, LONG, 4), (258, SHORT, [8, 8, 8]), (259, SHORT, 1),
               (262, SHORT, 2), (271, ASCII, make), (272, ASCII, "Model"), (273, LONG, thumb_at),
               (277, SHORT, 3), (279, LONG, 48), (0x014A, LONG, [sub])]
    if dng:
        entries.append((0xC612, BYTE, [1, 4, 0, 0]))
    path.write_bytes(t.finish(t.ifd(entries)))
    return path


def make_plain_tiff(path, *, make: str | None = "NIKON CORPORATION") -> Path:
    """An ordinary RGB TIFF (a scan or an export) that carries a camera maker's name: still a plain TIFF."""
    im = corner_picture((40, 20))
    path = Path(path)
    exif = Image.Exif()
    if make:
        exif[271] = make
    im.save(path, "TIFF", exif=exif)
    return path


def raw_header(fmt: str) -> bytes:
    """The first bytes of a RAW format that has its own signature (enough for sniffing, not for decoding)."""
    if fmt == "cr2":
        return b"II*\x00\x10\x00\x00\x00CR\x02\x00" + b"\0" * 500
    if fmt == "cr3":
        ftyp = b"ftypcrx " + struct.pack(">I", 1) + b"crx isom"
        return struct.pack(">I", 8 + len(ftyp) - 4) + ftyp + b"\0" * 500
    if fmt == "orf":
        return b"IIRO\x08\x00\x00\x00" + b"\0" * 500
    if fmt == "orf-s":
        return b"IIRS\x08\x00\x00\x00" + b"\0" * 500
    if fmt == "rw2":
        return b"IIU\x00\x18\x00\x00\x00" + b"\0" * 500
    if fmt == "raf":
        return b"FUJIFILMCCD-RAW 0201FF383501" + b"\0" * 500
    raise ValueError(fmt)
