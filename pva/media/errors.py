"""Errors raised by pva.media.  Every message says what is wrong with the input and, where it helps, what to do.

All of them subclass :class:`MediaError` (itself a ``ValueError``), so a caller can catch one type.  Those about
the file itself are also :class:`pva.errors.Permanent` (reject the file with ``str(err)`` as the reason; a job
fails at once); :class:`MediaTimeoutError` and :class:`MediaToolError` are not (an overloaded machine or a missing
ffmpeg: worth retrying), which is why MediaError itself is not Permanent and is never raised bare.
"""
from __future__ import annotations

import re

from pva.errors import Permanent


class MediaError(ValueError):
    """Base class: the file (or name) cannot be used; ``str(err)`` is the reason to show the user."""


class UnsupportedFormatError(MediaError, Permanent):
    """The content is not one of the supported photo or video formats (detected by content, not extension)."""


class CorruptMediaError(MediaError, Permanent):
    """The file claims a supported format but cannot be read (truncated, damaged, empty)."""


class ImageTooLargeError(MediaError, Permanent):
    """The image has more pixels than settings.max_image_pixels (decompression-bomb protection)."""


class UnsafePathError(MediaError, Permanent):
    """A file name or relative path that cannot be stored safely (``..``, absolute, control characters, ...)."""


class MediaTimeoutError(MediaError):
    """ffprobe/ffmpeg did not finish in time; the file may be pathological, or the machine overloaded (retry)."""


class MediaToolError(MediaError):
    """An external tool (ffprobe/ffmpeg) is missing or failed for a reason that is not the file's fault."""


# A quoted absolute path ('/var/tmp/ingest-x'), a file object's repr (<_io.BufferedReader name='...'>) or a bare
# absolute path of two or more components: what decoders and the OS put in their messages about our own files.
_PATH = re.compile(r"""(['"])/[^'"]*\1|<_io\.[^>]*>|(?<![\w.:/])/(?:[^\s'",;:()<>/]+/)+[^\s'",;:()<>]*""")


def public_reason(error: BaseException | str, limit: int = 300) -> str:
    """The text of a decoder/OS error made fit for the user: server paths replaced by "the file", one line,
    at most ``limit`` characters.  Reasons are made here, where they are produced, so none reaches a client with
    the name of our temporary file in it."""
    text = error if isinstance(error, str) else (str(error).strip() or type(error).__name__)
    text = _PATH.sub("the file", " ".join(text.split()))
    return text if len(text) <= limit else text[:limit - 1] + "…"
