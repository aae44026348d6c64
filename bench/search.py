"""Search benchmark: p50/p95 of every search filter alone, of realistic combinations, and of the timeline, on a
generated library of 1,000,000 media (with detections, faces and people, GPS, OCR, transcripts, comments, albums).

The rows are generated in SQL (generate_series) in a dedicated database created from the migrations, so the
indexes measured are exactly those of pva/infra/migrations (002_search_indexes.sql for search).  Secondary indexes
are dropped during the load and rebuilt from their migration definitions afterwards (much faster than
maintaining them row by row).  Queries go through pva.db.search (the code the API runs).  Aim: p95 < 50 ms.

    .venv/bin/python bench/search.py [--rows 1000000] [--runs 30] [--keep] [--reuse]

--keep leaves the database (pva_bench_search) for another run; --reuse measures an existing one again.
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import datetime, timedelta, timezone

from _env import REPO, table

sys.path.insert(0, str(REPO))

DBNAME = "pva_bench_search"
TABLES = ("media", "detections", "faces", "people", "ocr", "transcripts", "comments", "albums", "album_media")
LABELS = ["person", "car", "chair", "cup", "dog", "bottle", "cat", "tree", "bicycle", "bird", "boat", "bench",
          "book", "clock", "potted plant", "truck", "handbag", "umbrella", "laptop", "cell phone", "tv", "horse",
          "bus", "train", "couch", "dining table", "bowl", "vase", "backpack", "traffic light", "sheep", "cow",
          "kite", "surfboard", "skis", "airplane", "motorcycle", "wine glass", "pizza", "cake", "teddy bear",
          "toilet", "sink", "oven", "keyboard", "mouse", "remote", "banana", "apple", "orange", "broccoli",
          "carrot", "hot dog", "donut", "sandwich", "fork", "knife", "spoon", "bed", "refrigerator", "microwave",
          "toaster", "scissors", "hair drier", "toothbrush", "giraffe", "zebra", "elephant", "bear", "frisbee",
          "snowboard", "sports ball", "baseball bat", "baseball glove", "skateboard", "tennis racket",
          "fire hydrant", "stop sign", "parking meter", "suitcase"]
CAMERAS = [("Apple", "iPhone 12"), ("Apple", "iPhone 8"), ("Samsung", "SM-G991B"), ("Canon", "EOS 5D Mark IV"),
           ("Nikon", "D750"), ("Sony", "ILCE-7M3"), ("Google", "Pixel 6"), ("Fujifilm", "X-T3"),
           ("Olympus", "E-M10"), ("Panasonic", "DMC-GX80"), ("GoPro", "HERO9"), ("DJI", "FC3170"),
           ("Leica", "M10"), ("Huawei", "P30"), ("Xiaomi", "Mi 9"), ("Canon", "PowerShot G7 X")]
CITIES = [(48.8566, 2.3522), (51.5074, -0.1278), (40.7128, -74.0060), (35.6762, 139.6503), (-33.8688, 151.2093),
          (52.52, 13.405), (41.9028, 12.4964), (37.7749, -122.4194), (55.7558, 37.6173), (-22.9068, -43.1729),
          (19.4326, -99.1332), (1.3521, 103.8198), (28.6139, 77.209), (30.0444, 31.2357), (59.3293, 18.0686),
          (45.4642, 9.19), (38.7223, -9.1393), (64.1466, -21.9426), (-34.6037, -58.3816), (25.2048, 55.2708)]
WORDS = ("beach sunset mountain river coffee menu street station museum ticket exit entrance welcome hotel "
         "airport gate parking market bakery pharmacy school library garden bridge tower castle church harbour "
         "festival concert birthday wedding holiday summer winter spring autumn family friends dinner lunch "
         "breakfast train bus taxi road north south east west open closed sale price total receipt invoice").split()


def sql_list(items) -> str:
    return "array[" + ",".join("'" + i.replace("'", "''") + "'" for i in items) + "]"


GENERATE = """
set synchronous_commit = off;
-- the triggers of 002/004 keep media.label_tags / text_tsv / person_ids and the library counters per statement;
-- for a bulk load they are off and all of it is filled in bulk at the end (same result as the trigger functions)
alter table detections disable trigger user;
alter table ocr disable trigger user;
alter table transcripts disable trigger user;
alter table comments disable trigger user;
alter table faces disable trigger user;
alter table album_media disable trigger user;
alter table media disable trigger user;
-- media: one big library (alice) and a smaller one (bob) so the owner filter is real
insert into media(id, owner_id, sha512, kind, format, mime, size, width, height, duration, taken_at, created_at,
                  camera_make, camera_model, gps_lat, gps_lon, storage_key, original_path, filename, thumb_key,
                  trashed_at)
