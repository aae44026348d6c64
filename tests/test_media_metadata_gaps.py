"""Metadata only exiftool reads, on generated files shaped like the real cameras' that showed each gap (issue 19):
a date in Reconyx maker notes, an APP12 picture-info date (old Olympus), make/model/date in Canon's CIFF block (a
PowerShot A5 JPEG)."""
from __future__ import annotations

import io
import shutil
import struct
from datetime import datetime
from pathlib import Path

import piexif
import pytest
from PIL import Image

from pva.media import extract_photo
from pva.media import exiftool as et

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None,
                                    reason="exiftool is not installed (Debian package libimage-exiftool-perl)")


# ------------------------------------------------------------------------------------------------ photo files
def _jpeg(exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 150)).save(buf, "JPEG", **({"exif": exif} if exif else {}))
    return buf.getvalue()


def _with_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """``jpeg`` with an APPn segment inserted right after SOI."""
    return jpeg[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def reconyx_jpeg(path: Path, taken: datetime) -> Path:
    """A Reconyx HyperFire photo: Make/Model in IFD0, the date only in the maker notes (int16u: version 0xf101,
    then at word 0x0b the date as seconds, minutes, hours, month, day, year)."""
    note = bytearray(0x40)
    struct.pack_into("<H", note, 0, 0xF101)
    struct.pack_into("<6H", note, 0x0B * 2, taken.second, taken.minute, taken.hour, taken.month, taken.day,
                     taken.year)
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"RECONYX", piexif.ImageIFD.Model: b"HC500 HYPERFIRE"},
                        "Exif": {piexif.ExifIFD.MakerNote: bytes(note)}})
    path.write_bytes(_jpeg(exif))
    return path


def picture_info_jpeg(path: Path, unix_time: int) -> Path:
    """An old Olympus photo: no EXIF, an APP12 "[picture info]" segment whose TimeDate is the camera's clock."""
    info = (b"[picture info]\r\nTimeDate=%d\r\nShutter=10000\r\n[camera info]\r\nType=D320L\r\n" % unix_time)
    path.write_bytes(_with_segment(_jpeg(), 0xEC, info))
    return path


def ciff_jpeg(path: Path, make: bytes, model: bytes, unix_time: int) -> Path:
    """An early Canon PowerShot JPEG: no EXIF, a CIFF heap in APP0 ('II', header length, 'HEAPJPGM') holding the
    MakeModel record (0x080a) and the TimeStamp record (0x180e: camera clock as Unix seconds, zone, flags)."""
    make_model = make + b"\x00" + model + b"\x00"
    stamp = struct.pack("<IiI", unix_time, 0, 0)
    data = make_model + stamp
    entries = [(0x080A, len(make_model), 0), (0x180E, len(stamp), len(make_model))]
    directory = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HII", *e) for e in entries)
    heap = data + directory + struct.pack("<I", len(data))  # the last 4 bytes: where the directory starts
    path.write_bytes(_with_segment(_jpeg(), 0xE0, b"II" + struct.pack("<I", 14) + b"HEAPJPGM" + heap))
    return path


# ------------------------------------------------------------------------------------------------ photos
@needs_exiftool
def test_date_kept_only_in_reconyx_maker_notes(tmp_path):
    m = extract_photo(reconyx_jpeg(tmp_path / "trail.jpg", datetime(2020, 3, 16, 10, 0, 0)))
    assert (m.camera_make, m.camera_model) == ("RECONYX", "HC500 HYPERFIRE")
    assert m.taken_at == m.taken_at_local == datetime(2020, 3, 16, 10, 0, 0)  # the camera's clock: no offset
    assert m.taken_at.tzinfo is None and m.taken_at_offset is None
    assert m.raw["exiftool"] == {"Reconyx:DateTimeOriginal": "2020:03:16 10:00:00"}
    assert m.warnings == []


@needs_exiftool
def test_date_kept_only_in_app12_picture_info(tmp_path):
    m = extract_photo(picture_info_jpeg(tmp_path / "olympus.jpg", 909698819))  # 1998-10-29 22:06:59
    assert m.taken_at == datetime(1998, 10, 29, 22, 6, 59) and m.taken_at_offset is None
    assert (m.width, m.height) == (64, 48)


@needs_exiftool
def test_make_model_and_date_kept_only_in_the_canon_ciff_block(tmp_path):
    m = extract_photo(ciff_jpeg(tmp_path / "a5.jpg", b"Canon", b"Canon PowerShot A5", 972687386))
    assert (m.camera_make, m.camera_model) == ("Canon", "Canon PowerShot A5")
    assert m.taken_at_local == datetime(2000, 10, 27, 22, 56, 26) and m.taken_at_offset is None
    assert set(m.raw["exiftool"]) == {"CIFF:Make", "CIFF:Model", "CIFF:DateTimeOriginal"}


@needs_exiftool
def test_exif_wins_and_exiftool_is_not_asked_when_the_fast_path_answers(tmp_path, monkeypatch):
    path = reconyx_jpeg(tmp_path / "trail.jpg", datetime(2020, 3, 16, 10, 0, 0))
    exif = piexif.load(path.read_bytes())
    exif["Exif"][piexif.ExifIFD.DateTimeOriginal] = b"2021:01:01 08:00:00"
    path.write_bytes(_jpeg(piexif.dump(exif)))
    monkeypatch.setattr(et, "read", lambda *a, **k: pytest.fail("exiftool asked although EXIF had everything"))
    m = extract_photo(path)
    assert m.taken_at == datetime(2021, 1, 1, 8, 0, 0) and "exiftool" not in m.raw


def test_without_exiftool_the_fast_path_answers_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(et, "available", lambda: False)
    m = extract_photo(ciff_jpeg(tmp_path / "a5.jpg", b"Canon", b"Canon PowerShot A5", 972687386))
    assert (m.camera_make, m.taken_at, m.warnings) == (None, None, [])


@needs_exiftool
def test_a_failing_exiftool_costs_a_warning_not_the_photo(tmp_path, monkeypatch):
    def slow(*a, **k):
        raise et.MediaTimeoutError("reading the metadata (exiftool) took longer than 10 s")
    monkeypatch.setattr(et, "read", slow)
    m = extract_photo(ciff_jpeg(tmp_path / "a5.jpg", b"Canon", b"Canon PowerShot A5", 972687386))
    assert m.camera_make is None and m.warnings == ["exiftool: reading the metadata (exiftool) took longer than 10 s"]


@needs_exiftool
def test_an_exif_block_over_the_limit_is_not_read_through_exiftool_either(tmp_path, monkeypatch):
    path = reconyx_jpeg(tmp_path / "trail.jpg", datetime(2020, 3, 16, 10, 0, 0))
    monkeypatch.setenv("PVA_MAX_EXIF_BYTES", "50")
    from pva.config import reload_settings
    reload_settings()
    try:
        m = extract_photo(path)
    finally:
        monkeypatch.undo()
        reload_settings()
    assert (m.camera_make, m.taken_at) == (None, None)
    assert any("over the 50-byte limit" in w for w in m.warnings)
