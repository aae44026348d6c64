"""YOLO detector (pva.ml.objects) and model download (pva.services.models) on the real dev model."""
from __future__ import annotations

import hashlib
import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import shared_path

MODEL_SHA256 = "83de8f0d2cd521e00ae2b138c340a03dece35b060b3898509bdc69afff417312"


@pytest.fixture
def settings_env(monkeypatch):
    """Change PVA_* variables for one test; settings are reloaded before and after."""
    from pva.config import reload_settings

    def set_(**env):
        for k, v in env.items():
            monkeypatch.setenv(k, str(v))
        return reload_settings()

    yield set_
    monkeypatch.undo()
    reload_settings()


@pytest.fixture(scope="module")
def model_path() -> Path:
    return shared_path("models", "yolov8n_int8.onnx")


@pytest.fixture(scope="module")
def detector(model_path):
    from pva.ml.objects import Detector

    return Detector(model_path, conf=0.25, iou=0.45)


def _photo(name: str) -> Path:
    return shared_path("fixtures", "detect", name)


def _labels(dets, label, min_conf):
    return [d for d in dets if d.label == label and d.confidence > min_conf]


def _iou(a, b) -> float:
    ax2, ay2, bx2, by2 = a.x + a.w, a.y + a.h, b.x + b.w, b.y + b.h
    iw = max(0.0, min(ax2, bx2) - max(a.x, b.x))
    ih = max(0.0, min(ay2, by2) - max(a.y, b.y))
    inter = iw * ih
    return inter / (a.w * a.h + b.w * b.h - inter)


def test_bus_photo_has_three_persons_and_a_bus(detector):
    dets = detector.detect(_photo("bus.jpg"))
    assert len(_labels(dets, "person", 0.5)) >= 3
    assert len(_labels(dets, "bus", 0.5)) == 1
    for d in dets:
        assert 0 <= d.x <= 1 and 0 <= d.y <= 1 and 0 < d.w <= 1 and 0 < d.h <= 1
        assert d.x + d.w <= 1 + 1e-6 and d.y + d.h <= 1 + 1e-6
    # the bus spans most of the width, in the middle band of the photo
    bus = _labels(dets, "bus", 0.5)[0]
    assert bus.w > 0.8 and 0.1 < bus.y < 0.4


def test_zidane_photo_has_two_persons(detector):
    dets = detector.detect(_photo("zidane.jpg"))
    assert len(_labels(dets, "person", 0.5)) == 2


def test_confidences_match_the_reference_ultralytics_figures(detector):
    """The preprocessing (letterbox, pad 114, RGB 0..1) matches Ultralytics: same scores as its reference run."""
    bus = detector.detect(_photo("bus.jpg"))
    persons = sorted((d.confidence for d in bus if d.label == "person"), reverse=True)
    assert persons == pytest.approx([0.90, 0.90, 0.89, 0.31], abs=0.02)
    assert [round(d.confidence, 2) for d in bus if d.label == "bus"] == pytest.approx([0.82], abs=0.02)
    zid = detector.detect(_photo("zidane.jpg"))
    assert sorted(d.label for d in zid) == ["person", "person", "tie"]
    assert [d.confidence for d in zid if d.label == "tie"] == pytest.approx([0.32], abs=0.02)
    assert [d.confidence for d in zid] == sorted((d.confidence for d in zid), reverse=True)


def test_confidence_threshold_drops_weak_detections(model_path):
    from pva.ml.objects import Detector

    strict = Detector(model_path, conf=0.5)
    dets = strict.detect(_photo("zidane.jpg"))
    assert [d.label for d in dets] == ["person", "person"]


def test_boxes_are_relative_to_the_displayed_image_when_exif_rotates_it(detector, tmp_path):
    """A photo stored sideways with EXIF orientation 6 gives the same boxes as the upright photo."""
    upright = Image.open(_photo("bus.jpg"))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # what a camera held sideways writes
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate 90 clockwise
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=95, exif=exif.tobytes())
    ref = {(d.label, round(d.x, 1)): d for d in detector.detect(upright) if d.confidence > 0.5}
    got = [d for d in detector.detect(buf.getvalue()) if d.confidence > 0.5]
    assert len(got) == len(ref)
    for d in got:
        best = max(ref.values(), key=lambda r: _iou(r, d) if r.label == d.label else 0)
        assert best.label == d.label and _iou(best, d) > 0.85


