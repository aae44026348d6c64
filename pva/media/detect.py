"""Format detection by content (magic numbers), never by file extension.

``detect_format(head)`` looks at the first few KB of a file (``HEAD_BYTES`` is plenty) and returns a
:class:`FormatInfo` for the supported photo and video formats, or ``None``.  ``unsupported_reason(head)`` says in
words what the bytes look like instead ("looks like a ZIP archive"), and ``identify(head_or_path)`` combines the two:
it returns the FormatInfo or raises :class:`UnsupportedFormatError` with that reason.
"""
from __future__ import annotations

import os
import struct
from dataclasses import asdict, dataclass

from .errors import UnsupportedFormatError

#: How many leading bytes detection needs (ISO-BMFF ftyp and the EBML header are in the first few hundred bytes).
HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class FormatInfo:
    kind: str        # 'photo' | 'video'
    format: str      # jpeg png heic heif avif tiff webp gif, RAW: dng cr2 cr3 nef arw orf rw2 raf | mp4 mov mkv avi webm
    mime: str
    extension: str   # canonical extension without the dot

    def to_dict(self) -> dict:
        return asdict(self)


def _photo(fmt: str, mime: str, ext: str | None = None) -> FormatInfo:
    return FormatInfo("photo", fmt, mime, ext or fmt)


def _video(fmt: str, mime: str, ext: str | None = None) -> FormatInfo:
    return FormatInfo("video", fmt, mime, ext or fmt)


JPEG = _photo("jpeg", "image/jpeg", "jpg")
PNG = _photo("png", "image/png")
GIF = _photo("gif", "image/gif")
TIFF = _photo("tiff", "image/tiff", "tif")
WEBP = _photo("webp", "image/webp")
HEIC = _photo("heic", "image/heic")
HEIF = _photo("heif", "image/heif")
AVIF = _photo("avif", "image/avif")
MP4 = _video("mp4", "video/mp4")
M4V = _video("mp4", "video/x-m4v", "m4v")
GP3 = _video("mp4", "video/3gpp", "3gp")
MOV = _video("mov", "video/quicktime")
MKV = _video("mkv", "video/x-matroska")
WEBM = _video("webm", "video/webm")
AVI = _video("avi", "video/x-msvideo")
# Camera RAW photos (decoded by pva.media.raw: the embedded preview, else a LibRaw demosaic).  The types are the
# ones browsers, Windows and macOS use for these files, so a download opens in the user's RAW editor.
DNG = _photo("dng", "image/x-adobe-dng")
CR2 = _photo("cr2", "image/x-canon-cr2")
CR3 = _photo("cr3", "image/x-canon-cr3")
NEF = _photo("nef", "image/x-nikon-nef")
ARW = _photo("arw", "image/x-sony-arw")
ORF = _photo("orf", "image/x-olympus-orf")
RW2 = _photo("rw2", "image/x-panasonic-rw2")
RAF = _photo("raf", "image/x-fuji-raf")
RAW_FORMATS = ("dng", "cr2", "cr3", "nef", "arw", "orf", "rw2", "raf")

SUPPORTED_FORMATS = ("jpeg", "png", "heic", "heif", "avif", "tiff", "webp", "gif", *RAW_FORMATS,
                     "mp4", "mov", "mkv", "avi", "webm")


def is_raw(info: FormatInfo | str | None) -> bool:
    """A camera RAW photo (a FormatInfo or a format name): decoded by pva.media.raw, never by Pillow."""
    fmt = info.format if isinstance(info, FormatInfo) else info
    return fmt in RAW_FORMATS

_HEIC_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_MOV_BRANDS = {b"qt  "}
_MP4_BRANDS = {b"isom", b"iso2", b"iso3", b"iso4", b"iso5", b"iso6", b"iso7", b"iso8", b"iso9", b"mp41", b"mp42",
               b"avc1", b"dash", b"mmp4", b"MSNV", b"NDAS", b"NDSC", b"NDSH", b"NDSM", b"NDSP", b"NDSS", b"NDXC",
               b"NDXH", b"NDXM", b"NDXP", b"NDXS", b"f4v ", b"XAVC", b"mp71", b"FACE", b"CAEP", b"caqv", b"ROSS",
               b"hvc1", b"av01", b"MFSM", b"MGSV"}
