"""Similar-face search at scale, and faces images/s through the pipeline.

1. Generates N clustered 128-d embeddings shaped like dlib's (people ~0.9 apart, faces of one person ~0.45 apart
   pairwise, cluster sizes from a long-tailed distribution), loads them for ONE owner with binary COPY (people with
   their centroids, media rows, faces), then builds the HNSW index (m=24, ef_construction=64 as in the schema, or
   --m / --ef-construction) with
   a high maintenance_work_mem and parallel workers, and reports the load and build times.
2. For each hnsw.ef_search value, runs Q similar-face queries through `pva.services.people.similar_faces(owner,
   face_id, k=10)` (the real code path: owner filter, trashed filter, ef_search) and reports p50/p95 latency and
   recall@10 against exact search computed in the same run (numpy, float64, over the same vectors).  The exact
   SQL path (owner-scoped sequential scan) is timed too, for the ratio.
3. Runs the faces job (`pipeline.run_stored(FacesTask, media)`: S3 download, dlib, crops to S3, people assignment
   against this owner's people, job finish) on real photos and reports images/s.

Aim: p95 under 20 ms at recall@10 >= 0.95.  Dedicated database and buckets on the embedded stack, dropped after.

    .venv/bin/python bench/faces.py [--n 1000000] [--queries 200] [--ef 40,64,100,200] [--images 12] [--keep]
"""
from __future__ import annotations

import argparse
import io
import json
import os
import struct
import sys
import time
import uuid
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _env import REPO, isolated_env, make_user, table  # noqa: E402

DIM = 128
CENTER_SD = 0.056    # per dimension: two people ~ sqrt(2*128)*0.056 ~ 0.9 apart
FACE_SD = 0.028      # per dimension: two faces of one person ~ 0.45 apart, a face ~0.32 from its centroid
PGCOPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
PGCOPY_TRAILER = struct.pack(">h", -1)


def log(*a):
    print(*a, flush=True)


def generate(n: int, seed: int = 7, intrinsic_dim: int = 0):
    """(embeddings float32 (n,128), person index per face, centers (p,128)).

    intrinsic_dim 0: a face is its person's centre plus isotropic 128-d noise (the hardest case for a graph
    index: the faces of a big cluster are all about equally far apart).  intrinsic_dim D > 0: most of a face's
    variation lies in D shared directions (pose, light, expression), plus a little isotropic noise, as with real
    face embeddings; pairwise distances within a person stay about the same (~0.45)."""
    rng = np.random.default_rng(seed)
    sizes = []
    total = 0
    while total < n:  # long tail: many people with a few faces, some with hundreds
        s = int(min(rng.pareto(1.3) * 4 + 1, 2000))
        sizes.append(s)
        total += s
    sizes[-1] -= total - n
    sizes = [s for s in sizes if s > 0]
    centers = rng.normal(0, CENTER_SD, (len(sizes), DIM)).astype(np.float32)
    person = np.repeat(np.arange(len(sizes)), sizes)
    rng.shuffle(person)
    if intrinsic_dim <= 0:
        emb = centers[person] + rng.normal(0, FACE_SD, (n, DIM)).astype(np.float32)
    else:
        basis = np.linalg.qr(rng.normal(size=(DIM, intrinsic_dim)))[0].astype(np.float32)  # (128, D) orthonormal
        z_sd = 0.4 / np.sqrt(2 * intrinsic_dim)
        emb = centers[person] + (rng.normal(0, z_sd, (n, intrinsic_dim)).astype(np.float32) @ basis.T)
        emb += rng.normal(0, 0.008, (n, DIM)).astype(np.float32)
    return emb.astype(np.float32), person, centers


def _vector_field():
    return [("vlen", ">i4"), ("vdim", ">i2"), ("vunused", ">i2"), ("v", ">f4", (DIM,))]


