"""Place counters (015_place_counts.sql, issue 21): the library counters count the owner's live items per place
(a city; a country is the sum of its cities) through naming at ingest, a location override that moves an item to
another city or out of reach, trash, restore and purge, before and after folding; unfiltered place facets and the
stats page read them and agree with a count of the media rows.  The exact place filters (``country=PT``,
``place=<id>``, the facet chips' parameters) find Lisbon, Portugal without Lisbon, Ohio."""
from __future__ import annotations

from test_gateway_helpers import app, client_for, insert_media, new_user  # noqa: F401  (fixtures)

LISBON = (38.7223, -9.1393)
TOKYO = (35.6762, 139.6503)
OBIDOS = (39.3606, -9.1571)
MID_ATLANTIC = (38.0, -20.0)
LISBON_OHIO = (40.7723, -80.7681)


def truth(owner_id) -> dict[int, int]:
    """{place id: live items}, counted from the media rows."""
    from pva.infra import db

    return {r["place_id"]: r["n"] for r in db.query(
        """select place_id, count(*) as n from media where owner_id = %s and trashed_at is null
            and place_id is not null group by 1""", (owner_id,))}


def counted(owner_id) -> dict[int, int]:
    from pva.db import counts
    from pva.infra import db

    with db.transaction() as cur:
        return counts.place_totals(cur, owner_id)


def facets_and_stats(owner_id) -> tuple[dict, dict]:
    from pva.services import places, search

    f = search.facets(owner_id, {})
    return {"country": f["country"], "city": f["city"]}, places.by_country_and_city(owner_id)


def ingest(owner_id, at, **cols) -> dict:
    """A new item named as ingest names it (pva.services.places.name_new in the ingest transaction)."""
    from pva.infra import db
    from pva.services import places

    lat, lon = at if at else (None, None)
    m = insert_media(owner_id, gps_lat=lat, gps_lon=lon, **cols)
    with db.transaction() as cur:
        places.name_new(cur, m["id"], {"gps_lat": lat, "gps_lon": lon})
    return m


def check(owner_id) -> dict[int, int]:
    t = truth(owner_id)
    assert counted(owner_id) == t
    fac, stats = facets_and_stats(owner_id)
    assert fac == stats
    assert {c["id"]: c["n"] for c in stats["city"]} == t
    assert sum(c["n"] for c in stats["country"]) == sum(t.values())
    return t


def test_place_counters_follow_ingest_override_trash_restore_purge_and_folding(services):
    from pva.infra import db
    from pva.services import media, stats

    a, b = new_user(), new_user()
    A = a["id"]
    ms = [ingest(A, LISBON) for _ in range(3)] + [ingest(A, TOKYO), ingest(A, OBIDOS), ingest(A, None),
                                                   ingest(A, MID_ATLANTIC)]
    ingest(b["id"], LISBON)  # another library: never in A's counts
    t = check(A)
    assert sorted(t.values()) == [1, 1, 3]
    fac, _ = facets_and_stats(A)
    assert fac["country"][0] == {"value": "PT", "name": "Portugal", "n": 4}
    assert fac["city"][0]["city"] == "Lisbon" and fac["city"][0]["n"] == 3

    assert stats.fold_counters() > 0
    check(A)

    media.set_gps(ms[0]["id"], A, *TOKYO, None)         # Lisbon -> Tokyo
    media.set_gps(ms[5]["id"], A, *OBIDOS, None)        # no location -> Óbidos
    media.set_gps(ms[1]["id"], A, *MID_ATLANTIC, None)  # Lisbon -> out of reach of any place
    t = check(A)
    assert sorted(t.values()) == [1, 2, 2]
    media.clear_gps(ms[1]["id"], A)                     # back to its EXIF Lisbon
    check(A)

    media.trash(ms[2]["id"], A)
    media.trash(ms[3]["id"], A)
    check(A)
    media.restore(ms[3]["id"], A)
    check(A)
    media.purge_trash(A, media_id=ms[2]["id"])
    assert db.query_one("select count(*) as n from media where id = %s", (ms[2]["id"],))["n"] == 0
    t = check(A)
    stats.fold_counters()
    assert check(A) == t
    before = counted(A)
    stats.recount(A)  # a recount changes nothing when the counters were right
    assert counted(A) == before


def test_unfiltered_place_facets_do_not_count_the_media_rows(services, monkeypatch):
    """The library page's facets come from the counters: a place count drifted on purpose shows in the facets."""
    from pva.infra import db
    from pva.services import search, stats

    a = new_user()
    A = a["id"]
    m = ingest(A, LISBON)
    stats.fold_counters()
    pid = db.query_one("select place_id from media where id = %s", (m["id"],))["place_id"]
    db.execute("update media_counts set n = n + 5 where owner_id = %s and dim = 'place' and grain = 'a'", (A,))
    f = search.facets(A, {})
    assert [(c["id"], c["n"]) for c in f["city"]] == [(pid, 6)]
    assert f["country"] == [{"value": "PT", "name": "Portugal", "n": 6}]
    f = search.facets(A, {"kind": "photo"})  # a filter: counted from the rows
    assert [(c["id"], c["n"]) for c in f["city"]] == [(pid, 1)]


def test_exact_place_filters_tell_lisbon_portugal_from_lisbon_ohio(services, app, monkeypatch):  # noqa: F811
    from pva.db.search import planner
    from pva.infra import db

    a = new_user()
    A = a["id"]
    pt, oh, tk = ingest(A, LISBON), ingest(A, LISBON_OHIO), ingest(A, TOKYO)
    ingest(A, OBIDOS, kind="video", format="mp4")
    pid = {m["id"]: db.query_one("select place_id from media where id = %s", (m["id"],))["place_id"]
           for m in (pt, oh, tk)}
    c = client_for(app, a)

    def ids(**params) -> set:
        r = c.get("/api/v1/media", params=params)
        assert r.status_code == 200, r.text
        return {i["id"] for i in r.json()["items"]}

    assert ids(q="Lisbon") == {str(pt["id"]), str(oh["id"])}  # the free text: both Lisbons, as before
    assert ids(place=pid[pt["id"]]) == {str(pt["id"])}
    assert ids(place=pid[oh["id"]]) == {str(oh["id"])}
    assert len(ids(country="PT")) == 2 and str(pt["id"]) in ids(country="pt")
    assert ids(country="US") == {str(oh["id"])}
    assert ids(country="PT", kind="photo") == {str(pt["id"])}
    assert ids(country="FR") == set()
    monkeypatch.setattr(planner, "FAST_MS", 0)  # the sparse path (rare filters known from the counters) agrees
    assert ids(place=pid[oh["id"]]) == {str(oh["id"])}
    assert len(ids(country="PT")) == 2
    f = c.get("/api/v1/search/facets", params={"country": "PT"}).json()
    assert {r["value"] for r in f["country"]} == {"PT"} and sum(r["n"] for r in f["kind"]) == 2
    f = c.get("/api/v1/search/facets", params={"place": pid[pt["id"]]}).json()
    assert [(r["id"], r["n"]) for r in f["city"]] == [(pid[pt["id"]], 1)]
    for bad in ({"country": "Portugal"}, {"country": "P1"}, {"place": "x"}, {"place": 0}):
        r = c.get("/api/v1/media", params=bad)
        assert r.status_code == 422, (bad, r.text)