select gen_random_uuid(), case when i %% 20 = 0 then %(bob)s::uuid else %(alice)s::uuid end,
       sha512(int8send(i)),
       case when i %% 10 = 0 then 'video' else 'photo' end,
       case when i %% 10 = 0 then (array['mp4','mov','mp4','mkv'])[1 + i %% 4]
            else (array['jpeg','jpeg','jpeg','jpeg','jpeg','heic','heic','png','webp','gif','tiff','jpeg'])[1 + (i / 10) %% 12] end,
       'application/octet-stream', 100000 + (i * 7919) %% 9000000, 4000, 3000,
       case when i %% 10 = 0 then 5 + (i %% 300) end,
       case when i %% 50 = 7 then null else timestamptz '2004-01-01' + (random() * 7300) * interval '1 day' end,
       now() - (random() * 1800) * interval '1 day',
       case when i %% 8 <> 0 then (%(cams)s)[c.k] end, case when i %% 8 <> 0 then (%(models)s)[c.k] end,
       case when g.has then g.lat end, case when g.has then g.lon end,
       'orig/' || i || '.jpg', 'camera/' || (2004 + i %% 20) || '/IMG_' || i || '.jpg', 'IMG_' || i || '.jpg',
       'thumb/' || i || '.jpg',
       case when i %% 500 = 3 then now() - interval '2 days' end
  from generate_series(1::bigint, %(rows)s::bigint) i
  cross join lateral (select 1 + floor(power(random(), 2) * %(ncams)s)::int as k where i is not null) c
  cross join lateral (select random() < 0.6 as has, 1 + floor(power(random(), 1.5) * %(ncities)s)::int as ck
                       where i is not null) g0
  -- (the jitter is correlated with i: otherwise a Memoize node reuses one point per city)
  cross join lateral (select g0.has, (%(lats)s)[g0.ck] + (random() - 0.5) * 0.4 as lat,
                             (%(lons)s)[g0.ck] + (random() - 0.5) * 0.4 as lon
                       where i is not null) g;

-- detections: ~1.6 per item, skewed label frequencies (person very common, the tail rare)
insert into detections(media_id, label, confidence, x, y, w, h, model, model_version)
select m.id, (%(labels)s)[1 + floor(power(random(), 3) * %(nlabels)s)::int], 0.25 + random() * 0.75,
       0.1, 0.1, 0.3, 0.3, 'yolov8n', 'bench'
  from media m cross join generate_series(1, 2) k
 where random() < 0.8;

-- people and faces: 30%% of alice's photos have a face of one of 300 people (embeddings near a centroid)
insert into people(owner_id, name, centroid, face_count)
select %(alice)s::uuid, 'Person ' || p,
       (select array_agg(random() - 0.5) from generate_series(1, 128) where p > 0)::vector, 0
  from generate_series(1, 300) p;
