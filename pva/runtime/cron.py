"""Cron schedules for the cron trigger: 5 fields (minute hour day-of-month month day-of-week), an optional
leading seconds field (6 fields), and the descriptors @yearly @annually @monthly @weekly @daily @midnight
@hourly and ``@every <duration>``.  Times are local, as in Nuclio's processor."""
from __future__ import annotations

import datetime as dt

from .duration import parse_duration

_MONTHS = {m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())}
_DOWS = {d: i for i, d in enumerate("sun mon tue wed thu fri sat".split())}
_DESCRIPTORS = {
    "@yearly": "0 0 0 1 1 *", "@annually": "0 0 0 1 1 *", "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0", "@daily": "0 0 0 * * *", "@midnight": "0 0 0 * * *", "@hourly": "0 0 * * * *",
}


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None, what: str) -> tuple[set[int], bool]:
    values: set[int] = set()
    star = text in ("*", "?")
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, _, s = part.partition("/")
            if not s.isdigit() or int(s) == 0:
                raise ValueError(f"bad step {s!r} in {what} field {text!r}")
            step = int(s)
        if part in ("*", "?"):
            a, b = lo, hi
        else:
            a_s, _, b_s = part.partition("-")
            a = _value(a_s, names, what, text)
            b = _value(b_s, names, what, text) if b_s else (hi if step > 1 else a)
        if what == "day-of-week" and b == 7:
            b = 6
            values.add(0)
        if not (lo <= a <= hi and lo <= b <= hi) or a > b:
            raise ValueError(f"{what} field {text!r} out of range {lo}-{hi}")
        values.update(range(a, b + 1, step))
    return values, star


def _value(s: str, names: dict[str, int] | None, what: str, text: str) -> int:
    if s.isdigit():
        v = int(s)
        return 0 if what == "day-of-week" and v == 7 else v
    if names and s.lower() in names:
        return names[s.lower()]
    raise ValueError(f"bad value {s!r} in {what} field {text!r}")


class CronSchedule:
    def __init__(self, expr: str):
        self.expr = expr
        e = expr.strip()
        self.every: float | None = None
        if e.startswith("@every"):
            self.every = parse_duration(e[len("@every"):].strip())
            if self.every <= 0:
                raise ValueError("@every needs a positive duration")
            return
        e = _DESCRIPTORS.get(e, e)
        parts = e.split()
        if len(parts) == 5:
            parts = ["0"] + parts
        if len(parts) != 6:
            raise ValueError(f"{expr!r} must have 5 fields (minute hour day month weekday) or 6 (with seconds)")
        self.sec, _ = _field(parts[0], 0, 59, None, "second")
        self.min, _ = _field(parts[1], 0, 59, None, "minute")
        self.hour, _ = _field(parts[2], 0, 23, None, "hour")
        self.dom, self.dom_star = _field(parts[3], 1, 31, None, "day-of-month")
        self.month, _ = _field(parts[4], 1, 12, _MONTHS, "month")
        self.dow, self.dow_star = _field(parts[5], 0, 6, _DOWS, "day-of-week")

    def _day_ok(self, t: dt.datetime) -> bool:
        dom_ok = t.day in self.dom
        dow_ok = (t.weekday() + 1) % 7 in self.dow
        if self.dom_star or self.dow_star:
            return dom_ok and dow_ok
        return dom_ok or dow_ok

    def next_after(self, t: dt.datetime) -> dt.datetime:
        """The first matching time strictly after ``t`` (naive local datetime)."""
        if self.every is not None:
            return t + dt.timedelta(seconds=self.every)
        t = t.replace(microsecond=0) + dt.timedelta(seconds=1)
        limit = t + dt.timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.month:
                t = (t.replace(day=1, hour=0, minute=0, second=0) + dt.timedelta(days=32)).replace(day=1)
                continue
            if not self._day_ok(t):
                t = t.replace(hour=0, minute=0, second=0) + dt.timedelta(days=1)
                continue
            if t.hour not in self.hour:
                t = t.replace(minute=0, second=0) + dt.timedelta(hours=1)
                continue
            if t.minute not in self.min:
                t = t.replace(second=0) + dt.timedelta(minutes=1)
                continue
            if t.second not in self.sec:
                t += dt.timedelta(seconds=1)
                continue
            return t
        raise ValueError(f"schedule {self.expr!r} never fires")
