"""Place names, offline (issue 21): the gazetteer names Lisbon, Tokyo and a small town and nothing at sea; photos
with GPS EXIF get their city, region and country at ingest; changing or clearing the location override names the
new place; "Lisbon" and "Portugal" find them in the free-text search; the facets count countries and cities; the
stats list them; a library made before migration 009 gets its places from `pva places`."""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import media_fixtures as mf
from test_gateway_helpers import app, client_for, insert_media  # noqa: F401  (fixtures)

ROOT = Path(__file__).resolve().parent.parent

LISBON = (38.7223, -9.1393)      # Baixa, central Lisbon
TOKYO = (35.6762, 139.6503)      # Setagaya, Tokyo
OBIDOS = (39.3606, -9.1571)      # Óbidos, a walled town of 3,000 people
MID_ATLANTIC = (38.0, -20.0)     # 800 km west of Lisbon
MID_PACIFIC = (0.0, -140.0)


# ---------------------------------------------------------------- the gazetteer alone (no services)
def test_gazetteer_names_cities_a_small_town_and_nothing_at_sea():
    from pva.media import places

    lisbon = places.lookup(*LISBON)
    assert (lisbon.city, lisbon.region, lisbon.country, lisbon.country_code) == ("Lisbon", "Lisbon", "Portugal", "PT")
    assert lisbon.distance_km < 2
    tokyo = places.lookup(*TOKYO)
    assert (tokyo.city, tokyo.country, tokyo.country_code) == ("Tokyo", "Japan", "JP")
    obidos = places.lookup(*OBIDOS)
    assert (obidos.city, obidos.region, obidos.country) == ("Óbidos", "Leiria", "Portugal")
    assert places.lookup(*MID_ATLANTIC) is None
    assert places.lookup(*MID_PACIFIC) is None
    assert places.lookup(90.0, 0.0) is None
    assert places.lookup(None, None) is None
    assert places.lookup_many([LISBON, None, (float("nan"), 1.0), (95.0, 0.0), OBIDOS])[1:4] == [None, None, None]


def test_gazetteer_distance_is_on_the_sphere_across_the_antimeridian_and_bounded():
    from pva.media.places import Gazetteer

    g = Gazetteer([{"city": "East", "latitude": 0.0, "longitude": 179.99, "country_code": "FJ", "population": 5000},
                   {"city": "North", "latitude": 89.9, "longitude": 0.0, "country_code": "AQ", "population": 5000}],
                  {"FJ": "Fiji", "AQ": "Antarctica"})
    east = g.lookup(0.0, -179.99)  # 2.2 km away, on the other side of the date line
    assert east.city == "East" and east.distance_km == pytest.approx(2.224, abs=0.01)
    assert g.lookup(89.9, 180.0).distance_km == pytest.approx(22.24, abs=0.05)  # over the pole, not 20,000 km
    assert g.lookup(0.0, 179.99 - 0.44).city == "East"        # 49 km: within reach
    assert g.lookup(0.0, 179.99 - 0.46) is None               # 51 km: too far
    assert g.lookup(0.0, 179.0, max_km=120).city == "East"


def test_gazetteer_prefers_the_city_to_its_quarter():
    """GeoNames lists quarters of a city with their own population: central Lisbon is Lisbon, not Intendente."""
    from pva.media.places import Gazetteer

    g = Gazetteer([{"city": "Big", "latitude": 0.0, "longitude": 0.0, "country_code": "PT", "population": 500_000},
                   {"city": "Quarter", "latitude": 0.0, "longitude": 0.01, "country_code": "PT", "population": 8000},
                   {"city": "Village", "latitude": 0.0, "longitude": 0.3, "country_code": "PT", "population": 1200}],
                  {"PT": "Portugal"})
    assert g.lookup(0.0, 0.008).city == "Big"       # 0.9 km from the city centre, 0.2 km from the quarter's point
    assert g.lookup(0.0, 0.3).city == "Village"     # in the village, 33 km from the city
    assert g.lookup(0.0, 0.2).city == "Big"         # farmland 11 km from the village, 22 km from the city


# ---------------------------------------------------------------- with the real services
@pytest.fixture(scope="module")
def lib(services, tmp_path_factory):
    """A user's photos ingested from files with GPS EXIF: Lisbon, Tokyo, Óbidos, one at sea, one without GPS (file
    names that name no place: the text search finds them by their place alone)."""
    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"places-{secrets.token_hex(3)}", "correct horse battery")
    src = tmp_path_factory.mktemp("places")
    ing = Ingestor(publish=False)
    ids = {}
    for name, gps in (("p1.jpg", LISBON), ("p2.jpg", TOKYO), ("p3.jpg", OBIDOS),
                      ("p4.jpg", MID_ATLANTIC), ("p5.jpg", None)):
        p = mf.make_jpeg(src / name, make="PlaceCam", model="P1", taken="2024:05:04 18:30:00", gps=gps)
        res = ing.ingest_file(p, user, f"trip/{name}")
        assert res.status == "added", res
        ids[name] = res.media_id
    return {"user": user, "ids": ids}


