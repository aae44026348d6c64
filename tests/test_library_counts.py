"""Library counters (media_counts, kept by triggers; 004_library_counts.sql): after every kind of change a library
goes through, the counters (with unfolded deltas, and after folding) equal a count of the media rows; concurrent
writers and folds neither deadlock nor lose counts; the search planner's rare-filter and map-cell paths return
exactly what the date-order path returns."""
from __future__ import annotations

import secrets
import threading
from datetime import datetime, timezone

import pytest

from test_gateway_helpers import add_detection, add_face, add_person, insert_media, new_user, vec


def dt(*a):
    return datetime(*a, tzinfo=timezone.utc)


def truth(owner_id, date_from=None, date_to=None) -> dict:
    """What the counters must say, counted from the media rows."""
    from pva.infra import db

    w = "m.owner_id = %(o)s and m.trashed_at is null"
    if date_from:
        w += " and coalesce(m.taken_at, m.created_at) >= %(f)s"
    if date_to:
        w += " and coalesce(m.taken_at, m.created_at) < %(t)s"
    p = {"o": owner_id, "f": date_from, "t": date_to}
    out = {}
    for dim, expr in (("kind", "m.kind, null::text"), ("format", "m.format, null::text"),
                      ("camera", "m.camera_make, m.camera_model"),
                      ("gps", "case when coalesce(m.gps_override_lat, m.gps_lat) is null then 'without' else 'with' end,"
                              " null::text")):
        for r in db.query(f"select {expr}, count(*) as n, sum(size)::bigint as b from media m where {w} "
                          "group by 1, 2", p):
            out[(dim, *list(r.values())[:2])] = (r["n"], r["b"])
    for r in db.query(f"""select t, count(*) as n, sum(size)::bigint as b from media m cross join unnest(m.label_tags) t
                          where {w} group by 1""", p):
        out[("tag", r["t"], None)] = (r["n"], r["b"])
    for r in db.query(f"""select d.label, b, count(distinct m.id) as n, sum(m.size)::bigint as s from media m
                            join detections d on d.media_id = m.id
                            cross join generate_series(0, least(9, floor(round(d.confidence::numeric, 4) * 10)::int)) b
                          where {w} group by 1, 2""", p):
        assert out[("tag", f"{r['label']}:{r['b']}", None)][0] == r["n"]  # label_tags itself is right
    for r in db.query(f"""select f.person_id::text as pid, count(distinct m.id) as n from media m
                            join faces f on f.media_id = m.id and f.person_id is not null
                          where {w} group by 1""", p):
        out[("person", r["pid"], None)] = (r["n"], None)
    for r in db.query(f"""select am.album_id::text as aid, count(*) as n, sum(m.size)::bigint as b from media m
                            join album_media am on am.media_id = m.id where {w} group by 1""", p):
        out[("album", r["aid"], None)] = (r["n"], r["b"])
    for r in db.query(f"""select m.place_id::text as pid, count(*) as n, sum(m.size)::bigint as b from media m
                          where {w} and m.place_id is not null group by 1""", p):  # 015_place_counts.sql
        out[("place", r["pid"], None)] = (r["n"], r["b"])
    return out


def read_counts(fn, *args):
    """One pva.db.counts read (they take the caller's cursor) in a transaction of its own."""
    from pva.infra import db

    with db.transaction() as cur:
        return fn(cur, *args)


def counted(owner_id, date_from=None, date_to=None) -> dict:
    from pva.db import counts

    return {(r["dim"], r["v1"], r["v2"]): (r["n"], None if r["dim"] == "person" else r["bytes"])
            for r in read_counts(counts.totals, owner_id, counts.DIMS, date_from, date_to)}


RANGES = [(None, None), (dt(2021, 1, 1), dt(2022, 1, 1)), (dt(2020, 11, 1), dt(2022, 3, 1)),
          (dt(2021, 6, 1), dt(2021, 8, 1)), (None, dt(2021, 7, 1)), (dt(2021, 7, 1), None),
          (dt(2019, 1, 1), dt(2024, 1, 1))]


