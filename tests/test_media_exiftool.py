"""extract_photo agrees with exiftool (the reference reader, `exiftool -j -n -G1`) on camera make/model, date,
GPS (to 1e-5 degrees), orientation and displayed size: on every real camera file in ../shared and on generated
files covering all eight orientations and all four GPS hemispheres in several formats."""
from __future__ import annotations

import json
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

import media_fixtures as mf
from pva.media import MediaError, PhotoMeta, extract_photo

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None,
                                reason="exiftool is not installed (Debian package libimage-exiftool-perl)")

SAMPLES = mf.exif_samples_dir()
_PHOTO_SUFFIXES = {".jpg", ".jpeg", ".heic", ".tif", ".tiff", ".png", ".webp"}
CORRUPT = {"jpg/corrupted.jpg", "jpg/invalid/image00971.jpg", "jpg/invalid/image01137.jpg", "jpg/tests/35-empty.jpg"}


def _sample_params():
    if SAMPLES is None:
        return [pytest.param(None, marks=pytest.mark.skip(
            reason=f"{mf.EXIF_SAMPLES} is absent (../shared holds the real-camera fixtures)"))]
    files = sorted(p for p in SAMPLES.rglob("*") if p.suffix.lower() in _PHOTO_SUFFIXES)
    return [pytest.param(p, id=str(p.relative_to(SAMPLES))) for p in files]


def exiftool(paths: list[Path]) -> dict[str, dict]:
    """exiftool's numeric JSON with group names, keyed by file path."""
    out = subprocess.run(["exiftool", "-j", "-n", "-G1", "-q", "-q", *map(str, paths)],
                         capture_output=True, timeout=120, check=False)
    return {d["SourceFile"]: d for d in json.loads(out.stdout or b"[]")}


def _first(ref: dict, *keys):
    for k in keys:
        if ref.get(k) not in (None, ""):
            return ref[k]
    return None


def _ref_date(ref: dict) -> tuple[datetime, str | None] | None:
    """exiftool's date in the order extract_photo documents: EXIF DateTimeOriginal, CreateDate (digitized), then XMP
    exif:DateTimeOriginal, photoshop:DateCreated, xmp:CreateDate.  Returns (local time, offset text or None)."""
    for key, offset_key in (("ExifIFD:DateTimeOriginal", "ExifIFD:OffsetTimeOriginal"),
                            ("ExifIFD:CreateDate", "ExifIFD:OffsetTimeDigitized"),
                            ("XMP-exif:DateTimeOriginal", None), ("XMP-photoshop:DateCreated", None),
                            ("XMP-xmp:CreateDate", None)):
        value = ref.get(key)
        if not isinstance(value, str) or value.startswith("0000") or len(value) < 19:
            continue
        local = datetime.strptime(value[:19], "%Y:%m:%d %H:%M:%S")
        suffix = value[19:].lstrip(".0123456789")  # drop fractional seconds, keep '+02:00' / 'Z'
        offset = (ref.get(offset_key) if offset_key else None) or suffix or None
        return local, offset
    return None


def _offset_minutes(text: str) -> int:
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    hh, mm = text[1:].split(":")
    return sign * (int(hh) * 60 + int(mm))


def assert_agrees(m: PhotoMeta, ref: dict) -> int:
    """Compare every field that exiftool reports; returns how many fields were compared."""
    compared = 0
    make = _first(ref, "IFD0:Make", "XMP-tiff:Make")
    model = _first(ref, "IFD0:Model", "XMP-tiff:Model")
    if make is not None:
        assert m.camera_make == str(make).strip(), "make"
        compared += 1
    if model is not None:
        assert m.camera_model == str(model).strip(), "model"
        compared += 1
    date = _ref_date(ref)
    if date is not None:
        local, offset = date
        assert m.taken_at_local is not None and m.taken_at_local.replace(microsecond=0) == local, "date"
        if offset:
            assert m.taken_at_offset == _offset_minutes(offset), "date offset"
        compared += 1
    lat, lon = ref.get("Composite:GPSLatitude"), ref.get("Composite:GPSLongitude")
    if lat is None and ref.get("XMP-exif:GPSLatitude") is not None:
        lat, lon = ref.get("XMP-exif:GPSLatitude"), ref.get("XMP-exif:GPSLongitude")
    if isinstance(lat, (int, float)) and isinstance(lon, (int, float)):
        assert m.gps_lat == pytest.approx(lat, abs=1e-5), "latitude"
        assert m.gps_lon == pytest.approx(lon, abs=1e-5), "longitude"
        compared += 2
        alt = ref.get("Composite:GPSAltitude")
        if isinstance(alt, (int, float)):
            assert m.gps_alt == pytest.approx(alt, abs=1e-3), "altitude"
            compared += 1
    orientation = ref.get("IFD0:Orientation")
    if isinstance(orientation, int):
        assert m.orientation == orientation, "orientation"
        w, h = ref.get("File:ImageWidth"), ref.get("File:ImageHeight")
        if isinstance(w, int) and isinstance(h, int) and m.format not in ("heic", "heif", "avif"):
            # (HEIF: libheif applies the rotation itself and exiftool reports the coded, padded size)
            assert (m.width, m.height) == ((h, w) if orientation >= 5 else (w, h)), "displayed size"
        compared += 1
    return compared