def place_row(media_id) -> dict:
    from pva.infra import db

    return db.query_one("""select m.place_id, m.place_version, p.city, p.region, p.country, p.country_code
                             from media m left join places p on p.id = m.place_id where m.id = %s""", (media_id,))


def test_ingest_names_the_place_of_a_photo_from_its_gps_exif(lib):
    ids = lib["ids"]
    lisbon = place_row(ids["p1.jpg"])
    assert (lisbon["city"], lisbon["region"], lisbon["country"], lisbon["country_code"]) == (
        "Lisbon", "Lisbon", "Portugal", "PT")
    assert place_row(ids["p2.jpg"])["country"] == "Japan"
    assert place_row(ids["p3.jpg"])["city"] == "Óbidos"
    at_sea = place_row(ids["p4.jpg"])
    assert at_sea["place_id"] is None and at_sea["place_version"] is not None  # looked up: nothing within reach
    no_gps = place_row(ids["p5.jpg"])
    assert no_gps["place_id"] is None and no_gps["place_version"] is None


def test_changing_the_location_override_names_the_new_place_and_clearing_it_the_cameras(lib, app):  # noqa: F811
    c = client_for(app, lib["user"])
    mid = lib["ids"]["p1.jpg"]
    r = c.put(f"/api/v1/media/{mid}/gps", json={"lat": TOKYO[0], "lon": TOKYO[1]})
    assert r.status_code == 200, r.text
    assert r.json()["place"]["city"] == "Tokyo"
    detail = c.get(f"/api/v1/media/{mid}").json()
    assert detail["place"] == {"city": "Tokyo", "region": "Tokyo", "country": "Japan", "country_code": "JP"}
    r = c.put(f"/api/v1/media/{mid}/gps", json={"lat": MID_PACIFIC[0], "lon": MID_PACIFIC[1]})
    assert r.json()["place"] is None
    assert c.get(f"/api/v1/media/{mid}").json()["place"] is None
    r = c.delete(f"/api/v1/media/{mid}/gps")
    assert r.status_code == 200 and r.json()["place"]["city"] == "Lisbon"
    assert place_row(mid)["city"] == "Lisbon"
    # the atlantic photo is moved by the bulk action: it gets a place too
    atl = lib["ids"]["p4.jpg"]
    r = c.post("/api/v1/media/bulk/location", json={"media_ids": [str(atl)], "lat": OBIDOS[0], "lon": OBIDOS[1]})
    assert r.status_code == 200, r.text
    assert place_row(atl)["city"] == "Óbidos"
    c.delete(f"/api/v1/media/{atl}/gps")
    assert place_row(atl)["place_id"] is None


def test_a_location_changed_by_sql_forgets_its_place_until_pva_places_or_the_cron_names_it(lib):
    from pva.infra import db
    from pva.services import housekeeping, places

    mid = lib["ids"]["p2.jpg"]
    db.execute("update media set gps_lat = %s, gps_lon = %s where id = %s", (*OBIDOS, mid))
    assert place_row(mid)["place_version"] is None
    assert places.missing() >= 1
    out = places.fill_missing()
    assert out["looked_up"] >= 1
    assert place_row(mid)["city"] == "Óbidos"
    db.execute("update media set gps_lat = %s, gps_lon = %s where id = %s", (*TOKYO, mid))
    assert place_row(mid)["place_id"] is None
    housekeeping.name_missing_places()  # the reconcile cron's step
    assert place_row(mid)["city"] == "Tokyo"


def search_names(client, **params) -> set[str]:
    r = client.get("/api/v1/media", params=params)
    assert r.status_code == 200, r.text
    return {i["filename"] for i in r.json()["items"]}


