"""Web previews of videos: which videos a browser cannot play as stored, and the ffmpeg run that makes one.

    probe = ffprobe_json(path)
    p = plan(probe, container="avi", max_side=1280, max_kbps=4000)   # Plan(action="transcode", reason=...)
    if p.action != "as_stored":
        out = transcode(path, dst, p, Encoding(...), progress=lambda f: ...)

Every common browser (Chromium, Firefox, Safari) plays H.264 (8-bit 4:2:0) with AAC audio in MP4.  Such an
original is served as stored (``as_stored``); one whose streams are fine but whose container is not MP4 (a MOV,
an MKV) is copied into MP4 (``remux``, seconds); anything else (HEVC, MPEG-4 part 2, MJPEG, ProRes, VP9, WMV, an
H.264 too large or 10-bit...) is encoded again (``transcode``): H.264 + AAC in MP4 with the index first
(faststart), the long side bounded, the bitrate capped, the rotation applied to the pixels.

ffmpeg reads the input file and writes the output file itself: the memory used does not grow with the length of
the video (frames go through its encoder a few at a time).  Progress comes from ``-progress pipe:1``.  The input is
never written.  Pure media helper: no database, no object store.
"""
from __future__ import annotations

import collections
import os
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Callable

from .errors import CorruptMediaError, MediaTimeoutError, MediaToolError, UnsupportedFormatError
from .sanitize import clean_text
from .video import _rotation, _tool, ffprobe_json

# what every common browser decodes in MP4: 8-bit 4:2:0 H.264 in a profile they all support, AAC audio
_OK_PIX_FMTS = {"yuv420p", "yuvj420p"}
_OK_H264_PROFILES = {"baseline", "constrained baseline", "main", "high", "extended", ""}
_OK_AUDIO = {"aac"}


@dataclass(frozen=True)
class Encoding:
    """The preview's settings (pva.config: PVA_TRANSCODE_*)."""
    max_side: int = 1280         # long side in pixels, as displayed
    crf: int = 23                # x264 constant quality
    max_kbps: int = 4000         # video bitrate cap (VBV maxrate; bufsize twice that)
    preset: str = "veryfast"     # x264 speed/size trade-off
    audio_kbps: int = 128        # AAC, stereo
    threads: int = 0             # ffmpeg threads (0: ffmpeg chooses, one per core)

    def signature(self) -> str:
        return f"h264 crf{self.crf} {self.preset} max{self.max_side}px {self.max_kbps}k aac{self.audio_kbps}k"


@dataclass
class Plan:
    """What to do with a video: ``as_stored`` (plays in every browser as it is), ``remux`` (its streams play, its
    container does not: copied into MP4), ``transcode`` (encoded again).  ``reason`` says why, in words."""
    action: str
    reason: str
    copy_video: bool = False
    copy_audio: bool = False
    has_audio: bool = False
    duration: float | None = None
    width: int | None = None            # as displayed (rotation applied)
    height: int | None = None
    codec: str | None = None
    audio_codec: str | None = None
    rotation: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Output:
    """The preview ffmpeg wrote."""
    size: int
    duration: float | None
    width: int | None
    height: int | None
    seconds: float                       # wall-clock time the run took
    speed: float | None = None           # seconds of video per second of work
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f > 0 else None


def _bitrate_kbps(stream: dict, fmt: dict) -> float | None:
    b = _num(stream.get("bit_rate")) or _num(fmt.get("bit_rate"))
    return b / 1000 if b else None