_M4V_BRANDS = {b"M4V ", b"M4VH", b"M4VP"}
_3GP_PREFIXES = (b"3gp", b"3g2", b"3ge", b"3gg", b"3gs")
# ISO-BMFF brands we recognise but do not accept, with the words to say so.
_OTHER_BMFF = {b"M4A ": "an MPEG-4 audio file (M4A), not a video", b"M4B ": "an MPEG-4 audiobook (M4B)",
               b"M4P ": "a protected MPEG-4 audio file (M4P)",
               b"jp2 ": "a JPEG 2000 image", b"jpx ": "a JPEG 2000 image", b"F4A ": "a Flash audio file (F4A)"}
# Top-level QuickTime atoms that old .mov files start with when they have no ftyp box.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot", b"pict", b"uuid"}


def _bmff_brands(head: bytes) -> tuple[bytes, list[bytes]] | None:
    """(major brand, compatible brands) of an ISO-BMFF file starting with an ftyp box, else None."""
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    size = struct.unpack(">I", head[:4])[0]
    if size == 1 and len(head) >= 16:  # 64-bit size
        size = struct.unpack(">Q", head[8:16])[0]
        body_start = 16
    else:
        body_start = 8
    if size < body_start + 8 and size != 0:
        size = body_start + 8  # malformed size: read the major brand anyway
    end = min(len(head), size if size else len(head), 4096)
    major = head[body_start:body_start + 4]
    compat = [head[i:i + 4] for i in range(body_start + 8, end - 3, 4)]
    return major, compat


def _classify_bmff(major: bytes, compat: list[bytes]) -> FormatInfo | str:
    brands = [major] + compat
    # Major brand first: it says what the file is; compatible brands only say what it can be read as.
    for b in brands:
        if b == b"crx ":  # Canon CR3 (its compatible brands name isom too)
            return CR3
        if b in _HEIC_BRANDS:
            return HEIC
        if b in _AVIF_BRANDS:
            return AVIF
        if b in _HEIF_BRANDS:
            # mif1 files are HEIC when any brand says HEVC, AVIF when any says AV1.
            if any(x in _HEIC_BRANDS for x in brands):
                return HEIC
            if any(x in _AVIF_BRANDS for x in brands):
                return AVIF
            return HEIF
        if b in _MOV_BRANDS:
            return MOV
        if b in _M4V_BRANDS:
            return M4V
        if b.startswith(_3GP_PREFIXES):
            return GP3
        if b in _MP4_BRANDS:
            return MP4
        if b in _OTHER_BMFF:
            return _OTHER_BMFF[b]
    return f"an ISO media file with an unrecognised brand {major.decode('latin-1')!r}"


def _ebml_vint(buf: bytes, pos: int, keep_marker: bool) -> tuple[int, int] | None:
    """Read an EBML variable-length integer at pos; returns (value, new_pos) or None when truncated/invalid."""
    if pos >= len(buf):
        return None
    first = buf[pos]
    if first == 0:
        return None
    length = 1
    mask = 0x80
    while not first & mask:
        mask >>= 1
        length += 1
    if pos + length > len(buf):
        return None
    value = first if keep_marker else first & (mask - 1)
    for b in buf[pos + 1:pos + length]:
        value = (value << 8) | b
    return value, pos + length


def _ebml_doctype(head: bytes) -> str | None:
    """The DocType string inside the EBML header ("matroska", "webm"), or None."""
    hdr = _ebml_vint(head, 0, True)
    if not hdr or hdr[0] != 0x1A45DFA3:
        return None
    size = _ebml_vint(head, hdr[1], False)
    if not size:
        return None
    pos, end = size[1], min(len(head), size[1] + size[0])
    while pos < end:
        el = _ebml_vint(head, pos, True)
        if not el:
            return None
        ln = _ebml_vint(head, el[1], False)
        if not ln:
            return None
        data_start, data_end = ln[1], ln[1] + ln[0]
        if el[0] == 0x4282:  # DocType
            return head[data_start:min(data_end, len(head))].rstrip(b"\0").decode("ascii", "replace")
        pos = data_end
    return None