def check(owner_id) -> None:
    for f, t in RANGES:
        assert counted(owner_id, f, t) == truth(owner_id, f, t), (f, t)
    from pva.db import counts
    from pva.services import stats

    months = {}
    for r in truth_months(owner_id):
        months[r["month"]] = r["n"]
    assert {r["month"]: r["n"] for r in stats.timeline(owner_id)} == months
    assert [r["n"] for r in read_counts(counts.per_period, owner_id, "y", "kind")] != [] or not months
    # the planner's estimate reads single values by their key (deltas included, a 'kind' key not counted twice)
    everything = truth(owner_id)
    keys = [k for k in everything if k[1] is not None] + [("tag", "no-such-label:5", None)]
    found, size = read_counts(counts.value_counts, owner_id, keys)
    assert found == [everything[k][0] if k in everything else 0 for k in keys]
    assert size == sum(n for (dim, _, _), (n, _) in everything.items() if dim == "kind")


def truth_months(owner_id):
    from pva.infra import db

    return db.query("""select to_char(date_trunc('month', coalesce(taken_at, created_at) at time zone 'UTC'), 'YYYY-MM')
                              as month, count(*) as n from media
                        where owner_id = %s and trashed_at is null group by 1""", (owner_id,))


def test_counters_follow_every_change_of_a_library_and_survive_folding(services):
    from pva.infra import db
    from pva.db import counts, people
    from pva.services import albums, stats
    from pva.db import media as media_db

    a, b = new_user(), new_user()
    A = a["id"]
    ms = [insert_media(A, taken_at=dt(2020 + i % 3, 1 + (i * 5) % 12, 3), size=1000 * (i + 1),
                       kind="video" if i % 4 == 0 else "photo", format="mp4" if i % 4 == 0 else "jpeg",
                       camera_make=("Canon" if i % 2 else None), camera_model=("EOS R" if i % 2 else None),
                       gps_lat=(48.8 if i % 3 == 0 else None), gps_lon=(2.3 if i % 3 == 0 else None))
          for i in range(12)]
    insert_media(b["id"], taken_at=dt(2021, 2, 2))  # another library: never in A's counts
    ms.append(insert_media(A, taken_at=None))  # falls back to the date added
    check(A)

    add_detection(ms[0]["id"], "dog", 0.93)
    add_detection(ms[0]["id"], "dog", 0.41)
    add_detection(ms[1]["id"], "cat", 0.55)
    p1, p2 = add_person(A, "One"), add_person(A, "Two")
    f1 = add_face(ms[1]["id"], A, vec(1), person_id=p1["id"])
    add_face(ms[1]["id"], A, vec(2), person_id=p1["id"])  # two faces of one person: the item counts once
    add_face(ms[2]["id"], A, vec(3), person_id=p2["id"])
    check(A)
    assert read_counts(counts.value_count, A, "person", str(p1["id"])) == 1
    assert read_counts(counts.value_count, A, "tag", "dog:9") == 1
    assert read_counts(counts.value_count, A, "tag", "dog:4") == 1

    assert stats.fold_counters() > 0
    assert db.query_one("select count(*) as n from media_count_deltas where owner_id = %s", (A,))["n"] == 0
    check(A)

    read_counts(media_db.set_gps_override, ms[1]["id"], A, 10.0, 20.0, None)        # gains a location
    read_counts(media_db.set_gps_override, ms[0]["id"], A, -33.9, 151.2, None)      # moves
    db.execute("update media set camera_model = 'EOS R6' where id = %s", (ms[3]["id"],))
    db.execute("update media set taken_at = %s where id = %s", (dt(2021, 7, 9), ms[4]["id"]))  # another month
    db.execute("update media set status = 'processing' where owner_id = %s", (A,))  # counts nothing
    read_counts(media_db.trash, ms[5]["id"], A)
    read_counts(media_db.trash, ms[6]["id"], A)
    read_counts(media_db.restore, ms[6]["id"], A)
    db.execute("delete from detections where media_id = %s and confidence > 0.9", (ms[0]["id"],))
    check(A)

    with db.transaction() as cur:  # p1's faces move to p2 and p1 goes
        people.merge_people(cur, A, p2["id"], [p1["id"]])
    check(A)
    al1, al2 = albums.create(A, "one"), albums.create(A, "two")
    albums.add_media(al1["id"], A, [ms[0]["id"], ms[1]["id"], ms[2]["id"], ms[6]["id"]])
    albums.add_media(al2["id"], A, [ms[1]["id"]])
    check(A)
    albums.remove_media(al1["id"], A, ms[2]["id"])
    albums.delete(al2["id"], A)
    check(A)
    with db.transaction() as cur:
        people.set_face_person(cur, f1, A, None, locked=True)
    check(A)
    db.execute("delete from faces where media_id = %s", (ms[2]["id"],))
    with db.transaction() as cur:
        media_db.purge(cur, A, media_id=ms[5]["id"])
    db.execute("delete from media where id = %s", (ms[7]["id"],))
    check(A)
    stats.fold_counters()
    check(A)
    before = counted(A)
    stats.recount(A)  # a recount of one library changes nothing when the counters were right
    assert counted(A) == before
    check(A)


