"""The OCR wrappers (pva.ml.ocr) on generated images rendered with DejaVu fonts: RapidOCR (the default) and
tesseract (PVA_OCR_ENGINE=tesseract)."""
from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
LINES = [
    ("Quarterly Report 2024", 48),
    ("The quick brown fox jumps over the lazy dog.", 32),
    ("Invoice number 48213 is due on 17 May.", 24),
    ("Questions? Call 555-0199 or write to help@example.org", 18),
]


def _font(size: int, name: str = "DejaVuSans.ttf"):
    path = FONT_DIR / name
    if not path.is_file():
        pytest.skip(f"{path} is absent: apt-get install fonts-dejavu-core")
    return ImageFont.truetype(str(path), size)


def render(lines=LINES, fg=(0, 0, 0), bg=(255, 255, 255), size=(1400, 460), origin=(40, 30)):
    """Returns the image and the pixel box (left, top, right, bottom) of each word."""
    img = Image.new("RGB", size, bg)
    draw = ImageDraw.Draw(img)
    boxes: dict[str, tuple[int, int, int, int]] = {}
    x0, y = origin
    for text, px in lines:
        font = _font(px)
        x = x0
        for word in text.split(" "):
            draw.text((x, y), word, font=font, fill=fg)
            boxes[word] = draw.textbbox((x, y), word, font=font)
            x += draw.textlength(word + " ", font=font)
        y += int(px * 1.7)
    return img, boxes


def expected_text(lines=LINES) -> str:
    return "\n".join(t for t, _ in lines)


def char_accuracy(got: str, want: str) -> float:
    norm = lambda s: " ".join(s.split())  # noqa: E731 — compare characters, not layout whitespace
    return difflib.SequenceMatcher(None, norm(got), norm(want), autojunk=False).ratio()


def iou(a, b) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area = lambda r: (r[2] - r[0]) * (r[3] - r[1])  # noqa: E731
    return inter / (area(a) + area(b) - inter)


def word_box(result, text, size):
    """Pixel box (l, t, r, b) of the recognized word `text` in an image of `size`."""
    W, H = size
    for w in result.words:
        if w["text"] == text:
            return (w["x"] * W, w["y"] * H, (w["x"] + w["w"]) * W, (w["y"] + w["h"]) * H)
    raise AssertionError(f"{text!r} not among {[w['text'] for w in result.words]}")


@pytest.fixture(scope="module")
def engine():
    from pva.ml.ocr import TesseractEngine

    try:
        return TesseractEngine(lang="eng")
    except FileNotFoundError as e:  # ModelNotFound: tesseract or eng.traineddata missing
        pytest.skip(str(e))


def test_clean_lines_of_different_sizes_are_read_accurately(engine):
    img, boxes = render()
    r = engine.recognize(img)
    assert r.skipped_reason is None and r.rotation == 0 and r.language == "eng"
    assert char_accuracy(r.text, expected_text()) >= 0.98, r.text
    assert len(r.text.splitlines()) == len(LINES)
    for w in r.words:
        assert set(w) == {"text", "conf", "x", "y", "w", "h"}
        assert 0 <= w["x"] <= 1 and 0 <= w["y"] <= 1 and 0 < w["w"] <= 1 and 0 < w["h"] <= 1
        assert w["conf"] >= engine.min_conf
    # word boxes sit on the words (normalized to the image as given)
    for word in ("Quarterly", "brown", "48213", "555-0199"):
        assert iou(word_box(r, word, img.size), boxes[word]) > 0.6


@pytest.mark.parametrize("angle, rotation", [(90, 90), (-90, 270)])
def test_sideways_text_is_turned_upright_and_boxes_map_back(engine, angle, rotation):
    upright, boxes = render()
    img = upright.rotate(angle, expand=True)  # PIL: positive angle = counter-clockwise
    r = engine.recognize(img)
    assert r.rotation == rotation
    assert char_accuracy(r.text, expected_text()) >= 0.98, r.text
    # where "brown" is in the sideways image: rotate its upright box the same way
    W, H = upright.size
    l, t, rr, b = boxes["brown"]
    want = (t, W - rr, b, W - l) if angle == 90 else (H - b, l, H - t, rr)
    assert iou(word_box(r, "brown", img.size), want) > 0.6


def test_white_text_on_dark_background_is_read(engine):
    img, _ = render(fg=(235, 235, 235), bg=(25, 30, 45))
    r = engine.recognize(img)
    assert char_accuracy(r.text, expected_text()) >= 0.98, r.text


def test_small_text_in_a_small_image_is_read(engine):
    lines = [("Meeting at 10:30 in room B-214, bring the report.", 12)]
    img, _ = render(lines, size=(420, 40), origin=(10, 12))
    r = engine.recognize(img)
    assert char_accuracy(r.text, expected_text(lines)) >= 0.98, r.text


