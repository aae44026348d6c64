"""Live photos and motion photos, as pure media helpers (issue 22).

- Apple live photo: a still (HEIC or JPEG) and a short MOV carrying the same content identifier.  The still keeps
  it in Apple's maker note (exiftool calls that tag MediaGroupUUID; older exiftool and some exports say
  ContentIdentifier, also in XMP); the MOV in its QuickTime key ``com.apple.quicktime.content.identifier``, which
  ffprobe already reads as a format tag (:func:`video_content_id` takes ffprobe's tags, no second read).
- Android motion photo: a JPEG with an MP4 appended, announced by XMP (GCamera:MicroVideo + MicroVideoOffset, bytes
  from the end of the file; or GCamera:MotionPhoto with a Container:Directory whose MotionPhoto item gives the
  length).  :func:`embedded_motion` finds the clip, :func:`extract_range` copies it out (the JPEG is untouched).
- :func:`speech_worth`: is the motion part worth transcribing (long enough, has audio, not near-silent)?
"""
from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from . import exiftool
from .errors import CorruptMediaError

# the head of a JPEG that holds its XMP packet; a motion photo says so there
XMP_SCAN_BYTES = 512 * 1024
_MOTION_MARKERS = (b"MicroVideo", b"MotionPhoto")
_UUIDISH = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{7,127}$")
MIN_SPEECH_SECONDS = 3.0
SILENT_DB = -50.0  # mean volume below this is silence or faint noise, not speech worth a transcript


def _clean_id(value) -> str | None:
    text = str(value or "").strip()
    return text.upper() if _UUIDISH.match(text) else None


def video_content_id(format_tags: dict | None) -> str | None:
    """The live-photo content identifier of a MOV from ffprobe's format tags (any case)."""
    tags = {str(k).lower(): v for k, v in (format_tags or {}).items()}
    return _clean_id(tags.get("com.apple.quicktime.content.identifier"))


def still_content_id(path: str | os.PathLike) -> str | None:
    """The live-photo content identifier of a still (Apple maker note or XMP), read with exiftool; None when the
    photo has none (or exiftool is missing)."""
    if not exiftool.available():
        return None
    data = exiftool.read(path, ["MediaGroupUUID", "ContentIdentifier"], fast=True)
    for tag in ("MediaGroupUUID", "ContentIdentifier"):
        for _group, value in exiftool.values(data, tag):
            cid = _clean_id(value)
            if cid:
                return cid
    return None


@dataclass
class Embedded:
    """Where an Android motion photo's clip is in its file, or why it could not be used (``reason``)."""

    start: int = 0
    length: int = 0
    version: str = ""
    reason: str | None = None
    details: dict = field(default_factory=dict)


def announces_motion(head: bytes) -> bool:
    """Does the start of a JPEG announce an embedded motion clip (its XMP names MicroVideo/MotionPhoto)?"""
    return any(m in head for m in _MOTION_MARKERS)


def _first(data: dict, tag: str):
    for _g, v in exiftool.values(data, tag):
        return v
    return None


