"""A corpus of broken and malicious files for every ingest entry point (load, upload, drop, HTTP, sync).

Plain functions, no pytest dependency:

    from hostile_corpus import corpus, good_files, write_tree, check_result
    cases = corpus()                    # list[Case]: content attacks, hostile EXIF, hostile names
    goods = good_files(3, salt="x")     # ordinary photos to send in the same batch (must be added)
    placed = write_tree(load_dir, cases + goods)    # {Case: Path} for the cases a filesystem can hold

Every case carries the outcomes it may have (``expect``): ``{"rejected"}`` for files that are not usable photos,
``{"added"}`` for valid photos with hostile metadata (their metadata must not break anything), and both for files
where refusing and accepting are each defensible (polyglots: a valid JPEG with a ZIP appended).  Never ``failed``:
that outcome means "a service was down, retry", which is the wrong answer for a bad file.

``salt`` makes every generated file's bytes unique to one run, so one owner can receive the corpus through several
entry points without the files being reported as duplicates of each other.
"""
from __future__ import annotations

import functools
import io
import struct
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import piexif
from PIL import Image, ImageDraw

REJECTED = frozenset({"rejected"})
ADDED = frozenset({"added"})
EITHER = frozenset({"added", "rejected"})


@dataclass(frozen=True)
class Case:
    id: str                      # short identifier, e.g. "zero-byte"
    name: str | bytes            # the relative path as sent (bytes: not valid UTF-8)
    data: bytes = field(repr=False)
    expect: frozenset            # outcomes allowed through the ingest core (load, drop, HTTP ingest)
    why: str                     # what it attacks
    hostile_name: bool = False   # the attack is the name (the bytes are a valid photo)
    on_disk: bool = True         # a Linux filesystem can hold this name (no NUL, no '/', components <= 255 bytes)
    good: bool = False           # an ordinary file: must be added wherever it is sent

    @property
    def text_name(self) -> str:
        """The name as text (non-UTF-8 bytes escaped the way os.fsdecode does)."""
        return self.name if isinstance(self.name, str) else self.name.decode("utf-8", "surrogateescape")

    def __hash__(self) -> int:
        return hash(self.id)


# ---------------------------------------------------------------- building blocks
def photo(seed: str, size=(96, 64), fmt: str = "JPEG", exif: bytes | None = None) -> bytes:
    """A small valid photo whose pixels depend on ``seed`` (so its bytes are unique per seed)."""
    h = zlib.crc32(seed.encode())
    im = Image.new("RGB", size, ((h >> 16) & 255, (h >> 8) & 255, h & 255))
    d = ImageDraw.Draw(im)
    for i in range(6):
        v = (h >> (i * 5)) & 0xFFFF
        d.rectangle([v % size[0], (v >> 4) % size[1], (v % size[0]) + 12, ((v >> 4) % size[1]) + 9],
                    fill=((v * 7) & 255, (v * 13) & 255, (v * 29) & 255))
    buf = io.BytesIO()
    kw = {"quality": 88} if fmt == "JPEG" else {}
    if exif is not None:
        kw["exif"] = exif
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png(width: int, height: int, idat: bytes, *, bit_depth: int = 8, colour: int = 0,
        extra: list[tuple[bytes, bytes]] = ()) -> bytes:
    """A PNG assembled by hand: IHDR with any dimensions, the given (already deflated) IDAT, extra chunks."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    out = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    for kind, data in extra:
        out += _chunk(kind, data)
    return out + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


@functools.lru_cache(maxsize=8)
def deflate_zeros(n: int, level: int = 9) -> bytes:
    """n zero bytes deflated (about 1000:1), streamed so it never holds n bytes (cached: the slow part of the
    corpus)."""
    c = zlib.compressobj(level)
    block = bytes(1 << 20)
    out = []
    while n > 0:
        take = min(n, len(block))
        out.append(c.compress(block[:take]))
        n -= take
    out.append(c.flush())
    return b"".join(out)


def _png_bomb(width: int, height: int) -> bytes:
    """Grayscale 8-bit, every row 'filter 0 + zeros': tiny on disk, width*height bytes once decoded."""
    return png(width, height, deflate_zeros((width + 1) * height))


def _gif_huge_screen(salt: str) -> bytes:
    body = photo(salt, (8, 8), "GIF")
    # logical screen 65535 x 65535 (4.3 gigapixels) in front of a tiny real frame
    return body[:6] + struct.pack("<HH", 0xFFFF, 0xFFFF) + body[10:]


def _jpeg_huge_sof(salt: str) -> bytes:
    """A JPEG whose SOF0 claims 65500 x 65500 pixels (the scan data is a tiny image's)."""
    data = bytearray(photo(salt, (16, 16)))
    i = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, 65500, 65500)
    return bytes(data)