def test_blank_image_is_skipped_with_the_reason_recorded(engine):
    from pva.ml.ocr import SKIPPED_NO_TEXT

    r = engine.recognize(Image.new("RGB", (1600, 1200), (250, 250, 250)))
    assert r.text == "" and r.words == [] and r.skipped_reason == SKIPPED_NO_TEXT == "no text-like regions"
    assert r.as_dict()["skipped_reason"] == "no text-like regions"


def test_image_with_shapes_but_no_text_is_read_and_found_empty(engine):
    img = Image.new("RGB", (900, 600), (200, 220, 240))
    draw = ImageDraw.Draw(img)
    draw.ellipse((200, 150, 700, 450), fill=(40, 120, 60))
    r = engine.recognize(img)
    assert r.skipped_reason is None  # the pre-check is conservative: edges exist, so tesseract looked
    assert r.text.strip() == ""


def test_precheck_never_skips_small_faint_or_inverted_text():
    from pva.ml.ocr import has_text_like_regions

    font = _font(12)
    for fg, bg in [((0, 0, 0), (255, 255, 255)), ((255, 255, 255), (15, 15, 25)),
                   ((150, 150, 150), (170, 170, 170))]:
        img = Image.new("L", (4000, 3000), bg[0])
        ImageDraw.Draw(img).text((2000, 1500), "OK", font=font, fill=fg[0])
        assert has_text_like_regions(np.asarray(img)), (fg, bg)
    assert not has_text_like_regions(np.full((3000, 4000), 240, np.uint8))
    gradient = np.tile(np.linspace(30, 220, 4000).astype(np.uint8), (3000, 1))
    assert not has_text_like_regions(gradient)


def test_minimum_confidence_drops_words(engine):
    from pva.ml.ocr import TesseractEngine

    img, _ = render(LINES[:1])
    strict = TesseractEngine(lang="eng", min_conf=99.9)
    r = strict.recognize(img)
    assert all(w["conf"] >= 99.9 for w in r.words)
    assert len(r.words) < len(engine.recognize(img).words)


@pytest.mark.parametrize("data", [b"", b"plain text, not an image", b"\xff\xd8\xff\xe0" + b"\0" * 50])
def test_bad_input_raises_badinput(engine, data):
    from pva.ml import BadInput

    with pytest.raises(BadInput):
        engine.recognize(data)


def test_identity_languages_and_thread_limit(engine, monkeypatch):
    from pva.ml.ocr import TesseractEngine, installed_languages

    assert engine.name == "tesseract"
    assert engine.version[0].isdigit() and "." in engine.version
    assert "eng" in installed_languages()
    monkeypatch.delenv("OMP_THREAD_LIMIT", raising=False)
    TesseractEngine(lang="eng")
    assert os.environ["OMP_THREAD_LIMIT"] == "1"


def test_missing_language_says_what_to_install():
    from pva.ml import ModelNotFound
    from pva.ml.ocr import TesseractEngine

    with pytest.raises(ModelNotFound, match="apt-get install tesseract-ocr-xyz"):
        TesseractEngine(lang="eng+xyz")


# ------------------------------------------------------------------ RapidOCR (the default engine)
@pytest.fixture(scope="module")
def rapid():
    from pva.ml.ocr import RapidOcrEngine

    return RapidOcrEngine()


def test_default_engine_is_rapidocr_and_tesseract_is_a_setting(monkeypatch):
    from pva.config import reload_settings
    from pva.ml import ModelNotFound
    from pva.ml.ocr import RapidOcrEngine, TesseractEngine, create_engine

    assert isinstance(create_engine(), RapidOcrEngine)
    try:
        assert isinstance(create_engine("tesseract", lang="eng"), TesseractEngine)
    except FileNotFoundError as e:  # ModelNotFound: tesseract missing here
        pytest.skip(str(e))
    monkeypatch.setenv("PVA_OCR_ENGINE", "easyocr")
    reload_settings()
    try:
        with pytest.raises(ModelNotFound, match="unknown OCR engine 'easyocr'"):
            create_engine()
    finally:
        monkeypatch.delenv("PVA_OCR_ENGINE")
        reload_settings()


def test_rapid_clean_lines_are_read_with_line_and_word_boxes(rapid):
    img, boxes = render()
    r = rapid.recognize(img)
    assert r.skipped_reason is None and r.rotation == 0 and r.language == "multi"
    assert char_accuracy(r.text, expected_text()) >= 0.98, r.text
    assert len(r.lines) == len(r.text.splitlines()) >= len(LINES)
    for w in r.words + r.lines:
        assert set(w) == {"text", "conf", "x", "y", "w", "h"}
        assert 0 <= w["x"] <= 1 and 0 <= w["y"] <= 1 and 0 < w["w"] <= 1 and 0 < w["h"] <= 1
        assert 0 < w["conf"] <= 100
    # word boxes sit on the words (normalized to the image as given): split from the line by character positions,
    # as high as the line's box (the detector's box reaches a little above and below the glyphs)
    for word in ("Quarterly", "brown", "48213", "555-0199"):
        l, t, rr, b = word_box(r, word, img.size)
        want = boxes[word]
        assert iou((l, 0, rr, 1), (want[0], 0, want[2], 1)) > 0.8, (word, (l, t, rr, b), want)
        assert t <= (want[1] + want[3]) / 2 <= b and b - t < 2.5 * (want[3] - want[1]), (word, (l, t, rr, b), want)


