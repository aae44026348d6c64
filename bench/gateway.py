"""Gateway under concurrent clients: `pva serve` with one process vs. the default (one per core, up to 4), the
same library and the same mix of requests (search pages with filters, facets, stats), interleaved in rounds.

    .venv/bin/python bench/gateway.py [--media 20000] [--clients 20] [--seconds 15] [--rounds 2]
"""
from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from _env import REPO, isolated_env, make_user, table

sys.path.insert(0, str(REPO / "tests"))
from net_helpers import http_service  # noqa: E402


def seed(owner, n: int) -> None:
    from pva.infra import db

    db.execute("""insert into media(owner_id, sha512, kind, format, mime, size, taken_at, storage_key, original_path,
                                    filename, camera_make, camera_model, gps_lat, gps_lon)
                  select %(o)s, sha512(int8send(i)), case when i %% 10 = 0 then 'video' else 'photo' end,
                         case when i %% 10 = 0 then 'mp4' else 'jpeg' end, 'image/jpeg', 1000 + i,
                         timestamptz '2010-01-01' + (i * 7919 %% 5000) * interval '1 day', 'b/' || i,
                         'b/IMG_' || i || '.jpg', 'IMG_' || i || '.jpg', 'Canon', 'R' || (i %% 5),
                         case when i %% 3 = 0 then 40 + (i %% 200) / 10.0 end,
                         case when i %% 3 = 0 then (i %% 300) / 10.0 end
                    from generate_series(1, %(n)s) i""", {"o": owner, "n": n})
    db.execute("""insert into detections(media_id, label, confidence, x, y, w, h, model)
                  select id, (array['person', 'dog', 'car', 'kite'])[1 + (hashtext(id::text) & 3)], 0.8,
                         0.1, 0.1, 0.2, 0.2, 'bench' from media where owner_id = %s""", (owner,))
    db.execute("analyze")


def requests_mix(rnd: random.Random) -> tuple[str, dict]:
    r = rnd.random()
    if r < 0.35:
        return "/api/v1/media", {"limit": 60}
    if r < 0.55:
        return "/api/v1/media", {"limit": 60, "label": rnd.choice(["dog", "kite", "car"])}
    if r < 0.70:
        lat, lon = 40 + rnd.random() * 15, rnd.random() * 25
        return "/api/v1/media", {"limit": 60, "bbox": f"{lat},{lon},{lat + 3},{lon + 3}"}
    if r < 0.80:
        return "/api/v1/media", {"limit": 60, "q": f"IMG_{rnd.randint(1, 9999)}"}
    if r < 0.92:
        return "/api/v1/search/facets", {}
    return "/api/v1/stats", {}


def drive(url: str, token: str, clients: int, seconds: float) -> tuple[list[float], int]:
    import httpx

    times: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(k: int) -> None:
        rnd = random.Random(k)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            while time.monotonic() < stop:
                path, params = requests_mix(rnd)
                t = time.perf_counter()
                r = c.get(path, params=params)
                dt = time.perf_counter() - t
                with lock:
                    if r.status_code == 200:
                        times.append(dt)
                    else:
                        errors[0] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return times, errors[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--media", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    with isolated_env("gateway"):
        from pva.services import auth
        from pva.config import get_settings
        from pva.services import stats

        owner = make_user("bench")["id"]
        seed(owner, args.media)
        stats.fold_counters()
        token, _ = auth.create_token(owner, ["read"], name="bench")

        configs = {"1 process": 1, f"{get_settings().effective_http_workers} processes (default)":
                   get_settings().effective_http_workers}
        results: dict[str, list] = {k: [] for k in configs}
        errors = {k: 0 for k in configs}
        for _ in range(args.rounds):
            for name, workers in configs.items():
                command = lambda port, w=workers: [  # noqa: E731
                    sys.executable, "-m", "pva.cli", "serve", "--port", str(port), "--workers", str(w)]
                with tempfile.TemporaryDirectory() as tmp, http_service(
                        command, env=dict(os.environ), log_path=Path(tmp) / "serve.log", cwd=REPO,
                        what="pva serve") as (url, _):
                    drive(url, token, 2, 2)  # warm up
                    times, errs = drive(url, token, args.clients, args.seconds)
                results[name] += times
                errors[name] += errs
        rows = []
        base = None
        for name, times in results.items():
            times.sort()
            rps = len(times) / (args.seconds * args.rounds)
            base = base or rps
            rows.append((name, f"{statistics.median(times) * 1000:.0f}", f"{times[int(len(times) * 0.95)] * 1000:.0f}",
                         f"{rps:.0f}", f"{rps / base:.2f}", errors[name]))
        print(f"\n{args.clients} clients, {args.media} media, {args.seconds:.0f} s x {args.rounds} rounds each "
              f"(search, filtered search, map box, text, facets, stats)")
        print(table(rows, ("gateway", "p50 ms", "p95 ms", "req/s", "vs 1 process", "errors")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