def jpeg_bomb(salt: str, width: int = 14000, height: int = 14000) -> bytes:
    """The bomb of issue 16: well under 1 KB, a SOF0 that claims 14000 x 14000 (196 MP, under the 200 MP
    limit) in front of a 16 x 16 scan.  Decoded in full it takes ~600 MB; at 1/8 scale (JPEG draft) ~9 MB."""
    data = bytearray(photo(salt, (16, 16)))
    i = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, i + 5, height, width)
    return bytes(data)


def _webp_huge_canvas(salt: str) -> bytes:
    """A WebP whose VP8X header claims a 16384 x 16384 canvas (268 MP) around a 16 x 16 frame."""
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buf, "WEBP", exif=b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"
                                                      + salt.encode())
    data = bytearray(buf.getvalue())
    assert data[12:16] == b"VP8X"  # an EXIF chunk makes Pillow write the extended header
    data[24:27] = data[27:30] = (16384 - 1).to_bytes(3, "little")
    return bytes(data)


def _heif_huge_ispe(salt: str) -> bytes:
    """A HEIC whose image spatial extent (ispe) claims 30000 x 30000 (900 MP) for a 64 x 64 picture."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    h = zlib.crc32(salt.encode())
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (h & 255, (h >> 8) & 255, (h >> 16) & 255)).save(buf, "HEIF")
    data = bytearray(buf.getvalue())
    i = data.find(b"ispe")
    struct.pack_into(">II", data, i + 8, 30000, 30000)  # after the box type: 4 bytes version/flags, then w, h
    return bytes(data)


def _tiff_huge(salt: str) -> bytes:
    data = bytearray(photo(salt, (8, 8), "TIFF"))
    # patch ImageWidth / ImageLength (tags 256 / 257) in IFD0 to 100000 x 100000
    order = "<" if data[:2] == b"II" else ">"
    ifd = struct.unpack_from(order + "I", data, 4)[0]
    n = struct.unpack_from(order + "H", data, ifd)[0]
    for k in range(n):
        e = ifd + 2 + 12 * k
        tag, typ = struct.unpack_from(order + "HH", data, e)
        if tag in (256, 257):
            if typ == 3:
                struct.pack_into(order + "H", data, e + 8, 60000)
            else:
                struct.pack_into(order + "I", data, e + 8, 100000)
    return bytes(data)


def _zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return buf.getvalue()


def _exif(zeroth=None, exif=None, gps=None) -> bytes:
    return piexif.dump({"0th": zeroth or {}, "Exif": exif or {}, "GPS": gps or {}, "1st": {}, "thumbnail": None})


def _exif_loop_jpeg(salt: str) -> bytes:
    """A JPEG whose EXIF IFD0 points to itself as the next IFD (a loop) and has an out-of-range offset."""
    tiff = bytearray(b"II*\x00" + struct.pack("<I", 8))
    entries = [(0x010F, 2, 4, int.from_bytes(b"abc\x00", "little")),      # Make "abc"
               (0x0110, 2, 0x7FFFFFFF, 0x7FFFFF00),                         # Model: count/offset far beyond the data
               (0x8769, 4, 1, 8)]                                            # ExifIFD pointer back to IFD0
    tiff += struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        tiff += struct.pack("<HHII", tag, typ, count, value)
    tiff += struct.pack("<I", 8)  # next IFD = this one again
    app1 = b"Exif\x00\x00" + bytes(tiff)
    jpeg = photo(salt, (48, 32))
    seg = b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1
    return jpeg[:2] + seg + jpeg[2:]


def _xmp_jpeg(salt: str, xmp: bytes) -> bytes:
    jpeg = photo(salt, (48, 32))
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + xmp
    seg = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + seg + jpeg[2:]


BILLION_LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
                  + b"".join(b'<!ENTITY lol%d "%s">' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
                             for i in range(1, 10))
                  + b']><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-'
                  b'syntax-ns#"><rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                  b'<dc:title>&lol9;</dc:title></rdf:Description></rdf:RDF></x:xmpmeta>')
XXE = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
       b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&xxe;</dc:title>'
       b'</rdf:Description></rdf:RDF></x:xmpmeta>')

SCRIPT = '<script>alert(document.cookie)</script><img src=x onerror=alert(1)>'
FORMAT_STRINGS = "%s%s%s%n%n%x%x %08x {0} {__class__.__mro__} ${jndi:ldap://127.0.0.1/x} %(secret)s \\x00"


# ---------------------------------------------------------------- the corpus
def content_cases(salt: str = "", *, heavy: bool = False) -> list[Case]:
    """Broken, malicious and wrong-type files under plain names ``hostile/<id>.<ext>``.
    heavy=True adds a PNG that really inflates to ~144 MB of pixels (under the pixel limit)."""
    s = salt
    good = photo(f"{s}:trunc-src", (320, 240))
    good_png = photo(f"{s}:trunc-png", (200, 150), "PNG")
    cases = [
        Case("zero-byte", "hostile/zero.jpg", b"", REJECTED, "an empty file"),
        Case("truncated-jpeg", "hostile/truncated.jpg", good[: len(good) * 2 // 5], REJECTED,
             "a JPEG cut at 40 %"),
        Case("header-only-jpeg", "hostile/header-only.jpg", good[:200], REJECTED, "SOI and headers, no scan"),
        Case("truncated-png", "hostile/truncated.png", good_png[: len(good_png) // 2], REJECTED,
             "a PNG cut in its IDAT"),
        Case("png-huge-dimensions", "hostile/huge-dims.png", png(100_000, 100_000, zlib.compress(b"\x00" * 64)),
             REJECTED, "IHDR claims 10 gigapixels, a few bytes of data"),
        Case("png-deflate-bomb", "hostile/deflate-bomb.png", _png_bomb(20_000, 12_000), REJECTED,
             "240 megapixels of zeros deflated to a few hundred KB (over the pixel limit)"),
        Case("png-ztxt-bomb", "hostile/ztxt-bomb.png",
             png(32, 32, zlib.compress(b"\x00" * (33 * 32)), extra=[
                 (b"zTXt", b"Comment\x00\x00" + deflate_zeros(64 << 20)),
                 (b"tEXt", f"salt\x00{s}".encode())]),
             EITHER, "a valid tiny PNG with a zTXt chunk that inflates to 64 MB"),
        Case("png-iccp-bomb", "hostile/iccp-bomb.png",
             png(32, 32, zlib.compress(b"\x00" * (33 * 32)), extra=[
                 (b"iCCP", b"bomb\x00\x00" + deflate_zeros(64 << 20)),
                 (b"tEXt", f"salt\x00{s}".encode())]),
             EITHER, "an ICC profile chunk that inflates to 64 MB"),
        Case("gif-huge-screen", "hostile/huge-screen.gif", _gif_huge_screen(f"{s}:gif"), EITHER,
             "GIF logical screen of 65535 x 65535 around an 8 x 8 frame"),
        Case("jpeg-huge-sof", "hostile/huge-sof.jpg", _jpeg_huge_sof(f"{s}:sof"), REJECTED,
             "SOF0 claims 65500 x 65500 pixels"),
        Case("tiff-huge", "hostile/huge.tiff", _tiff_huge(f"{s}:tiff"), REJECTED,
             "TIFF IFD claims 100000 x 100000 pixels"),
        Case("jpeg-bomb-under-limit", "hostile/bomb-196mp.jpg", jpeg_bomb(f"{s}:bomb"), EITHER,
             "a 0.8 KB JPEG claiming 14000 x 14000 (under the limit: must be read at reduced scale, never in full)"),
        Case("webp-huge-canvas", "hostile/huge-canvas.webp", _webp_huge_canvas(f"{s}:webp"), REJECTED,
             "WebP VP8X canvas of 16384 x 16384 around a 16 x 16 frame"),
        Case("heif-huge-ispe", "hostile/huge-ispe.heic", _heif_huge_ispe(f"{s}:heif"), REJECTED,
             "HEIC whose ispe property claims 30000 x 30000"),
        Case("polyglot-jpeg-zip", "hostile/polyglot.jpg",
             photo(f"{s}:poly", (64, 48)) + _zip_bytes({"evil.sh": b"#!/bin/sh\nrm -rf /\n"}), EITHER,
             "a valid JPEG with a ZIP archive appended (opens as both)"),
        Case("gifar", "hostile/gifar.gif",
             photo(f"{s}:gifar", (16, 16), "GIF") + _zip_bytes({"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\n",
                                                                 "Evil.class": b"\xca\xfe\xba\xbe" + bytes(32)}),
             EITHER, "GIF + JAR (GIFAR)"),
        Case("jpeg-html-polyglot", "hostile/html-comment.jpg",
             _xmp_jpeg(f"{s}:html", b"<html><body><script>alert(1)</script></body></html>"), EITHER,
             "a JPEG carrying an HTML document in an APP1 segment"),
        Case("elf-as-jpg", "hostile/program.jpg", b"\x7fELF\x02\x01\x01\x00" + bytes(120) + s.encode(), REJECTED,
             "an executable named .jpg"),
        Case("html-as-png", "hostile/page.png", f"<!doctype html><script>alert(1)</script>{s}".encode(),
             REJECTED, "an HTML page named .png"),
        Case("svg-script", "hostile/vector.svg",
             f'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script>{s}</svg>'.encode(),
             REJECTED, "an SVG with scripts"),
        Case("pdf-as-jpg", "hostile/doc.jpg", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n" + s.encode(),
             REJECTED, "a PDF named .jpg"),
        Case("zip-as-jpg", "hostile/archive.jpg", _zip_bytes({"a.txt": s.encode() or b"x"}), REJECTED,
             "a ZIP named .jpg"),
        Case("text-as-heic", "hostile/notes.heic", f"just some notes {s}\n".encode(), REJECTED,
             "plain text named .heic"),
        Case("fake-mp4", "hostile/clip.mp4",
             struct.pack(">I", 24) + b"ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x00\x08free"
             + (b"\xde\xad\xbe\xef" * 64) + s.encode(), REJECTED, "an MP4 header followed by garbage (no moov)"),
        Case("random-bytes", "hostile/noise.jpg", zlib.compress(f"noise {s}".encode() * 300)[::-1], REJECTED,
             "random bytes named .jpg"),
    ]
    if heavy:
        cases.append(Case("png-bomb-under-limit", "hostile/big-bomb.png",
                          png(12_000, 12_000, deflate_zeros(12_001 * 12_000),
                              extra=[(b"tEXt", f"salt\x00{s}".encode())]), EITHER,
                          "144 megapixels (under the 200 MP limit) deflated to ~150 KB"))
    return cases


def exif_cases(salt: str = "") -> list[Case]:
    """Valid JPEGs with hostile EXIF / XMP: they must be added, their metadata kept inert or dropped."""
    s = salt
    I, E, G = piexif.ImageIFD, piexif.ExifIFD, piexif.GPSIFD
    return [
        Case("exif-huge-string", "exif/huge-string.jpg",
             photo(f"{s}:e1", exif=_exif({I.ImageDescription: b"A" * 60_000, I.Make: b"Huge"})), ADDED,
             "a 60 KB ImageDescription (APP1 near its 64 KB limit)"),
        Case("exif-binary", "exif/binary.jpg",
             photo(f"{s}:e2", exif=_exif({I.Make: bytes(range(1, 256)), I.Model: b"\xff\xfe\x00\x01\x80abc",
                                         I.Software: b"\x00" * 40})), ADDED, "binary bytes in text tags"),
        Case("exif-script", "exif/script.jpg",
             photo(f"{s}:e3", exif=_exif({I.Make: SCRIPT.encode(), I.Model: b'"><svg onload=alert(1)>',
                                         I.Artist: SCRIPT.encode()},
                                        {E.UserComment: b"ASCII\x00\x00\x00" + SCRIPT.encode(),
                                         E.LensModel: b"<iframe src=javascript:alert(1)>"})), ADDED,
             "HTML/JS in camera make, model, artist, lens, user comment"),
        Case("exif-format-strings", "exif/format.jpg",
             photo(f"{s}:e4", exif=_exif({I.Make: FORMAT_STRINGS.encode(), I.Software: b"%n%n%n%n%s%s%s"},
                                        {E.DateTimeOriginal: b"%s%s%s%s%s%s%s%s%s"})), ADDED,
             "printf / str.format / JNDI patterns in tags and the date"),
        Case("exif-bad-values", "exif/bad-values.jpg",
             photo(f"{s}:e5", exif=_exif({I.Orientation: 65535, I.Make: b"Bad"},
                                        {E.DateTimeOriginal: b"9999:99:99 99:99:99",
                                         E.OffsetTimeOriginal: b"+99:99", E.ISOSpeedRatings: 65535,
                                         E.FNumber: (1, 0), E.ExposureTime: (0, 0)},
                                        {G.GPSLatitudeRef: b"Q", G.GPSLatitude: ((999, 1), (0, 0), (1, 0)),
                                         G.GPSLongitudeRef: b"E", G.GPSLongitude: ((0, 0), (0, 0), (0, 0)),
                                         G.GPSAltitude: (1, 0)})), ADDED,
             "orientation 65535, impossible date and offset, zero denominators, latitude 999"),
        Case("exif-ifd-loop", "exif/ifd-loop.jpg", _exif_loop_jpeg(f"{s}:e6"), ADDED,
             "an IFD that points back to itself and an offset past the end"),
        Case("xmp-billion-laughs", "exif/laughs.jpg", _xmp_jpeg(f"{s}:e7", BILLION_LAUGHS), ADDED,
             "XMP with nested entities (billion laughs)"),
        Case("xmp-xxe", "exif/xxe.jpg", _xmp_jpeg(f"{s}:e8", XXE), ADDED,
             "XMP with an external entity reading /etc/passwd"),
    ]


def name_cases(salt: str = "") -> list[Case]:
    """Valid photos under hostile names.  Through the ingest core they must be rejected with the reason; entry
    points that carry the name as text (upload, sync) may instead clean it and store the file under a safe key."""
    s = salt

    def c(cid, name, why, on_disk=True):
        return Case(cid, name, photo(f"{s}:{cid}", (40, 30)), REJECTED, why, hostile_name=True, on_disk=on_disk)

    return [
        c("name-dotdot", "../escape.jpg", "parent directory", on_disk=False),
        c("name-dotdot-inner", "trip/../../up.jpg", "'..' inside the path", on_disk=False),
        c("name-absolute", "/etc/cron.d/evil.jpg", "an absolute path", on_disk=False),
        c("name-windows-absolute", "C:\\Windows\\evil.jpg", "a drive-letter path", on_disk=False),
        c("name-nul", "nul\x00byte.jpg", "a NUL byte", on_disk=False),
        c("name-control", "bell\x07\x1b[31mred.jpg", "control characters and an ANSI escape"),
        c("name-newline", "two\nlines.jpg", "a newline"),
        c("name-rtl-override", "invoice\u202egpj.exe", "RTL override (shows as invoiceexe.jpg)"),
        c("name-300-bytes", "x" * 296 + ".jpg", "a 300-byte name component", on_disk=False),
        c("name-non-utf8", b"caf\xe9-latin1.jpg", "bytes that are not UTF-8"),
    ]


def good_files(n: int = 3, salt: str = "") -> list[Case]:
    """Ordinary photos to send in the same batch: every one must be added."""
    fmts = ["JPEG", "PNG", "WEBP"]
    out = []
    for i in range(n):
        fmt = fmts[i % len(fmts)]
        ext = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}[fmt]
        out.append(Case(f"good-{i}", f"good/photo-{i}.{ext}", photo(f"{salt}:good{i}", (120, 80), fmt), ADDED,
                        "an ordinary photo", good=True))
    return out


def corpus(salt: str = "", *, heavy: bool = False) -> list[Case]:
    return content_cases(salt, heavy=heavy) + exif_cases(salt) + name_cases(salt)


# ---------------------------------------------------------------- placing and checking
def fs_name(case: Case) -> bytes:
    """The case's name as a filesystem path (bytes)."""
    return case.name if isinstance(case.name, bytes) else case.name.encode("utf-8")