def test_bytes_path_array_and_pil_inputs_give_the_same_detections(detector):
    p = _photo("zidane.jpg")
    pil = Image.open(p)
    results = [detector.detect(x) for x in (p, str(p), p.read_bytes(), pil, np.asarray(pil.convert("RGB")))]
    for r in results[1:]:
        assert [(d.label, d.confidence) for d in r] == [(d.label, d.confidence) for d in results[0]]


def test_detect_batch_equals_detect_one_by_one(detector):
    imgs = [_photo("bus.jpg"), _photo("zidane.jpg")]
    batch = detector.detect_batch(imgs)
    assert batch == [detector.detect(i) for i in imgs]
    assert detector.detect_batch([]) == []


def test_blank_image_has_no_detections(detector):
    assert detector.detect(Image.new("RGB", (640, 480), (128, 128, 128))) == []


def test_name_and_version_identify_the_model_file(detector):
    assert detector.name == "yolov8n_int8"
    assert detector.version.endswith("+" + MODEL_SHA256[:12])
    assert detector.names[0] == "person" and len(detector.names) == 80


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + \
        chunk(b"IEND", b"")


@pytest.mark.parametrize("kind", ["text", "empty", "truncated", "huge", "not-found", "wrong-type"])
def test_bad_input_raises_badinput_with_a_reason(detector, kind, tmp_path):
    from pva.ml import BadInput

    data = _photo("bus.jpg").read_bytes()
    src = {
        "text": b"this is not an image at all\n" * 10,
        "empty": b"",
        "truncated": data[: len(data) // 3],
        "huge": _png_header(60_000, 60_000),
        "not-found": tmp_path / "missing.jpg",
        "wrong-type": 12345,
    }[kind]
    with pytest.raises(BadInput) as e:
        detector.detect(src)
    assert str(e.value)
    # the detector still works after bad input
    assert detector.detect(_photo("zidane.jpg"))


def test_missing_model_says_how_to_get_one(settings_env, monkeypatch, tmp_path):
    from pva import config
    from pva.ml import ModelNotFound
    from pva.ml.objects import Detector

    monkeypatch.setattr(config, "_SHARED_MODELS", tmp_path / "no-shared")
    settings_env(PVA_MODELS_DIR=tmp_path / "models", PVA_DETECT_MODEL="")
    with pytest.raises(ModelNotFound) as e:
        Detector()
    assert str(e.value) == ("no YOLO model found: run `pva models pull` or set "
                            "PVA_DETECT_MODEL=/path/to/model.onnx")
    with pytest.raises(ModelNotFound, match="pva models pull"):
        Detector(tmp_path / "nope.onnx")


def test_model_from_settings_and_threads_from_environment(settings_env, model_path, monkeypatch):
    from pva.ml.objects import Detector

    monkeypatch.setenv("PVA_DETECT_THREADS", "2")
    settings_env(PVA_DETECT_MODEL=model_path, PVA_DETECT_CONF="0.6", PVA_DETECT_IOU="0.5")
    d = Detector()
    assert d.model_path == model_path and d.conf == 0.6 and d.iou == 0.5 and d.threads == 2
    assert all(x.confidence > 0.6 for x in d.detect(_photo("bus.jpg")))


def test_file_that_is_not_onnx_gives_a_model_error(tmp_path):
    from pva.ml import ModelError
    from pva.ml.objects import Detector

    bad = tmp_path / "broken.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(ModelError, match="ONNX"):
        Detector(bad)


def test_pt_model_without_ultralytics_says_what_to_install(tmp_path):
    try:
        import ultralytics  # noqa: F401
        pytest.skip("ultralytics is installed: the .pt backend is available")
    except ImportError:
        pass
    from pva.ml import ModelError
    from pva.ml.objects import Detector

    pt = tmp_path / "yolov8n.pt"
    pt.write_bytes(b"\0" * 16)
    with pytest.raises(ModelError, match="ultralytics"):
        Detector(pt)


# ---------------------------------------------------------------- pva models pull
def test_pull_from_file_url_installs_the_verified_model(settings_env, model_path, tmp_path):
    from pva.services.models import pull_detect_model

    s = settings_env(PVA_MODELS_DIR=tmp_path / "models")
    path = pull_detect_model(url=model_path.as_uri(), sha256=MODEL_SHA256, progress=False)
    assert path == s.models_dir / "yolov8n_int8.onnx"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == MODEL_SHA256
    assert sorted(p.name for p in path.parent.iterdir()) == ["yolov8n_int8.onnx"]
    mtime = path.stat().st_mtime_ns
    assert pull_detect_model(url=model_path.as_uri(), sha256=MODEL_SHA256, progress=False) == path
    assert path.stat().st_mtime_ns == mtime  # already installed: not downloaded again
    assert s.effective_detect_model == path


def test_pull_with_wrong_checksum_fails_and_leaves_no_file(settings_env, model_path, tmp_path):
    from pva.services.models import ModelDownloadError, pull_detect_model

    dest = tmp_path / "models"
    settings_env(PVA_MODELS_DIR=dest, PVA_DETECT_MODEL_URL=model_path.as_uri(), PVA_DETECT_MODEL_SHA256="ab" * 32)
    with pytest.raises(ModelDownloadError, match="checksum mismatch"):
        pull_detect_model(progress=False)
    assert list(dest.iterdir()) == []


def test_pull_rejects_a_file_that_is_not_a_model(settings_env, tmp_path):
    from pva.services.models import ModelDownloadError, pull_detect_model

    src = tmp_path / "fake.onnx"
    src.write_bytes(b"<html>not found</html>")
    settings_env(PVA_MODELS_DIR=tmp_path / "models", PVA_DETECT_MODEL_SHA256="")
    with pytest.raises(ModelDownloadError, match="not a loadable ONNX model"):
        pull_detect_model(url=src.as_uri(), progress=False)
    assert list((tmp_path / "models").iterdir()) == []


def test_pva_models_pull_command(settings_env, model_path, tmp_path, capsys):
    from pva.cli import main

    s = settings_env(PVA_MODELS_DIR=tmp_path / "models")
    rc = main(["models", "pull", "--url", model_path.as_uri(), "--sha256", MODEL_SHA256, "--no-progress"])
    assert rc == 0
    assert (s.models_dir / "yolov8n_int8.onnx").is_file()
    assert "installed" in capsys.readouterr().out
    rc = main(["models", "pull", "--url", model_path.as_uri(), "--sha256", "0" * 64, "--no-progress",
               "--dest", str(tmp_path / "other")])
    assert rc == 1
    assert "checksum mismatch" in capsys.readouterr().err
    assert not (tmp_path / "other").exists() or list((tmp_path / "other").iterdir()) == []



def test_default_pull_is_pinned_to_the_model_we_test_with(settings_env, model_path, tmp_path):
    """The default URL names a fixed commit and the default sha256 pins it: a mirror of it (PVA_DETECT_MODEL_URL
    only) installs, any other file at that URL is refused."""
    from pva.services.models import ModelDownloadError, pull_detect_model
    from pva.config import Settings

    d = Settings()
    assert d.detect_model_sha256 == MODEL_SHA256
    assert "/a6844ef947be6d0dd3aeafcf4cac6f3d01806e10/" in d.detect_model_url  # a commit, not a moving tag
    s = settings_env(PVA_MODELS_DIR=tmp_path / "models", PVA_DETECT_MODEL_URL=model_path.as_uri())
    assert pull_detect_model(progress=False) == s.models_dir / "yolov8n_int8.onnx"
    other = tmp_path / "mirror" / "yolov8n_int8.onnx"
    other.parent.mkdir()
    other.write_bytes(model_path.read_bytes()[:-1] + b"\0")  # one byte changed
    settings_env(PVA_MODELS_DIR=tmp_path / "m2", PVA_DETECT_MODEL_URL=other.as_uri())
    with pytest.raises(ModelDownloadError, match="checksum mismatch"):
        pull_detect_model(progress=False)
