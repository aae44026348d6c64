"""Near-duplicate lookup at 1M items (issue 21): the multi-index-hashing indexes of migration 010 against a full
scan, on generated hashes in a scratch database.

One owner with N photos (uniform random 64-bit hashes) of which --planted have a copy 2..10 bits away.  Measured:
  - lookup: pva.db.duplicates.neighbours (what ingest runs for each new item), p50/p95 over --queries hashes,
    half of them planted copies, half random; recall of the planted pairs (the lookup is exact: must be 1.0);
  - the same question answered by a sequential scan (bit_count(phash # h) <= NEAR over every row): the baseline;
  - the Duplicates page's grouping (pva.services.duplicates.groups) with --planted pairs recorded.
pgvector's bit type and HNSW bit_hamming_ops need pgvector >= 0.7; the embedded pgserver ships 0.6.2, so that
option is reported as unavailable when it is.

    .venv/bin/python bench/duplicates.py [--n 1000000] [--planted 2000] [--queries 200]
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import time

from _env import isolated_env, make_user, table


def _pctl(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--planted", type=int, default=2000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--explain", action="store_true", help="print the plan of one lookup")
    ap.add_argument("--photos", type=int, default=4, help="12 MP photos for the cost of hashing at ingest")
    args = ap.parse_args()

    import numpy as np

    from pva.db import duplicates as dup_q
    from pva.infra import db
    from pva.media import phash as ph

    hash_ms, thumbs_ms = _ingest_cost(args.photos)
    rng = np.random.default_rng(21)
    hashes = rng.integers(0, 2 ** 63, size=args.n, dtype=np.int64).astype(np.uint64) \
        | (rng.integers(0, 2, size=args.n, dtype=np.uint64) << np.uint64(63))
    # planted copies: the last `planted` rows are copies of the first ones, 2..10 bits away
    planted = []
    for j in range(args.planted):
        src = j
        dst = args.n - args.planted + j
        bits = rng.choice(64, size=int(rng.integers(1, 6)) * 2, replace=False)
        h = int(hashes[src])
        for b in bits:
            h ^= 1 << int(b)
        hashes[dst] = np.uint64(h)
        planted.append((src, dst, len(bits)))

    with isolated_env("duplicates"):
        user = make_user("bench-dups")
        owner = user["id"]
        t0 = time.perf_counter()
        with db.transaction() as cur:
            # a scratch database: only the phash indexes matter here, the others would only slow the load
            cur.execute("""select indexname from pg_indexes where tablename = 'media'
                             and indexname not like 'media_pkey' and indexdef not like '%%UNIQUE%%'""")
            for r in cur.fetchall():
                cur.execute(f'drop index if exists "{r["indexname"]}"')
            cur.execute("select conname from pg_constraint where conrelid = 'media'::regclass and contype = 'u'")
            for r in cur.fetchall():
                cur.execute(f'alter table media drop constraint "{r["conname"]}"')
            cur.execute("alter table media drop column if exists name_tsv")  # generated: costly to fill
            cur.execute("create temp table h(i int, phash bit(64)) on commit drop")
            buf = io.StringIO("".join(f"{i}\t{ph.to_bits(int(x))}\n" for i, x in enumerate(hashes)))
            cur.copy_from(buf, "h", columns=("i", "phash"))
            cur.execute("""insert into media(id, owner_id, sha512, kind, format, mime, size, storage_key,
                                              original_path, filename, phash)
                           select md5('m' || i)::uuid, %s, '\\x00'::bytea, 'photo', 'jpeg', 'image/jpeg',
                                  1000 + i, 'k/' || i, 'p/' || i, 'f' || i, phash from h""", (owner,))
        load_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        from pva.infra.migrate import MIGRATIONS_DIR

        sql = (MIGRATIONS_DIR / "010_phash.sql").read_text()
        with db.transaction() as cur:
            cur.execute(sql)  # the phash indexes again (idempotent), built over the loaded rows
        conn = db.connect()
        conn.autocommit = True
        with conn.cursor() as c:  # what autovacuum does soon after a load: the visibility map for index-only
            c.execute("vacuum analyze media")
        conn.close()
        index_s = time.perf_counter() - t0
        with db.transaction() as cur:
            cur.execute("select md5('m' || i)::uuid as id, i from generate_series(0, %s) i", (args.n,))
            ids = {r["i"]: r["id"] for r in cur.fetchall()}

        qs = planted[: args.queries // 2]
        randoms = rng.integers(0, args.n - args.planted, size=args.queries - len(qs))
        mih, seq, found = [], [], 0
        with db.transaction() as cur:
            for k, (src, dst, _) in enumerate(qs + [(int(r), None, 0) for r in randoms]):
                h = int(hashes[src])
                t = time.perf_counter()
                res = dup_q.neighbours(cur, owner, h, kind="photo", exclude=ids[src])
                mih.append((time.perf_counter() - t) * 1000)
                if dst is not None:
                    found += ids[dst] in {r["id"] for r in res}
                if k < 10:  # the baseline is slow: a few queries say enough
                    t = time.perf_counter()
                    cur.execute("""select id from media where owner_id = %s and phash is not null
                                      and bit_count(phash # %s::bit(64)) <= %s""", (owner, ph.to_bits(h), ph.NEAR))
                    cur.fetchall()
                    seq.append((time.perf_counter() - t) * 1000)
            if args.explain:
                _explain(cur, owner, int(hashes[0]))
        recall = found / max(1, len(qs))

        # the page: every planted pair recorded, then grouped
        with db.transaction() as cur:
            cur.execute("""insert into media_near_duplicates(owner_id, a, b, distance)
                           select %s, least(x.a, x.b), greatest(x.a, x.b), x.d
                             from unnest(%s::uuid[], %s::uuid[], %s::smallint[]) as x(a, b, d)""",
                        (owner, [str(ids[s]) for s, _, _ in planted], [str(ids[d]) for _, d, _ in planted],
                         [d for _, _, d in planted]))
        from pva.services import duplicates

        t = time.perf_counter()
        g = duplicates.groups(owner)
        page_ms = (time.perf_counter() - t) * 1000
        has_bit = _has_bit()

    rows = [
        ("ingest: hash of the grid thumbnail", f"{hash_ms:.2f} ms",
         f"{hash_ms / thumbs_ms:.1%} of making the thumbnails ({thumbs_ms:.0f} ms, 12 MP)"),
        ("ingest: lookup at 1M vs the thumbnails", "",
         f"{statistics.median(mih) / thumbs_ms:.1%} (p50 lookup / thumbnails)"),
        ("load (COPY + insert)", f"{load_s:.1f} s", ""),
        ("build the 4 chunk indexes", f"{index_s:.1f} s", ""),
        ("lookup, multi-index hashing p50", f"{statistics.median(mih):.2f} ms", ""),
        ("lookup, multi-index hashing p95", f"{_pctl(mih, 0.95):.2f} ms", ""),
        ("lookup, sequential scan p50", f"{statistics.median(seq):.1f} ms",
         f"{statistics.median(seq) / statistics.median(mih):.0f}x slower"),
        ("recall of planted copies", f"{recall:.3f}", f"{len(qs)} queries"),
        (f"groups() with {args.planted} pairs", f"{page_ms:.0f} ms", f"{g['total_groups']} groups"),
        ("pgvector bit/HNSW", "available" if has_bit else "unavailable", "needs pgvector >= 0.7"),
    ]
    print(f"\n{args.n} hashes, NEAR = {ph.NEAR} bits")
    print(table(rows, ("measure", "value", "note")))
    return 0 if recall == 1.0 else 1


def _ingest_cost(n: int) -> tuple[float, float]:
    """(ms to hash a grid thumbnail, ms to make the thumbnails of a 12 MP JPEG), medians over n generated photos:
    what near-duplicates add to an ingest beside what it already paid."""
    import tempfile
    from pathlib import Path

    from ingest import make_12mp_jpeg

    from pva import media
    from pva.config import get_settings
    from pva.services import duplicates

    s = get_settings()
    hashes, thumbs = [], []
    with tempfile.TemporaryDirectory(prefix="bench-dups-") as d:
        for i in range(n):
            p = Path(d) / f"p{i}.jpg"
            make_12mp_jpeg(p, i)
            t = time.perf_counter()
            th = media.make_thumbnails(p, sizes={"thumb": s.thumb_grid_px, "preview": s.thumb_preview_px})
            thumbs.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            for _ in range(20):
                duplicates.photo_hash(th["thumb"])
            hashes.append((time.perf_counter() - t) * 1000 / 20)
    return statistics.median(hashes), statistics.median(thumbs)


def _explain(cur, owner, h: int) -> None:
    from pva.db import duplicates as dup_q

    orig = cur.execute

    def explaining(sql, params=None):
        orig("explain (analyze, buffers) " + sql, params)
        for r in cur.fetchall():
            print(list(r.values())[0])
        orig("select 1")

    cur.execute = explaining
    try:
        dup_q.neighbours(cur, owner, h, kind="photo")
    finally:
        cur.execute = orig


def _has_bit() -> bool:
    from pva.infra import db

    try:
        db.query_one("select B'1'::bit(1) <~> B'0'::bit(1) as d")
        return True
    except Exception:
        return False


if __name__ == "__main__":
    sys.exit(main())