def detect_format(head: bytes) -> FormatInfo | None:
    """The supported format of a file from its first bytes (``HEAD_BYTES`` is enough), or None.

    JPEG, PNG, GIF, TIFF, WebP, HEIC/HEIF/AVIF (ISO-BMFF brands), MP4/MOV (ftyp brands, or a bare QuickTime atom),
    MKV vs WebM (EBML DocType) and AVI (RIFF).  Use :func:`unsupported_reason` to say why a file was refused.
    """
    result = _sniff(bytes(head[:HEAD_BYTES]))
    return result if isinstance(result, FormatInfo) else None


def unsupported_reason(head: bytes) -> str:
    """A sentence for the user saying why these bytes are not accepted, naming what they look like if we can."""
    result = _sniff(bytes(head[:HEAD_BYTES]))
    if isinstance(result, FormatInfo):
        return f"{result.format} is supported"
    what = result or "an unknown kind of file"
    supported = ("JPEG, PNG, HEIC/HEIF, TIFF, WebP, GIF, RAW (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF) photos or MP4, "
                 "MOV, MKV, AVI, WebM videos")
    return f"not a supported photo or video format (looks like {what}); upload {supported}"


def identify(source: bytes | str | os.PathLike) -> FormatInfo:
    """FormatInfo for the bytes (a file's head) or the file at a path; raises UnsupportedFormatError with the reason."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        head = bytes(source[:HEAD_BYTES])
        info = detect_format(head)
    else:
        with open(source, "rb") as f:
            head = f.read(HEAD_BYTES)
            info = detect_file(f, head)
    if info is None:
        raise UnsupportedFormatError(unsupported_reason(head))
    return info


def _sniff(h: bytes) -> FormatInfo | str | None:
    """FormatInfo when supported, else a phrase describing what the bytes look like (or None: no idea)."""
    if not h:
        return "an empty file"
    if h[:3] == b"\xff\xd8\xff":
        return JPEG
    if h[:8] == b"\x89PNG\r\n\x1a\n":
        return PNG
    if h[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if h[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        if h[:4] == b"II*\x00" and h[8:10] == b"CR":
            return CR2
        return _tiff_raw(h) or TIFF
    if h[:4] in (b"IIRO", b"IIRS", b"MMOR"):  # Olympus ORF: TIFF with its own magic number
        return ORF
    if h[:4] == b"IIU\x00":  # Panasonic RW2 (and Leica RWL, the same format)
        return RW2
    if h.startswith(b"FUJIFILMCCD-RAW"):
        return RAF
    if h[:4] == b"RIFF" and len(h) >= 12:
        sub = h[8:12]
        if sub == b"WEBP":
            return WEBP
        if sub in (b"AVI ", b"AVIX"):
            return AVI
        return {b"WAVE": "a WAV audio file", b"CDXA": "a Video CD track",
                b"RMID": "a MIDI file"}.get(sub, f"a RIFF file of type {sub.decode('latin-1')!r}")
    brands = _bmff_brands(h)
    if brands:
        return _classify_bmff(*brands)
    if len(h) >= 8 and h[4:8] in _QT_ATOMS and struct.unpack(">I", h[:4])[0] >= 8:
        return MOV
    if h[:4] == b"\x1a\x45\xdf\xa3":
        doctype = _ebml_doctype(h)
        if doctype == "webm":
            return WEBM
        if doctype == "matroska":
            return MKV
        return f"an EBML file with DocType {doctype!r}" if doctype else "a damaged Matroska/WebM file (no DocType)"
    return _describe_other(h)


# ---------------------------------------------------------------------------------------------- TIFF-based RAW
# A TIFF is a camera RAW when an IFD is a DNG (DNGVersion) or holds sensor data: colour filter array or linear raw
# photometric, or a maker's raw compression.  A scan or an export that merely names the camera maker stays a TIFF.
_RAW_PHOTOMETRIC = {32803, 34892}  # CFA, LinearRaw
_RAW_COMPRESSION = {32767, 32769, 32770, 34713, 34316, 65535}  # Sony ARW, packed, Samsung, Nikon NEF, Panasonic, Pentax
# (Canon, Olympus, Panasonic and Fujifilm RAWs have their own signatures, checked before; a TIFF-structured RAW of
# theirs is an older format, refused by name like any other maker's.)
_RAW_BY_MAKE = (("NIKON", NEF), ("SONY", ARW))
_MAX_IFDS = 16


class _Reader:
    """Bytes at an offset, from the head in memory or from the file (bounded: a hostile file cannot make the IFD
    walk read more than ``budget`` bytes)."""

    def __init__(self, head: bytes, f=None, budget: int = 1 << 20):
        self.head, self.f, self.budget = head, f, budget
        self.beyond = False  # something the walk wanted lay past the head (and no file was at hand)

    def at(self, offset: int, n: int) -> bytes:
        if offset + n <= len(self.head):
            return self.head[offset:offset + n]
        if self.f is None or self.budget < n:
            self.beyond = True
            return b""
        self.budget -= n
        self.f.seek(offset)
        return self.f.read(n)


def _ifd_entries(r: _Reader, offset: int, order: str) -> dict[int, tuple[int, int, bytes]] | None:
    """{tag: (type, count, 4-byte value field)} of the classic-TIFF IFD at offset (None when out of reach)."""
    if offset < 8:
        return None
    raw = r.at(offset, 2)
    if len(raw) < 2:
        return None
    n = min(struct.unpack(order + "H", raw)[0], 1024)
    table = r.at(offset + 2, 12 * n + 4)
    if len(table) < 12 * n:
        return None
    out = {}
    for pos in range(0, 12 * n, 12):
        tag, typ, count = struct.unpack(order + "HHI", table[pos:pos + 8])
        out[tag] = (typ, count, table[pos + 8:pos + 12])
    if len(table) == 12 * n + 4:
        out[-1] = (4, 1, table[12 * n:])  # the next IFD's offset
    return out


def _ifd_numbers(r: _Reader, entry: tuple[int, int, bytes] | None, order: str) -> list[int]:
    """The SHORT/LONG values of an entry (inline or at their offset)."""
    if entry is None:
        return []
    typ, count, field = entry
    size = {3: 2, 4: 4, 13: 4}.get(typ)
    if size is None or count == 0:
        return []
    count = min(count, 64)
    data = field if size * count <= 4 else r.at(struct.unpack(order + "I", field)[0], size * count)
    fmt = "H" if size == 2 else "I"
    return [v for (v,) in struct.iter_unpack(order + fmt, data[:size * (len(data) // size)])]


def _ifd_text(r: _Reader, entry: tuple[int, int, bytes] | None, order: str) -> str:
    if entry is None or entry[0] != 2:
        return ""
    typ, count, field = entry
    data = field[:count] if count <= 4 else r.at(struct.unpack(order + "I", field)[0], min(count, 256))
    return data.split(b"\0", 1)[0].decode("latin-1").strip()


def _tiff_raw(h: bytes, f=None) -> FormatInfo | str | None:
    """DNG, NEF, ARW (or another maker's TIFF-structured RAW) from the IFDs -- those inside the head, or, with the
    file ``f``, wherever they are; None: a plain TIFF (or, without ``f``, not known from the head alone)."""
    if h[2:4] not in (b"*\x00", b"\x00*") or len(h) < 8:
        return None  # BigTIFF: no camera writes RAW as BigTIFF
    r = _Reader(h, f)
    order = "<" if h[:2] == b"II" else ">"
    todo = [struct.unpack(order + "I", h[4:8])[0]]
    seen: set[int] = set()
    make = ""
    sensor = dng = False
    ifd0_reduced = ifd0_subifds = False
    while todo and len(seen) < _MAX_IFDS:
        offset = todo.pop(0)
        if offset in seen:
            continue
        first = not seen
        seen.add(offset)
        entries = _ifd_entries(r, offset, order)
        if entries is None:
            continue
        make = make or _ifd_text(r, entries.get(271), order)
        dng = dng or 0xC612 in entries
        photometric = _ifd_numbers(r, entries.get(262), order)
        compression = _ifd_numbers(r, entries.get(259), order)
        if set(photometric) & _RAW_PHOTOMETRIC or set(compression) & _RAW_COMPRESSION:
            sensor = True
        if first:
            ifd0_reduced = _ifd_numbers(r, entries.get(254), order)[:1] == [1]
            ifd0_subifds = bool(entries.get(0x014A))
        todo += _ifd_numbers(r, entries.get(0x014A), order) + _ifd_numbers(r, entries.get(-1), order)
    if dng:
        return DNG
    brand = next((info for prefix, info in _RAW_BY_MAKE if make.upper().startswith(prefix)), None)
    # the sensor IFDs of a large file can lie past the head: a camera's reduced-size IFD0 with SubIFDs says enough
    if sensor or (brand in (NEF, ARW) and ifd0_reduced and ifd0_subifds):
        if brand is not None:
            return brand
        return f"a {make or 'camera'} RAW photo in a format not supported here (convert it to DNG)"
    return None


def detect_file(source, head: bytes | None = None) -> FormatInfo | None:
    """:func:`detect_format` with the file at hand (a path or a seekable binary file, its position restored): a
    TIFF whose IFDs lie past the head -- libtiff-based writers put them after the image data -- is walked in the
    file, so a DNG written that way is still a DNG and not taken for the small TIFF thumbnail in its IFD0."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as f:
            return detect_file(f, head)
    pos = source.tell()
    try:
        if head is None:
            source.seek(0)
            head = source.read(HEAD_BYTES)
        info = detect_format(head)
        if info is TIFF and head[:4] in (b"II*\x00", b"MM\x00*"):
            found = _tiff_raw(head, source)
            if isinstance(found, FormatInfo):
                return found
        return info
    finally:
        source.seek(pos)


def _describe_other(h: bytes) -> str | None:
    sigs: list[tuple[bytes, str]] = [
        (b"PK\x03\x04", "a ZIP archive"), (b"PK\x05\x06", "an empty ZIP archive"), (b"%PDF", "a PDF document"),
        (b"\x1f\x8b", "a gzip archive"), (b"Rar!\x1a\x07", "a RAR archive"), (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
        (b"BZh", "a bzip2 archive"), (b"\xfd7zXZ\x00", "an xz archive"), (b"\x7fELF", "a Linux executable"),
        (b"MZ", "a Windows executable"), (b"ID3", "an MP3 audio file"), (b"fLaC", "a FLAC audio file"),
        (b"OggS", "an Ogg file (audio or Theora video)"), (b"BM", "a BMP bitmap"), (b"8BPS", "a Photoshop document"),
        (b"\x00\x00\x01\xba", "an MPEG program stream (.mpg/.vob)"), (b"FLV\x01", "a Flash video (FLV)"),
        (b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "a Windows Media file (ASF/WMV)"), (b".RMF", "a RealMedia file"),
        (b"\x00\x00\x01\x00", "a Windows icon"), (b"SQLite format 3", "an SQLite database"),
        (b"\xd0\xcf\x11\xe0", "a Microsoft Office document"), (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
        (b"\xff\x0a", "a JPEG XL image"),
        (b"\x00\x00\x00\x0cJXL ", "a JPEG XL image"), (b"qoif", "a QOI image"),
        (b"II\x1a\x00\x00\x00HEAPCCDR", "a Canon CRW raw photo, a format not supported here (convert it to DNG)"),
        (b"FOVb", "a Sigma X3F raw photo, a format not supported here (convert it to DNG)"),
    ]
    for sig, what in sigs:
        if h.startswith(sig):
            return what
    if len(h) >= 376 and h[0] == 0x47 and h[188] == 0x47:
        return "an MPEG transport stream (.ts/.mts)"
    if h[:2] in (b"\xff\xfb", b"\xff\xf3", b"\xff\xf2"):
        return "an MP3 audio file"
    text = h[:512].lstrip(b"\xef\xbb\xbf").lstrip()
    low = text[:256].lower()
    if low.startswith((b"<svg", b"<?xml")) and b"<svg" in h[:4096].lower():
        return "an SVG drawing"
    if low.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if low.startswith(b"<?xml"):
        return "an XML document"
    if low.startswith((b"{", b"[")):
        return "a JSON or text file"
    try:
        text.decode("utf-8")
        if all(c >= 32 or c in (9, 10, 13) for c in text):
            return "a text file"
    except UnicodeDecodeError:
        pass
    return None
