"""The transcode function's Task: a web preview for every video a browser cannot play as stored.

    task = TranscodeTask()
    outcome, result = pipeline.run_stored(task, media_id)

The plan (pva.media.transcode.plan) comes first from what ingest's ffprobe recorded (``metadata.raw``): an
H.264/AAC MP4 plays as stored (the job is done, its summary says "plays as stored", nothing is downloaded or
written).  Anything else is downloaded to a temporary file, ffprobe'd and planned again from the file itself; it is
copied or encoded into an MP4 in another temporary file by ffmpeg (memory bounded: ffmpeg streams file to file),
which goes to the thumbs bucket as ``<media id>/web.mp4``; the media row's ``web_video_key`` names it, in the
job-finishing transaction.  ffmpeg's progress goes into the job row (``job.progress``, which also extends the
lease), so the jobs page shows how far a long transcode is.  A file ffmpeg cannot decode (truncated, damaged)
fails the job at once with ffmpeg's reason.  The original is never written.  A rerun replaces the preview: one
the row named before under another key, or ``<media id>/web.mp4`` when the rerun plans "as stored", is deleted
once the new result is committed (TranscodeTask.after_store), so no preview is left behind unnamed.
"""
from __future__ import annotations

import logging
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from ...config import get_settings
from ...db import transcode as transcode_q
from ...errors import BadInput, is_permanent
from ...media import transcode as tc
from ...media.detect import detect_format
from ...media.errors import MediaError
from ...media.video import ffprobe_json
from ..pipeline import Inputs, Task

log = logging.getLogger("pva.analysis.transcode")


def encoding() -> tc.Encoding:
    s = get_settings()
    return tc.Encoding(max_side=s.transcode_max_side, crf=s.transcode_crf, max_kbps=s.transcode_max_kbps,
                       preset=s.transcode_preset, audio_kbps=s.transcode_audio_kbps, threads=s.transcode_threads)


