"""Bursts benchmark (issue 21): where the grouping lives.  On a generated library (one owner, two cameras, 20 % of
the photos in bursts of 5 frames 0.4 s apart), the library listing's first and deeper pages (limit 60, newest first)
are timed

  plain    the listing as it was (no stacking)                                  -- the baseline
  stored   stack=bursts: the stored media.burst_id, one more WHERE term          -- what the library page runs
  exists   stacks computed in the query: a photo is shown when no photo of its camera lies within 2 s before
           it (a NOT EXISTS probe per row read; the count of the burst is NOT computed, so a lower bound)
  window   stacks computed in the query with window functions (lag over each camera's photos in time order):
           every page reads and sorts the owner's whole library

and the cost of keeping the stored column: the rebuild of the whole library (the cron's, once per library and
day), and the update after one ingest (pva.services.bursts.refresh).  Ratios are against `plain` in the same run.

    .venv/bin/python bench/bursts.py [--rows 100000] [--runs 30]
"""
from __future__ import annotations

import argparse
import random
import sys
import time

from _env import REPO, isolated_env, make_user, table

sys.path.insert(0, str(REPO))

from pva.db.search.filters import LIST_COLUMNS  # noqa: E402  (the columns the listing reads)

GENERATE = """
insert into media(owner_id, sha512, kind, format, mime, size, taken_at, camera_make, camera_model, storage_key,
                  original_path, filename)
select %(owner)s, sha512(int8send(i)), 'photo', 'jpeg', 'image/jpeg', 1000,
       timestamptz '2010-01-01' + (i / 10) * interval '1 hour'
         + ((i %% 10) / 2) * case when (i / 10) %% 5 = 0 then interval '0.4 s' else interval '400 s' end
         + (i %% 2) * interval '0.05 s',
       case when i %% 2 = 0 then 'Canon' else 'NIKON CORPORATION' end,
       case when i %% 2 = 0 then 'EOS R6' else 'NIKON Z 6' end,
       'k/' || i, 'p/' || i || '.jpg', i || '.jpg'
  from generate_series(1::bigint, %(rows)s::bigint) i
"""

KEY = "coalesce(m.taken_at, m.created_at)"
EXISTS_SQL = f"""select {LIST_COLUMNS}, {KEY} as sort_value from media m
  where m.owner_id = %(owner)s and m.trashed_at is null {{cursor}}
    and not (m.kind = 'photo' and m.camera_model is not null and m.taken_at is not null and exists (
      select 1 from media p where p.owner_id = m.owner_id and p.camera_model = m.camera_model
         and coalesce(p.camera_make, '') = coalesce(m.camera_make, '') and p.kind = 'photo'
         and p.trashed_at is null and p.taken_at is not null
         and p.taken_at >= m.taken_at - interval '2 s' and (p.taken_at, p.id) < (m.taken_at, m.id)))
  order by {KEY} desc, m.id desc limit 61"""
WINDOW_SQL = f"""select * from (
    select {LIST_COLUMNS}, {KEY} as sort_value,
           m.taken_at - lag(m.taken_at) over (partition by m.camera_model, coalesce(m.camera_make, '')
                                              order by m.taken_at, m.id) as gap
      from media m where m.owner_id = %(owner)s and m.trashed_at is null) x
  where (gap is null or gap > interval '2 s') {{cursor}}
  order by sort_value desc, id desc limit 61"""


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    from pva.db.search import Filters
    from pva.db.search import search as listing
    from pva.infra import db
    from pva.services import bursts

    with isolated_env("bursts"):
        owner = make_user("bench-bursts")["id"]
        t0 = time.perf_counter()
        with db.transaction() as cur:
            cur.execute(GENERATE, {"owner": owner, "rows": args.rows})
            cur.execute("analyze media")
        print(f"generated {args.rows} photos in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        changed = bursts.rebuild(owner)
        rebuild_s = time.perf_counter() - t0
        with db.transaction() as cur:
            cur.execute("analyze media")
            cur.execute("select count(*) as n, count(distinct burst_id) as b from media where burst_id is not null")
            r = cur.fetchone()
        print(f"rebuild: {rebuild_s * 1000:.0f} ms, {changed} rows set, {r['n']} photos in {r['b']} bursts")
        t0 = time.perf_counter()
        bursts.rebuild(owner)
        print(f"rebuild again (nothing to write): {(time.perf_counter() - t0) * 1000:.0f} ms")

        # cursors: the first page and pages at random depths (taken from the plain listing)
        with db.transaction() as cur:
            cur.execute(f"select {KEY} as v, m.id from media m where owner_id = %s order by 1 desc, 2 desc",
                        (owner,))
            keys = [(r["v"], r["id"]) for r in cur.fetchall()]
        rng = random.Random(21)
        depths = [None] + [keys[rng.randrange(len(keys) // 2)] for _ in range(args.runs - 1)]

        def run_listing(stack: bool):
            from pva.db.search import encode_cursor

            times = []
            for d in depths:
                cursor = encode_cursor("taken", d[0], d[1]) if d else None
                t = time.perf_counter()
                with db.transaction() as cur:
                    listing(cur, owner, Filters(stack_bursts=stack), limit=60, cursor=cursor)
                times.append((time.perf_counter() - t) * 1000)
            return times

        def run_sql(sql: str):
            times = []
            for d in depths:
                p = {"owner": owner}
                cur_sql = ""
                if d:
                    p.update(cv=d[0], cid=d[1])
                    cur_sql = (f"and ({KEY}, m.id) < (%(cv)s, %(cid)s)" if "lag(" not in sql
                               else "and (sort_value, id) < (%(cv)s, %(cid)s)")
                t = time.perf_counter()
                with db.transaction() as cur:
                    cur.execute(sql.format(cursor=cur_sql), p)
                    cur.fetchall()
                times.append((time.perf_counter() - t) * 1000)
            return times

        for _ in range(2):  # warm the cache
            run_listing(False), run_listing(True)
        results = {"plain": run_listing(False), "stored": run_listing(True), "exists": run_sql(EXISTS_SQL),
                   "window": run_sql(WINDOW_SQL)}
        base = pct(results["plain"], 50)
        rows = [(name, f"{pct(t, 50):.2f}", f"{pct(t, 95):.2f}", f"{pct(t, 50) / base:.2f}x")
                for name, t in results.items()]
        print(table(rows, ("listing (limit 60)", "p50 ms", "p95 ms", "p50 vs plain")))

        # the update after one ingest: the new frame's camera around its time
        with db.transaction() as cur:
            cur.execute("select id from media where owner_id = %s and burst_id is not null order by random() limit %s",
                        (owner, args.runs))
            ids = [r["id"] for r in cur.fetchall()]
        times = []
        for mid in ids:
            t = time.perf_counter()
            bursts.refresh(owner, [mid])
            times.append((time.perf_counter() - t) * 1000)
        print(f"update after one ingest (refresh): p50 {pct(times, 50):.2f} ms, p95 {pct(times, 95):.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
