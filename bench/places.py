"""Place names benchmark (issue 21): how long naming a library's locations takes, and the two ways to do it.

1. The gazetteer in the process (pva/media/places.py, the one used): load the wheel's 155,000 GeoNames places and
   build the k-d tree once, then name --points locations (70% within 5 km of a random place, 30% anywhere on the
   globe, so mostly at sea).
2. The other way, GeoNames loaded into Postgres as Immich does: the same places in a table with a GiST index on a
   point, one nearest-neighbour query per location (a LATERAL join, --pg-points of them), plus the import.
   Measured in the same run: the ratio is what to read (the machine is shared; absolute times are noisy).
3. End to end, `pva places` (pva.services.places.fill_missing): --rows media rows with GPS in a fresh database,
   named in batches (lookup + places upsert + the media updates and their triggers); the rate projects 1M items.

    .venv/bin/python bench/places.py [--points 1000000] [--pg-points 20000] [--rows 200000]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from _env import isolated_env


def sample_points(g, n: int, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    near = int(n * 0.7)
    idx = rng.integers(0, len(g), near)
    pts = g.tree.data[idx]  # unit vectors of random places
    lat0 = np.degrees(np.arcsin(np.clip(pts[:, 2], -1, 1)))
    lon0 = np.degrees(np.arctan2(pts[:, 1], pts[:, 0]))
    r = rng.uniform(0, 5, near) / 111.0  # up to 5 km
    a = rng.uniform(0, 2 * np.pi, near)
    lat = np.clip(lat0 + r * np.sin(a), -90, 90)
    lon = (lon0 + r * np.cos(a) / np.maximum(np.cos(np.radians(lat0)), 0.05) + 180) % 360 - 180
    far = n - near
    lat2 = np.degrees(np.arcsin(rng.uniform(-1, 1, far)))
    lon2 = rng.uniform(-180, 180, far)
    return np.concatenate([lat, lat2]), np.concatenate([lon, lon2])


def in_process(points: int) -> dict:
    from pva.media.places import Gazetteer

    t = time.perf_counter()
    g = Gazetteer.load()
    load_s = time.perf_counter() - t
    lat, lon = sample_points(g, points)
    t = time.perf_counter()
    idx, km = g.nearest(lat, lon)
    look_s = time.perf_counter() - t
    named = float((idx >= 0).mean())
    print(f"in process: {len(g)} places loaded + tree in {load_s:.1f} s; {points} locations named in {look_s:.2f} s "
          f"({points / look_s:,.0f}/s), {named:.0%} within reach")
    return {"g": g, "load_s": load_s, "per_point_s": look_s / points, "lat": lat, "lon": lon}


def in_postgres(g, lat, lon, pg_points: int) -> dict:
    """GeoNames in a table with a GiST index, one KNN query per location (planar distance on (lon, lat): already
    kinder to Postgres than the great-circle distance would be)."""
    from psycopg2.extras import execute_values

    from pva.infra import db

    pts = g.tree.data
    plat = np.degrees(np.arcsin(np.clip(pts[:, 2], -1, 1)))
    plon = np.degrees(np.arctan2(pts[:, 1], pts[:, 0]))
    with db.transaction() as cur:
        t = time.perf_counter()
        cur.execute("create temporary table geonames (id int primary key, city text, cc text, region text, pt point)")
        execute_values(cur, "insert into geonames values %s",
                       [(i, g.city[i], g.code[i], g.region[i], f"({plon[i]},{plat[i]})") for i in range(len(g))],
                       page_size=5000)
        cur.execute("create index on geonames using gist (pt)")
        cur.execute("analyze geonames")
        import_s = time.perf_counter() - t
        q = [(float(lon[i]), float(lat[i])) for i in range(min(pg_points, len(lat)))]
        t = time.perf_counter()
        execute_values(cur, """select q.i, n.id from (values %s) q(i, x, y) cross join lateral (
                                 select id from geonames order by pt <-> point(q.x, q.y) limit 1) n""",
                       [(i, x, y) for i, (x, y) in enumerate(q)], page_size=5000, fetch=True)
        look_s = time.perf_counter() - t
    per = look_s / len(q)
    print(f"in Postgres: import + GiST index {import_s:.1f} s; {len(q)} KNN lookups in {look_s:.2f} s "
          f"({len(q) / look_s:,.0f}/s)")
    return {"import_s": import_s, "per_point_s": per}


def end_to_end(rows: int) -> dict:
    from pva.infra import db
    from pva.services import places

    with db.transaction() as cur:
        cur.execute("insert into users(username, password_hash) values ('bench', '!') returning id")
        owner = cur.fetchone()["id"]
        # 2,000 spots on a line from Lisbon to the Alps (a library travels; 1 km of jitter) and 10% at sea
        cur.execute("""insert into media(owner_id, sha512, kind, format, mime, size, taken_at, storage_key,
                                         original_path, filename, gps_lat, gps_lon)
                       select %s, sha512(int8send(i)), 'photo', 'jpeg', 'image/jpeg', 1000, now(), 'k/' || i,
                              i || '.jpg', i || '.jpg',
                              case when i %% 10 = 0 then -40 + random()
                                   else 38.7 + (i %% 2000) * 0.003 + random() * 0.01 end,
                              case when i %% 10 = 0 then -120 + random()
                                   else -9.1 + (i %% 2000) * 0.01 + random() * 0.01 end
                         from generate_series(1, %s) i""", (owner, rows))
    with db.transaction() as cur:
        cur.execute("analyze media")
    t = time.perf_counter()
    out = places.fill_missing()
    s = time.perf_counter() - t
    with db.transaction() as cur:
        cur.execute("select count(*) as n from places")
        n_places = cur.fetchone()["n"]
    print(f"pva places: {out['looked_up']} items in {s:.1f} s ({out['looked_up'] / s:,.0f} items/s), "
          f"{out['named']} named, {n_places} distinct places; 1M items: ~{1e6 / (out['looked_up'] / s) / 60:.1f} min")
    return {"rate": out["looked_up"] / s}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--pg-points", type=int, default=20_000)
    ap.add_argument("--rows", type=int, default=200_000, help="media rows named end to end (0: skip)")
    args = ap.parse_args()
    mem = in_process(args.points)
    with isolated_env("places") as _env:
        pg = in_postgres(mem["g"], mem["lat"], mem["lon"], args.pg_points)
        ratio = pg["per_point_s"] / mem["per_point_s"]
        print(f"per location: Postgres KNN {pg['per_point_s'] * 1e6:.1f} µs, "
              f"k-d tree {mem['per_point_s'] * 1e6:.2f} µs "
              f"-> the tree is {ratio:.0f}x faster; 1M locations: {1e6 * mem['per_point_s']:.1f} s vs "
              f"{1e6 * pg['per_point_s'] / 60:.1f} min (+{pg['import_s']:.0f} s import)")
        if args.rows:
            end_to_end(args.rows)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