@lru_cache(maxsize=1)
def ffmpeg_version() -> str:
    try:
        out = subprocess.run(["ffmpeg", "-hide_banner", "-version"], capture_output=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    words = out.decode("utf-8", "replace").split()
    return words[2] if len(words) > 2 else "unknown"


@dataclass
class Preview:
    plan: tc.Plan
    output: tc.Output | None = None
    key: str | None = None           # where the preview was put (None: plays as stored / not stored)
    stale: list[str] = field(default_factory=list)  # previews of earlier runs this one replaces (store sets it)


def web_video_key(media_id) -> str:
    return f"{media_id}/web.mp4"


def motion_web_key(media_id) -> str:
    """A live/motion photo's motion clip's web preview (named on its motion file, not on the media row)."""
    return f"{media_id}/motion-web.mp4"


def _make(path: Path, container: str | None, progress=None) -> tuple[tc.Plan, tc.Output | None, str | None]:
    """Plan, and transcode into a temporary file when needed; returns (plan, output, its path or None)."""
    s = get_settings()
    enc = encoding()
    try:
        p = tc.plan(ffprobe_json(path), container=container, enc=enc)
    except MediaError as e:
        raise _reason(e) from None
    if p.action == "as_stored":
        return p, None, None
    fd, out = tempfile.mkstemp(dir=s.tmp_dir, prefix="web-", suffix=".mp4")
    os.close(fd)
    try:
        output = tc.transcode(path, out, p, enc, progress=progress, timeout=s.transcode_timeout_seconds)
    except BaseException as e:
        os.unlink(out)
        if isinstance(e, MediaError):
            raise _reason(e) from None
        raise
    return p, output, out


def _reason(e: MediaError) -> Exception:
    """The file's fault (damaged, truncated, no video): BadInput, the job fails at once with the reason and an
    HTTP caller gets 422; a missing ffmpeg or a timeout stays what it is (the job is retried)."""
    return BadInput(str(e)) if is_permanent(e) else e


class TranscodeTask(Task):
    kind = "transcode"
    media_kinds = ("video",)
    model_name = "ffmpeg"

    @property
    def model_version(self) -> str:
        return f"{ffmpeg_version()} {encoding().signature()}"

    def applies_to(self, media: dict) -> bool:
        """Videos, and live/motion photos whose motion clip does not play in every browser as stored (issue 22:
        ingest plans that from the clip's ffprobe and marks the item, pva.services.companions.web_plan)."""
        motion = (media.get("metadata") or {}).get("motion") or {}
        return media["kind"] == "video" or (media["kind"] == "photo" and bool(motion.get("transcode")))

    def analyze(self, inputs: Inputs, job) -> Preview:
        from pva.infra.storage import get_storage

        m = inputs.media
        if m["kind"] == "photo":  # a live photo: its motion clip (applies_to let only those through)
            return self._motion(m, job)
        md = m.get("metadata") or {}
        raw = md.get("raw") or (md.get("video") or {}).get("raw") or {}  # ingest records its ffprobe at metadata.raw
        if raw.get("streams"):  # what ingest's ffprobe saw: an MP4 that plays as stored is not even downloaded
            try:
                p = tc.plan(raw, container=m.get("format"), enc=encoding())
            except MediaError:
                p = None
            if p is not None and p.action == "as_stored":
                return Preview(p)
        src = inputs.original_path()
        p, output, out = _make(src, m.get("format"), progress=job.progress if job else None)
        if out is None:
            return Preview(p)
        try:
            s = get_settings()
            key = web_video_key(m["id"])
            get_storage().put_file(s.bucket_thumbs, key, out, content_type="video/mp4",
                                   metadata={"media-id": str(m["id"])})
        finally:
            os.unlink(out)
        return Preview(p, output, key)

    def _motion(self, m: dict, job) -> Preview:
        from pva.infra.storage import get_storage
        from pva.services import companions

        src = companions.motion_path(m["id"], get_settings().tmp_dir)
        try:
            p, output, out = _make(src, src.suffix.lstrip(".") or None, progress=job.progress if job else None)
        finally:
            os.unlink(src)
        if out is None:
            return Preview(p)
        try:
            key = motion_web_key(m["id"])
            get_storage().put_file(get_settings().bucket_thumbs, key, out, content_type="video/mp4",
                                   metadata={"media-id": str(m["id"])})
        finally:
            os.unlink(out)
        return Preview(p, output, key)

    def analyze_bytes(self, data: bytes, content_type: str) -> Preview:
        """Posted video bytes: planned and transcoded in temporary files, nothing stored; the answer says what
        would be served."""
        if not data:
            raise BadInput("empty body: POST the video file as the request body")
        fmt = detect_format(data[:65536])
        if fmt is None or fmt.kind != "video":
            raise BadInput("not a video: transcode makes web previews of videos")
        fd, tmp = tempfile.mkstemp(dir=get_settings().tmp_dir, prefix="transcode-", suffix=f".{fmt.format}")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            p, output, out = _make(Path(tmp), fmt.format)
            if out:
                os.unlink(out)
            return Preview(p, output)
        finally:
            os.unlink(tmp)

    def to_json(self, results: Preview) -> dict:
        return {"plan": results.plan.to_dict(), "output": results.output.to_dict() if results.output else None,
                "key": results.key}

    def summary(self, results: Preview) -> dict:
        p, o = results.plan, results.output
        out = {"action": p.action, "reason": p.reason, "codec": p.codec, "audio_codec": p.audio_codec,
               "duration": p.duration, "width": p.width, "height": p.height, "rotation": p.rotation}
        if o is not None:
            out.update(size=o.size, seconds=o.seconds, speed=o.speed, out_width=o.width, out_height=o.height)
        return out

    def store(self, cur, media: dict, results: Preview) -> None:
        if media["kind"] == "photo":
            was = transcode_q.set_motion_web_video(cur, media["id"], results.key)
            own = motion_web_key(media["id"])
        else:
            was = transcode_q.set_web_video(cur, media["id"], results.key)
            own = web_video_key(media["id"])
        # what a previous run left that this one does not name: the preview under another key, or the preview of
        # a rerun now planned "as stored" (deleted once this commits: until then the row still serves it)
        results.stale = [k for k in dict.fromkeys([(was or {}).get("old"), own]) if k and k != results.key]

    def after_store(self, media: dict, results: Preview) -> None:
        from pva.infra.storage import get_storage

        for key in results.stale:
            try:
                get_storage().delete(get_settings().bucket_thumbs, key)
            except Exception as e:  # garbage in the thumbs bucket harms nothing; the job is done
                log.warning("could not delete a replaced web preview", extra={"key": key, "error": str(e)})


__all__ = ["Preview", "TranscodeTask", "encoding", "motion_web_key", "web_video_key"]