def test_concurrent_writers_and_folds_do_not_deadlock_or_lose_counts(services):
    from pva.infra import db
    from pva.db import counts
    from pva.services import stats

    a = new_user()
    A = a["id"]
    errors: list[BaseException] = []
    stop = threading.Event()

    def writer(k: int) -> None:
        try:
            for i in range(40):
                m = insert_media(A, taken_at=dt(2022, 1 + i % 3, 1 + k), format=("png" if i % 2 else "jpeg"))
                add_detection(m["id"], "cup", 0.7)
                if i % 5 == 0:
                    db.execute("update media set trashed_at = now() where id = %s", (m["id"],))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def folder() -> None:
        try:
            while not stop.is_set():
                stats.fold_counters()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    f = threading.Thread(target=folder)
    f.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    f.join(60)
    assert not errors, errors
    assert read_counts(counts.value_count, A, "tag", "cup:6") == 4 * 32
    check(A)


def test_recount_command_rebuilds_counters_that_drifted(services, capsys):
    from pva.infra import db
    from pva.cli import main
    from pva.services import stats

    a = new_user()
    A = a["id"]
    for i in range(5):
        insert_media(A, taken_at=dt(2023, 1 + i, 1))
    stats.fold_counters()
    db.execute("update media_counts set n = n + 7 where owner_id = %s and dim = 'kind'", (A,))  # drifted
    assert counted(A) != {k: v for k, v in truth(A).items()}
    assert main(["db", "recount", "--user", a["username"]]) == 0
    assert "counter rows" in capsys.readouterr().out
    check(A)
    assert main(["db", "recount", "--user", "no-such-user-xyz"]) == 1


@pytest.fixture(scope="module")
def spread(services):
    """A library spread over many map cells and dates, with a rare and a common label."""
    a = new_user()
    A = a["id"]
    ids = []
    for i in range(160):
        m = insert_media(A, taken_at=dt(2015 + i % 7, 1 + i % 12, 1 + i % 27, i % 24),
                         gps_lat=40 + (i % 9) * 0.7, gps_lon=-5 + (i % 13) * 0.9)
        add_detection(m["id"], "person", 0.8)
        if i % 40 == 0:
            add_detection(m["id"], "zebra", 0.9)
        ids.append(m["id"])
    for i in range(30):
        insert_media(A, taken_at=dt(2019, 5, 1 + i % 27))  # no location
    return a


def pages(owner, f, order="desc", limit=7):
    from pva.services import search

    out, cursor = [], None
    while True:
        page = search.search(owner, f, order=order, limit=limit, cursor=cursor)
        out += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            return out


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_map_box_read_cell_by_cell_pages_exactly_like_the_plain_query(spread, monkeypatch, order):
    from pva.infra import db
    from pva.db import search
    from pva.db.search import planner

    owner = spread["id"]
    box = (40.5, -3.2, 44.9, 4.1)  # many 1-degree cells, cut through some
    want = [r["id"] for r in db.query(
        f"""select id from media where owner_id = %s and trashed_at is null
              and gps_lat between 40.5 and 44.9 and gps_lon between -3.2 and 4.1
            order by coalesce(taken_at, created_at) {order}, id {order}""", (owner,))]
    assert len(search.cells(box)) > 20 and len(want) > 30
    merged = pages(owner, search.Filters(bbox=box), order)
    monkeypatch.setattr(planner, "MERGE_CELLS", 0)
    monkeypatch.setattr(planner, "FAST_MS", 0)  # the cells as a bitmap, then sorted
    sparse = pages(owner, search.Filters(bbox=box), order)
    assert merged == want and sparse == want


