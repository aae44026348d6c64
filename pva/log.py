"""Structured logging: one JSON object per line (or plain text with PVA_LOG_JSON=false)."""
from __future__ import annotations

import json
import logging
import sys
import time

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = " ".join(f"{k}={v}" for k, v in record.__dict__.items()
                         if k not in _RESERVED and not k.startswith("_"))
        base = f"{record.levelname.lower():5} {record.name}: {record.getMessage()}"
        if extra:
            base += f" [{extra}]"
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time of each record (not the stream at set-up time, which may
    have been closed since: test captures, daemonised processes)."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def setup_logging(level: str | None = None, json_logs: bool | None = None, stream=None) -> None:
    """Configure the root logger once per process (idempotent)."""
    from .config import get_settings

    s = get_settings()
    level = level or s.log_level
    json_logs = s.log_json if json_logs is None else json_logs
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_pva", False):
            root.removeHandler(h)
    h = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    h._pva = True  # type: ignore[attr-defined]
    h.setFormatter(JsonFormatter() if json_logs else TextFormatter())
    root.addHandler(h)
    root.setLevel(level.upper())
    for noisy in ("pika", "urllib3", "httpx", "httpcore", "multipart"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)
