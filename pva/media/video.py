"""Videos through ffprobe/ffmpeg (Debian's ffmpeg): metadata, ISO 6709 locations, frames for analysis.

Every external call has a timeout; failures become :class:`CorruptMediaError` (the file), :class:`MediaTimeoutError`
(took too long) or :class:`MediaToolError` (ffmpeg missing).  exiftool (:mod:`pva.media.exiftool`) answers what
ffprobe cannot: a make, model or date kept in maker notes (Nikon's NCTG atom), and the duration and date a container
still holds when its streams are damaged.
"""
from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction

from PIL import Image

from . import exiftool
from .detect import HEAD_BYTES, detect_format, unsupported_reason
from .errors import CorruptMediaError, MediaError, MediaTimeoutError, MediaToolError, UnsupportedFormatError
from .sanitize import clean_text, to_jsonable
from .xmp import parse_datetime

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 30.0
FRAME_TIMEOUT = 60.0
# Containers whose dates are the camera's wall-clock time with no zone (RIFF's IDIT/ICRD); MP4/QuickTime and
# Matroska dates are UTC by their specifications.
_LOCAL_TIME_FORMATS = {"avi"}


@dataclass
class VideoMeta:
    """What ffprobe says about a video.  ``width``/``height`` are as displayed (rotation applied)."""
    format: str | None                      # mp4 mov mkv avi webm (content-detected), None if not detected
    mime: str | None
    duration: float | None = None           # seconds; None when the file does not say
    width: int | None = None
    height: int | None = None
    coded_width: int | None = None          # as stored, before rotation
    coded_height: int | None = None
    codec: str | None = None                # video codec (h264, hevc, vp9, ...)
    frame_rate: float | None = None
    rotation: int = 0                       # degrees clockwise to display: 0, 90, 180, 270
    bit_rate: int | None = None
    has_audio: bool = False
    audio_codec: str | None = None
    creation_time: datetime | None = None   # aware (UTC unless the file gives a local offset); naive wall-clock
                                            # time when the container's date has no zone (AVI), as photos do
    taken_at_local: datetime | None = None  # wall-clock time as the camera recorded it (naive), when known
    taken_at_offset: int | None = None      # minutes east of UTC, when the file says so
    camera_make: str | None = None
    camera_model: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    raw: dict = field(default_factory=dict)  # JSON-serialisable: {'format': {...}, 'streams': [...]}
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        for k in ("creation_time", "taken_at_local"):
            if d[k] is not None:
                d[k] = d[k].isoformat()
        return d


def _tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise MediaToolError(f"{name} is not installed; install Debian's ffmpeg package (apt-get install ffmpeg)")
    return path