@pytest.fixture(scope="module")
def sample_refs() -> dict[str, dict]:
    if SAMPLES is None:
        pytest.skip("../shared is absent")
    files = [p for p in SAMPLES.rglob("*") if p.suffix.lower() in _PHOTO_SUFFIXES]
    return exiftool(files)


@pytest.mark.parametrize("path", _sample_params())
def test_real_camera_files_agree_with_exiftool(path, sample_refs):
    ref = sample_refs[str(path)]
    rel = str(path.relative_to(SAMPLES))
    try:
        m = extract_photo(path)
    except MediaError as e:  # a clear refusal is acceptable only for the known-broken files
        assert rel in CORRUPT, f"{rel}: {e}"
        assert str(e)
        return
    assert_agrees(m, ref)


def test_sample_set_really_covers_make_date_and_gps(sample_refs):
    """Guard against a vacuous comparison: the samples include files with each field."""
    assert sum(1 for r in sample_refs.values() if "IFD0:Make" in r) >= 8
    assert sum(1 for r in sample_refs.values() if "Composite:GPSLatitude" in r) >= 4
    assert sum(1 for r in sample_refs.values() if "ExifIFD:DateTimeOriginal" in r) >= 8
    assert {r.get("IFD0:Orientation") for r in sample_refs.values()} >= set(range(1, 9))


@pytest.mark.parametrize("rel", sorted(CORRUPT))
def test_corrupt_samples_give_metadata_or_a_clear_error(rel):
    if SAMPLES is None:
        pytest.skip("../shared is absent")
    path = SAMPLES / rel
    try:
        m = extract_photo(path)
    except MediaError as e:
        assert "damaged" in str(e) or "not a supported" in str(e)
        return
    assert m.width and m.height
    json.dumps(m.to_dict())


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("exiftool-generated")
    files = []
    for o in range(1, 9):
        files.append(mf.make_oriented_jpeg(d / f"orientation_{o}.jpg", o, displayed_size=(96, 48),
                                           make="Pentax", model=f"K-{o}", taken=f"2021:0{o}:1{o} 0{o}:15:30"))
    for o in (3, 6, 8):
        files.append(mf.make_photo(d / f"heic_orientation_{o}.heic", "heic", size=(64, 32), orientation=o,
                                   make="Apple", model="iPhone 13", taken="2022:02:02 02:02:02"))
    for fmt in ("jpeg", "heic", "tiff", "webp", "png"):
        for i, (name, lat, lon, alt) in enumerate(mf.HEMISPHERES):
            files.append(mf.make_photo(d / f"gps_{name}.{fmt}", fmt, size=(48, 32), make="Samsung",
                                       model="SM-G991B", taken=f"2022:11:0{i + 1} 12:34:56",
                                       offset=["+01:00", "-04:00", "+10:00", "-03:00"][i], gps=(lat, lon, alt)))
    files.append(mf.make_jpeg(d / "xmp_only.jpg", xmp={"exif:GPSLatitude": "33,52.5S", "exif:GPSLongitude":
                                                        "151,12.75E", "xmp:CreateDate": "2019-06-07T08:09:10+10:00"}))
    return files


def test_generated_orientations_and_hemispheres_agree_with_exiftool(generated):
    refs = exiftool(generated)
    assert len(refs) == len(generated)
    total = 0
    for path in generated:
        m = extract_photo(path)
        try:
            n = assert_agrees(m, refs[str(path)])
        except AssertionError as e:
            raise AssertionError(f"{path.name}: {e}") from None
        assert n >= 3, f"{path.name}: exiftool reported too little to compare ({refs[str(path)]})"
        total += n
    orientations = {refs[str(p)].get("IFD0:Orientation") for p in generated if p.name.startswith("orientation_")}
    assert orientations == set(range(1, 9))
    signs = {(refs[str(p)]["Composite:GPSLatitude"] > 0, refs[str(p)]["Composite:GPSLongitude"] > 0)
             for p in generated if p.name.startswith("gps_")}
    assert signs == {(True, True), (True, False), (False, True), (False, False)}
    assert total > 100
