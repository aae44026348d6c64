"""Camera RAW photos without services: sniffing by content (DNG, CR2, CR3, NEF, ARW, ORF, RW2, RAF; a TIFF-based RAW
is not a TIFF and a TIFF is not a RAW), metadata through the photo reader, thumbnails and load_image from the
embedded preview or a LibRaw demosaic with the orientation applied, the pixel limit, and damaged files refused with a
reason.  The DNGs are generated (tests/raw_samples.py) and opened by the real LibRaw."""
from __future__ import annotations

import io
import shutil

import pytest
from PIL import Image

import media_fixtures as mf
import raw_samples as rs

pytest.importorskip("rawpy", reason="rawpy (LibRaw) is not installed: pip install rawpy")
needs_exiftool = pytest.mark.skipif(not shutil.which("exiftool"),
                                    reason="exiftool is not installed (Debian libimage-exiftool-perl)")


def corners(im: Image.Image) -> dict[str, tuple[int, int, int]]:
    w, h = im.size
    im = im.convert("RGB")
    return {"top_left": im.getpixel((w // 4, h // 4)), "top_right": im.getpixel((3 * w // 4, h // 4)),
            "bottom_left": im.getpixel((w // 4, 3 * h // 4)), "bottom_right": im.getpixel((3 * w // 4, 3 * h // 4))}


def assert_corner_picture(im: Image.Image, size: tuple[int, int]) -> None:
    assert im.size == size
    for name, got in corners(im).items():
        want = mf.CORNERS[name]
        assert all(abs(a - b) <= 40 for a, b in zip(got, want)), (name, got, want)


# ---------------------------------------------------------------------------------------------- sniffing
@pytest.mark.parametrize("fmt,mime", [("cr2", "image/x-canon-cr2"), ("cr3", "image/x-canon-cr3"),
                                      ("orf", "image/x-olympus-orf"), ("orf-s", "image/x-olympus-orf"),
                                      ("rw2", "image/x-panasonic-rw2"), ("raf", "image/x-fuji-raf")])
def test_raw_formats_with_their_own_signature_are_recognised_as_photos(fmt, mime):
    from pva.media.detect import detect_format

    info = detect_format(rs.raw_header(fmt))
    assert info is not None and info.kind == "photo" and info.mime == mime
    assert info.format == fmt.split("-")[0]


def test_tiff_based_raws_are_told_apart_from_tiffs_by_their_ifds(tmp_path):
    from pva.media.detect import detect_format, unsupported_reason

    def sniff(p):
        return detect_format(p.read_bytes())

    assert sniff(rs.make_dng(tmp_path / "a.tif")).format == "dng"  # the extension is no hint at all
    assert sniff(rs.make_tiff_raw(tmp_path / "b.dat")).format == "nef"
    assert sniff(rs.make_tiff_raw(tmp_path / "c.dat", make="SONY", compression=32767)).format == "arw"
    assert sniff(rs.make_tiff_raw(tmp_path / "d.dat", make="SONY", compression=1, dng=True)).format == "dng"
    # a scan or export naming a camera maker is a plain TIFF, and opens as one
    assert sniff(rs.make_plain_tiff(tmp_path / "e.nef")).format == "tiff"
    assert sniff(rs.make_plain_tiff(tmp_path / "f.dng", make=None)).format == "tiff"
    # another maker's RAW is refused by name, not taken for a TIFF that then fails to decode
    pef = rs.make_tiff_raw(tmp_path / "g.pef", make="PENTAX", compression=65535)
    assert sniff(pef) is None
    assert "PENTAX RAW photo" in unsupported_reason(pef.read_bytes())


def test_supported_formats_name_the_raw_formats():
    from pva.media.detect import RAW_FORMATS, SUPPORTED_FORMATS, unsupported_reason

    assert set(RAW_FORMATS) <= set(SUPPORTED_FORMATS)
    assert "NEF" in unsupported_reason(b"%PDF-1.7")


# ---------------------------------------------------------------------------------------------- metadata
@needs_exiftool
def test_dng_metadata_comes_from_the_photo_reader_with_the_sensor_size(tmp_path):
    from pva.media import extract_photo

    p = rs.make_dng(tmp_path / "shot.dng", size=(96, 64), orientation=6, gps=(-33.8568, 151.2153), iso=800,
                    make="Nikon", model="Z 9", taken="2023:12:24 18:30:05", offset="+11:00")
    m = extract_photo(p)
    assert (m.format, m.mime) == ("dng", "image/x-adobe-dng")
    assert (m.camera_make, m.camera_model) == ("Nikon", "Z 9")
    assert m.taken_at.isoformat() == "2023-12-24T18:30:05+11:00" and m.taken_at_offset == 660
    assert m.gps_lat == pytest.approx(-33.8568, abs=1e-4) and m.gps_lon == pytest.approx(151.2153, abs=1e-4)
    assert m.orientation == 6 and (m.width, m.height) == (96, 64)  # displayed: the sensor stores 64x96
    assert m.raw["image"]["sensor"] == [64, 96] and m.raw["image"]["preview"].startswith("jpeg")
    assert (m.iso, m.f_number, m.exposure_time, m.focal_length) == (800, 2.8, 0.004, 50.0)
    assert m.warnings == []


def test_without_exiftool_a_raw_still_has_its_size_orientation_and_says_what_is_missing(tmp_path, monkeypatch):
    from pva.media import exiftool, extract_photo

    monkeypatch.setattr(exiftool, "available", lambda: False)
    m = extract_photo(rs.make_dng(tmp_path / "x.dng", size=(96, 64), orientation=6))
    assert (m.width, m.height, m.orientation, m.camera_make, m.taken_at) == (96, 64, 6, None, None)
    assert any("exiftool is not installed" in w for w in m.warnings)


def test_dng_without_date_or_gps_gives_none_not_an_error(tmp_path):
    from pva.media import extract_photo

    m = extract_photo(rs.make_dng(tmp_path / "plain.dng", taken=None, offset=None, gps=None))
    assert m.taken_at is None and m.gps_lat is None and m.width == 96


# ---------------------------------------------------------------------------------------------- pixels
@needs_exiftool
@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("preview", [1200, None], ids=["preview", "demosaic"])
def test_thumbnails_of_a_dng_show_the_picture_upright(tmp_path, orientation, preview):
    from pva.media import extract_photo, make_thumbnails

    p = rs.make_dng(tmp_path / "o.dng", size=(96, 64), orientation=orientation, preview=preview)
    m = extract_photo(p)
    assert (m.orientation, m.width, m.height) == (orientation, 96, 64) and m.warnings == []
    thumbs = make_thumbnails(p, sizes={"thumb": 48, "preview": 600})
    grid = Image.open(io.BytesIO(thumbs["thumb"]))
    assert grid.format == "JPEG"
    assert_corner_picture(grid, (48, 32))
    big = Image.open(io.BytesIO(thumbs["preview"]))
    # from the embedded preview: the preview's resolution; from the demosaic: never upscaled past the sensor
    assert_corner_picture(big, (600, 400) if preview else (96, 64))


def test_the_embedded_preview_is_used_when_large_enough_else_the_sensor_data(tmp_path):
    from pva.media.raw import decode

    big = rs.make_dng(tmp_path / "big.dng", size=(400, 300), preview=1200)
    small = rs.make_dng(tmp_path / "small.dng", size=(400, 300), preview=200)
    none = rs.make_dng(tmp_path / "none.dng", size=(400, 300), preview=None)
    im, how = decode(big)
    assert how == "preview" and im.size == (1200, 900)
    im, how = decode(small)  # 200 px is smaller than the sensor image and than PREVIEW_MIN_SIDE
    assert how == "demosaic"
    assert_corner_picture(im, (400, 300))
    im, how = decode(none, max_side=100)  # half-size demosaic, then fitted
    assert how == "demosaic" and max(im.size) == 100
    assert_corner_picture(im, (100, 75))


def test_load_image_decodes_a_raw_from_a_path_bytes_or_a_file(tmp_path):
    from pva.media.image import load_image

    p = rs.make_dng(tmp_path / "x.dng", size=(96, 64), orientation=8)
    assert_corner_picture(load_image(str(p), rgb=True), (1200, 800))
    assert_corner_picture(load_image(p.read_bytes(), rgb=True, max_side=300), (300, 200))
    with open(p, "rb") as f:
        img = load_image(f, rgb=True, draft=(100, 100))
    assert img.mode == "RGB" and img.size == (150, 100)  # the 1200x800 preview decoded at 1/8 (DCT scaling)


def test_the_pixel_limit_counts_the_sensor_image(tmp_path):
    from pva.errors import BadInput
    from pva.media import ImageTooLargeError, check_image_header, make_thumbnails

    p = rs.make_dng(tmp_path / "x.dng", size=(400, 300))
    assert check_image_header(p) == (400, 300)
    assert check_image_header(p.read_bytes()[:65536]) is None  # an upload's head: the decoder checks later
    with pytest.raises(ImageTooLargeError, match="PVA_MAX_IMAGE_PIXELS"):
        check_image_header(p, max_pixels=100_000)
    with pytest.raises(ImageTooLargeError):
        make_thumbnails(p, max_pixels=100_000)
    from pva.media.image import load_image

    with pytest.raises(BadInput, match="too large"):
        load_image(p.read_bytes(), max_pixels=100_000)


# ---------------------------------------------------------------------------------------------- bad files
def test_a_raw_cut_short_is_refused_with_a_reason_even_when_its_preview_survives(tmp_path):
    from pva.media import CorruptMediaError, extract_photo

    p = rs.make_dng(tmp_path / "cut.dng", size=(400, 300), preview=1200)
    data = p.read_bytes()
    p.write_bytes(data[:len(data) - 100_000])
    with pytest.raises(CorruptMediaError, match="damaged or truncated") as e:
        extract_photo(p)
    assert str(tmp_path) not in str(e.value)


def test_a_raw_without_preview_and_undecodable_sensor_data_gets_a_reason(tmp_path):
    from pva.errors import BadInput
    from pva.media import CorruptMediaError, make_thumbnails
    from pva.media.image import load_image

    p = rs.make_dng(tmp_path / "bad.dng", size=(400, 300), preview=None)
    data = p.read_bytes()
    p.write_bytes(data[:len(data) // 2])
    with pytest.raises(CorruptMediaError, match="no usable preview") as e:
        make_thumbnails(p)
    assert str(tmp_path) not in str(e.value)
    with pytest.raises(BadInput, match="no usable preview"):
        load_image(p.read_bytes())


def test_a_raw_header_with_nothing_behind_it_is_refused(tmp_path):
    from pva.media import CorruptMediaError, extract_photo, make_thumbnails

    for fmt in ("cr3", "orf", "rw2", "raf", "cr2"):
        p = tmp_path / f"x.{fmt}"
        p.write_bytes(rs.raw_header(fmt))
        with pytest.raises(CorruptMediaError, match=f"{fmt.upper()} RAW photo"):
            extract_photo(p)
        with pytest.raises(CorruptMediaError):
            make_thumbnails(p)


# ---------------------------------------------------------------------------------------------- a maker's RAW
@needs_exiftool
@pytest.mark.parametrize("preview", [1200, None], ids=["preview", "demosaic"])
def test_a_sony_arw_is_read_decoded_and_shown_upright(tmp_path, preview):
    """Not a DNG: LibRaw identifies the camera by make and model and uses its own colour table."""
    from pva.media import extract_photo, make_thumbnails
    from pva.media.detect import identify
    from pva.media.raw import decode

    p = rs.make_dng(tmp_path / "DSC01234.ARW", size=(400, 300), make="SONY", model="ILCE-7M3", dng=False,
                    orientation=8, preview=preview)
    assert identify(p).format == "arw"
    m = extract_photo(p)
    assert (m.format, m.mime, m.camera_model, m.orientation) == ("arw", "image/x-sony-arw", "ILCE-7M3", 8)
    assert (m.width, m.height) == (400, 300)
    im, how = decode(p)
    assert how == ("preview" if preview else "demosaic")
    grid = Image.open(io.BytesIO(make_thumbnails(p, sizes={"thumb": 80})["thumb"]))
    assert_corner_picture(grid, (80, 60))


def test_sniffing_damaged_tiff_structures_never_raises(tmp_path):
    """The IFD walk reads untrusted offsets and counts: any byte changed in a RAW's head gives a format or None."""
    import random

    from pva.media.detect import detect_format, unsupported_reason

    rng = random.Random(22)
    heads = [rs.make_dng(tmp_path / "a.dng", size=(16, 16), preview=None).read_bytes()[:4096],
             rs.make_tiff_raw(tmp_path / "b.nef").read_bytes()[:4096]]
    assert [detect_format(h).format for h in heads] == ["dng", "nef"]
    for i in range(1500):
        h = bytearray(heads[i % 2])
        for _ in range(rng.randint(1, 12)):
            h[rng.randrange(4, len(h))] = rng.randrange(256)
        h = bytes(h[:rng.randint(8, len(h))])
        info = detect_format(h)
        assert info is None or info.kind == "photo"
        assert unsupported_reason(h)


def test_a_dng_whose_ifds_come_after_its_data_is_still_a_dng_not_its_tiff_thumbnail(tmp_path):
    """libtiff-based writers put the IFDs after the image data, past the head sniffing reads: the IFD walk follows
    them in the file, or the 16x16 TIFF thumbnail in IFD0 would become the photo."""
    from pva.media import detect_file, detect_format, extract_photo, identify, make_thumbnails
    from pva.media.image import load_image

    import numpy as np

    noisy = np.asarray(mf.corner_picture((600, 400)), dtype=np.int16)
    noisy = noisy + np.random.default_rng(1).integers(-12, 13, noisy.shape)
    shown = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    p = rs.make_dng(tmp_path / "late.dng", size=(600, 400), preview=2400, displayed=shown)  # a big preview first
    head = p.read_bytes()[:65536]
    assert detect_format(head).format == "tiff"  # the head alone cannot tell
    assert detect_file(p).format == "dng" and identify(p).format == "dng"
    with open(p, "rb") as f:
        f.seek(123)
        assert detect_file(f).format == "dng" and f.tell() == 123
    m = extract_photo(p)
    assert (m.format, m.width, m.height) == ("dng", 600, 400)
    grid = Image.open(io.BytesIO(make_thumbnails(p, sizes={"thumb": 300})["thumb"]))
    assert_corner_picture(grid, (300, 200))
    assert load_image(p.read_bytes()).size == (2400, 1600)


def test_sensor_data_libraw_cannot_decode_is_shown_from_its_preview_with_a_warning_or_refused_without_one(tmp_path):
    """A compression LibRaw does not know (DNG 1.7's JPEG XL) is not damage: with a preview the photo is kept and
    says why it is shown from the preview; without one it is refused, and the reason does not call it truncated."""
    from pva.media import CorruptMediaError, extract_photo, make_thumbnails

    p = rs.make_dng(tmp_path / "jxl.dng", size=(400, 300), raw_compression=52546)
    m = extract_photo(p)
    assert m.width == 400 and any("LibRaw cannot decode the sensor data" in w for w in m.warnings)
    assert_corner_picture(Image.open(io.BytesIO(make_thumbnails(p, sizes={"thumb": 80})["thumb"])), (80, 60))
    bare = rs.make_dng(tmp_path / "bare.dng", size=(400, 300), raw_compression=52546, preview=None)
    with pytest.raises(CorruptMediaError, match="no usable preview") as e:
        make_thumbnails(bare)
    assert "truncated" not in str(e.value) and "convert it to DNG" in str(e.value)


@pytest.mark.parametrize("head,words", [(b"II\x1a\x00\x00\x00HEAPCCDR" + b"\0" * 64, "Canon CRW raw photo"),
                                        (b"FOVb\x00\x00\x02\x00" + b"\0" * 64, "Sigma X3F raw photo")])
def test_raw_formats_not_supported_are_named_with_what_to_do(head, words):
    from pva.media.detect import detect_format, unsupported_reason

    assert detect_format(head) is None
    assert words in unsupported_reason(head) and "convert it to DNG" in unsupported_reason(head)