def write_tree(root: Path, cases: list[Case]) -> dict[str, Path]:
    """Write the cases a filesystem can hold under root; returns {case id: path}."""
    import os

    root = Path(root)
    placed = {}
    for case in cases:
        if not case.on_disk:
            continue
        p = os.path.join(os.fsencode(str(root)), fs_name(case))
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(case.data)
        placed[case.id] = Path(os.fsdecode(p))
    return placed


def safe_key(key: str) -> bool:
    """A stored key/path that cannot escape or deceive: relative, no '..', no control or bidi characters."""
    if not key or key.startswith("/") or "\\" in key:
        return False
    if any(part in ("..", ".") for part in key.split("/")):
        return False
    return not any(unicodedata.category(ch) in ("Cc", "Cf", "Cs") for ch in key)


def check_result(case: Case, status: str, reason: str | None, stored_path: str | None = None,
                 allow_clean_name: bool = False) -> str | None:
    """None when the outcome is acceptable for the case, else a sentence saying what is wrong.

    allow_clean_name: the entry point cleans hostile names (upload, sync): 'added' under a safe name is fine."""
    allowed = set(case.expect)
    if case.hostile_name and allow_clean_name:
        allowed.add("added")
    if status == "duplicate" and "added" in allowed:
        return None  # a retried delivery of a stored file
    if status not in allowed:
        return f"{case.id} ({case.why}): {status} ({reason!r}), expected {sorted(allowed)}"
    if status == "rejected" and (not reason or len(reason.strip()) < 10):
        return f"{case.id}: rejected without a clear reason ({reason!r})"
    if status == "added" and stored_path is not None and not safe_key(stored_path):
        return f"{case.id}: stored under an unsafe name {stored_path!r}"
    return None


def multipart_body(parts: list[tuple[bytes, bytes]], boundary: str, field_name: str = "files") -> bytes:
    """A multipart/form-data body built by hand so file names reach the server byte for byte (NUL, control
    characters, non-UTF-8); CR and LF are percent-encoded as browsers do."""
    out = b""
    for name, data in parts:
        quoted = name.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\r", b"%0D").replace(b"\n", b"%0A")
        out += (f"--{boundary}\r\n".encode() + f'Content-Disposition: form-data; name="{field_name}"; '.encode()
                + b'filename="' + quoted + b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n")
    return out + f"--{boundary}--\r\n".encode()
