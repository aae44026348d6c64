"""extract_photo agrees with exiftool (the reference reader, `exiftool -j -n -G1`) on camera make/model, date,
GPS (to 1e-5 degrees), orientation and displayed size: on every real camera file in ../shared and on generated
files covering all eight orientations, all four GPS hemispheres in several formats, and the places only exiftool
reads (maker notes, APP12 picture info, Canon's CIFF block).  Then pva.media.exiftool itself: one long-lived
process per worker process, thread-safe, bounded in time, restarted when it dies."""
from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

import media_fixtures as mf
from pva.media import MediaError, MediaTimeoutError, MediaToolError, PhotoMeta, extract_photo
from pva.media.exiftool import ExifTool
from test_media_metadata_gaps import ciff_jpeg, picture_info_jpeg, reconyx_jpeg

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


def _any_group(ref: dict, tag: str):
    """``tag`` from whichever group exiftool found it in (maker notes, CIFF, APP12 ...), not the file system's."""
    for key, value in ref.items():
        group, _, name = key.rpartition(":")
        if name == tag and group not in ("File", "System", "Composite", "ExifTool") and value not in (None, ""):
            return value
    return None


def _ref_date(ref: dict) -> tuple[datetime, str | None] | None:
    """exiftool's date in the order extract_photo documents: EXIF DateTimeOriginal, CreateDate (digitized), then XMP
    exif:DateTimeOriginal, photoshop:DateCreated, xmp:CreateDate, then a DateTimeOriginal from anywhere else (maker
    notes, APP12, CIFF).  Returns (local time, offset text or None)."""
    for key, offset_key in (("ExifIFD:DateTimeOriginal", "ExifIFD:OffsetTimeOriginal"),
                            ("ExifIFD:CreateDate", "ExifIFD:OffsetTimeDigitized"),
                            ("XMP-exif:DateTimeOriginal", None), ("XMP-photoshop:DateCreated", None),
                            ("XMP-xmp:CreateDate", None), ("*:DateTimeOriginal", None)):
        value = _any_group(ref, "DateTimeOriginal") if key.startswith("*") else ref.get(key)
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
    make = _first(ref, "IFD0:Make", "XMP-tiff:Make") or _any_group(ref, "Make")
    model = _first(ref, "IFD0:Model", "XMP-tiff:Model") or _any_group(ref, "Model")
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
    files.append(reconyx_jpeg(d / "maker_notes_reconyx.jpg", datetime(2020, 3, 16, 10, 0, 0)))
    files.append(picture_info_jpeg(d / "maker_notes_app12.jpg", 909698819))
    files.append(ciff_jpeg(d / "maker_notes_ciff.jpg", b"Canon", b"Canon PowerShot A5", 972687386))
    files.append(mf.make_jpeg(d / "maker_notes_nul.jpg", exif=mf.build_exif(
        extra_0th={0x010F: b"WWL\x00", 0x0110: b"ION230\x00F"}, taken="2009:10:11 12:13:14")))
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
        least = 1 if path.name == "maker_notes_app12.jpg" else 3  # (a date alone: no EXIF, no make)
        assert n >= least, f"{path.name}: exiftool reported too little to compare ({refs[str(path)]})"
        total += n
    orientations = {refs[str(p)].get("IFD0:Orientation") for p in generated if p.name.startswith("orientation_")}
    assert orientations == set(range(1, 9))
    signs = {(refs[str(p)]["Composite:GPSLatitude"] > 0, refs[str(p)]["Composite:GPSLongitude"] > 0)
             for p in generated if p.name.startswith("gps_")}
    assert signs == {(True, True), (True, False), (False, True), (False, False)}
    assert total > 100


# ------------------------------------------------------------------------------------------------ the process
@pytest.fixture
def tool():
    t = ExifTool()
    yield t
    t.close()


@pytest.fixture(scope="module")
def three_photos(tmp_path_factory) -> list[Path]:
    d = tmp_path_factory.mktemp("exiftool-process")
    return [mf.make_jpeg(d / f"p{i}.jpg", make="Pentax", model=f"K-{i}", taken=f"2021:01:0{i + 1} 10:00:00")
            for i in range(3)]


def test_one_process_answers_many_files(tool, three_photos):
    models = [tool.read(p, ["Model"])["IFD0:Model"] for p in three_photos * 3]
    assert models == ["K-0", "K-1", "K-2"] * 3
    assert tool.starts == 1 and tool.pid is not None
    assert tool.read(three_photos[0].with_name("missing.jpg")) == {}  # no such file: nothing, not an error
    assert tool.starts == 1


