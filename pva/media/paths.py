"""Safe relative names for files that arrive from users (uploads, load folders, archives)."""
from __future__ import annotations

import re
import unicodedata

from .errors import UnsafePathError

MAX_COMPONENT_BYTES = 255    # every common filesystem's limit for one name
MAX_PATH_BYTES = 1024        # S3 key limit; storage keys add a short prefix
# A Windows drive path ('C:/x', 'C:\\x' or a bare 'C:').  A colon elsewhere is an ordinary character on Linux
# and in S3 keys: 'a:b|c?d*.jpg' is a legal file name and is kept as it is.
_DRIVE = re.compile(r"^[A-Za-z]:(/|$)")
_HINT = "send a plain relative path such as 'holiday/2024/IMG_0001.jpg'"


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf") and ch not in ("\u200d", "\u200c")  # keep ZWJ/ZWNJ (emoji, scripts)


def safe_relative_path(name: str | bytes, *, max_bytes: int = MAX_PATH_BYTES) -> str:
    """A normalised, safe relative path ('a/b/c.jpg') for ``name``, or UnsafePathError saying why not.

    Normalises: backslashes to '/', Unicode to NFC (macOS sends NFD), empty and '.' components dropped, surrounding
    whitespace of each component trimmed.  Rejects: non-UTF-8 bytes, NUL and other control or invisible format
    characters, '..' components, absolute paths ('/x', 'C:\\x', '\\\\server\\share'), components longer than 255 bytes
    and paths longer than ``max_bytes`` bytes (UTF-8), and names that end up empty.
    """
    if isinstance(name, (bytes, bytearray)):
        try:
            name = bytes(name).decode("utf-8")
        except UnicodeDecodeError as e:
            raise UnsafePathError(f"file name is not valid UTF-8 (byte {e.start}); rename the file with a UTF-8 "
                                  "name (e.g. on the machine it came from) and send it again") from None
    if not isinstance(name, str):
        raise UnsafePathError(f"file name must be text, not {type(name).__name__}")
    try:  # os.walk/os.listdir give non-UTF-8 names as lone surrogates (surrogateescape)
        name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UnsafePathError(f"file name is not valid UTF-8 (character {e.start}); rename the file with a UTF-8 "
                              "name (e.g. on the machine it came from) and send it again") from None
    shown = repr(name[:80] + ("…" if len(name) > 80 else ""))
    if "\x00" in name:
        raise UnsafePathError(f"unsafe file name {shown}: it contains a NUL character; {_HINT}")
    bad = next((ch for ch in name if _is_control(ch)), None)
    if bad is not None:
        raise UnsafePathError(f"unsafe file name {shown}: it contains the control character U+{ord(bad):04X}; "
                              f"{_HINT}")
    if len(name) > 4 * max_bytes:  # cheap guard before normalising very long input
        raise UnsafePathError(f"file name is too long ({len(name)} characters, limit {max_bytes} bytes)")
    path = unicodedata.normalize("NFC", name).replace("\\", "/")
    if path.startswith("/"):
        raise UnsafePathError(f"unsafe file name {shown}: absolute paths are not accepted; {_HINT}")
    if _DRIVE.match(path):
        raise UnsafePathError(f"unsafe file name {shown}: a Windows drive path (absolute) is not accepted; {_HINT}")
    parts = []
    for part in path.split("/"):
        part = part.strip()
        if part in ("", "."):
            continue
        if part == "..":
            raise UnsafePathError(f"unsafe file name {shown}: '..' (parent directory) is not allowed; {_HINT}")
        if len(part.encode("utf-8")) > MAX_COMPONENT_BYTES:
            raise UnsafePathError(f"file name component {part[:40]!r}… is too long "
                                  f"({len(part.encode('utf-8'))} bytes, limit {MAX_COMPONENT_BYTES}); shorten it")
        parts.append(part)
    if not parts:
        raise UnsafePathError(f"file name {shown} is empty after removing '.', '/' and spaces; give the file a name")
    result = "/".join(parts)
    if len(result.encode("utf-8")) > max_bytes:
        raise UnsafePathError(f"path is too long ({len(result.encode('utf-8'))} bytes, limit {max_bytes}); "
                              "use shorter folder or file names")
    return result