def test_rare_filters_known_from_counts_page_exactly_like_the_date_order_path(spread, monkeypatch):
    from pva.db import search
    from pva.db.search import planner
    from pva.services import stats

    owner = spread["id"]
    stats.fold_counters()
    f_rare = search.Filters(labels=["zebra"], min_confidence=0.5)
    f_common = search.Filters(labels=["person"], min_confidence=0.5, no_gps=False)
    monkeypatch.setattr(planner, "RARE_MIN", 0)
    monkeypatch.setattr(planner, "RARE_SHARE", 0.1)
    rare_path = pages(owner, f_rare)
    common_path = pages(owner, f_common)
    spy = []
    real = planner._sparse
    monkeypatch.setattr(planner, "_sparse", lambda *a, **k: spy.append(1) or real(*a, **k))
    pages(owner, f_rare)
    assert spy, "a label on 4 of 190 items must take the sparse path"
    spy.clear()
    pages(owner, f_common)
    assert not spy, "a label on most items must be read in date order"
    monkeypatch.setattr(planner, "RARE_SHARE", 0.0)  # now nothing counts as rare
    assert pages(owner, f_rare) == rare_path and len(rare_path) == 4
    assert pages(owner, f_common) == common_path and len(common_path) == 160


def test_period_clause_adds_whole_years_and_the_months_at_either_end():
    from pva.db.counts import is_month_start, period_clause

    p: dict = {}
    period_clause(dt(2020, 11, 1), dt(2023, 3, 1), p)
    assert (str(p["c_y0"]), str(p["c_y1"])) == ("2021-01-01", "2023-01-01")
    assert (str(p["c_m0"]), str(p["c_m1"]), str(p["c_m2"]), str(p["c_m3"])) == (
        "2020-11-01", "2021-01-01", "2023-01-01", "2023-03-01")
    assert period_clause(None, None, {}) == "grain = 'a'"
    assert is_month_start(dt(2021, 3, 1)) and not is_month_start(dt(2021, 3, 2))
    assert not is_month_start(datetime(2021, 3, 1, tzinfo=timezone.utc).replace(hour=5))


def test_broad_filtered_facets_are_sampled_and_say_so(services, monkeypatch):
    """Facets under a filter matching more than FACET_EXACT_MAX items are counted on a sample of the table's
    pages and flagged approximate; the facets that only their own filter narrows stay exact (counters)."""
    from pva.infra import db
    from pva.db import search
    from pva.db.search import facet_counts
    from pva.services import stats

    a = new_user()
    A = a["id"]
    db.execute("""insert into media(owner_id, sha512, kind, format, mime, size, taken_at, storage_key, original_path,
                                    filename, camera_make, camera_model)
                  select %(o)s, sha512(convert_to(%(o)s::text || i, 'UTF8')),
                         case when i %% 5 = 0 then 'video' else 'photo' end,
                         case when i %% 5 = 0 then 'mp4' else 'jpeg' end, 'x/y', 1000 + i,
                         timestamptz '2020-01-01' + i * interval '1 hour', 'bulk/' || %(o)s || '/' || i,
                         'b/' || i || '.jpg', i || '.jpg', 'Canon', case when i %% 3 = 0 then 'R5' else 'R6' end
                    from generate_series(1, 4000) i""", {"o": A})
    db.execute("""insert into detections(media_id, label, confidence, x, y, w, h, model)
                  select id, 'cup', 0.9, 0.1, 0.1, 0.2, 0.2, 't' from media where owner_id = %s""", (A,))
    stats.fold_counters()
    db.execute("analyze media")
    f = search.Filters(kind="photo", labels=["cup"])
    exact = read_counts(search.facets, A, f)
    assert exact["approximate"] is False and {r["value"]: r["n"] for r in exact["format"]} == {"jpeg": 3200}
    reltuples = db.query_one("select reltuples from pg_class where oid = 'media'::regclass")["reltuples"]
    monkeypatch.setattr(facet_counts, "FACET_EXACT_MAX", 1000)
    monkeypatch.setattr(facet_counts, "FACET_SAMPLE_ROWS", int(reltuples * 0.4))  # about 40% of the pages
    approx = read_counts(search.facets, A, f)
    assert approx["approximate"] is True
    jpeg = {r["value"]: r["n"] for r in approx["format"]}["jpeg"]
    assert 0.5 * 3200 <= jpeg <= 1.5 * 3200, jpeg  # scaled back up to the whole library
    models = {r["model"]: r["n"] for r in approx["camera"]}
    assert models["R6"] > models["R5"]  # the proportions survive the sample
    # a facet narrowed only by its own filter comes exact from the counters, the others are sampled
    only_kind = read_counts(search.facets, A, search.Filters(kind="photo"))
    assert only_kind["approximate"] is True
    assert {r["value"]: r["n"] for r in only_kind["kind"]} == {"photo": 3200, "video": 800}


