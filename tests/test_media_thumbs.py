"""Thumbnails: displayed orientation, sRGB colours, never upscaled, every input kind, video poster frames."""
from __future__ import annotations

import io

import pytest
from PIL import Image

import media_fixtures as mf
from pva.media import CorruptMediaError, UnsupportedFormatError, make_thumbnails


def _open(data: bytes) -> Image.Image:
    assert data[:3] == b"\xff\xd8\xff"
    im = Image.open(io.BytesIO(data))
    assert im.format == "JPEG"
    return im.convert("RGB")


def _corner_colours(im: Image.Image) -> dict[str, tuple[int, int, int]]:
    w, h = im.size
    return {"top_left": im.getpixel((w // 4, h // 4)), "top_right": im.getpixel((3 * w // 4, h // 4)),
            "bottom_left": im.getpixel((w // 4, 3 * h // 4)), "bottom_right": im.getpixel((3 * w // 4, 3 * h // 4))}


def _close(a, b, tol=40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def assert_shows_corner_picture(im: Image.Image):
    got = _corner_colours(im)
    for corner, expected in mf.CORNERS.items():
        assert _close(got[corner], expected), f"{corner}: {got[corner]} is not {expected} ({got})"


def test_default_sizes_fit_the_box_and_never_upscale(tmp_path):
    path = mf.make_jpeg(tmp_path / "a.jpg", size=(1000, 500))
    thumbs = make_thumbnails(path)
    assert list(thumbs) == ["thumb", "preview"]
    assert _open(thumbs["thumb"]).size == (256, 128)
    assert _open(thumbs["preview"]).size == (1000, 500)  # smaller than 1440: kept at its own size
    tall = make_thumbnails(mf.make_jpeg(tmp_path / "b.jpg", size=(300, 3000)), {"s": 200, "m": 600})
    assert _open(tall["s"]).size == (20, 200) and _open(tall["m"]).size == (60, 600)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_is_applied_for_all_eight_values(tmp_path, orientation):
    path = mf.make_oriented_jpeg(tmp_path / f"o{orientation}.jpg", orientation, displayed_size=(400, 200))
    thumbs = make_thumbnails(path, {"thumb": 100, "big": 400})
    for name, size in (("thumb", (100, 50)), ("big", (400, 200))):
        im = _open(thumbs[name])
        assert im.size == size
        assert_shows_corner_picture(im)


def test_embedded_icc_profile_is_converted_to_srgb(tmp_path):
    P = mf.SRGB_PRIMARIES_D50
    swapped = mf.make_icc_profile({"r": P["g"], "g": P["r"], "b": P["b"]}, description="red means green")
    red = Image.new("RGB", (64, 64), (255, 0, 0))
    tagged = mf.make_jpeg(tmp_path / "tagged.jpg", image=red, icc_profile=swapped, quality=95)
    out = _open(make_thumbnails(tagged, {"t": 32})["t"])
    assert _close(out.getpixel((16, 16)), (0, 255, 0), tol=30)  # the profile says these pixels are green
    plain = mf.make_jpeg(tmp_path / "plain.jpg", image=red, quality=95)
    assert _close(_open(make_thumbnails(plain, {"t": 32})["t"]).getpixel((16, 16)), (255, 0, 0), tol=30)
    broken = mf.make_jpeg(tmp_path / "broken.jpg", image=red, icc_profile=b"not an icc profile" * 10)
    assert _close(_open(make_thumbnails(broken, {"t": 32})["t"]).getpixel((16, 16)), (255, 0, 0), tol=30)


def test_transparent_png_is_flattened_on_white_and_16_bit_grey_is_scaled(tmp_path):
    rgba = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    rgba.paste((255, 0, 0, 255), (0, 0, 25, 50))
    p = tmp_path / "t.png"
    rgba.save(p)
    im = _open(make_thumbnails(p, {"t": 50})["t"])
    assert _close(im.getpixel((10, 25)), (255, 0, 0)) and _close(im.getpixel((40, 25)), (255, 255, 255))
    g16 = Image.new("I;16", (40, 40), 40000)
    p16 = tmp_path / "g16.png"
    g16.save(p16)
    grey = _open(make_thumbnails(p16, {"t": 40})["t"]).getpixel((20, 20))
    assert _close(grey, (156, 156, 156), tol=6)  # 40000/65535 of full scale, not clipped to white


@pytest.mark.parametrize("fmt", ["png", "webp", "tiff", "heic", "gif"])
def test_other_photo_formats(tmp_path, fmt):
    path = mf.make_photo(tmp_path / f"a.{fmt}", fmt, size=(200, 100))
    im = _open(make_thumbnails(path, {"t": 100})["t"])
    assert im.size == (100, 50)
    assert_shows_corner_picture(im)


def test_animated_gif_uses_the_first_frame(tmp_path):
    im = _open(make_thumbnails(mf.make_animated_gif(tmp_path / "a.gif", size=(80, 40)), {"t": 80})["t"])
    assert_shows_corner_picture(im)


def test_pil_image_input_is_not_modified(tmp_path):
    src = mf.corner_picture((300, 150))
    before = src.tobytes()
    thumbs = make_thumbnails(src, {"a": 100, "b": 30})
    assert _open(thumbs["a"]).size == (100, 50) and _open(thumbs["b"]).size == (30, 15)
    assert src.size == (300, 150) and src.tobytes() == before


def test_quality_changes_the_encoding(tmp_path):
    photo = Image.effect_noise((300, 300), 60).convert("RGB")
    hi = make_thumbnails(photo, {"t": 300}, quality=95)["t"]
    lo = make_thumbnails(photo, {"t": 300}, quality=40)["t"]
    assert len(lo) < len(hi)


def test_large_jpeg_is_thumbnailed_with_reduced_decoding(tmp_path):
    path = mf.make_jpeg(tmp_path / "big.jpg", size=(4000, 3000), quality=80)
    thumbs = make_thumbnails(path)
    assert _open(thumbs["thumb"]).size == (256, 192)
    assert _open(thumbs["preview"]).size == (1440, 1080)
    assert_shows_corner_picture(_open(thumbs["preview"]))


@pytest.mark.skipif(not mf.ffmpeg_available(), reason="ffmpeg is not installed (Debian ffmpeg)")
def test_video_thumbnails_come_from_the_poster_frame(tmp_path):
    path = mf.make_video(tmp_path / "v.mp4", duration=2, size=(320, 240))
    thumbs = make_thumbnails(path)
    assert _open(thumbs["thumb"]).size == (256, 192)
    assert _open(thumbs["preview"]).size == (320, 240)
    rotated = mf.make_video(tmp_path / "r.mp4", duration=1, size=(160, 120), rotate_tag=90)
    assert _open(make_thumbnails(rotated, {"t": 80})["t"]).size == (60, 80)


def test_bad_inputs_raise_media_errors(tmp_path):
    z = tmp_path / "x.jpg"
    z.write_bytes(b"PK\x03\x04" + b"\0" * 64)
    with pytest.raises(UnsupportedFormatError, match="ZIP archive"):
        make_thumbnails(z)
    cut = mf.truncated_copy(mf.make_jpeg(tmp_path / "a.jpg", size=(300, 200)), tmp_path / "cut.jpg", keep=0.5)
    with pytest.raises(CorruptMediaError):
        make_thumbnails(cut)
    with pytest.raises(ValueError, match="positive integers"):
        make_thumbnails(mf.corner_picture(), {"t": 0})


def test_heic_orientation_is_applied_once(tmp_path):
    # libheif rotates while decoding; applying the EXIF orientation again would turn it back to landscape
    path = mf.make_photo(tmp_path / "a.heic", "heic", size=(80, 40), orientation=6)
    assert _open(make_thumbnails(path, {"t": 80})["t"]).size == (40, 80)


@pytest.mark.parametrize("mode", ["CMYK", "L"])
def test_cmyk_and_greyscale_jpegs_become_rgb(tmp_path, mode):
    path = tmp_path / f"{mode}.jpg"
    mf.corner_picture((200, 100)).convert(mode).save(path, "JPEG", quality=95)
    im = _open(make_thumbnails(path, {"t": 100})["t"])
    assert im.size == (100, 50)
    if mode == "CMYK":
        assert_shows_corner_picture(im)
    else:
        tl, br = _corner_colours(im)["top_left"], _corner_colours(im)["bottom_right"]
        assert tl[0] == tl[1] == tl[2] and _close(br, (255, 255, 255))