def copy_binary(cur, sql: str, records: np.ndarray, chunk: int = 50_000) -> None:
    for i in range(0, len(records), chunk):
        buf = io.BytesIO(PGCOPY_HEADER + records[i:i + chunk].tobytes() + PGCOPY_TRAILER)
        cur.copy_expert(sql, buf)


def load(owner_id: uuid.UUID, emb: np.ndarray, person: np.ndarray, centers: np.ndarray,
         faces_per_media: int = 10, m: int = 16, ef_construction: int = 64) -> dict:
    """people, media and faces by binary COPY; returns timings."""
    import psycopg2

    from pva.config import get_settings

    n = len(emb)
    owner = np.frombuffer(owner_id.bytes, dtype="S16")[0]
    people_ids = np.frombuffer(b"".join(uuid.uuid4().bytes for _ in range(len(centers))), dtype="S16")
    n_media = (n + faces_per_media - 1) // faces_per_media
    media_ids = np.frombuffer(b"".join(uuid.uuid4().bytes for _ in range(n_media)), dtype="S16")
    counts = np.bincount(person, minlength=len(centers))
    conn = psycopg2.connect(get_settings().effective_database_url)
    t0 = time.perf_counter()
    with conn, conn.cursor() as cur:
        cur.execute("drop index if exists faces_embedding_hnsw")
        # people (id, owner_id, centroid, face_count)
        dt = np.dtype([("nf", ">i2"), ("l1", ">i4"), ("id", "S16"), ("l2", ">i4"), ("owner", "S16"),
                       *_vector_field(), ("l4", ">i4"), ("cnt", ">i4")])
        r = np.zeros(len(centers), dtype=dt)
        r["nf"], r["l1"], r["id"], r["l2"], r["owner"] = 4, 16, people_ids, 16, owner
        r["vlen"], r["vdim"], r["v"] = 4 + 4 * DIM, DIM, centers
        r["l4"], r["cnt"] = 4, counts
        copy_binary(cur, "copy people(id, owner_id, centroid, face_count) from stdin (format binary)", r)
        # media (id, owner_id, sha512, kind, format, mime, size, storage_key, original_path, filename)
        lines = io.StringIO()
        for i, mid in enumerate(media_ids):
            u = uuid.UUID(bytes=bytes(mid).ljust(16, b"\0"))
            name = f"bench/{i:08d}.jpg"
            lines.write(f"{u}\t{owner_id}\t\\\\x{u.hex}\tphoto\tjpeg\timage/jpeg\t1000\t{name}\t{name}\t{i:08d}.jpg\n")
        lines.seek(0)
        cur.copy_expert("copy media(id, owner_id, sha512, kind, format, mime, size, storage_key, original_path, "
                        "filename) from stdin", lines)
        # faces (id, media_id, owner_id, x, y, w, h, embedding, person_id, model)
        dt = np.dtype([("nf", ">i2"), ("l0", ">i4"), ("id", ">i8"), ("l1", ">i4"), ("media", "S16"),
                       ("l2", ">i4"), ("owner", "S16"),
                       ("lx", ">i4"), ("x", ">f4"), ("ly", ">i4"), ("y", ">f4"), ("lw", ">i4"), ("w", ">f4"),
                       ("lh", ">i4"), ("h", ">f4"), *_vector_field(), ("lp", ">i4"), ("person", "S16"),
                       ("lm", ">i4"), ("model", "S5")])
        r = np.zeros(n, dtype=dt)
        r["nf"] = 10
        r["l0"], r["id"] = 8, np.arange(1, n + 1)
        r["l1"], r["media"] = 16, media_ids[np.arange(n) // faces_per_media]
        r["l2"], r["owner"] = 16, owner
        for c, v in (("x", 0.3), ("y", 0.2), ("w", 0.2), ("h", 0.25)):
            r["l" + c], r[c] = 4, v
        r["vlen"], r["vdim"], r["v"] = 4 + 4 * DIM, DIM, emb
        r["lp"], r["person"] = 16, people_ids[person]
        r["lm"], r["model"] = 5, b"bench"
        copy_binary(cur, "copy faces(id, media_id, owner_id, x, y, w, h, embedding, person_id, model) "
                         "from stdin (format binary)", r)
        cur.execute("select setval('faces_id_seq', %s)", (n,))
    load_s = time.perf_counter() - t0
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("vacuum analyze people")
        cur.execute("vacuum analyze media")
        cur.execute("vacuum analyze faces")
        cur.execute("set maintenance_work_mem = '8GB'")
        cur.execute("set max_parallel_maintenance_workers = 2")
        t1 = time.perf_counter()
        cur.execute("create index faces_embedding_hnsw on faces using hnsw (embedding vector_l2_ops) "
                    f"with (m = {int(m)}, ef_construction = {int(ef_construction)})")
        build_s = time.perf_counter() - t1
        cur.execute("select pg_relation_size('faces_embedding_hnsw') s")
        index_mb = cur.fetchone()[0] / 2**20
        cur.execute("select pg_prewarm('faces_embedding_hnsw')" if _has_prewarm(cur) else "select 1")
    conn.close()
    return {"load_s": load_s, "build_s": build_s, "index_mb": index_mb, "people": len(centers), "media": n_media}


def _has_prewarm(cur) -> bool:
    try:
        cur.execute("create extension if not exists pg_prewarm")
        return True
    except Exception:
        return False


def exact_topk(emb: np.ndarray, q_idx: np.ndarray, k: int, same_person: float = 0.6) -> list[tuple[set, set]]:
    """Exact k nearest face ids (1-based, itself excluded) for each query row, and the subset of those closer than
    `same_person`: a float32 matrix product picks candidates, which are then ranked by float64 distances."""
    norms = np.einsum("ij,ij->i", emb, emb).astype(np.float64)
    out = []
    for start in range(0, len(q_idx), 16):
        chunk = q_idx[start:start + 16]
        d = norms[None, :] - 2.0 * (emb[chunk] @ emb.T).astype(np.float64) + norms[chunk][:, None]
        for row, qi in zip(d, chunk):
            row[qi] = np.inf
            part = np.argpartition(row, k + 20)[:k + 20]
            exact = np.linalg.norm(emb[part].astype(np.float64) - emb[qi].astype(np.float64), axis=1)
            order = np.argsort(exact)[:k]
            out.append(({int(c) + 1 for c in part[order]},
                        {int(c) + 1 for c, dd in zip(part[order], exact[order]) if dd < same_person}))
    return out


def pct(xs, p):
    return float(np.percentile(np.asarray(xs), p))


def query_bench(owner_id, emb, n_queries: int, efs: list[int], k: int = 10, seed: int = 11) -> list[dict]:
    from pva.infra import db
    from pva.services import people as people_service

    rng = np.random.default_rng(seed)
    q_idx = rng.choice(len(emb), size=n_queries, replace=False)
    t0 = time.perf_counter()
    truth = exact_topk(emb, q_idx, k)
    log(f"exact top-{k} for {n_queries} queries in numpy: {time.perf_counter() - t0:.1f} s")
    with db.transaction() as cur:  # the plan must use the HNSW index
        cur.execute("set local hnsw.ef_search = 100")
        cur.execute("""explain select f.id from faces f join media m on m.id = f.media_id
                        where f.owner_id = %s and m.trashed_at is null and f.id <> 1
                        order by f.embedding <-> (select embedding from faces where id = 1) limit 10""", (owner_id,))
        plan = "\n".join(r["QUERY PLAN"] for r in cur.fetchall())
    uses_index = "faces_embedding_hnsw" in plan
    log(f"plan uses faces_embedding_hnsw: {uses_index}")
    # warm-up: index pages into memory
    for qi in q_idx:
        people_service.similar_faces(owner_id, int(qi) + 1, k=k, ef_search=max(efs))
    rows = []
    for ef in efs:
        lat, rec, found_same, n_same = [], [], 0, 0
        for qi, (want, want_same) in zip(q_idx, truth):
            t = time.perf_counter()
            res = people_service.similar_faces(owner_id, int(qi) + 1, k=k, ef_search=ef)
            lat.append((time.perf_counter() - t) * 1000)
            got = {r["id"] for r in res}
            rec.append(len(got & want) / k)
            found_same += len(got & want_same)
            n_same += len(want_same)
        rows.append({"ef_search": ef, "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "recall10": float(np.mean(rec)),
                     "min_recall": float(np.min(rec)), "same_person_recall": found_same / max(1, n_same)})
        log(f"  ef_search={ef}: p50 {rows[-1]['p50_ms']:.2f} ms, p95 {rows[-1]['p95_ms']:.2f} ms, "
            f"recall@10 {rows[-1]['recall10']:.4f}, same-person recall {rows[-1]['same_person_recall']:.4f}")
    lat = []
    for qi in q_idx[:10]:
        t = time.perf_counter()
        people_service.similar_faces(owner_id, int(qi) + 1, k=k, exact=True)
        lat.append((time.perf_counter() - t) * 1000)
    rows.append({"ef_search": "exact SQL", "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95), "recall10": 1.0,
                 "min_recall": 1.0, "same_person_recall": 1.0, "uses_index": uses_index})
    return rows


def pipeline_bench(owner_id, n_images: int) -> dict:
    """images/s of the stored faces job on real photos (the astronaut, zidane.jpg, bus.jpg and variants)."""
    import hashlib

    from PIL import Image, ImageOps

    from pva.infra import db
    from pva.jobs.pipeline import run_stored
    from pva.jobs.tasks.faces import FacesTask
    from pva.config import get_settings
    from pva.db import analysis as analysis_q
    from pva.db import media as media_q
    from pva.infra.storage import get_storage

    srcs = []
    try:
        from skimage import data as skdata

        srcs.append(Image.fromarray(skdata.astronaut()))
    except ImportError:
        pass
    for name in ("zidane.jpg", "bus.jpg"):
        p = REPO.parent / "shared" / "fixtures" / "detect" / name
        if p.is_file():
            srcs.append(Image.open(p).convert("RGB"))
    if not srcs:
        return {"skipped": "no photos (scikit-image or ../shared needed)"}
    s = get_settings()
    st = get_storage()
    ids = []
    for i in range(n_images):
        img = srcs[i % len(srcs)]
        if (i // len(srcs)) % 2:
            img = ImageOps.mirror(img)
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90 - i % 7)
        data = buf.getvalue()
        mid = uuid.uuid4()
        key = f"bench/{mid}.jpg"
        st.put(s.bucket_originals, key, data)
        with db.transaction() as cur:
            media_q.insert(cur, {"id": mid, "owner_id": owner_id, "sha512": hashlib.sha512(data + mid.bytes).digest(),
                                 "kind": "photo", "format": "jpeg", "mime": "image/jpeg", "size": len(data),
                                 "storage_key": key, "original_path": key, "filename": key})
            analysis_q.insert_queued(cur, mid, ["faces"])
        ids.append(mid)
    task = FacesTask()
    run_stored(task, ids[0])  # warm-up (models, connections)
    t0 = time.perf_counter()
    outcomes = [run_stored(task, m)[0] for m in ids[1:]]
    dt = time.perf_counter() - t0
    faces = db.query_one("select count(*) n from faces where media_id = any(%s::uuid[])", ([str(m) for m in ids],))["n"]
    out = {"images": len(ids) - 1, "seconds": dt, "images_per_s": (len(ids) - 1) / dt,
           "done": outcomes.count("done"), "faces": faces}
    if out["done"] != out["images"]:
        err = db.query_one("select error from analysis where media_id = any(%s::uuid[]) and status <> 'done' "
                           "and error is not null limit 1", ([str(m) for m in ids],))
        return {"skipped": f"FAILED: {out['images'] - out['done']} of {out['images']} jobs not done: "
                           f"{err['error'] if err else '?'}"}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="generated faces (default 1,000,000)")
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ef", default="40,64,100,200", help="hnsw.ef_search values to measure")
    ap.add_argument("--images", type=int, default=12, help="photos for the pipeline images/s figure (0: skip)")
    ap.add_argument("--intrinsic-dim", type=int, default=16,
                    help="0: isotropic noise around each person (worst case); D: variation in D shared directions, "
                         "like real face embeddings")
    ap.add_argument("--m", type=int, default=24, help="HNSW m (the schema's index: 24)")
    ap.add_argument("--ef-construction", type=int, default=64, help="HNSW ef_construction (the schema's: 64)")
    ap.add_argument("--keep", action="store_true", help="keep the bench database and buckets")
    args = ap.parse_args()
    efs = [int(x) for x in args.ef.split(",") if x.strip()]
    started = time.perf_counter()
    with isolated_env("faces", keep=args.keep):
        owner = make_user("bench-faces")["id"]
        t0 = time.perf_counter()
        emb, person, centers = generate(args.n, intrinsic_dim=args.intrinsic_dim)
        log(f"generated {args.n:,} embeddings of {len(centers):,} people in {time.perf_counter() - t0:.1f} s")
        info = load(owner, emb, person, centers, m=args.m, ef_construction=args.ef_construction)
        log(f"loaded by COPY in {info['load_s']:.1f} s; HNSW build {info['build_s']:.1f} s "
            f"(index {info['index_mb']:.0f} MB)")
        rows = query_bench(owner, emb, args.queries, efs)
        pipe = pipeline_bench(owner, args.images) if args.images > 0 else {"skipped": "--images 0"}
    total = time.perf_counter() - started
    print()
    print(f"faces: {args.n:,} ({'isotropic' if args.intrinsic_dim <= 0 else f'{args.intrinsic_dim}-d'} "
          f"variation)  HNSW m={args.m} ef_construction={args.ef_construction}  people: {info['people']:,}  load (COPY) {info['load_s']:.1f} s  "
          f"HNSW build {info['build_s']:.1f} s  index {info['index_mb']:.0f} MB")
    print(table([(r["ef_search"], f"{r['p50_ms']:.2f}", f"{r['p95_ms']:.2f}", f"{r['recall10']:.4f}",
                  f"{r['min_recall']:.1f}", f"{r['same_person_recall']:.4f}") for r in rows],
                ("ef_search", "p50 ms", "p95 ms", "recall@10", "min recall", "same-person recall (<0.6)")))
    print(f"(latency is end to end from Python: pool, query face fetch, ef_search, HNSW scan, media join; "
          f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    good = [r for r in rows if isinstance(r["ef_search"], int) and r["recall10"] >= 0.95]
    if good:
        best = min(good, key=lambda r: r["p95_ms"])
        ratio = rows[-1]["p50_ms"] / best["p50_ms"] if best["p50_ms"] else float("nan")
        print(f"best at recall@10 >= 0.95: ef_search={best['ef_search']} p95 {best['p95_ms']:.2f} ms "
              f"(aim < 20 ms: {'met' if best['p95_ms'] < 20 else 'NOT met'}); exact SQL / HNSW p50 = {ratio:.1f}x")
    else:
        print("no ef_search value reached recall@10 >= 0.95")
    if "images_per_s" in pipe:
        print(f"faces pipeline: {pipe['images']} images in {pipe['seconds']:.1f} s = {pipe['images_per_s']:.2f} "
              f"images/s ({pipe['faces']} faces, {pipe['done']} done)")
    else:
        print(f"faces pipeline: skipped ({pipe['skipped']})")
    print(f"whole bench: {total / 60:.1f} min, the HNSW build {info['build_s'] / total:.0%} of it "
          f"(aim at 1M: under 15 min: {'met' if total < 900 else 'NOT met'})")
    print(json.dumps({"n": args.n, "total_s": round(total, 1), "intrinsic_dim": args.intrinsic_dim, **{k: round(v, 2) for k, v in info.items()}, "queries": rows, "pipeline": pipe},
                     default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
