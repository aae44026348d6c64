"""A 1,000-file load while 20 clients search and page through the library over HTTP (a real uvicorn gateway):
nothing errors, the load completes, and searches keep their latency budget.  p95 idle and under load are reported.

Sizes: PVA_FAULTS_SEARCH_FILES (default 1000), PVA_FAULTS_SEARCH_CLIENTS (20); budget: PVA_FAULTS_SEARCH_P95
seconds for the p95 under load (default 1.5 s: 20 concurrent clients on 2 cores that are also ingesting)."""
from __future__ import annotations

import os
import random
import threading
import time

import pytest

from faults.conftest import gateway_server
from faults.helpers import check_library, make_photos, run_load

pytestmark = [pytest.mark.faults, pytest.mark.timeout(2400)]

FILES = int(os.environ.get("PVA_FAULTS_SEARCH_FILES", "1000"))
CLIENTS = int(os.environ.get("PVA_FAULTS_SEARCH_CLIENTS", "20"))
BUDGET = float(os.environ.get("PVA_FAULTS_SEARCH_P95", "1.5"))
SEED_FILES = 200


def p(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class Client(threading.Thread):
    """Searches, pages with next_cursor, opens facets, stats and a thumbnail, until told to stop."""

    def __init__(self, url: str, token: str, seed: int):
        super().__init__(daemon=True)
        self.url, self.token, self.rnd = url, token, random.Random(seed)
        self.stop_evt = threading.Event()
        self.phase = "idle"
        self.times: dict[str, list[float]] = {"idle": [], "load": []}
        self.errors: list[str] = []
        self.pages = 0

    def _get(self, client, path, **params):
        t0 = time.perf_counter()
        try:
            r = client.get(path, params=params)
        except Exception as e:  # noqa: BLE001 - every error counts
            self.errors.append(f"{path}: {type(e).__name__}: {e}")
            return None
        self.times[self.phase].append(time.perf_counter() - t0)
        if r.status_code != 200:
            self.errors.append(f"{path} {params}: HTTP {r.status_code} {r.text[:200]}")
            return None
        return r

    def run(self) -> None:
        import httpx

        with httpx.Client(base_url=self.url, timeout=30,
                          headers={"Authorization": f"Bearer {self.token}"}) as c:
            while not self.stop_evt.is_set():
                choice = self.rnd.random()
                if choice < 0.5:  # browse: three pages of the timeline
                    cursor = None
                    for _ in range(3):
                        params = {"limit": 50, **({"cursor": cursor} if cursor else {})}
                        r = self._get(c, "/api/v1/media", **params)
                        if r is None:
                            break
                        self.pages += 1
                        page = r.json()
                        if page["items"] and self.rnd.random() < 0.3:
                            it = self.rnd.choice(page["items"])
                            if it.get("thumbnail_url"):
                                self._get(c, it["thumbnail_url"])
                        cursor = page.get("next_cursor")
                        if not cursor:
                            break
                elif choice < 0.8:  # text search (file names are indexed)
                    self._get(c, "/api/v1/media", q=self.rnd.choice(["DOCK", "text", "bus", "zidane", "00042"]),
                              limit=50)
                elif choice < 0.9:
                    self._get(c, "/api/v1/search/facets")
                else:
                    self._get(c, "/api/v1/stats")


def test_a_1000_file_load_while_20_clients_search_keeps_the_latency_budget(iso, tmp_path, fault_report):
    owner = iso.user()
    seed, root = tmp_path / "seed", tmp_path / "load"
    make_photos(seed, SEED_FILES, prefix="s")
    expected = make_photos(root, FILES, prefix="l")
    first = run_load(iso.env, seed, owner["username"], workers=2)
    assert first["rc"] == 0 and first.get("added") == SEED_FILES, first["out"]
    with gateway_server(iso) as url:
        clients = [Client(url, owner["token"], i) for i in range(CLIENTS)]
        for c in clients:
            c.start()
        time.sleep(20)  # idle: the library of SEED_FILES, no load
        for c in clients:
            c.phase = "load"
        t0 = time.monotonic()
        load = run_load(iso.env, root, owner["username"], workers=2)
        load_seconds = time.monotonic() - t0
        for c in clients:
            c.stop_evt.set()
        for c in clients:
            c.join(60)
    idle = [t for c in clients for t in c.times["idle"]]
    busy = [t for c in clients for t in c.times["load"]]
    errors = [e for c in clients for e in c.errors]
    lib = check_library(owner, expected)
    fault_report(fault=f"{FILES}-file load + {CLIENTS} searching clients", injected=len(idle) + len(busy),
                 files_in=FILES, stored=lib["rows"] - SEED_FILES, rejected=0, analyses="-", failed=len(errors),
                 lost=lib["lost"],
                 note=f"p95 idle {p(idle, .95) * 1000:.0f} ms, under load {p(busy, .95) * 1000:.0f} ms "
                      f"(p50 {p(idle, .5) * 1000:.0f}/{p(busy, .5) * 1000:.0f} ms), load {load_seconds:.0f}s, "
                      f"{FILES / load_seconds:.1f} files/s")
    assert errors == [], errors[:10]
    assert load["rc"] == 0 and load.get("added") == FILES, load["out"]
    assert lib["problems"] == [], lib["problems"][:10]
    assert len(idle) > 100 and len(busy) > 100, (len(idle), len(busy))
    assert p(busy, 0.95) < BUDGET, (f"search p95 under load {p(busy, .95):.3f}s over the {BUDGET}s budget "
                                    f"(idle {p(idle, .95):.3f}s)")
