"""Prometheus metrics for the gateway (served at /metrics).  With several gateway processes (`pva serve` sets
PROMETHEUS_MULTIPROC_DIR for them) each writes its samples there and /metrics adds up all of them."""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess

REQUESTS = Counter("pva_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("pva_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
LOGIN_FAILURES = Counter("pva_login_failures_total", "failed password logins")
UPLOADS = Counter("pva_uploads_total", "uploaded files by result", ["status"])


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def render() -> bytes:
    """The exposition text: every process's samples when they share PROMETHEUS_MULTIPROC_DIR, else this one's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
