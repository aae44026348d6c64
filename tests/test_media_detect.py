"""Format detection by content: generated files of every supported format, ISO-BMFF brands, EBML DocType, RIFF,
and clear reasons for what is refused."""
from __future__ import annotations

import struct

import pytest

import media_fixtures as mf
from pva.media import HEAD_BYTES, UnsupportedFormatError, detect_format, identify, unsupported_reason


def _head(path) -> bytes:
    with open(path, "rb") as f:
        return f.read(HEAD_BYTES)


@pytest.mark.parametrize("fmt,mime", [("jpeg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp"),
                                      ("gif", "image/gif"), ("tiff", "image/tiff"), ("heic", "image/heic")])
def test_generated_photos_are_detected_by_content(tmp_path, fmt, mime):
    path = mf.make_photo(tmp_path / "photo.bin", fmt)  # no extension: content only
    info = detect_format(_head(path))
    assert info is not None and (info.kind, info.format, info.mime) == ("photo", fmt, mime)


@pytest.mark.skipif(not mf.ffmpeg_available(), reason="ffmpeg is not installed (Debian package ffmpeg)")
@pytest.mark.parametrize("container,fmt,mime", [("mp4", "mp4", "video/mp4"), ("mov", "mov", "video/quicktime"),
                                                ("mkv", "mkv", "video/x-matroska"), ("avi", "avi", "video/x-msvideo"),
                                                ("webm", "webm", "video/webm")])
def test_generated_videos_are_detected_by_content(tmp_path, container, fmt, mime):
    path = mf.make_video(tmp_path / f"clip.{container}", duration=0.3, size=(64, 48))
    renamed = path.rename(tmp_path / "clip.jpg")  # a misleading extension changes nothing
    info = identify(renamed)
    assert (info.kind, info.format, info.mime) == ("video", fmt, mime)


def _ftyp(major: bytes, *compat: bytes) -> bytes:
    body = major + b"\0\0\0\0" + b"".join(compat)
    return struct.pack(">I", 8 + len(body)) + b"ftyp" + body + b"\0\0\0\x08free"


@pytest.mark.parametrize("major,compat,expected", [
    (b"heic", [b"mif1", b"heic"], "heic"),
    (b"mif1", [b"mif1", b"heic", b"miaf"], "heic"),   # iPhone-style: mif1 major, HEVC compatible brand
    (b"mif1", [b"mif1", b"miaf"], "heif"),
    (b"avif", [b"mif1", b"avif"], "avif"),
    (b"qt  ", [b"qt  "], "mov"),
    (b"isom", [b"isom", b"iso2", b"avc1", b"mp41"], "mp4"),
    (b"mp42", [b"mp42", b"isom"], "mp4"),
    (b"3gp4", [b"3gp4"], "mp4"),
    (b"zzzz", [b"isom"], "mp4"),                      # unknown major brand, known compatible brand
])
def test_iso_bmff_brands_decide_the_format(major, compat, expected):
    assert detect_format(_ftyp(major, *compat)).format == expected


def test_old_quicktime_without_ftyp_is_mov():
    head = struct.pack(">I", 8) + b"wide" + struct.pack(">I", 1000) + b"mdat" + b"\0" * 64
    assert detect_format(head).format == "mov"


def _ebml(doctype: bytes) -> bytes:
    # EBMLVersion=1, DocType=doctype inside the EBML header element (1-byte sizes)
    children = b"\x42\x86\x81\x01" + b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(children)]) + children + b"\x18\x53\x80\x67\x01"


def test_ebml_doctype_distinguishes_mkv_and_webm():
    assert detect_format(_ebml(b"matroska")).format == "mkv"
    assert detect_format(_ebml(b"webm")).format == "webm"
    assert detect_format(_ebml(b"other")) is None
    assert "DocType 'other'" in unsupported_reason(_ebml(b"other"))


def test_riff_distinguishes_webp_avi_and_wav():
    assert detect_format(b"RIFF\x10\0\0\0WEBPVP8 ").format == "webp"
    assert detect_format(b"RIFF\x10\0\0\0AVI LIST").format == "avi"
    assert detect_format(b"RIFF\x10\0\0\0WAVEfmt ") is None
    assert "WAV audio" in unsupported_reason(b"RIFF\x10\0\0\0WAVEfmt ")


@pytest.mark.parametrize("head,words", [
    (b"PK\x03\x04\x14\0\0\0" + b"\0" * 40, "looks like a ZIP archive"),
    (b"%PDF-1.7\n", "PDF document"),
    (b"", "an empty file"),
    (_ftyp(b"M4A ", b"M4A ", b"isom"), "audio file (M4A)"),
    (_ftyp(b"jp2 ", b"jp2 "), "JPEG 2000 image"),  # (a Canon CR3 is a supported RAW photo: tests/test_raw.py)
    (b"BM" + b"\0" * 60, "BMP bitmap"),
    (b"hello, this is just some text\n", "a text file"),
    (bytes(range(256)) * 4, "an unknown kind of file"),
])
def test_unsupported_content_gets_a_clear_reason(head, words):
    assert detect_format(head) is None
    reason = unsupported_reason(head)
    assert reason.startswith("not a supported photo or video format")
    assert words in reason
    with pytest.raises(UnsupportedFormatError, match="not a supported photo or video format"):
        identify(head)


def test_identify_reads_only_the_head_of_a_file(tmp_path):
    path = tmp_path / "archive.jpg"
    path.write_bytes(b"PK\x03\x04" + b"\0" * (HEAD_BYTES * 3))
    with pytest.raises(UnsupportedFormatError, match="ZIP archive"):
        identify(path)
    assert identify(mf.make_jpeg(tmp_path / "real.zip")).format == "jpeg"
