"""`pva status` lists what each analysis will run with (installed traineddata, models) and what to do if missing."""
from __future__ import annotations

import dataclasses
import subprocess
import sys

from pva.services.models import models_status
from pva.config import get_settings


def test_every_analysis_is_listed_with_the_installed_tesseract_languages():
    rows = {r["analysis"]: r for r in models_status()}
    assert set(rows) == {"detect", "ocr", "faces", "transcribe", "transcode"}
    assert rows["ocr"]["ok"] and "eng" in rows["ocr"]["detail"]
    assert rows["faces"]["ok"] and rows["transcribe"]["ok"]
    assert rows["transcode"]["ok"] and "H.264" in rows["transcode"]["detail"]


def test_missing_model_and_language_say_what_to_do(tmp_path):
    s = dataclasses.replace(get_settings(), detect_model=str(tmp_path / "none.onnx"), ocr_lang="eng+zzz",
                            vosk_model=str(tmp_path / "no-vosk"))
    rows = {r["analysis"]: r for r in models_status(s)}
    assert not rows["detect"]["ok"] and "pva models pull" in rows["detect"]["detail"]
    assert not rows["ocr"]["ok"] and "tesseract-ocr-zzz" in rows["ocr"]["detail"]
    assert not rows["transcribe"]["ok"] and "PVA_VOSK_MODEL" in rows["transcribe"]["detail"]


def test_pva_status_prints_the_models(stack):
    out = subprocess.run([sys.executable, "-m", "pva.cli", "status"], capture_output=True, text=True, timeout=60)
    assert "traineddata installed" in out.stdout and "transcribe" in out.stdout