def plan(probe: dict, *, container: str | None, enc: Encoding = Encoding()) -> Plan:
    """Decide from ffprobe's JSON (-show_format -show_streams) and the container detected from the bytes
    (pva.media.detect: mp4, mov, mkv, avi, webm...).  UnsupportedFormatError when there is no video stream."""
    streams = probe.get("streams") or []
    fmt = probe.get("format") or {}
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    if video is None:
        raise UnsupportedFormatError("no video stream in this file: nothing to play")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    codec = (video.get("codec_name") or "").lower() or None
    acodec = (audio.get("codec_name") or "").lower() if audio else None
    rot = _rotation(video)
    w, h = int(video.get("width") or 0) or None, int(video.get("height") or 0) or None
    if w and h and rot in (90, 270):
        w, h = h, w
    duration = _num(fmt.get("duration")) or _num(video.get("duration"))
    p = Plan("transcode", "", has_audio=audio is not None, duration=duration, width=w, height=h, codec=codec,
             audio_codec=acodec, rotation=rot)
    why: list[str] = []
    profile = (video.get("profile") or "").lower()
    pix = (video.get("pix_fmt") or "").lower()
    kbps = _bitrate_kbps(video, fmt)
    in_mp4 = (container or "").lower() in ("mp4", "m4v")
    if codec != "h264":
        why.append(f"{_codec_name(codec)} video does not play in every browser")
    elif pix not in _OK_PIX_FMTS or profile not in _OK_H264_PROFILES:
        why.append(f"H.264 {video.get('profile') or ''} {pix or 'unknown pixel format'} does not play in every "
                   "browser".replace("  ", " "))
    elif not in_mp4 and w and h and max(w, h) > enc.max_side and kbps and kbps > enc.max_kbps * 1.5:
        # a large, heavy H.264 in MOV/MKV is made lighter rather than copied; in MP4 it is served as stored
        why.append(f"H.264 at {max(w, h)} px and {kbps:.0f} kb/s is heavier than the preview's bound")
    p.copy_video = not why
    if audio is not None and acodec not in _OK_AUDIO:
        why.append(f"{_codec_name(acodec)} audio does not play in every browser")
    p.copy_audio = audio is not None and acodec in _OK_AUDIO
    if p.copy_video and (p.copy_audio or audio is None):
        if in_mp4:
            p.action, p.reason = "as_stored", "plays as stored: H.264" + (" and AAC" if audio else "") + " in MP4"
            return p
        p.action = "remux"
        p.reason = f"H.264{' and AAC' if audio else ''} in {(container or 'an unknown container').upper()}: " \
                   "copied into MP4"
        return p
    # the video may still be copied when only the audio is wrong (copy_video): its audio alone is encoded again
    p.action = "transcode"
    p.reason = "; ".join(why) or "encoded again for the web"
    return p


_CODEC_NAMES = {"hevc": "HEVC (H.265)", "mpeg4": "MPEG-4 part 2", "mjpeg": "Motion JPEG", "prores": "ProRes",
                "vp9": "VP9", "vp8": "VP8", "av1": "AV1", "wmv3": "WMV", "wmv2": "WMV", "wmv1": "WMV",
                "vc1": "VC-1", "msmpeg4v3": "MPEG-4 part 2 (Microsoft)", "mpeg2video": "MPEG-2",
                "mpeg1video": "MPEG-1", "h263": "H.263", "dvvideo": "DV", "pcm_s16le": "PCM", "pcm_s16be": "PCM",
                "mp3": "MP3", "ac3": "AC-3", "eac3": "E-AC-3", "opus": "Opus", "vorbis": "Vorbis", "flac": "FLAC",
                "wmav2": "WMA", "amr_nb": "AMR", "alac": "ALAC"}


def _codec_name(codec: str | None) -> str:
    return _CODEC_NAMES.get(codec or "", (codec or "unknown").upper())


