"""Metadata only exiftool reads, on generated files shaped like the real cameras' that showed each gap (issue 19):
a date in Reconyx maker notes, an APP12 picture-info date (old Olympus), make/model/date in Canon's CIFF block (a
PowerShot A5 JPEG), a make/model/date in Nikon's NCTG atom of a MOV, an AVI's IDIT wall-clock date, a Matroska file
whose tracks are damaged but whose container still gives a duration and a date."""
from __future__ import annotations

import io
import shutil
import struct
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import piexif
import pytest
from PIL import Image

import media_fixtures as mf
from pva.media import CorruptMediaError, extract_photo, probe_video
from pva.media import exiftool as et

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None,
                                    reason="exiftool is not installed (Debian package libimage-exiftool-perl)")
needs_ffmpeg = pytest.mark.skipif(not mf.ffmpeg_available(), reason="ffmpeg/ffprobe are not installed (Debian ffmpeg)")


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


# ------------------------------------------------------------------------------------------------ video files
def _riff_chunks(b: bytes, off: int, end: int, depth: int = 0, out: list | None = None) -> list:
    out = [] if out is None else out
    while off + 8 <= end:
        cid, size = b[off:off + 4], struct.unpack("<I", b[off + 4:off + 8])[0]
        out.append((depth, cid, off, size))
        if cid in (b"RIFF", b"LIST"):
            _riff_chunks(b, off + 12, off + 8 + size, depth + 1, out)
        off += 8 + size + (size & 1)
    return out


def avi_with_idit(path: Path, idit: bytes = b"Mon Mar 10 15:04:43 2003\n\x00") -> Path:
    """An AVI as cameras write them: the recording's wall-clock time in an IDIT chunk of the hdrl list (written
    over the JUNK padding ffmpeg leaves there, so no offset in the file moves)."""
    mf.make_video(path, duration=1, size=(96, 64))
    b = bytearray(path.read_bytes())
    _, _, off, size = next(c for c in _riff_chunks(b, 0, len(b)) if c[0] == 2 and c[1] == b"JUNK")
    rest = size - len(idit) - 8
    assert rest >= 0
    b[off:off + 8 + size] = (b"IDIT" + struct.pack("<I", len(idit)) + idit
                             + b"JUNK" + struct.pack("<I", rest) + b"\x00" * rest)
    path.write_bytes(bytes(b))
    return path


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def nikon_mov(path: Path, make: bytes, model: bytes, date: bytes) -> Path:
    """A Nikon MOV: make, model and date only in the maker notes (udta/NCDT/NCTG records: tag, EXIF format,
    count, value), none in the QuickTime tags ffprobe reads."""
    mf.make_video(path, duration=1, size=(96, 64))
    b = bytearray(path.read_bytes())
    off = last = 0
    while off < len(b):  # ffmpeg writes moov after mdat: the last top-level box
        last = off
        off += struct.unpack(">I", b[off:off + 4])[0]
    assert b[last + 4:last + 8] == b"moov"

    def record(tag: int, text: bytes) -> bytes:
        return struct.pack(">IHH", tag, 2, len(text) + 1) + text + b"\x00"

    udta = _box(b"udta", _box(b"NCDT", _box(b"NCTG", record(0x01, make) + record(0x02, model)
                                            + record(0x12, date))))
    struct.pack_into(">I", b, last, struct.unpack(">I", b[last:last + 4])[0] + len(udta))
    path.write_bytes(bytes(b + udta))
    return path


