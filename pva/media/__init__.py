"""Media library: pure functions, no services.

Format detection by content, photo metadata (EXIF/XMP), video probing and frames (ffprobe/ffmpeg), thumbnails,
SHA-512 hashing and safe relative names.  Every error is a :class:`MediaError` (a ValueError) whose message is the
reason to show the user.
"""
from .detect import (HEAD_BYTES, SUPPORTED_FORMATS, FormatInfo, detect_file, detect_format, identify,
                     unsupported_reason)
from .errors import (CorruptMediaError, ImageTooLargeError, MediaError, MediaTimeoutError, MediaToolError,
                     UnsafePathError, UnsupportedFormatError, public_reason)
from .hashing import HashingReader, sha512_file
from .limits import check_image_header, check_pixels, guard_pillow, image_size, pixel_limit
from .paths import safe_relative_path
from .photo import PhotoMeta, extract_photo, open_image
from .thumbs import apply_orientation, make_thumbnails, to_srgb
from .video import VideoMeta, extract_frames, frame_times, grab_frame, parse_iso6709, probe_video

__all__ = [
    "HEAD_BYTES", "SUPPORTED_FORMATS", "FormatInfo", "detect_format", "detect_file", "identify", "unsupported_reason",
    "MediaError", "UnsupportedFormatError", "CorruptMediaError", "ImageTooLargeError", "UnsafePathError",
    "MediaTimeoutError", "MediaToolError", "public_reason",
    "HashingReader", "sha512_file", "safe_relative_path",
    "PhotoMeta", "extract_photo", "open_image",
    "check_image_header", "check_pixels", "guard_pillow", "image_size", "pixel_limit",
    "make_thumbnails", "apply_orientation", "to_srgb",
    "VideoMeta", "probe_video", "extract_frames", "grab_frame", "frame_times", "parse_iso6709",
]