def command(src: str | os.PathLike, dst: str | os.PathLike, p: Plan, enc: Encoding = Encoding(), *,
            progress: bool = True) -> list[str]:
    """The ffmpeg command line for the plan (also what bench/transcode.py runs as plain ffmpeg)."""
    cmd = [_tool("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-y"]
    if progress:
        cmd += ["-nostats", "-progress", "pipe:1", "-stats_period", "1"]
    if enc.threads:
        cmd += ["-threads", str(enc.threads)]
    cmd += ["-i", os.fspath(src), "-map", "0:v:0", "-map", "0:a:0?", "-map_metadata", "-1", "-map_chapters", "-1",
            "-sn", "-dn"]
    if p.copy_video:
        cmd += ["-c:v", "copy"]
    else:
        side = enc.max_side
        # autorotate (ffmpeg's default) turns the pixels first, so the bound applies to the displayed size
        vf = (f"scale=w='min({side},iw)':h='min({side},ih)':force_original_aspect_ratio=decrease:"
              "force_divisible_by=2,format=yuv420p")
        cmd += ["-vf", vf, "-c:v", "libx264", "-preset", enc.preset, "-crf", str(enc.crf),
                "-maxrate", f"{enc.max_kbps}k", "-bufsize", f"{enc.max_kbps * 2}k", "-profile:v", "high",
                "-pix_fmt", "yuv420p"]
        if enc.threads:
            cmd += ["-threads", str(enc.threads)]
    if p.has_audio:
        cmd += ["-c:a", "copy"] if p.copy_audio else ["-c:a", "aac", "-b:a", f"{enc.audio_kbps}k", "-ac", "2"]
    cmd += ["-movflags", "+faststart", "-f", "mp4", os.fspath(dst)]
    return cmd


def transcode(src: str | os.PathLike, dst: str | os.PathLike, p: Plan, enc: Encoding = Encoding(), *,
              progress: Callable[[float], None] | None = None, timeout: float = 3 * 3600) -> Output:
    """Run ffmpeg for the plan, writing ``dst`` (an MP4).  ``progress(fraction)`` is called about once a second
    (an exception it raises stops ffmpeg and is raised here).  CorruptMediaError with ffmpeg's reason when the
    input cannot be decoded (truncated, damaged); MediaTimeoutError after ``timeout`` seconds."""
    if p.action == "as_stored":
        raise ValueError("this video plays as stored: there is nothing to transcode")
    cmd = command(src, dst, p, enc)
    t0 = time.monotonic()
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError:
        raise MediaToolError("ffmpeg is not installed; install Debian's ffmpeg package") from None
    errors: collections.deque = collections.deque(maxlen=30)
    reader = threading.Thread(target=lambda: errors.extend(proc.stderr), daemon=True)
    reader.start()
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for line in proc.stdout:
            key, _, value = line.decode("ascii", "replace").strip().partition("=")
            if progress is not None and key == "out_time_us" and p.duration:
                t = (_num(value) or 0.0) / 1e6
                progress(min(0.99, t / p.duration))
        rc = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        timer.cancel()
        reader.join(timeout=5)
        proc.stdout.close()
        proc.stderr.close()
    elapsed = time.monotonic() - t0
    if rc != 0:
        if elapsed >= timeout:
            raise MediaTimeoutError(f"making the web preview took longer than {timeout:g} s")
        raise CorruptMediaError(f"cannot make a web preview: {_reason(errors, src, dst)}")
    size = os.path.getsize(dst)
    if size == 0:
        raise CorruptMediaError("cannot make a web preview: ffmpeg wrote nothing (no decodable frame)")
    warnings = [_clean(ln, src, dst) for ln in errors if ln.strip()][:5]
    out = next((s for s in (ffprobe_json(dst).get("streams") or []) if s.get("codec_type") == "video"), {})
    return Output(size=size, duration=p.duration, width=out.get("width"), height=out.get("height"),
                  seconds=round(elapsed, 3),
                  speed=round(p.duration / elapsed, 3) if p.duration and elapsed > 0 else None, warnings=warnings)


def _clean(line: bytes, src, dst) -> str:
    text = line.decode("utf-8", "replace").strip()
    for path in (os.fspath(src), os.fspath(dst)):
        text = text.replace(path + ": ", "").replace(path, "the file")
    return clean_text(text, 300)


def _reason(errors, src, dst) -> str:
    lines = [_clean(ln, src, dst) for ln in errors if ln.strip()]
    if not lines:
        return "ffmpeg failed without saying why"
    # the first lines name the cause (moov atom not found, invalid data...); the last says ffmpeg gave up
    picked = lines[:2] if len(lines) > 1 and lines[0] != lines[-1] else lines[:1]
    return "; ".join(picked) + " — the file is damaged or truncated; re-copy it from the original"


__all__ = ["Encoding", "Output", "Plan", "command", "plan", "transcode"]
