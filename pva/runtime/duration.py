"""Go ``time.ParseDuration`` syntax for function.yaml values (a cron trigger's ``interval``, ``@every``).

Its own module because both spec (validating function.yaml) and cron (``@every <duration>`` schedules) need it,
and spec already imports cron: keeping it in spec made the two import each other."""
from __future__ import annotations

import re

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str) -> float:
    """Go ``time.ParseDuration`` syntax ("10s", "1m30s", "500ms") to seconds."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("must be a duration string like '10s', '1m' or '1h30m'")
    s = text.strip()
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or pos == 0:
        raise ValueError(f"{text!r} is not a duration (use e.g. '10s', '1m', '1h30m')")
    return total


__all__ = ["parse_duration"]
