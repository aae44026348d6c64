"""Photo metadata from generated files: every field, XMP fallbacks, malformed EXIF, pixel limits, raw sanitising."""
from __future__ import annotations

import json
import struct
from datetime import datetime, timedelta, timezone

import piexif
import pytest
from PIL import Image

import media_fixtures as mf
from pva.config import reload_settings
from pva.media import (CorruptMediaError, ImageTooLargeError, MediaError, UnsupportedFormatError, extract_photo,
                       make_thumbnails)


@pytest.fixture
def settings_env(monkeypatch):
    """Set PVA_* variables for one test; the settings object is reloaded before and after."""
    def apply(**env):
        for k, v in env.items():
            monkeypatch.setenv(k, str(v))
        return reload_settings()
    yield apply
    monkeypatch.undo()
    reload_settings()


def test_all_fields_come_from_exif(tmp_path):
    path = mf.make_jpeg(tmp_path / "a.jpg", size=(120, 80), make="Canon", model="Canon EOS R5", lens="RF24-105mm F4 L",
                        taken="2024:05:01 10:20:30", offset="+02:00", gps=(48.858222, 2.2945, 35.5),
                        orientation=1, iso=400, f_number=4.0, exposure=(1, 250), focal_length=50.0)
    m = extract_photo(path)
    assert (m.format, m.mime, m.width, m.height) == ("jpeg", "image/jpeg", 120, 80)
    assert (m.camera_make, m.camera_model, m.lens) == ("Canon", "Canon EOS R5", "RF24-105mm F4 L")
    assert m.taken_at_local == datetime(2024, 5, 1, 10, 20, 30)
    assert m.taken_at_offset == 120
    assert m.taken_at == datetime(2024, 5, 1, 8, 20, 30, tzinfo=timezone.utc)
    assert m.taken_at.utcoffset() == timedelta(hours=2)
    assert m.gps_lat == pytest.approx(48.858222, abs=1e-6) and m.gps_lon == pytest.approx(2.2945, abs=1e-6)
    assert m.gps_alt == pytest.approx(35.5)
    assert (m.orientation, m.iso, m.f_number, m.focal_length) == (1, 400, 4.0, 50.0)
    assert m.exposure_time == pytest.approx(0.004)
    assert m.warnings == []
    d = m.to_dict()
    json.dumps(d)  # the whole result, raw included, is JSON-serialisable
    assert d["taken_at"] == "2024-05-01T10:20:30+02:00"
    assert d["raw"]["exif"]["Make"] == "Canon" and d["raw"]["gps"]["GPSLatitudeRef"] == "N"


def test_no_offset_gives_naive_local_time_and_digitized_is_the_fallback(tmp_path):
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", taken="2020:02:29 23:59:59"))
    assert m.taken_at == datetime(2020, 2, 29, 23, 59, 59) and m.taken_at.tzinfo is None
    assert m.taken_at_offset is None
    m = extract_photo(mf.make_jpeg(tmp_path / "b.jpg", taken="0000:00:00 00:00:00", digitized="2019:01:02 03:04:05"))
    assert m.taken_at_local == datetime(2019, 1, 2, 3, 4, 5)
    assert any("DateTimeOriginal '0000:00:00 00:00:00' is not a valid date" in w for w in m.warnings)


@pytest.mark.parametrize("name,lat,lon,alt", mf.HEMISPHERES)
def test_gps_signs_follow_the_hemisphere_refs(tmp_path, name, lat, lon, alt):
    m = extract_photo(mf.make_jpeg(tmp_path / f"{name}.jpg", gps=(lat, lon, alt)))
    assert m.gps_lat == pytest.approx(lat, abs=1e-6)
    assert m.gps_lon == pytest.approx(lon, abs=1e-6)
    assert m.gps_alt == pytest.approx(alt, abs=1e-3)  # AltitudeRef 1 (below sea level) gives a negative altitude


def test_gps_without_refs_is_taken_as_north_east_with_a_warning(tmp_path):
    exif = mf.build_exif(extra_gps=mf.gps_ifd(-33.5, -70.25, with_refs=False))
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", exif=exif))
    assert m.gps_lat == pytest.approx(33.5) and m.gps_lon == pytest.approx(70.25)
    assert any("no valid N/S reference" in w for w in m.warnings)
    assert any("no valid E/W reference" in w for w in m.warnings)