def _run(cmd: list[str], timeout: float, what: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MediaTimeoutError(f"{what} took longer than {timeout:g} s; the file may be damaged, or the machine "
                                "overloaded (retry later)") from None
    except FileNotFoundError:
        raise MediaToolError(f"{cmd[0]} is not installed; install Debian's ffmpeg package") from None


def _last_error_line(stderr: bytes) -> str:
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return clean_text(lines[-1], 300) if lines else "no details"


def ffprobe_json(path: str | os.PathLike, timeout: float = PROBE_TIMEOUT) -> dict:
    """ffprobe's JSON (-show_format -show_streams) for the file; CorruptMediaError when ffprobe cannot read it."""
    cmd = [_tool("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
           "--", os.fspath(path)]
    proc = _run(cmd, timeout, "reading the video (ffprobe)")
    if proc.returncode != 0:
        detail = _last_error_line(proc.stderr).replace(os.fspath(path) + ": ", "")  # never show our temp path
        raise CorruptMediaError(f"cannot read this video: {detail}; the file is damaged or "
                                "truncated — re-copy it from the original")
    try:
        return json.loads(proc.stdout.decode("utf-8", "replace"))
    except ValueError:
        raise CorruptMediaError("cannot read this video: ffprobe gave no usable answer") from None


# ------------------------------------------------------------------------------------------------- ISO 6709
_ISO6709 = re.compile(r"^\s*([+-]\d+(?:\.\d*)?)([+-]\d+(?:\.\d*)?)([+-]\d+(?:\.\d*)?)?\s*(?:CRS[^/]*)?/?\s*$")


def _iso6709_angle(text: str, deg_digits: int) -> float:
    sign = -1.0 if text[0] == "-" else 1.0
    body = text[1:]
    int_part, _, frac = body.partition(".")
    frac_v = float("0." + frac) if frac else 0.0
    n = len(int_part)
    if n <= deg_digits:                                   # ±DD.DDDD
        return sign * (int(int_part) + frac_v)
    if n == deg_digits + 2:                               # ±DDMM.MMMM
        return sign * (int(int_part[:deg_digits]) + (int(int_part[deg_digits:]) + frac_v) / 60)
    if n == deg_digits + 4:                               # ±DDMMSS.SS
        d, m, s = int(int_part[:deg_digits]), int(int_part[deg_digits:deg_digits + 2]), int(int_part[deg_digits + 2:])
        return sign * (d + m / 60 + (s + frac_v) / 3600)
    raise ValueError(f"unexpected ISO 6709 angle {text!r}")


def parse_iso6709(text: str) -> tuple[float, float, float | None] | None:
    """'+48.8577+002.2950+035.000/' (also ±DDMM.M and ±DDMMSS forms) as (lat, lon, alt or None); None if invalid."""
    if not isinstance(text, str):
        return None
    m = _ISO6709.match(text)
    if not m:
        return None
    try:
        lat = _iso6709_angle(m.group(1), 2)
        lon = _iso6709_angle(m.group(2), 3)
        alt = float(m.group(3)) if m.group(3) else None
    except ValueError:
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon, alt


# ------------------------------------------------------------------------------------------------- probe
def _ci(tags: dict | None) -> dict:
    return {str(k).lower(): v for k, v in (tags or {}).items()}


def _ratio(text) -> float | None:
    try:
        f = Fraction(str(text))
    except (ValueError, ZeroDivisionError):
        return None
    return float(f) if f > 0 else None


def _float(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if f == f and f not in (float("inf"), float("-inf")) else None


def _rotation(stream: dict) -> int:
    """Clockwise degrees needed for display (exiftool's Rotation): display matrix side data, else the rotate tag."""
    for sd in stream.get("side_data_list") or []:
        if "rotation" in sd:
            r = _float(sd.get("rotation"))
            if r is not None:
                return int(round(-r / 90.0)) * 90 % 360
    r = _float(_ci(stream.get("tags")).get("rotate"))
    if r is not None:
        return int(round(r / 90.0)) * 90 % 360
    return 0


def _positive(v) -> float | None:
    f = _float(v)
    return f if f is not None and f > 0 else None


_APPLE_DATE = "com.apple.quicktime.creationdate"


def _creation_time(ftags: dict, vtags: dict, warnings: list[str], local_clock: bool = False
                   ) -> tuple[datetime, datetime | None, int | None] | None:
    """(creation time, wall-clock time or None, offset minutes or None).  Apple's creationdate carries the local
    offset; creation_time is UTC (MP4, QuickTime, Matroska), except in containers that keep the camera's clock
    without a zone (``local_clock``: AVI), where a date without an offset stays naive wall-clock time."""
    for key, tags in ((_APPLE_DATE, ftags), ("creation_time", ftags),
                      ("creation_time", vtags), ("date", ftags)):
        text = tags.get(key)
        if not text:
            continue
        parsed = parse_datetime(str(text))
        if parsed is None:
            warnings.append(f"{key} {clean_text(str(text), 60)!r} is not a valid date; ignored")
            continue
        local, offset = parsed
        if local.year <= 1970 and local.month == 1 and local.day == 1:
            continue  # an unset MP4/QuickTime time (0 = 1904 or 1970): not a date
        return _date_parts(local, offset, local_clock, known_zone=key == _APPLE_DATE)
    return None


def _date_parts(local: datetime, offset: int | None, local_clock: bool, known_zone: bool = False
                ) -> tuple[datetime, datetime | None, int | None]:
    if offset is None:
        return (local, local, None) if local_clock else (local.replace(tzinfo=timezone.utc), None, None)
    aware = local.replace(tzinfo=timezone(timedelta(minutes=offset)))
    if offset == 0 and not (known_zone or local_clock):
        return aware, None, None  # UTC by the container's rules: the camera's own clock is not known
    return aware, local, offset


def probe_video(path: str | os.PathLike, *, timeout: float = PROBE_TIMEOUT) -> VideoMeta:
    """Metadata of the video at ``path``: duration, codec, size as displayed, frame rate, rotation, creation time,
    GPS (QuickTime/MP4 ISO 6709 tags: Apple's com.apple.quicktime.location.ISO6709, Android's location), audio.

    A make, model or date ffprobe does not find is asked of exiftool (maker notes).  A file whose streams cannot be
    read but whose container still gives a duration and a date (a damaged Matroska file) is kept with what the
    container says, the reason in ``warnings`` and the log.

    Raises UnsupportedFormatError (not a supported video), CorruptMediaError (ffprobe cannot read it or there is no
    video stream, and the container has no duration and date either), MediaTimeoutError, MediaToolError.
    """
    with open(path, "rb") as f:
        head = f.read(HEAD_BYTES)
    info = detect_format(head)
    if info is None:
        raise UnsupportedFormatError(unsupported_reason(head))
    if info.kind != "video":
        raise UnsupportedFormatError(f"this is a {info.format} photo, not a video")
    try:
        data = ffprobe_json(path, timeout)
    except CorruptMediaError as e:
        meta = _container_only(path, info, {}, str(e))
        if meta is None:
            raise
        return meta
    streams = data.get("streams") or []
    fmt = data.get("format") or {}
    warnings: list[str] = []
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not (s.get("disposition") or {}).get("attached_pic")), None)
    if video is None:
        meta = None if streams else _container_only(path, info, fmt, "ffprobe found no stream in it")
        if meta is None:
            raise CorruptMediaError("this file has no video stream (an audio-only file or a damaged video); "
                                    "upload a video with picture")
        return meta
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    ftags, vtags = _ci(fmt.get("tags")), _ci(video.get("tags"))

    meta = VideoMeta(format=info.format, mime=info.mime, warnings=warnings)
    meta.duration = _positive(fmt.get("duration")) or _positive(video.get("duration"))
    meta.codec = video.get("codec_name")
    meta.coded_width, meta.coded_height = video.get("width"), video.get("height")
    meta.rotation = _rotation(video)
    w, h = meta.coded_width, meta.coded_height
    meta.width, meta.height = (h, w) if meta.rotation in (90, 270) else (w, h)
    meta.frame_rate = _ratio(video.get("avg_frame_rate")) or _ratio(video.get("r_frame_rate"))
    br = _float(fmt.get("bit_rate"))
    meta.bit_rate = int(br) if br else None
    meta.has_audio = audio is not None
    meta.audio_codec = audio.get("codec_name") if audio else None
    created = _creation_time(ftags, vtags, warnings, info.format in _LOCAL_TIME_FORMATS)
    if created:
        meta.creation_time, meta.taken_at_local, meta.taken_at_offset = created
    meta.camera_make = clean_text(str(ftags.get("com.apple.quicktime.make") or ftags.get("make")
                                      or ftags.get("com.android.manufacturer") or ""), 200) or None
    meta.camera_model = clean_text(str(ftags.get("com.apple.quicktime.model") or ftags.get("model")
                                       or ftags.get("com.android.model") or ""), 200) or None
    for key in ("com.apple.quicktime.location.iso6709", "location", "location-eng"):
        text = ftags.get(key) or vtags.get(key)
        if not text:
            continue
        loc = parse_iso6709(str(text))
        if loc is None:
            warnings.append(f"{key} {clean_text(str(text), 60)!r} is not an ISO 6709 location; ignored")
            continue
        if loc[0] == 0.0 and loc[1] == 0.0:
            warnings.append("GPS position 0,0 ignored (written by devices without a fix)")
            break
        meta.gps_lat, meta.gps_lon, meta.gps_alt = loc
        break
    meta.raw = _raw(fmt, streams)
    if meta.camera_make is None or meta.camera_model is None or meta.creation_time is None or meta.duration is None:
        _fill_from_exiftool(meta, path, ("Make", "Model", "DateTimeOriginal", "Duration"))
    return meta


_RAW_STREAM_KEYS = ("index", "codec_type", "codec_name", "profile", "width", "height", "pix_fmt", "avg_frame_rate",
                    "r_frame_rate", "duration", "bit_rate", "sample_rate", "channels", "channel_layout", "tags",
                    "side_data_list", "disposition", "color_space", "color_transfer", "color_primaries")


def _raw(fmt: dict, streams: list[dict]) -> dict:
    return to_jsonable({
        "format": {k: fmt.get(k) for k in ("format_name", "format_long_name", "duration", "size", "bit_rate",
                                           "nb_streams", "tags") if k in fmt},
        "streams": [{k: s[k] for k in _RAW_STREAM_KEYS if k in s} for s in streams[:32]],
    })


# Groups whose dates are UTC by their format's rules; any other date exiftool finds without a zone (RIFF, maker
# notes) is the camera's clock.
_UTC_GROUPS = ("QuickTime", "Matroska")


def _fill_from_exiftool(meta: VideoMeta, path: str | os.PathLike, tags: tuple[str, ...]) -> None:
    """Fill what is still missing from exiftool (-fast: the container's headers and maker notes, not the streams):
    make, model, date (DateTimeOriginal: RIFF, Nikon's NCTG, Matroska), and when asked duration and displayed
    size.  exiftool absent or failing costs a warning at most."""
    if not exiftool.available():
        return
    try:
        data = exiftool.read(path, tags, fast=True)
    except MediaError as e:
        meta.warnings.append(f"exiftool: {e}")
        return
    used: dict = {}

    def first(tag: str, parse, skip=exiftool.SKIP_GROUPS):
        for group, value in exiftool.values(data, tag, skip):
            parsed = parse(group, value)
            if parsed is not None:
                used[f"{group}:{tag}"] = value
                return parsed
        return None

    def text(group, v):
        return clean_text(str(v), 200) or None

    if meta.camera_make is None and "Make" in tags:
        meta.camera_make = first("Make", text)
    if meta.camera_model is None and "Model" in tags:
        meta.camera_model = first("Model", text)
    if meta.creation_time is None and "DateTimeOriginal" in tags:
        def date(group, v):
            parsed = parse_datetime(str(v))
            if parsed is None or parsed[0].year <= 1970 and parsed[0].month == 1 and parsed[0].day == 1:
                return None
            return _date_parts(*parsed, local_clock=not group.startswith(_UTC_GROUPS))
        created = first("DateTimeOriginal", date)
        if created:
            meta.creation_time, meta.taken_at_local, meta.taken_at_offset = created
    if meta.duration is None and "Duration" in tags:  # Composite:Duration is RIFF's frame count / rate
        meta.duration = first("Duration", lambda g, v: _positive(v), ("File", "System", "ExifTool"))
    if meta.width is None and "ImageWidth" in tags:
        w = first("ImageWidth", lambda g, v: v if isinstance(v, int) and v > 0 else None)
        h = first("ImageHeight", lambda g, v: v if isinstance(v, int) and v > 0 else None)
        if w and h:
            meta.width, meta.height = meta.coded_width, meta.coded_height = w, h
    if used:
        meta.raw["exiftool"] = to_jsonable(used)


def _container_only(path: str | os.PathLike, info, fmt: dict, reason: str) -> VideoMeta | None:
    """A video whose streams cannot be read: kept (with a warning) when its container still gives a duration and a
    date, from ffprobe's format section and exiftool; None otherwise (the caller refuses the file)."""
    meta = VideoMeta(format=info.format, mime=info.mime)
    meta.duration = _positive(fmt.get("duration"))
    created = _creation_time(_ci(fmt.get("tags")), {}, meta.warnings, info.format in _LOCAL_TIME_FORMATS)
    if created:
        meta.creation_time, meta.taken_at_local, meta.taken_at_offset = created
    meta.raw = _raw(fmt, []) if fmt else {}
    _fill_from_exiftool(meta, path, ("Make", "Model", "DateTimeOriginal", "Duration", "ImageWidth", "ImageHeight"))
    if meta.duration is None or meta.creation_time is None:
        return None
    reason = clean_text(reason, 300)
    meta.warnings.append(f"the video's streams could not be read ({reason}); kept with the duration and date its "
                         "container gives")
    log.warning("%s video kept from its container alone: %s", info.format, reason)
    return meta


# ------------------------------------------------------------------------------------------------- frames
def poster_time(duration: float | None) -> float:
    """When the poster frame is taken: 1 s in (past fades from black), or the middle of very short videos."""
    if not duration or duration <= 0:
        return 0.0
    return min(1.0, duration / 2)


def frame_times(duration: float | None, count: int) -> list[float]:
    """The poster time followed by ``count - 1`` evenly spaced times (centres of equal slices of the video)."""
    if count < 1:
        return []
    times = [poster_time(duration)]
    if duration and duration > 0 and count > 1:
        n = count - 1
        times += [round(duration * (i + 0.5) / n, 3) for i in range(n)]
    return times


def grab_frame(path: str | os.PathLike, t: float, *, max_side: int | None = None,
               timeout: float = FRAME_TIMEOUT) -> Image.Image | None:
    """One decoded frame at ``t`` seconds (input seeking: jumps to the keyframe before t), rotation applied.
    None when there is no frame at that time (past the end)."""
    vf = _scale_args(max_side)
    cmd = [_tool("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-ss", f"{max(t, 0.0):.3f}",
           "-i", os.fspath(path), "-map", "0:v:0", "-frames:v", "1", "-an", "-sn", "-dn", *vf,
           "-f", "image2pipe", "-c:v", "ppm", "-"]
    proc = _run(cmd, timeout, f"decoding a frame at {t:.1f} s (ffmpeg)")
    if proc.returncode != 0:
        raise CorruptMediaError(f"cannot decode this video at {t:.1f} s: {_last_error_line(proc.stderr)}")
    if not proc.stdout:
        return None
    img = Image.open(io.BytesIO(proc.stdout))
    img.load()
    return img


def _scale_args(max_side: int | None) -> list[str]:
    if not max_side:
        return []
    return ["-vf", f"scale=w='min({max_side},iw)':h='min({max_side},ih)':force_original_aspect_ratio=decrease"]


def _grab_many(path: str | os.PathLike, times: list[float], max_side: int | None,
               timeout: float) -> dict[float, Image.Image]:
    """Frames at several times from ONE ffmpeg process (one input with its own fast seek per time)."""
    with tempfile.TemporaryDirectory(prefix="pva-frames-") as tmp:
        cmd = [_tool("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error"]
        for t in times:
            cmd += ["-ss", f"{max(t, 0.0):.3f}", "-i", os.fspath(path)]
        for i in range(len(times)):
            cmd += ["-map", f"{i}:v:0", "-frames:v", "1", *_scale_args(max_side), "-c:v", "ppm",
                    "-f", "image2", os.path.join(tmp, f"{i}.ppm")]
        proc = _run(cmd, timeout, f"decoding {len(times)} frames (ffmpeg)")
        if proc.returncode != 0:
            raise CorruptMediaError(f"cannot decode frames from this video: {_last_error_line(proc.stderr)}")
        out: dict[float, Image.Image] = {}
        for i, t in enumerate(times):
            fp = os.path.join(tmp, f"{i}.ppm")
            if os.path.exists(fp) and os.path.getsize(fp) > 0:
                with Image.open(fp) as img:
                    img.load()
                    out[t] = img.convert("RGB") if img.mode != "RGB" else img.copy()
        return out


def extract_frames(path: str | os.PathLike, count: int = 8, *, duration: float | None = None,
                   max_side: int | None = None, timeout: float = FRAME_TIMEOUT) -> list[tuple[float, Image.Image]]:
    """Up to ``count`` RGB frames as [(time_seconds, PIL.Image)]: first the poster frame, then evenly spaced frames
    (a time that repeats an earlier one, as in very short videos, is not decoded twice).

    One ffmpeg process with fast input seeking decodes them all.  ``duration`` skips the probe when the caller
    already has it; ``max_side`` scales frames down in ffmpeg (long side in pixels).  Frames are rotated for display.
    Times past the real end are skipped; raises CorruptMediaError when no frame at all can be decoded,
    MediaTimeoutError when decoding takes longer than ``timeout`` seconds in all.
    """
    if duration is None:
        duration = probe_video(path, timeout=timeout).duration
    times = list(dict.fromkeys(frame_times(duration, count)))
    if not times:
        return []
    try:
        got = _grab_many(path, times, max_side, timeout)
    except CorruptMediaError:
        got = {}
        for t in times:  # one bad seek must not cost the others
            try:
                img = grab_frame(path, t, max_side=max_side, timeout=timeout)
            except CorruptMediaError:
                continue
            if img is not None:
                got[t] = img.convert("RGB") if img.mode != "RGB" else img
    frames = [(t, got[t]) for t in times if t in got]
    if not frames:  # e.g. a duration longer than the real stream: the very first frame is better than nothing
        img = grab_frame(path, 0.0, max_side=max_side, timeout=timeout)
        if img is not None:
            frames = [(0.0, img.convert("RGB") if img.mode != "RGB" else img)]
    if not frames:
        raise CorruptMediaError("no frame could be decoded from this video; the file is damaged")
    return frames
