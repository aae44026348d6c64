"""Prometheus metrics for the gateway (served at /metrics).  With several gateway processes (`pva serve` sets
PROMETHEUS_MULTIPROC_DIR for them) each writes its samples there and /metrics adds up all of them.

Besides the gateway's own counters, each scrape reads what an operator of the whole machine watches (issue 20:
the backlog per analysis with its rate and time left, and the hosts): analysis jobs per kind and state, jobs
waiting, finished per minute and seconds left per kind, per worker host the jobs held and finished per minute,
and the gateway host's load, memory and data disk.  A source that does not
answer is left out of that scrape and reported by ``pva_metrics_source_up{source=...} 0``.
"""
from __future__ import annotations

import logging
import math
import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from pva.services import health
from pva.services import jobs as jobs_service

log = logging.getLogger("pva.gateway.metrics")

REQUESTS = Counter("pva_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("pva_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
LOGIN_FAILURES = Counter("pva_login_failures_total", "failed password logins")
UPLOADS = Counter("pva_uploads_total", "uploaded files by result", ["status"])


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def _jobs_metrics() -> list:
    seen = jobs_service.everyones_backlog()
    states = GaugeMetricFamily("pva_analysis_jobs", "analysis jobs (all users) by kind and state",
                               labels=["kind", "state"])
    for kind, by_state in sorted(seen["kinds"].items()):
        for state, n in sorted(by_state.items()):
            states.add_metric([kind, state], n)
    pending = GaugeMetricFamily("pva_analysis_backlog_jobs", "jobs waiting or running, per analysis",
                                labels=["kind"])
    rate = GaugeMetricFamily("pva_analysis_finished_per_minute",
                             "jobs finished per minute over the last 15 minutes, per analysis", labels=["kind"])
    eta = GaugeMetricFamily("pva_analysis_backlog_eta_seconds",
                            "seconds until the backlog is done at that rate (NaN while nothing finishes)",
                            labels=["kind"])
    for kind, b in sorted(seen["backlog"].items()):
        pending.add_metric([kind], b["pending"])
        rate.add_metric([kind], b["per_minute"])
        eta.add_metric([kind], math.nan if b["eta_seconds"] is None else b["eta_seconds"])
    held = GaugeMetricFamily("pva_worker_jobs_running", "jobs a worker host holds now (lease not run out)",
                             labels=["host", "kind"])
    done = GaugeMetricFamily("pva_worker_finished_per_minute",
                             "jobs a worker host finished per minute over the last 15 minutes", labels=["host", "kind"])
    for h in seen["hosts"]:
        held.add_metric([h["host"], h["kind"]], h["running"])
        done.add_metric([h["host"], h["kind"]], h["per_minute"])
    return [states, pending, rate, eta, held, done]


def _host_metrics() -> list:
    h = health.host_figures()
    load = GaugeMetricFamily("pva_host_load", "load average", labels=["minutes"])
    for minutes, value in zip(("1", "5", "15"), h["load"]):
        load.add_metric([minutes], value)
    out = [load, GaugeMetricFamily("pva_host_cpus", "CPUs of the machine", value=h["cpus"])]
    if h["memory_bytes"]:
        mem = GaugeMetricFamily("pva_host_memory_bytes", "memory", labels=["kind"])
        for kind, value in h["memory_bytes"].items():
            if value is not None:
                mem.add_metric([kind], value)
        out.append(mem)
    disk = GaugeMetricFamily("pva_data_disk_bytes", "the data directory's file system", labels=["kind"])
    for kind, value in h["data_disk_bytes"].items():
        disk.add_metric([kind], value)
    return out + [disk]


class LiveFigures:
    """A collector read at each scrape (not stored per process: every gateway process would report the same)."""
    SOURCES = {"jobs": _jobs_metrics, "host": _host_metrics}

    def collect(self):
        up = GaugeMetricFamily("pva_metrics_source_up", "1 when the figures of that source were read for this "
                               "scrape", labels=["source"])
        for name, read in self.SOURCES.items():
            try:
                families = read()
            except Exception as e:  # a scrape must still answer with the rest (the database may be down)
                log.warning("metrics source failed", extra={"source": name, "error": f"{type(e).__name__}: {e}"})
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up


def render() -> bytes:
    """The exposition text: every process's samples when they share PROMETHEUS_MULTIPROC_DIR, else this one's,
    then the figures read now (jobs, host).  Blocks on the database: call it from a thread."""
    live = CollectorRegistry()
    live.register(LiveFigures())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry) + generate_latest(live)
    return generate_latest() + generate_latest(live)
