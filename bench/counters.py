"""What the library counters (004_library_counts.sql) cost writers: the same writes with the counter trigger on
and off, interleaved in rounds in one process (so machine noise hits both alike), plus one fold.

  - insert: one media row per transaction, as ingest does;
  - tag: a detection per item (the label_tags trigger updates the media row, whose counter deltas follow);
  - trash + restore: one item at a time, as the web UI does;
  - fold: moving the accumulated deltas into the counters (the reconcile cron's job).

    .venv/bin/python bench/counters.py [--items 600] [--rounds 3]
"""
from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import time

from _env import isolated_env, make_user, table

TRIGGERS = ("media_counts_ins", "media_counts_upd", "media_counts_del")


def set_triggers(on: bool) -> None:
    from pva.infra import db

    for t in TRIGGERS:
        db.execute(f"alter table media {'enable' if on else 'disable'} trigger {t}")


def workload(owner, n: int, tag: str) -> dict[str, float]:
    from pva.infra import db

    out = {}
    ids = []
    t = time.perf_counter()
    for i in range(n):
        row = db.query_one(
            """insert into media(owner_id, sha512, kind, format, mime, size, taken_at, camera_make, camera_model,
                                 gps_lat, gps_lon, storage_key, original_path, filename)
               values (%s, %s, 'photo', 'jpeg', 'image/jpeg', %s, now() - (%s || ' days')::interval, 'Canon',
                       'EOS R', 48.8, 2.3, %s, %s, %s) returning id""",
            (owner, hashlib.sha512(f"{tag}-{i}".encode()).digest(), 1000 + i, i % 900, f"b/{tag}/{i}",
             f"b/{tag}/{i}.jpg", f"{i}.jpg"))
        ids.append(row["id"])
    out["insert"] = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for i, mid in enumerate(ids):
        db.execute("""insert into detections(media_id, label, confidence, x, y, w, h, model)
                      values (%s, %s, 0.8, 0.1, 0.1, 0.2, 0.2, 'bench')""", (mid, ("dog", "cat", "person")[i % 3]))
    out["tag"] = (time.perf_counter() - t) / n
    t = time.perf_counter()
    for mid in ids:
        db.execute("update media set trashed_at = now() where id = %s", (mid,))
        db.execute("update media set trashed_at = null where id = %s", (mid,))
    out["trash + restore"] = (time.perf_counter() - t) / n
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--items", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    with isolated_env("counters"):
        from pva.db import counts
        from pva.infra import db
        from pva.services import stats

        owner = make_user("bench")["id"]
        runs: dict[bool, list[dict]] = {True: [], False: []}
        for r in range(args.rounds):
            for on in (False, True):
                set_triggers(on)
                runs[on].append(workload(owner, args.items, f"{r}-{on}"))
        set_triggers(True)
        pending = stats.pending_deltas()
        t = time.perf_counter()
        stats.fold_counters()
        fold_ms = (time.perf_counter() - t) * 1000
        # the counters saw exactly the rounds with the trigger on (every item inserted, trashed and restored)
        with db.transaction() as cur:
            ok = counts.value_count(cur, owner, "kind", "photo") == args.items * args.rounds
        rows = []
        for step in runs[True][0]:
            off = statistics.median(x[step] for x in runs[False]) * 1000
            on = statistics.median(x[step] for x in runs[True]) * 1000
            rows.append((step, f"{off:.2f}", f"{on:.2f}", f"{on - off:+.2f}", f"{on / off:.2f}"))
        print(f"\nlibrary counter trigger: {args.items} items x {args.rounds} rounds, median ms per item")
        print(table(rows, ("write", "trigger off", "trigger on", "difference", "ratio")))
        print(f"\nfold of {pending} pending delta rows: {fold_ms:.0f} ms; counters match the rows written with the trigger on: {ok}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