insert into faces(media_id, owner_id, x, y, w, h, embedding, person_id, model)
select m.id, m.owner_id, 0.3, 0.3, 0.2, 0.2,
       p.centroid + (select array_agg((random() - 0.5) * 0.05) from generate_series(1, 128) where m.id is not null)::vector,
       case when random() < 0.9 then p.id end, 'dlib'
  from (select id, owner_id, row_number() over () as rn from media
         where owner_id = %(alice)s::uuid and kind = 'photo' and random() < 0.3) m
  join (select id, centroid, row_number() over () - 1 as k from people) p
    on p.k = floor(power(((m.rn * 2654435761) %% 1000) / 1000.0, 1.5) * 300)::int;
update people p set face_count = c.n from (select person_id, count(*) as n from faces group by 1) c
 where c.person_id = p.id;

-- OCR on 10%% of photos, transcripts on half of the videos, comments on 1%%
insert into ocr(media_id, text, words, model)
select m.id, (select string_agg((%(words)s)[1 + floor(random() * %(nwords)s)::int] || case when random() < 0.3
                                 then (floor(random() * 1000))::text else '' end, ' ')
                from generate_series(1, 8) where m.id is not null), '[]', 'tesseract'
  from media m where m.kind = 'photo' and random() < 0.1;
insert into transcripts(media_id, text, segments, language, engine, model)
select m.id, (select string_agg((%(words)s)[1 + floor(random() * %(nwords)s)::int], ' ')
                from generate_series(1, 30) where m.id is not null), '[]', 'en', 'whisper', 'tiny.en'
  from media m where m.kind = 'video' and random() < 0.5;
insert into comments(media_id, author_id, body)
select m.id, m.owner_id, 'comment ' || (%(words)s)[1 + floor(random() * %(nwords)s)::int] || ' ' || md5(m.id::text)
  from media m where random() < 0.01;

-- albums: 200 of alice's, ~5%% of her library spread over them
insert into albums(owner_id, name) select %(alice)s::uuid, 'Album ' || a from generate_series(1, 200) a;
insert into album_media(album_id, media_id)
select a.id, m.id from media m
  join (select id, row_number() over (order by id) - 1 as k from albums) a
    on a.k = (hashtext(m.id::text) & 2147483647) %% 4000
 where m.owner_id = %(alice)s::uuid;

update media m set label_tags = t.tags
  from (select d.media_id, array_agg(distinct d.label || ':' || b order by d.label || ':' || b) as tags
          from detections d, generate_series(0, least(9, floor(round(d.confidence::numeric, 4) * 10)::int)) b
         group by d.media_id) t
 where t.media_id = m.id;
update media m set text_tsv = o.text_tsv from ocr o where o.media_id = m.id;
update media m set text_tsv = coalesce(m.text_tsv, ''::tsvector) || t.text_tsv from transcripts t where t.media_id = m.id;
update media m set text_tsv = coalesce(m.text_tsv, ''::tsvector) || c.tsv
  from (select media_id, to_tsvector('simple', string_agg(body, ' ')) as tsv from comments group by media_id) c
 where c.media_id = m.id;
update media m set person_ids = p.ids
  from (select media_id, array_agg(distinct person_id order by person_id) as ids from faces
         where person_id is not null group by media_id) p
 where p.media_id = m.id;
alter table detections enable trigger user;
update media m set album_ids = a.ids
  from (select media_id, array_agg(album_id order by album_id) as ids from album_media group by media_id) a
 where a.media_id = m.id;