def test_free_text_finds_items_by_city_region_and_country(lib, app):  # noqa: F811
    c = client_for(app, lib["user"])
    assert search_names(c, q="Lisbon") == {"p1.jpg"}
    assert search_names(c, q="portugal") == {"p1.jpg", "p3.jpg"}
    assert search_names(c, q="Japan") == {"p2.jpg"}
    assert search_names(c, q="Óbidos") == {"p3.jpg"}
    assert search_names(c, q="obidos") == {"p3.jpg"}  # typed without the accent
    assert search_names(c, q="Leiria") == {"p3.jpg"}
    assert search_names(c, q="Lisbon", kind="video") == set()
    # the search page's items carry their place (the map's popup shows it)
    items = c.get("/api/v1/media", params={"q": "Lisbon"}).json()["items"]
    assert items[0]["place"]["city"] == "Lisbon"
    # another user's library is not searched
    from pva.services import auth

    other = auth.create_user(f"places-o-{secrets.token_hex(3)}", "correct horse battery")
    assert search_names(client_for(app, other), q="Lisbon") == set()


def _on_the_count(monkeypatch, change):
    """The planner's count of a free text's matches (planner._few_matches) runs through ``change(sql, params)``,
    which returns the statement and parameters to run instead (or the same ones)."""
    from pva.db.search import planner

    class Cursor:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, k):
            return getattr(self.inner, k)

        def execute(self, sql, params=None):
            if sql.startswith("select count(*) as n from (select 1 from media"):
                sql, params = change(sql, params)
            return self.inner.execute(sql, params)

    real_few = planner._few_matches
    monkeypatch.setattr(planner, "_few_matches", lambda cur, *a: real_few(Cursor(cur), *a))


def test_a_text_with_few_matches_is_collected_through_the_indexes_and_one_with_many_read_in_date_order(
        lib, app, monkeypatch):  # noqa: F811
    from pva.db.search import planner

    c = client_for(app, lib["user"])
    real, calls = planner._sparse, []

    def counted(cur, sql, p):
        calls.append("indexes")
        return real(cur, sql, p)

    monkeypatch.setattr(planner, "_sparse", counted)
    monkeypatch.setattr(planner, "RARE_MIN", 2)  # this library's "few": one item (a town of 20% is not dense)
    monkeypatch.setattr(planner, "RARE_SHARE", 1.0)
    assert search_names(c, q="Óbidos") == {"p3.jpg"}  # a town: counted, one, collected at once
    assert search_names(c, q="p5") == {"p5.jpg"}       # a file name
    assert search_names(c, q="Óbidos", kind="video") == set()
    assert calls == ["indexes"] * 3
    calls.clear()
    assert search_names(c, q="portugal") == {"p1.jpg", "p3.jpg"}  # two: read in date order
    assert search_names(c, q="trip") == set(lib["ids"])           # the folder: all of them
    assert calls == []
    monkeypatch.setattr(planner, "PROBE_MS", 0)  # no time to count: date order, as before
    assert search_names(c, q="Óbidos") == {"p3.jpg"}
    assert calls == []

    monkeypatch.setattr(planner, "PROBE_MS", 50)  # a count that runs out of its time: the text is taken as common
    _on_the_count(monkeypatch, lambda sql, params: ("select pg_sleep(0.3), 1 as n", None))
    assert search_names(c, q="Óbidos") == {"p3.jpg"}  # walked after the cut count, without its time limit
    assert calls == []


def test_a_text_of_common_words_is_not_counted_first(lib, app, monkeypatch):  # noqa: F811
    from pva.db.search import planner
    from pva.infra import db

    c = client_for(app, lib["user"])
    db.execute("analyze media")  # the text index's most common words: every file here is a .jpg
    monkeypatch.setattr(planner, "_COMMON", {})
    counts = []

    def noted(sql, params):
        counts.append(params["tsq"])
        return sql, params

    _on_the_count(monkeypatch, noted)
    assert search_names(c, q="jpg") == set(lib["ids"])
    assert counts == []
    rare = f"zq{secrets.token_hex(4)}"
    assert search_names(c, q=f"{rare} jpg") == set()  # one word of it is not common: counted
    assert counts == [f"{rare} & jpg:*"]


def test_facets_count_items_per_country_and_city(lib, app):  # noqa: F811
    c = client_for(app, lib["user"])
    f = c.get("/api/v1/search/facets").json()
    countries = {r["value"]: (r["name"], r["n"]) for r in f["country"]}
    assert countries == {"PT": ("Portugal", 2), "JP": ("Japan", 1)}
    cities = {r["city"]: r["n"] for r in f["city"]}
    assert cities == {"Lisbon": 1, "Óbidos": 1, "Tokyo": 1}
    narrowed = c.get("/api/v1/search/facets", params={"q": "Portugal"}).json()
    assert {r["value"] for r in narrowed["country"]} == {"PT"}


def test_stats_list_countries_and_cities(lib, app):  # noqa: F811
    c = client_for(app, lib["user"])
    s = c.get("/api/v1/stats").json()
    assert {r["value"]: r["n"] for r in s["countries"]} == {"PT": 2, "JP": 1}
    assert {r["city"] for r in s["cities"]} == {"Lisbon", "Óbidos", "Tokyo"}