def test_gps_zero_denominators_do_not_crash(tmp_path):
    G = piexif.GPSIFD
    # seconds written as 0/0 ("unknown"): the position is degrees + minutes
    ok = {G.GPSLatitudeRef: b"S", G.GPSLatitude: ((10, 1), (30, 1), (0, 0)),
          G.GPSLongitudeRef: b"W", G.GPSLongitude: ((20, 1), (15, 1), (0, 0)), G.GPSAltitude: (0, 0)}
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", exif=mf.build_exif(extra_gps=ok)))
    assert (m.gps_lat, m.gps_lon, m.gps_alt) == (pytest.approx(-10.5), pytest.approx(-20.25), None)
    # degrees x/0: unusable, dropped with a warning
    bad = {G.GPSLatitudeRef: b"N", G.GPSLatitude: ((10, 0), (30, 1), (0, 1)),
           G.GPSLongitudeRef: b"E", G.GPSLongitude: ((20, 1), (15, 1), (0, 1))}
    m = extract_photo(mf.make_jpeg(tmp_path / "b.jpg", exif=mf.build_exif(extra_gps=bad)))
    assert m.gps_lat is None and m.gps_lon is None
    assert any("zero denominator" in w for w in m.warnings)


def test_out_of_range_and_null_island_gps_are_ignored(tmp_path):
    G = piexif.GPSIFD
    far = {G.GPSLatitudeRef: b"N", G.GPSLatitude: ((95, 1), (0, 1), (0, 1)),
           G.GPSLongitudeRef: b"E", G.GPSLongitude: ((20, 1), (0, 1), (0, 1))}
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", exif=mf.build_exif(extra_gps=far)))
    assert m.gps_lat is None and any("out of range" in w for w in m.warnings)
    m = extract_photo(mf.make_jpeg(tmp_path / "b.jpg", gps=(0.0, 0.0)))
    assert m.gps_lat is None and any("0,0" in w for w in m.warnings)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_width_and_height_are_as_displayed_for_all_orientations(tmp_path, orientation):
    path = mf.make_oriented_jpeg(tmp_path / f"o{orientation}.jpg", orientation, displayed_size=(80, 40))
    stored = Image.open(path).size
    assert stored == ((40, 80) if orientation >= 5 else (80, 40))
    m = extract_photo(path)
    assert m.orientation == orientation
    assert (m.width, m.height) == (80, 40)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_heic_is_rotated_by_the_decoder_and_reports_the_file_orientation(tmp_path, orientation):
    path = mf.make_photo(tmp_path / "a.heic", "heic", size=(80, 40), orientation=orientation)
    m = extract_photo(path)
    assert m.orientation == orientation
    assert (m.width, m.height) == ((40, 80) if orientation in (6, 8) else (80, 40))


def test_invalid_orientation_is_ignored_with_a_warning(tmp_path):
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", size=(80, 40), orientation=9))
    assert m.orientation is None and (m.width, m.height) == (80, 40)
    assert any("orientation 9" in w for w in m.warnings)


def test_xmp_supplies_date_gps_and_camera_when_exif_has_none(tmp_path):
    path = mf.make_jpeg(tmp_path / "a.jpg", xmp={
        "exif:GPSLatitude": "51,30.5N", "exif:GPSLongitude": "0,7,30W", "exif:GPSAltitude": "1234/100",
        "exif:GPSAltitudeRef": "1", "xmp:CreateDate": "2013-09-23T10:09:46+02:00",
        "tiff:Make": "Phase One", "tiff:Model": "IQ4", "aux:Lens": "Schneider 80mm"})
    m = extract_photo(path)
    assert m.gps_lat == pytest.approx(51.508333, abs=1e-6)
    assert m.gps_lon == pytest.approx(-0.125, abs=1e-9)
    assert m.gps_alt == pytest.approx(-12.34)
    assert m.taken_at_local == datetime(2013, 9, 23, 10, 9, 46) and m.taken_at_offset == 120
    assert (m.camera_make, m.camera_model, m.lens) == ("Phase One", "IQ4", "Schneider 80mm")
    assert m.raw["xmp"]["exif:GPSLatitude"] == "51,30.5N"


def test_xmp_photoshop_date_is_used_and_exif_wins_over_xmp(tmp_path):
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", xmp={"photoshop:DateCreated": "2001-02-03T04:05:06"}))
    assert m.taken_at_local == datetime(2001, 2, 3, 4, 5, 6) and m.taken_at_offset is None
    both = mf.make_jpeg(tmp_path / "b.jpg", taken="2010:01:01 12:00:00", gps=(10.0, 20.0),
                        xmp={"exif:DateTimeOriginal": "2010-01-01T12:00:00-03:00", "exif:GPSLatitude": "5,0N",
                             "exif:GPSLongitude": "5,0E"})
    m = extract_photo(both)
    assert m.taken_at_local == datetime(2010, 1, 1, 12, 0, 0)
    assert m.taken_at_offset == -180  # the XMP copy of the same moment gives the zone the EXIF date lacks
    assert (m.gps_lat, m.gps_lon) == (pytest.approx(10.0), pytest.approx(20.0))