def embedded_motion(path: str | os.PathLike) -> Embedded | None:
    """The embedded clip of an Android motion photo: None when the photo announces none; an Embedded with a
    ``reason`` when it announces one that is not there (truncated, bad offset, not an MP4)."""
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(XMP_SCAN_BYTES)
    if not announces_motion(head) or not exiftool.available():
        return None
    data = exiftool.read(p, ["MicroVideo", "MicroVideoOffset", "MicroVideoVersion", "MotionPhoto",
                             "MotionPhotoVersion", "DirectoryItemSemantic", "DirectoryItemLength",
                             "DirectoryItemMime"])
    size = p.stat().st_size
    micro, offset = _first(data, "MicroVideo"), _first(data, "MicroVideoOffset")
    length = None
    version = ""
    if str(micro) == "1" and offset not in (None, ""):
        length, version = _int(offset), "MicroVideo"
    elif str(_first(data, "MotionPhoto")) == "1":
        # Container:Directory: one item per file in it, in order (every copy of each tag, as exiftool lists them)
        semantics = [str(v) for _g, v in exiftool.values(data, "DirectoryItemSemantic")]
        lengths = [v for _g, v in exiftool.values(data, "DirectoryItemLength")]
        if "MotionPhoto" in semantics:
            i = semantics.index("MotionPhoto")
            # the primary image often has no Length: then the lengths list is one short, aligned to the end
            j = i - (len(semantics) - len(lengths))
            length = _int(lengths[j]) if 0 <= j < len(lengths) else None
        version = "MotionPhoto"
    else:
        return None
    if not length or length <= 0:
        return Embedded(reason="the photo says it holds a motion clip but gives no usable length or offset")
    if length >= size:
        return Embedded(reason=f"the photo says its motion clip is {length} bytes, but the file has only {size}: "
                               "the file is truncated")
    start = size - length
    with open(p, "rb") as f:
        f.seek(start)
        box = f.read(12)
        if box[4:8] != b"ftyp":  # a padded Container item: the clip starts after the padding
            f.seek(start)
            window = f.read(min(length, 1 << 16))
            at = window.find(b"ftyp")
            if at < 4:
                return Embedded(reason="the photo's embedded motion clip is not an MP4 where its XMP says (offset "
                                       f"{length} from the end): the file may be truncated or edited")
            start += at - 4
    return Embedded(start=start, length=size - start, version=version)


def _int(v) -> int | None:
    try:
        return int(float(v))
    except (TypeError, ValueError):
        return None


def extract_range(src: str | os.PathLike, start: int, length: int, dest: str | os.PathLike) -> None:
    """Copy ``length`` bytes from ``start`` of src into dest (the motion clip out of a motion photo)."""
    with open(src, "rb") as f, open(dest, "wb") as out:
        f.seek(start)
        left = length
        while left > 0:
            chunk = f.read(min(left, 1 << 20))
            if not chunk:
                raise CorruptMediaError("the embedded motion clip ends before its stated length (truncated file)")
            out.write(chunk)
            left -= len(chunk)


def mean_volume_db(path: str | os.PathLike, timeout: float = 60.0) -> float | None:
    """The mean volume (dBFS, RMS over the whole audio) ffmpeg's volumedetect measures; None without audio."""
    ffmpeg = shutil.which("ffmpeg")
    if not ffmpeg:
        return None
    try:
        proc = subprocess.run([ffmpeg, "-hide_banner", "-nostdin", "-i", os.fspath(path), "-vn", "-sn", "-dn",
                               "-af", "volumedetect", "-f", "null", "-"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return None
    m = re.search(rb"mean_volume:\s*(-?[\d.]+|-inf) dB", proc.stderr)
    if not m:
        return None
    v = m.group(1).decode()
    return -math.inf if v == "-inf" else float(v)


def speech_worth(path: str | os.PathLike, duration: float | None, has_audio: bool | None) -> tuple[bool, str, dict]:
    """(worth transcribing, reason, measurements) for a motion clip: skipped under MIN_SPEECH_SECONDS, without
    an audio track, or when its audio is near-silent (mean volume under SILENT_DB).  The transcriber's own voice
    activity filter (faster-whisper's vad_filter) then drops noise that is loud but not speech."""
    facts: dict = {"duration": duration}
    if duration is not None and duration < MIN_SPEECH_SECONDS:
        return False, f"the clip is {duration:.1f} s long (under {MIN_SPEECH_SECONDS:g} s): too short for speech " \
                      "worth a transcript", facts
    if has_audio is False:
        return False, "the clip has no audio track", facts
    db = mean_volume_db(path)
    facts["mean_volume_db"] = None if db is None or math.isinf(db) else round(db, 1)
    if db is None:
        return False, "no audio could be measured in the clip", facts
    if db < SILENT_DB:
        return False, f"the clip's audio is near-silent (mean {facts['mean_volume_db'] or '-inf'} dB, under " \
                      f"{SILENT_DB:g} dB)", facts
    return True, f"audio at a mean {facts['mean_volume_db']} dB over {duration or 0:.1f} s", facts


__all__ = ["video_content_id", "still_content_id", "Embedded", "announces_motion", "embedded_motion",
           "extract_range", "mean_volume_db", "speech_worth", "MIN_SPEECH_SECONDS", "SILENT_DB"]