# ---------------------------------------------------------------- the upgrade path
def test_upgrading_a_library_from_008_names_its_places_with_pva_places(services, tmp_path):
    """An installation at migration 008 with a library in it: 009 adds the columns (no place yet), and `pva places`
    names every item with a location (showing a progress bar), leaving the ones at sea and without GPS alone."""
    import psycopg2
    import psycopg2.extras

    from pva.infra.db import create_database, drop_database
    from pva.infra.migrate import MIGRATIONS_DIR, migrate

    old_dir = tmp_path / "migrations"
    old_dir.mkdir()
    for p in sorted(MIGRATIONS_DIR.glob("00[1-8]_*.sql")):
        shutil.copy(p, old_dir / p.name)
    name = f"pva_upgrade_{secrets.token_hex(4)}"
    url = create_database(name)
    try:
        assert migrate(url, directory=old_dir, log=lambda *a: None) == list(range(1, 9))
        conn = psycopg2.connect(url, cursor_factory=psycopg2.extras.RealDictCursor)
        conn.autocommit = True
        cur = conn.cursor()
        cur.execute("insert into users(username, password_hash) values ('old', '!') returning id")
        owner = cur.fetchone()["id"]
        spots = [LISBON, TOKYO, OBIDOS, MID_ATLANTIC, None]
        cur.execute("""insert into media(owner_id, sha512, kind, format, mime, size, taken_at, storage_key,
                                         original_path, filename, gps_lat, gps_lon)
                       select %s, sha512(int8send(i)), 'photo', 'jpeg', 'image/jpeg', 10 * i,
                              timestamptz '2019-03-01' + i * interval '1 day', 'k/' || i, i || '.jpg', i || '.jpg',
                              (%s::float8[])[i %% 5 + 1], (%s::float8[])[i %% 5 + 1]
                         from generate_series(0, 2499) i""",
                    (owner, [s[0] if s else None for s in spots], [s[1] if s else None for s in spots]))
        applied = migrate(url, log=lambda *a: None)
        assert applied[0] == 9
        cur.execute("select count(*) as n from media where place_id is not null or place_version is not null")
        assert cur.fetchone()["n"] == 0

        env = {**os.environ, "PVA_DATABASE_URL": url, "COLUMNS": "100"}
        run = subprocess.run([sys.executable, "-m", "pva.cli", "places", "--batch", "700"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert "2000 item(s) looked up" in run.stdout and "1500 named, 500 with no place" in run.stdout, run.stdout
        assert "places" in run.stderr and "2000/2000" in run.stderr  # the progress bar
        cur.execute("""select p.city, p.country, count(*) as n from media m join places p on p.id = m.place_id
                        group by 1, 2 order by 1""")
        assert [(r["city"], r["country"], r["n"]) for r in cur.fetchall()] == [
            ("Lisbon", "Portugal", 500), ("Tokyo", "Japan", 500), ("Óbidos", "Portugal", 500)]
        cur.execute("select count(*) as n from media where place_version is null")
        assert cur.fetchone()["n"] == 500  # the ones without GPS: nothing to look up
        again = subprocess.run([sys.executable, "-m", "pva.cli", "places", "--no-progress"], cwd=ROOT, env=env,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0 and "0 item(s) looked up" in again.stdout, again.stdout + again.stderr
        conn.close()
    finally:
        drop_database(name)


def test_pva_places_refuses_a_batch_below_one():
    run = subprocess.run([sys.executable, "-m", "pva.cli", "places", "--batch", "0"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 2 and "--batch must be at least 1" in run.stderr, (run.returncode, run.stderr)


def test_pva_places_redo_names_again_what_an_older_gazetteer_named(lib, monkeypatch):
    from pva.infra import db
    from pva.services import places

    mine = [lib["ids"][n] for n in ("p1.jpg", "p2.jpg", "p3.jpg")]
    db.execute("update media set place_id = null where id = any(%s::uuid[])", (mine,))  # as if named wrongly
    places.fill_missing()  # without --redo: what was looked up with this gazetteer stays as it is
    assert all(place_row(m)["place_id"] is None for m in mine)
    monkeypatch.setattr(places, "VERSION", places.VERSION + 1)  # a newer gazetteer
    out = places.fill_missing(redo=True)
    assert out["looked_up"] >= 3
    assert [place_row(m)["city"] for m in mine] == ["Lisbon", "Tokyo", "Óbidos"]
    assert {place_row(m)["place_version"] for m in mine} == {places.VERSION}