def test_a_full_xmp_date_wins_over_a_date_without_a_time_of_day(tmp_path):
    """photoshop:DateCreated often holds only the day; xmp:CreateDate the moment (exiftool prefers it too)."""
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", xmp={"photoshop:DateCreated": "2003-08-31",
                                                            "xmp:CreateDate": "2005-12-17T22:03:32Z"}))
    assert m.taken_at_local == datetime(2005, 12, 17, 22, 3, 32) and m.taken_at_offset == 0
    m = extract_photo(mf.make_jpeg(tmp_path / "b.jpg", xmp={"photoshop:DateCreated": "2003-08-31"}))
    assert m.taken_at == datetime(2003, 8, 31) and m.taken_at_offset is None  # the day alone is still a date


def test_a_nul_ends_an_exif_string(tmp_path):
    """Cameras leave the rest of their buffer after the NUL (WWL/Polaroid ION230 writes 'ION230\\0F')."""
    exif = mf.build_exif(extra_0th={piexif.ImageIFD.Make: b"WWL\x00\x00junk", piexif.ImageIFD.Model: b"ION230\x00F",
                                    piexif.ImageIFD.Orientation: 1})
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", exif=exif))
    assert (m.camera_make, m.camera_model) == ("WWL", "ION230")


def test_hostile_xmp_is_refused_without_expanding_entities(tmp_path):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
            b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            b'<rdf:Description xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreateDate="&b;"/></rdf:RDF>'
            b'</x:xmpmeta>')
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", xmp=bomb, make="Nikon"))
    assert m.camera_make == "Nikon" and m.taken_at is None
    assert any("invalid XMP" in w for w in m.warnings)
    m = extract_photo(mf.make_jpeg(tmp_path / "b.jpg", xmp=b"<x:xmpmeta><rdf:RDF>unclosed"))
    assert any("XMP" in w for w in m.warnings)


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff", "heic"])
def test_exif_is_read_from_other_photo_formats(tmp_path, fmt):
    m = extract_photo(mf.make_photo(tmp_path / f"a.{fmt}", fmt, size=(64, 32), make="Apple", model="iPhone 15",
                                    taken="2023:12:24 18:30:00", offset="-05:00", gps=(-22.95, -43.21, 12.0)))
    assert (m.format, m.width, m.height) == (fmt, 64, 32)
    assert (m.camera_make, m.camera_model) == ("Apple", "iPhone 15")
    assert m.taken_at == datetime(2023, 12, 24, 18, 30, tzinfo=timezone(timedelta(hours=-5)))
    assert (m.gps_lat, m.gps_lon) == (pytest.approx(-22.95, abs=1e-6), pytest.approx(-43.21, abs=1e-6))


def test_gif_and_animated_gif_have_dimensions_and_no_exif(tmp_path):
    m = extract_photo(mf.make_animated_gif(tmp_path / "a.gif", frames=3, size=(40, 30)))
    assert (m.format, m.width, m.height, m.camera_make) == ("gif", 40, 30, None)
    assert m.raw["image"]["frames"] == 3


def test_strings_are_sanitised_and_bytes_summarised_in_raw(tmp_path):
    exif = mf.build_exif(make="Cam\x07era\x01", model="M" * 5000,
                         extra_0th={piexif.ImageIFD.ImageDescription: b"desc\x00\x00junk"},
                         extra_exif={piexif.ExifIFD.MakerNote: bytes(range(256)) * 20,
                                     piexif.ExifIFD.UserComment: b"\x00\x01\x02binary\xff\xfe" * 10})
    m = extract_photo(mf.make_jpeg(tmp_path / "a.jpg", exif=exif))
    assert m.camera_make == "Camera"
    assert len(m.camera_model) <= 501
    raw = m.raw["exif"]
    assert raw["MakerNote"] == {"bytes": 5120}
    assert isinstance(raw["UserComment"], dict) and raw["UserComment"]["bytes"] == 110
    assert "\x00" not in json.dumps(m.raw) and len(raw["Model"]) <= 2001
    json.dumps(m.to_dict())


