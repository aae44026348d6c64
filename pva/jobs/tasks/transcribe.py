"""The transcribe function's Task: speech-to-text of videos, with timed segments.

    task = TranscribeTask()                      # loads the configured engine once (vosk or faster-whisper)
    outcome, result = pipeline.run_stored(task, media_id)

The engine decodes the audio in chunks of ``PVA_TRANSCRIBE_CHUNK_SECONDS`` and reports progress into the job row
(``job.progress``, which also extends the lease, so long videos are not taken over by reconcile).  A video without
an audio track is a result, not an error: an empty transcript with ``has_audio = false`` is stored.  A file that
is not readable media raises :class:`TranscribeError` (a BadInput): the job fails at once with the reason.
"""
from __future__ import annotations

import mimetypes
import os
import tempfile
from pathlib import Path
from typing import Any

from ...config import get_settings
from ...db import transcripts as transcripts_q
from ...errors import BadInput
from ..pipeline import Inputs, Task
from ...ml.transcribe import Transcriber, TranscriptResult, get_transcriber, to_webvtt

_EXT_BY_TYPE = {"video/quicktime": ".mov", "video/x-matroska": ".mkv", "video/webm": ".webm",
                "audio/mpeg": ".mp3", "audio/mp4": ".m4a", "audio/x-m4a": ".m4a", "audio/wav": ".wav",
                "audio/x-wav": ".wav", "audio/ogg": ".ogg", "audio/flac": ".flac"}


def _suffix(content_type: str) -> str:
    ctype = (content_type or "").split(";")[0].strip().lower()
    return _EXT_BY_TYPE.get(ctype) or mimetypes.guess_extension(ctype) or ".bin"


class TranscribeTask(Task):
    kind = "transcribe"
    media_kinds = ("video",)

    def __init__(self, transcriber: Transcriber | None = None):
        self.transcriber = transcriber or get_transcriber()

    @property
    def model_name(self) -> str:
        return self.transcriber.model

    @property
    def model_version(self) -> str:
        return self.transcriber.version

    def applies_to(self, media: dict) -> bool:
        """Videos, and live/motion photos whose motion clip has speech worth a transcript (issue 22: ingest decides
        that from the clip's length and loudness, pva.media.motion.speech_worth, and marks the item)."""
        motion = (media.get("metadata") or {}).get("motion") or {}
        return media["kind"] == "video" or (media["kind"] == "photo" and bool(motion.get("transcribe")))

    # ------------------------------------------------------------------ analyse
    def analyze(self, inputs: Inputs, job) -> TranscriptResult:
        if inputs.kind == "photo":  # a live photo: its motion clip (applies_to let only those through)
            from ...services import companions

            path = companions.motion_path(inputs.media["id"], get_settings().tmp_dir)
            inputs._tmp.append(str(path))
        else:
            path = inputs.original_path()
        return self.transcriber.transcribe(path, progress=job.progress if job else None)

    def analyze_bytes(self, data: bytes, content_type: str) -> TranscriptResult:
        """Posted video/audio bytes: written to a temporary file (ffmpeg seeks in it), transcribed, deleted."""
        if not data:
            raise BadInput("empty body: POST the video or audio file as the request body")
        tmp_dir = get_settings().tmp_dir
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="transcribe-", suffix=_suffix(content_type))
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            return self.transcriber.transcribe(Path(tmp))
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    # ------------------------------------------------------------------ results
    def to_json(self, results: TranscriptResult) -> dict:
        return {**results.to_dict(), "webvtt": to_webvtt(results.segments)}

    def summary(self, results: TranscriptResult) -> dict[str, Any]:
        out: dict[str, Any] = {"engine": results.engine, "segments": len(results.segments),
                               "chars": len(results.text), "language": results.language,
                               "has_audio": results.has_audio, "duration": results.duration}
        if not results.has_audio:
            out["skipped_reason"] = "the video has no audio track"
        return out

    def store(self, cur, media: dict, results: TranscriptResult) -> None:
        transcripts_q.upsert(cur, media["id"], text=results.text, segments=results.segments,
                             language=results.language, engine=results.engine, model=results.model,
                             has_audio=results.has_audio)


def webvtt_for(media_id, owner_id=None, cur=None) -> str | None:
    """The transcript as a WebVTT document for the video player, or None when the media has no transcript (not
    transcribed yet, not a video, or — with owner_id — not that user's).  A video without an audio track gives a
    valid WebVTT document without cues.  (It lived in pva.db.transcripts, which then imported this package
    while this package imports pva.db: rendering belongs here, next to to_webvtt.)"""
    if cur is None:
        from pva.infra import db

        with db.transaction() as c:
            row = transcripts_q.get(c, media_id, owner_id)
    else:
        row = transcripts_q.get(cur, media_id, owner_id)
    if row is None:
        return None
    return to_webvtt(row["segments"] or [])


__all__ = ["TranscribeTask", "webvtt_for"]