def test_upgrading_a_library_from_003_fills_people_albums_cells_and_counters(services, tmp_path):
    """An installation at migration 003 with a library in it: 004 fills person_ids, album_ids, geo_cell and the
    counters from the rows already there, and the triggers keep them from then on."""
    import shutil

    import psycopg2
    import psycopg2.extras

    from pva.infra.db import create_database, drop_database
    from pva.infra.migrate import MIGRATIONS_DIR, migrate

    old_dir = tmp_path / "migrations"
    old_dir.mkdir()
    for p in sorted(MIGRATIONS_DIR.glob("00[123]_*.sql")):
        shutil.copy(p, old_dir / p.name)
    name = f"pva_upgrade_{secrets.token_hex(4)}"
    url = create_database(name)
    try:
        assert migrate(url, directory=old_dir, log=lambda *a: None) == [1, 2, 3]
        conn = psycopg2.connect(url, cursor_factory=psycopg2.extras.RealDictCursor)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("insert into users(username, password_hash) values ('old', '!') returning id")
        owner = cur.fetchone()["id"]
        cur.execute("""insert into media(owner_id, sha512, kind, format, mime, size, taken_at, storage_key,
                                         original_path, filename, gps_lat, gps_lon)
                       select %s, sha512(int8send(i)), 'photo', 'jpeg', 'image/jpeg', 10 * i,
                              timestamptz '2019-03-01' + i * interval '20 days', 'k/' || i, i || '.jpg', i || '.jpg',
                              case when i %% 2 = 0 then 48.85 end, case when i %% 2 = 0 then 2.35 end
                         from generate_series(1, 40) i returning id""", (owner,))
        ids = [r["id"] for r in cur.fetchall()]
        cur.execute("insert into people(owner_id, name) values (%s, 'Ann') returning id", (owner,))
        ann = cur.fetchone()["id"]
        cur.execute("""insert into faces(media_id, owner_id, x, y, w, h, embedding, person_id, model)
                       select id, %s, 0, 0, 1, 1, array_fill(0.1, array[128])::vector, %s, 't'
                         from media where id = any(%s::uuid[])""", (owner, ann, ids[:5]))
        cur.execute("insert into albums(owner_id, name) values (%s, 'Old album') returning id", (owner,))
        album = cur.fetchone()["id"]
        cur.execute("insert into album_media(album_id, media_id) select %s, unnest(%s::uuid[])", (album, ids[3:9]))
        cur.execute("""insert into detections(media_id, label, confidence, x, y, w, h, model)
                       select unnest(%s::uuid[]), 'boat', 0.7, 0, 0, 1, 1, 't'""", (ids[:12],))

        # every later migration applies on top of 003 (their number grows as the schema does)
        applied = migrate(url, log=lambda *a: None)
        assert applied[:2] == [4, 5] and applied == list(range(4, 4 + len(applied)))

        def n(dim, v1, v2=None):
            cur.execute("""select coalesce(sum(n), 0) as n from (select n from media_counts where owner_id = %(o)s
                             and grain = 'a' and dim = %(d)s and v1 = %(v)s union all select n from media_count_deltas
                             where owner_id = %(o)s and grain = 'a' and dim = %(d)s and v1 = %(v)s) s""",
                        {"o": owner, "d": dim, "v": v1})
            return cur.fetchone()["n"]

        assert (n("kind", "photo"), n("gps", "with"), n("gps", "without")) == (40, 20, 20)
        assert (n("person", str(ann)), n("album", str(album)), n("tag", "boat:7")) == (5, 6, 12)
        cur.execute("select count(*) as n from media where geo_cell = (48 + 90) * 361 + 2 + 180")
        assert cur.fetchone()["n"] == 20
        cur.execute("delete from album_media where media_id = %s", (ids[3],))  # the triggers run from now on
        cur.execute("update media set trashed_at = now() where id = %s", (ids[0],))
        assert (n("album", str(album)), n("person", str(ann)), n("kind", "photo")) == (5, 4, 39)
        conn.close()
    finally:
        drop_database(name)