def _tiff_exif(entries: list[tuple[int, int, int, bytes]], ifd_offset: int = 8, extra: bytes = b"") -> bytes:
    """Raw little-endian EXIF ('Exif\\0\\0' + TIFF) with one IFD of (tag, type, count, 4-byte value) entries."""
    ifd = struct.pack("<H", len(entries)) + b"".join(struct.pack("<HHI", t, ty, c) + v for t, ty, c, v in entries)
    return b"Exif\x00\x00" + b"II*\x00" + struct.pack("<I", ifd_offset) + ifd + b"\x00\x00\x00\x00" + extra


@pytest.mark.parametrize("exif,case,noticed", [
    (b"Exif\x00\x00" + bytes(range(7, 200)), "garbage after the header", True),
    (b"Exif\x00\x00II*\x00\xff\xff\xff\x7f", "IFD offset far past the end", True),
    (_tiff_exif([(0x010F, 2, 0x7FFFFFFF, struct.pack("<I", 26))]), "huge string count", True),
    (_tiff_exif([(0x8769, 4, 1, struct.pack("<I", 8))]), "Exif IFD pointing back at IFD0 (a loop)", False),
    (_tiff_exif([(0x8825, 4, 1, struct.pack("<I", 0xFFFFFF))]), "GPS IFD pointing nowhere", True),
    (_tiff_exif([(0x0112, 3, 1, b"\x06\x00\x00\x00")] * 3000), "thousands of entries", False),
    (b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\xff\xff", "truncated big-endian IFD", True),
])
def test_malformed_exif_gives_partial_metadata_not_a_crash(tmp_path, exif, case, noticed):
    path = mf.make_jpeg(tmp_path / "a.jpg", size=(60, 30), exif=exif)
    m = extract_photo(path)
    assert m.format == "jpeg" and {m.width, m.height} == {60, 30}, case
    json.dumps(m.to_dict())
    if noticed:
        assert m.warnings, case  # what Pillow noticed is reported, not swallowed
    assert make_thumbnails(path, {"t": 32})["t"][:3] == b"\xff\xd8\xff"


def test_exif_larger_than_the_setting_is_skipped_with_a_warning(tmp_path, settings_env):
    path = mf.make_jpeg(tmp_path / "a.jpg", make="Canon", extra_exif={piexif.ExifIFD.MakerNote: b"x" * 4000})
    settings_env(PVA_MAX_EXIF_BYTES=1000)
    m = extract_photo(path)
    assert m.camera_make is None and any("over the 1000-byte limit" in w for w in m.warnings)


def test_pixel_limit_from_settings_refuses_decompression_bombs(tmp_path, settings_env):
    path = tmp_path / "big.png"
    Image.new("L", (2000, 1500)).save(path)  # 3 MP of zeros: a few KB on disk
    settings_env(PVA_MAX_IMAGE_PIXELS=1_000_000)
    with pytest.raises(ImageTooLargeError, match=r"2000x1500 = 3.0 megapixels, over the limit of 1.0 megapixels"):
        extract_photo(path)
    with pytest.raises(ImageTooLargeError, match="PVA_MAX_IMAGE_PIXELS"):
        make_thumbnails(path)
    assert extract_photo(path, max_pixels=5_000_000).width == 2000  # an explicit limit overrides the setting
    assert Image.MAX_IMAGE_PIXELS is None or Image.MAX_IMAGE_PIXELS >= 89_478_485  # Pillow's guard never lowered


def test_truncated_and_empty_files_give_clear_errors(tmp_path):
    good = mf.make_jpeg(tmp_path / "good.jpg", size=(400, 300), make="Sony")
    head_only = mf.truncated_copy(good, tmp_path / "cut.jpg", keep=0.6)
    m = extract_photo(head_only)  # the header and EXIF are intact: metadata still comes out
    assert m.camera_make == "Sony"
    with pytest.raises(CorruptMediaError, match="damaged or truncated"):
        make_thumbnails(head_only)
    with pytest.raises(CorruptMediaError, match="cannot read this JPEG image"):
        extract_photo(mf.truncated_copy(good, tmp_path / "tiny.jpg", keep=40))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(UnsupportedFormatError, match="empty file"):
        extract_photo(empty)


def test_non_photos_are_refused_with_the_reason(tmp_path):
    z = tmp_path / "photo.jpg"
    z.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    with pytest.raises(UnsupportedFormatError, match=r"not a supported photo or video format \(looks like a ZIP"):
        extract_photo(z)
    if mf.ffmpeg_available():
        v = mf.make_video(tmp_path / "v.mp4", duration=0.2, size=(32, 32))
        with pytest.raises(UnsupportedFormatError, match="video, not a photo"):
            extract_photo(v)
    assert issubclass(UnsupportedFormatError, MediaError) and issubclass(MediaError, ValueError)