def test_rapid_white_text_on_dark_background_is_read(rapid):
    img, _ = render(fg=(235, 235, 235), bg=(25, 30, 45))
    assert char_accuracy(rapid.recognize(img).text, expected_text()) >= 0.98


def test_rapid_small_text_in_a_small_image_is_read(rapid):
    lines = [("Meeting at 10:30 in room B-214, bring the report.", 12)]
    img, _ = render(lines, size=(420, 40), origin=(10, 12))
    r = rapid.recognize(img)
    assert char_accuracy(r.text, expected_text(lines)) >= 0.95, r.text


def test_rapid_blank_image_is_skipped_with_the_reason_recorded(rapid):
    from pva.ml.ocr import SKIPPED_NO_TEXT

    r = rapid.recognize(Image.new("RGB", (1600, 1200), (250, 250, 250)))
    assert r.text == "" and r.words == [] and r.lines == [] and r.skipped_reason == SKIPPED_NO_TEXT
    assert r.as_dict()["skipped_reason"] == "no text-like regions"


def test_rapid_shapes_without_text_find_no_text(rapid):
    img = Image.new("RGB", (900, 600), (200, 220, 240))
    ImageDraw.Draw(img).ellipse((200, 150, 700, 450), fill=(40, 120, 60))
    assert rapid.recognize(img).text.strip() == ""


@pytest.mark.parametrize("data", [b"", b"plain text, not an image", b"\xff\xd8\xff\xe0" + b"\0" * 50])
def test_rapid_bad_input_raises_badinput(rapid, data):
    from pva.ml import BadInput

    with pytest.raises(BadInput):
        rapid.recognize(data)


def test_rapid_identity_threads_and_models_from_the_wheel(rapid):
    from pva.ml.ocr import rapidocr_models

    models = rapidocr_models()
    assert rapid.name == "rapidocr" and rapid.version.startswith(models["version"] + " ")
    for kind in ("det", "cls", "rec"):
        assert models[kind].is_file() and models[kind].stem in rapid.version
        assert "site-packages" in str(models[kind]) or "rapidocr" in str(models[kind].parent.parent)
    opts = rapid._det.session.session.get_session_options()
    assert opts.intra_op_num_threads == 1 and opts.inter_op_num_threads == 1


def test_rapid_missing_recognition_model_says_what_to_fix(tmp_path):
    from pva.ml import ModelNotFound
    from pva.ml.ocr import RapidOcrEngine

    with pytest.raises(ModelNotFound, match="PVA_OCR_REC_MODEL"):
        RapidOcrEngine(rec_model=str(tmp_path / "korean_rec.onnx"))


def test_rapid_reads_without_network():
    """The models come from the wheel: loading and reading work with no network at all (a new network
    namespace has only a loopback that is down)."""
    import shutil
    import subprocess
    import sys

    unshare = shutil.which("unshare")
    if not unshare or subprocess.run([unshare, "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not available here (needs root or user namespaces)")
    code = ("from PIL import Image, ImageDraw, ImageFont; from pva.ml.ocr import RapidOcrEngine; "
            "img = Image.new('RGB', (1200, 400), 'white'); "
            f"ImageDraw.Draw(img).text((30, 60), 'Offline reading', fill='black', "
            f"font=ImageFont.truetype('{FONT_DIR / 'DejaVuSans.ttf'}', 40)); "
            "print(RapidOcrEngine().recognize(img).text)")
    out = subprocess.run([unshare, "-n", sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[1])
    assert out.returncode == 0, out.stderr
    assert "Offline reading" in out.stdout


def test_status_names_the_engine_its_models_and_the_languages_installed(tmp_path):
    import dataclasses

    from pva.config import get_settings
    from pva.ml.ocr import engine_status

    s = get_settings()
    ok, detail = engine_status(s)
    assert ok and "rapidocr" in detail and "(in use)" in detail and "PP-OCRv6_rec_small" in detail
    assert "Japanese" in detail and "traineddata installed" in detail
    ok, detail = engine_status(dataclasses.replace(s, ocr_engine="tesseract"))
    assert "tesseract" in detail.split("(in use)")[0].rsplit(";", 1)[-1]
    ok, detail = engine_status(dataclasses.replace(s, ocr_rec_model=str(tmp_path / "korean_rec.onnx")))
    assert not ok and "MISSING" in detail and "korean_rec.onnx" in detail
    ok, detail = engine_status(dataclasses.replace(s, ocr_engine="easyocr"))
    assert not ok and "PVA_OCR_ENGINE='easyocr' is unknown" in detail