def test_a_killed_exiftool_is_restarted_on_the_next_call(tool, three_photos):
    assert tool.read(three_photos[0], ["Model"])["IFD0:Model"] == "K-0"
    os.kill(tool.pid, signal.SIGKILL)
    time.sleep(0.2)
    assert tool.read(three_photos[1], ["Model"])["IFD0:Model"] == "K-1"
    assert tool.starts == 2


def test_threads_share_one_process_without_mixing_answers(tool, three_photos):
    results: dict[int, list[str]] = {}

    def work(i: int) -> None:
        results[i] = [tool.read(three_photos[(i + k) % 3], ["Model"])["IFD0:Model"] for k in range(6)]

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: [f"K-{(i + k) % 3}" for k in range(6)] for i in range(4)}
    assert tool.starts == 1


def _read_in_child(tool: ExifTool, path: Path, queue) -> None:
    queue.put((tool.read(path, ["Model"]).get("IFD0:Model"), tool.pid))


def test_a_forked_worker_starts_its_own_process(tool, three_photos):
    tool.read(three_photos[0], ["Model"])
    parent_pid = tool.pid
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(tool, three_photos[2], queue))
    child.start()
    model, child_exiftool = queue.get(timeout=60)
    child.join(30)
    assert model == "K-2" and child_exiftool not in (None, parent_pid)
    assert tool.read(three_photos[1], ["Model"])["IFD0:Model"] == "K-1" and tool.pid == parent_pid


@pytest.mark.parametrize("name", ["new\nline.jpg", "#hash.jpg", " lead space.jpg", "back\\slash\t.jpg",
                                  "-dash.jpg", "ünïcode €.jpg"])
def test_file_names_that_an_argument_file_cannot_carry_plainly(tool, three_photos, tmp_path, name):
    path = tmp_path / name
    shutil.copy(three_photos[0], path)
    data = tool.read(path, ["Model"])
    assert data["SourceFile"] == str(path) and data["IFD0:Model"] == "K-0"


def _fake_exiftool(tmp_path: Path, body: str) -> str:
    script = tmp_path / "fake-exiftool"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_a_file_that_takes_too_long_is_bounded_and_the_process_replaced(tmp_path, three_photos):
    slow = ExifTool(executable=_fake_exiftool(tmp_path, "exec sleep 60"), timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(MediaTimeoutError, match="took longer than 0.5 s"):
        slow.read(three_photos[0])
    assert time.monotonic() - t0 < 5 and slow.pid is None  # killed, not left running
    with pytest.raises(MediaTimeoutError):
        slow.read(three_photos[0])
    assert slow.starts == 2


def test_an_exiftool_that_keeps_dying_is_a_tool_error(tmp_path, three_photos):
    dying = ExifTool(executable=_fake_exiftool(tmp_path, "exit 3"))
    with pytest.raises(MediaToolError, match="exiftool"):
        dying.read(three_photos[0])
    assert dying.starts == 2  # one retry with a new process, then the error
    with pytest.raises(MediaToolError, match="not installed"):
        ExifTool(executable=str(tmp_path / "nowhere")).read(three_photos[0])


def test_exiftool_ends_with_its_worker_process(tmp_path, three_photos):
    """A worker that dies without closing exiftool must not leave it polling its closed stdin forever."""
    code = ("import sys, os; sys.path.insert(0, %r); from pva.media.exiftool import ExifTool; t = ExifTool(); "
            "t.read(%r); print(t.pid, flush=True); os._exit(0)" % (str(Path(__file__).parents[1]),
                                                                    str(three_photos[0])))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    pid = int(out.stdout.strip())
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail("exiftool outlived its worker process")


def test_a_tag_value_that_looks_like_the_ready_line_does_not_end_the_answer(tool, tmp_path):
    """The answer ends at exiftool's own '{readyN}' line; the numbers are predictable, so a file may carry one."""
    tool.read(mf.make_jpeg(tmp_path / "warm.jpg", make="x"), ["Make"])  # the next command is {ready2}
    path = mf.make_jpeg(tmp_path / "sly.jpg", make="{ready2}", model="{ready2}\n{ready2}")
    data = tool.read(path, ["Make", "Model"])
    assert data["IFD0:Make"] == "{ready2}" and data["SourceFile"] == str(path)
    assert tool.read(path, ["Make"])["IFD0:Make"] == "{ready2}"  # and the conversation is still in step