def _ebml_vint(b: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer at ``pos``: (value, length). IDs keep their length marker, sizes do not."""
    first = b[pos]
    length = 8 - first.bit_length() + 1
    value = first if keep_marker else first & (0xFF >> length)
    for i in range(1, length):
        value = value << 8 | b[pos + i]
    return value, length


def first_track_entry(b: bytes) -> int:
    """The offset of the first TrackEntry of a Matroska file, found by walking the elements (the Tracks ID also
    appears in the SeekHead, and the random segment/track UIDs and CRC-32s can hold any byte, so a byte search for
    it hits the wrong place now and then)."""
    seg_id, n = _ebml_vint(b, 0, keep_marker=True)
    size, m = _ebml_vint(b, n, keep_marker=False)
    pos = n + m + size  # past the EBML header
    seg_id, n = _ebml_vint(b, pos, keep_marker=True)
    assert seg_id == 0x18538067, "a Matroska Segment follows the EBML header"
    _, m = _ebml_vint(b, pos + n, keep_marker=False)
    pos += n + m
    while pos < len(b):
        el, n = _ebml_vint(b, pos, keep_marker=True)
        size, m = _ebml_vint(b, pos + n, keep_marker=False)
        if el == 0x1654AE6B:  # Tracks: its first child other than a CRC-32 is the first TrackEntry
            child = pos + n + m
            while True:
                cid, cn = _ebml_vint(b, child, keep_marker=True)
                csize, cm = _ebml_vint(b, child + cn, keep_marker=False)
                if cid == 0xAE:
                    return child
                child += cn + cm + csize
        pos += n + m + size
    raise AssertionError("no Tracks element in this Matroska file")


def damaged_mkv(path: Path, *, where: str) -> Path:
    """A Matroska file with a creation time whose track entry is overwritten after the header: ``where='codec'``
    leaves ffprobe reading the file but finding no stream, ``where='track'`` makes ffprobe give up on it."""
    mf.make_video(path, duration=2, size=(96, 64), creation_time="2021-07-04T10:11:12Z")
    b = bytearray(path.read_bytes())
    entry = first_track_entry(b)
    if where == "codec":
        start, end = entry, entry + 120
    else:
        codec_id = b.find(b"V_MPEG4", entry)
        start, end = codec_id + 22, codec_id + 30  # the video settings after CodecID and TrackType
    b[start:end] = b"\xff" * (end - start)
    path.write_bytes(bytes(b))
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


# ------------------------------------------------------------------------------------------------ videos
@needs_ffmpeg
def test_avi_wall_clock_date_is_not_labelled_utc(tmp_path):
    m = probe_video(avi_with_idit(tmp_path / "camera.avi"))
    assert m.creation_time == datetime(2003, 3, 10, 15, 4, 43) and m.creation_time.tzinfo is None
    assert m.taken_at_local == datetime(2003, 3, 10, 15, 4, 43) and m.taken_at_offset is None
    assert m.to_dict()["creation_time"] == "2003-03-10T15:04:43"


@needs_ffmpeg
def test_mp4_dates_stay_utc_and_apple_dates_keep_their_zone(tmp_path):
    utc = probe_video(mf.make_video(tmp_path / "a.mp4", duration=0.5, creation_time="2024-05-01T10:20:30Z"))
    assert utc.creation_time == datetime(2024, 5, 1, 10, 20, 30, tzinfo=timezone.utc)
    assert (utc.taken_at_local, utc.taken_at_offset) == (None, None)  # the camera's own clock is not in the file
    apple = probe_video(mf.make_video(tmp_path / "a.mov", duration=0.5, metadata={
        "com.apple.quicktime.creationdate": "2024-05-01T10:20:30-0500"}))
    assert apple.creation_time == datetime(2024, 5, 1, 10, 20, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert (apple.taken_at_local, apple.taken_at_offset) == (datetime(2024, 5, 1, 10, 20, 30), -300)


@needs_ffmpeg
@needs_exiftool
def test_make_model_and_date_kept_only_in_nikon_maker_notes(tmp_path):
    m = probe_video(nikon_mov(tmp_path / "DSCN0001.mov", b"NIKON", b"COOLPIX P7000", b"2011:02:03 04:05:06"))
    assert (m.camera_make, m.camera_model) == ("NIKON", "COOLPIX P7000")
    assert m.creation_time == datetime(2011, 2, 3, 4, 5, 6) and m.taken_at_offset is None  # the camera's clock
    assert set(m.raw["exiftool"]) == {"Nikon:Make", "Nikon:Model", "Nikon:DateTimeOriginal"}
    assert (m.width, m.height, m.codec) == (96, 64, "h264")


@needs_ffmpeg
def test_unknown_duration_is_none_not_zero(tmp_path, monkeypatch):
    streamed = tmp_path / "streamed.mkv"  # written to a pipe: no Duration element, no cues
    with open(streamed, "wb") as out:
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                        "testsrc=size=96x64:rate=10:duration=1", "-c:v", "libx264", "-preset", "ultrafast",
                        "-pix_fmt", "yuv420p", "-f", "matroska", "-"], stdout=out, check=True, timeout=60)
    assert probe_video(streamed).duration is None
    from pva.media import video as video_mod
    real = video_mod.ffprobe_json

    def zero_durations(path, timeout=video_mod.PROBE_TIMEOUT):
        data = real(path, timeout)
        data["format"]["duration"] = "0.000000"
        for s in data["streams"]:
            s["duration"] = "0.000000"
        return data
    monkeypatch.setattr(video_mod, "ffprobe_json", zero_durations)
    monkeypatch.setattr(et, "available", lambda: False)
    assert probe_video(streamed).duration is None


@needs_ffmpeg
@pytest.mark.parametrize("where", ["codec", "track"])
def test_damaged_matroska_keeps_the_duration_and_date_its_container_gives(tmp_path, where, caplog):
    if where == "track" and shutil.which("exiftool") is None:
        pytest.skip("ffprobe refuses this file: only exiftool reads its container")
    path = damaged_mkv(tmp_path / "clip.mkv", where=where)
    with caplog.at_level("WARNING", logger="pva.media.video"):
        m = probe_video(path)
    assert m.format == "mkv" and m.duration == pytest.approx(2.0, abs=0.05)
    assert m.creation_time == datetime(2021, 7, 4, 10, 11, 12, tzinfo=timezone.utc)
    assert m.codec is None and m.width is None
    assert any("streams could not be read" in w for w in m.warnings)
    assert "kept from its container alone" in caplog.text  # the reason is in the log too


@needs_ffmpeg
def test_damaged_matroska_without_a_date_is_still_refused(tmp_path):
    mf.make_video(tmp_path / "plain.mkv", duration=1, size=(96, 64))
    b = bytearray((tmp_path / "plain.mkv").read_bytes())
    entry = first_track_entry(b)
    b[entry:entry + 120] = b"\xff" * 120
    (tmp_path / "plain.mkv").write_bytes(bytes(b))
    with pytest.raises(CorruptMediaError, match="no video stream"):
        probe_video(tmp_path / "plain.mkv")