alter table faces enable trigger user;
alter table album_media enable trigger user;
alter table media enable trigger user;
select pva_rebuild_media_counts(null);
alter table ocr enable trigger user;
alter table transcripts enable trigger user;
alter table comments enable trigger user;
"""


def prepare(rows: int, reuse: bool) -> str:
    import psycopg2
    from psycopg2.extensions import make_dsn

    from pva.infra import db
    from pva import stack
    from pva.config import get_settings, reload_settings
    from pva.infra.migrate import migrate

    stack.up(log=lambda *a, **k: None)
    reload_settings()
    url = make_dsn(get_settings().effective_database_url, dbname=DBNAME)
    exists = db.query_one("select 1 as x from pg_database where datname = %s", (DBNAME,)) is not None
    if reuse and exists:
        conn = psycopg2.connect(url)
        with conn.cursor() as cur:
            cur.execute("select count(*) from media")
            n = cur.fetchone()[0]
        conn.close()
        migrate(url, log=lambda *a: None)  # a newer index migration applies to the kept data
        print(f"reusing {DBNAME} with {n} media")
        return url
    db.drop_database(DBNAME)
    db.create_database(DBNAME)
    migrate(url, log=lambda *a: None)
    conn = psycopg2.connect(url)
    conn.autocommit = True
    t0 = time.perf_counter()
    with conn.cursor() as cur:
        cur.execute("set maintenance_work_mem = '1GB'")
        cur.execute("set max_parallel_maintenance_workers = 2")
        cur.execute("""select indexname, indexdef from pg_indexes
                        where schemaname = 'public' and tablename = any(%s)
                          and indexname not in (select conname from pg_constraint)""", (list(TABLES),))
        indexes = cur.fetchall()
        for name, _ in indexes:
            cur.execute(f'drop index "{name}"')
        cur.execute("insert into users(username, password_hash) values ('alice', '!'), ('bob', '!') returning id")
        alice, bob = [r[0] for r in cur.fetchall()]
        cams = [c for c, _ in CAMERAS]
        params = {"alice": alice, "bob": bob, "rows": rows, "ncams": len(CAMERAS), "ncities": len(CITIES),
                  "nlabels": len(LABELS), "nwords": len(WORDS)}
        sql = GENERATE
        for k, v in {"cams": sql_list(cams), "models": sql_list([m for _, m in CAMERAS]),
                     "labels": sql_list(LABELS), "words": sql_list(WORDS),
                     "lats": "array[" + ",".join(str(c[0]) for c in CITIES) + "]::float8[]",
                     "lons": "array[" + ",".join(str(c[1]) for c in CITIES) + "]::float8[]"}.items():
            sql = sql.replace(f"%({k})s", v)
        chunks = ["\n".join(line for line in c.splitlines() if not line.lstrip().startswith("--")).strip()
                  for c in sql.split(";\n")]
        for stmt in [c for c in chunks if c]:
            t = time.perf_counter()
            cur.execute(stmt, params if "%(" in stmt else None)
            first = stmt.splitlines()[0]
            print(f"  {time.perf_counter() - t:6.1f}s  {first[:70]}")
        t = time.perf_counter()
        _name_places(conn)
        print(f"  {time.perf_counter() - t:6.1f}s  places named (pva.media.places, as `pva places` names them)")
        t = time.perf_counter()
        for name, definition in indexes:
            cur.execute(definition)
        print(f"  {time.perf_counter() - t:6.1f}s  rebuilt {len(indexes)} indexes")
        cur.execute("""select count(*) filter (where label_tags <> pva_media_label_tags(id)
                                                   or text_tsv is distinct from pva_media_text_tsv(id)
                                                   or person_ids <> pva_media_person_ids(id)
                                                   or album_ids <> pva_media_album_ids(id))
                         from (select * from media order by id limit 2000) s""")
        bad = cur.fetchone()[0]
        if bad:
            raise SystemExit(f"bulk-filled label_tags/text_tsv/person_ids/album_ids differ from the trigger functions on {bad} rows")
        cur.execute("vacuum analyze")
    conn.close()
    print(f"generated {rows} media in {time.perf_counter() - t0:.0f}s")
    return url


def _name_places(conn) -> None:
    """Each located row's city, region and country (issue 21), looked up and stored as pva.services.places does,
    in one statement while the indexes are dropped; the triggers are off, so the place counters
    (015_place_counts.sql) are recounted after."""
    import io

    import psycopg2.extras

    from pva.db import places as places_q
    from pva.media import places
    from pva.services.places import VERSION

    with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
        cur.execute("select id, gps_lat as lat, gps_lon as lon from media where gps_lat is not null")
        items = cur.fetchall()
        found = places.lookup_many([(r["lat"], r["lon"]) for r in items])
        key = lambda pl: (pl.country_code, pl.country, pl.region, pl.city)  # noqa: E731
        ids = places_q.place_ids(cur, [key(pl) for pl in found if pl])
        null = "\\N"
        cur.execute("create temporary table named (id uuid, place_id int)")
        cur.copy_from(io.StringIO("".join(f"{r['id']}\t{ids[key(pl)] if pl else null}\n"
                                          for r, pl in zip(items, found))), "named")
        cur.execute("alter table media disable trigger user")
        cur.execute("update media m set place_id = n.place_id, place_version = %s from named n where n.id = m.id",
                    (VERSION,))
        cur.execute("alter table media enable trigger user")
        cur.execute("select pva_rebuild_media_counts(null)")


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    k = (len(xs) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30, help="timed runs per query (varied parameters)")
    ap.add_argument("--keep", action="store_true", help=f"keep the database {DBNAME}")
    ap.add_argument("--reuse", action="store_true", help=f"measure an existing {DBNAME} again")
    ap.add_argument("--explain", default="", help="also print the plans of the queries whose name contains this "
                                                  "(those over their target are always printed)")
    args = ap.parse_args()

    import os

    from pva.infra import db
    from pva.config import reload_settings

    saved = os.environ.get("PVA_DATABASE_URL")
    url = prepare(args.rows, args.reuse)
    os.environ["PVA_DATABASE_URL"] = url
    db.close_pool()
    reload_settings()
    try:
        return measure(args)
    finally:
        db.close_pool()
        if saved is None:
            os.environ.pop("PVA_DATABASE_URL", None)
        else:
            os.environ["PVA_DATABASE_URL"] = saved
        reload_settings()
        if not args.keep:
            db.drop_database(DBNAME)


def _in_transaction(fn, *args, **kw):
    """A pva.db.search query (they take the caller's cursor) in a transaction of its own, as pva.services.search
    runs it."""
    from pva.infra import db

    with db.transaction() as cur:
        return fn(cur, *args, **kw)


def measure(args) -> int:
    from pva.infra import db
    from pva.db import search as search_q
    from pva.services import stats
    from pva.db.search import Filters

    class search:  # noqa: N801  the repository's two reads, each in a transaction of its own
        search = staticmethod(lambda *a, **kw: _in_transaction(search_q.search, *a, **kw))
        facets = staticmethod(lambda *a, **kw: _in_transaction(search_q.facets, *a, **kw))

    rnd = random.Random(42)
    alice = db.query_one("select id from users where username = 'alice'")["id"]
    people = [r["id"] for r in db.query("select id from people order by face_count desc")]
    faces = [r["id"] for r in db.query("select id from faces where owner_id = %s order by random() limit 200",
                                       (alice,))]
    albums = [r["id"] for r in db.query("select id from albums")]
    n_media = db.query_one("select count(*) as n from media where owner_id = %s", (alice,))["n"]
    rare_labels = LABELS[-20:]
    common_labels = LABELS[:5]
    # the places of the library, most used first (issue 21): search "Lisbon", "Japan"
    named = db.query("""select p.city, p.country, count(*) as n from media m join places p on p.id = m.place_id
                         where m.owner_id = %s group by 1, 2 order by 3 desc""", (alice,))
    cities, countries = [r["city"] for r in named[:20]], sorted({r["country"] for r in named[:20]})
    small_places = [r["city"] for r in named[-50:]]
    from pva.db.search.place_facets import place_facets

    def year(y: int) -> dict:
        return {"date_from": datetime(y, 1, 1, tzinfo=timezone.utc), "date_to": datetime(y + 1, 1, 1, tzinfo=timezone.utc)}

    def city_box(size=0.3) -> tuple:
        lat, lon = rnd.choice(CITIES)
        return (lat - size, lon - size, lat + size, lon + size)

    Q = {
        "timeline (first page)": lambda: {},
        "timeline page 20 (cursor)": "cursor",
        "sort by date added": "added",
        "date range (one year)": lambda: year(rnd.randint(2004, 2023)),
        "date range (one week)": lambda: (lambda d: {"date_from": d, "date_to": d + timedelta(days=7)})(
            datetime(2004, 1, 1, tzinfo=timezone.utc) + timedelta(days=rnd.randint(0, 7200))),
        "map area (a city)": lambda: {"bbox": city_box(0.1)},
        "map area (a country)": lambda: {"bbox": city_box(5)},
        "map area (empty ocean)": lambda: {"bbox": (-50 + rnd.random(), -140 + rnd.random(), -49, -139)},
        "without GPS": lambda: {"no_gps": True},
        "label (common) conf>=0.5": lambda: {"labels": [rnd.choice(common_labels)], "min_confidence": 0.5},
        "label (rare) conf>=0.5": lambda: {"labels": [rnd.choice(rare_labels)], "min_confidence": 0.5},
        "person": lambda: {"person_id": rnd.choice(people)},
        "similar to face": lambda: {"similar_face_id": rnd.choice(faces), "face_threshold": 0.6},
        "camera make+model": lambda: (lambda c: {"camera_make": c[0], "camera_model": c[1]})(rnd.choice(CAMERAS)),
        "kind video": lambda: {"kind": "video"},
        "format (rare: tiff)": lambda: {"format": "tiff"},
        "text (word)": lambda: {"text": rnd.choice(WORDS)},
        "text (rare: number)": lambda: {"text": f"{rnd.choice(WORDS)}{rnd.randint(0, 999)}"},
        "text (file name)": lambda: {"text": f"IMG_{rnd.randint(1, args.rows)}"},
        "album": lambda: {"album_id": rnd.choice(albums)},
        "place: a city (text)": lambda: {"text": rnd.choice(cities)},
        "place: a country (text)": lambda: {"text": rnd.choice(countries)},
        "place: a small place (text)": lambda: {"text": rnd.choice(small_places)},
        "combo: label + year": lambda: {**year(rnd.randint(2004, 2023)), "labels": [rnd.choice(common_labels)],
                                        "min_confidence": 0.5},
        "combo: person + year": lambda: {**year(rnd.randint(2004, 2023)), "person_id": rnd.choice(people[:50])},
        "combo: city + label": lambda: {"bbox": city_box(0.3), "labels": ["person"], "min_confidence": 0.5},
        "combo: camera + kind + country": lambda: (lambda c: {"camera_make": c[0], "camera_model": c[1],
                                                               "kind": "photo", "bbox": city_box(5)})(
            rnd.choice(CAMERAS)),
        "combo: text + year": lambda: {**year(rnd.randint(2004, 2023)), "text": rnd.choice(WORDS)},
        "combo: no GPS + label (rare)": lambda: {"no_gps": True, "labels": [rnd.choice(rare_labels)]},
        "combo: two labels": lambda: {"labels": ["person", rnd.choice(LABELS[5:30])], "min_confidence": 0.3},
    }
    rows = []
    worst = 0.0
    why: list[str] = []  # the plans of the queries over their target (and of --explain's)
    for name, make in Q.items():
        times = []
        for i in range(args.runs + 2):
            sort, cursor, f = "taken", None, Filters()
            if make == "cursor":
                page = search.search(alice, Filters(), limit=100)
                for _ in range(19):
                    page = search.search(alice, Filters(), limit=100, cursor=page["next_cursor"])
                cursor = page["next_cursor"]
            elif make == "added":
                sort = "added"
            else:
                f = Filters(**make())
            t = time.perf_counter()
            page = search.search(alice, f, sort=sort, limit=100, cursor=cursor)
            dt = (time.perf_counter() - t) * 1000
            if i >= 2:  # the first runs warm the cache
                times.append(dt)
                if dt >= max(times):
                    slowest = (f, sort, cursor)  # the parameters whose plan is printed when over target
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        worst = max(worst, p95)
        rows.append((name, f"{p50:.1f}", f"{p95:.1f}", len(page["items"]), 50, "ok" if p95 < 50 else "SLOW"))
        if p95 >= 50 or (args.explain and args.explain in name):
            f, sort, cursor = slowest
            why.append(f"{name} (p95 {p95:.1f} ms; the slowest run's {_short(f)}, again):\n"
                       + plans(search_q.search, alice, f, sort=sort, limit=100, cursor=cursor))
    # the timeline histogram (media per month) and the facet counts: each (name, target ms, a call taking the
    # caller's cursor or None for a service call, its arguments)
    worst_facets = 0.0
    timeline = lambda: (None, stats.timeline, (alice,))  # noqa: E731
    library = lambda: (None, stats.library, (alice,))  # noqa: E731
    facet = lambda f: (search_q.facets, search.facets, (alice, f))  # noqa: E731
    place = lambda f: (place_facets, lambda *a: _in_transaction(place_facets, *a), (alice, f))  # noqa: E731
    for name, target, make in (
            ("stats: media per month", 50, timeline),
            ("stats: library page", 50, library),
            ("facets (no filter)", 50, lambda: facet(Filters())),
            ("facets (one year)", 50, lambda: facet(Filters(**year(rnd.randint(2004, 2023))))),
            ("facets (kind photo: sampled)", 100, lambda: facet(Filters(kind="photo"))),
            ("facets (common label: sampled)", 100, lambda: facet(
                Filters(labels=[rnd.choice(common_labels)], min_confidence=0.5))),
            ("facets (rare label)", 100, lambda: facet(
                Filters(labels=[rnd.choice(rare_labels)], min_confidence=0.5))),
            ("facets (camera)", 100, lambda: facet(
                (lambda c: Filters(camera_make=c[0], camera_model=c[1]))(rnd.choice(CAMERAS)))),
            ("facets (city)", 100, lambda: facet(Filters(bbox=city_box(0.3)))),
            ("place facets (no filter)", 50, lambda: place(Filters())),
            ("place facets (a country)", 100, lambda: place(Filters(text=rnd.choice(countries))))):
        times = []
        for i in range(min(args.runs, 10) + 1):
            with_cursor, call, a = make()
            t = time.perf_counter()
            out = call(*a)
            if i:
                times.append((time.perf_counter() - t) * 1000)
                if times[-1] >= max(times):
                    slowest = a
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        if target == 100:
            worst_facets = max(worst_facets, p95)
        rows.append((name, f"{p50:.1f}", f"{p95:.1f}", len(out), target, "ok" if p95 < target else "SLOW"))
        if with_cursor is not None and (p95 >= target or (args.explain and args.explain in name)):
            why.append(f"{name} (p95 {p95:.1f} ms; the slowest run's {_short(slowest[1])}, again):\n"
                       + plans(with_cursor, *slowest))
    print(f"\nsearch over {n_media} media of one owner ({args.runs} runs each, page size 100, times in ms)")
    print(table(rows, ("query", "p50", "p95", "items", "target", "p95<target")))
    print(f"\nworst search p95: {worst:.1f} ms (target 50 ms): {'met' if worst < 50 else 'NOT met'}")
    print(f"worst facets-under-filters p95: {worst_facets:.1f} ms (target 100 ms): "
          f"{'met' if worst_facets < 100 else 'NOT met'}")
    if why:
        print("\nwhere the time went, for each query over its target (EXPLAIN ANALYZE, BUFFERS of every statement "
              "over 1 ms it sends; 'hit' = shared buffers, 'read' = from the OS/disk):")
        print("\n\n".join(why))
    return 0


def plans(fn, *args, **kw) -> str:
    """Run one pva.db.search call (it takes the caller's cursor) in a transaction of its own with every SELECT it
    sends explained as it runs (EXPLAIN (ANALYZE, BUFFERS)), and say where the time went: each statement over
    1 ms with its time and buffers, and its plan's shape — node, relation/index, rows, loops, time, buffers — so a
    query over its target shows at once whether it walked an index too far, read from disk, sorted or sampled."""
    import json

    import psycopg2.errors

    from pva.infra import db

    out: list[str] = []
    with db.transaction() as cur:
        real = cur.execute

        def ex(sql, p=None):
            head = sql.lstrip()[:6].lower()
            if head.startswith(("select", "with")):
                t = time.perf_counter()
                try:
                    real("explain (analyze, buffers, format json) " + sql, p)
                except psycopg2.errors.QueryCanceled:
                    out.append(f"  - cancelled by its time limit after {(time.perf_counter() - t) * 1000:.0f} ms "
                               f"(the planner then takes another path): {_first_line(sql)}")
                    raise
                doc = cur.fetchone()
                doc = doc["QUERY PLAN"] if isinstance(doc, dict) else doc[0]
                doc = doc[0] if isinstance(doc, list) else json.loads(doc)[0]
                ms = doc["Execution Time"] + doc.get("Planning Time", 0)
                if ms >= 1.0:
                    top = doc["Plan"]
                    out.append(f"  - {ms:.1f} ms (planning {doc.get('Planning Time', 0):.1f}), buffers "
                               f"{_buffers(top)}: {_first_line(sql)}")
                    out.extend(_shape(top, 2))
            elif head.startswith("set"):
                out.append(f"  - {sql.strip()}")
            return real(sql, p)

        cur.execute = ex
        fn(cur, *args, **kw)
    return "\n".join(out)


def _short(f) -> str:
    """The filters that are set, briefly."""
    from dataclasses import fields

    set_ = {x.name: getattr(f, x.name) for x in fields(f) if getattr(f, x.name) not in (None, False, [], 0.0, 0.6)}
    return ", ".join(f"{k}={v}" for k, v in set_.items()) or "no filter"


def _first_line(sql: str) -> str:
    return " ".join(sql.split())[:110]


def _buffers(node: dict) -> str:
    hit, read = node.get("Shared Hit Blocks", 0), node.get("Shared Read Blocks", 0)
    temp = node.get("Temp Read Blocks", 0) + node.get("Temp Written Blocks", 0)
    return f"hit {hit}" + (f" read {read}" if read else "") + (f" temp {temp}" if temp else "")


def _shape(node: dict, depth: int, limit: int = 40) -> list[str]:
    """The plan as one line per node (the nodes under 0.1 ms folded away past the first three levels)."""
    lines: list[str] = []

    def walk(n: dict, d: int) -> None:
        if len(lines) >= limit:
            return
        ms = n.get("Actual Total Time", 0) * n.get("Actual Loops", 1)
        if d > depth + 2 and ms < 0.1:
            return
        what = n["Node Type"]
        for k in ("Index Name", "Relation Name", "Function Name", "CTE Name", "Subplan Name"):
            if n.get(k):
                what += f" {n[k]}"
                break
        extra = [f"rows {n.get('Actual Rows', 0):.0f}" + (f" x{n['Actual Loops']}" if n.get("Actual Loops", 1) > 1 else "")]
        for k, label in (("Rows Removed by Filter", "filtered"), ("Rows Removed by Index Recheck", "rechecked"),
                         ("Heap Fetches", "heap fetches"), ("Sort Method", "sort"), ("Exact Heap Blocks", "exact blocks"),
                         ("Lossy Heap Blocks", "lossy blocks")):
            if n.get(k):
                extra.append(f"{label} {n[k]}")
        lines.append(f"{'  ' * d}{what}: {ms:.1f} ms, {', '.join(extra)}, {_buffers(n)}")
        for c in n.get("Plans", []):
            walk(c, d + 1)

    walk(node, depth)
    return lines


if __name__ == "__main__":
    sys.exit(main())