def _facet_sets(out: dict) -> dict:
    """Facets as sets of (value, n), so that ties in count may come in any order."""
    norm = {}
    for k, v in out.items():
        if isinstance(v, list):
            norm[k] = {tuple(sorted((kk, str(vv)) for kk, vv in dict(r).items())) for r in v}
        else:
            norm[k] = v
    return norm


def test_facets_in_one_pass_count_what_a_scan_per_facet_counts(services, monkeypatch):
    """The facets read in one pass over the rows (flags per filter, rows failing at most one kept) equal the
    facets counted by one scan per facet, on the same sample and exactly, whatever filters are combined."""
    from pva.infra import db
    from pva.db import search
    from pva.db.search import facet_counts
    from pva.services import albums, stats

    a = new_user()
    A = a["id"]
    db.execute("""insert into media(owner_id, sha512, kind, format, mime, size, taken_at, storage_key, original_path,
                                    filename, camera_make, camera_model, gps_lat, gps_lon)
                  select %(o)s, sha512(convert_to(%(o)s::text || i, 'UTF8')),
                         case when i %% 5 = 0 then 'video' else 'photo' end,
                         case when i %% 5 = 0 then 'mp4' when i %% 7 = 0 then 'heic' else 'jpeg' end, 'x/y', 1000 + i,
                         timestamptz '2019-01-01' + i * interval '7 hours', 'bulk/' || %(o)s || '/' || i,
                         'b/' || i || '.jpg', i || '.jpg', case when i %% 4 <> 0 then 'Canon' end,
                         case when i %% 4 = 0 then null when i %% 3 = 0 then 'R5' else 'R6' end,
                         case when i %% 3 = 0 then 48 + (i %% 10) * 0.1 end, case when i %% 3 = 0 then 2.3 end
                    from generate_series(1, 3000) i""", {"o": A})
    db.execute("""insert into detections(media_id, label, confidence, x, y, w, h, model)
                  select id, case when size %% 3 = 0 then 'dog' else 'cup' end, 0.3 + (size %% 7) * 0.1,
                         0.1, 0.1, 0.2, 0.2, 't' from media where owner_id = %s""", (A,))
    album = albums.create(A, "trip")
    albums.add_media(album["id"], A, [r["id"] for r in db.query(
        "select id from media where owner_id = %s and size %% 11 = 0", (A,))])
    stats.fold_counters()
    db.execute("analyze media")
    reltuples = db.query_one("select reltuples from pg_class where oid = 'media'::regclass")["reltuples"]
    cases = [search.Filters(kind="photo", labels=["cup"]),
             search.Filters(kind="photo", labels=["dog"], camera_make="Canon", camera_model="R6",
                            date_from=dt(2019, 3, 5), bbox=(47.5, 2.0, 49.5, 2.6)),
             search.Filters(format="jpeg", no_gps=True, album_id=album["id"]),
             search.Filters(bbox=(47.5, 2.0, 49.5, 2.6)),
             search.Filters(labels=["dog"], min_confidence=0.5, date_to=dt(2019, 6, 17))]
    for sampled in (False, True):
        if sampled:
            monkeypatch.setattr(facet_counts, "FACET_EXACT_MAX", 10)
            monkeypatch.setattr(facet_counts, "FACET_SAMPLE_ROWS", int(reltuples * 0.3))
        for f in cases:
            monkeypatch.setattr(facet_counts, "ONE_PASS", True)
            one = read_counts(search.facets, A, f)
            monkeypatch.setattr(facet_counts, "ONE_PASS", False)
            per_facet = read_counts(search.facets, A, f)
            assert one["approximate"] is per_facet["approximate"] is sampled, f
            assert _facet_sets(one) == _facet_sets(per_facet), f
    assert sum(r["n"] for r in one["label"]) > 0
