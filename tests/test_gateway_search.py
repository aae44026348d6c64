"""Search: every filter returns exactly the right items of a seeded library; keyset pages; facets; sharing."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from test_gateway_helpers import (add_comment, add_detection, add_face, add_ocr, add_person, add_transcript,  # noqa: F401
                                  app, client_for, insert_media, new_user, vec)


def dt(*a):
    return datetime(*a, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def lib(services):
    a, b = new_user(), new_user()
    A = a["id"]
    m = {}
    m["paris"] = insert_media(A, taken_at=dt(2021, 6, 1, 10), camera_make="Canon", camera_model="EOS R5",
                              gps_lat=48.85, gps_lon=2.35, filename="IMG_0001.jpg", original_path="trip/IMG_0001.jpg")
    m["png"] = insert_media(A, taken_at=dt(2022, 3, 15), format="png", mime="image/png", camera_make="Apple",
                            camera_model="iPhone 12", filename="screenshot.png", original_path="screenshot.png")
    m["video"] = insert_media(A, taken_at=dt(2022, 8, 20), kind="video", format="mp4", mime="video/mp4",
                              camera_make="Apple", camera_model="iPhone 12", gps_lat=35.68, gps_lon=139.69,
                              filename="clip.mp4", original_path="clip.mp4", duration=12.5)
    m["override"] = insert_media(A, taken_at=None, format="heic", mime="image/heic", gps_lat=40.7, gps_lon=-74.0,
                                 gps_override_lat=-33.87, gps_override_lon=151.21, filename="opera.heic",
                                 original_path="opera.heic")
    m["trashed"] = insert_media(A, taken_at=dt(2021, 7, 1), trashed_at=dt(2024, 1, 1), filename="gone.jpg",
                                original_path="gone.jpg")
    m["fiji"] = insert_media(A, taken_at=dt(2020, 1, 1), gps_lat=-17.7, gps_lon=178.0)
    m["samoa"] = insert_media(A, taken_at=dt(2020, 2, 1), gps_lat=-13.8, gps_lon=-172.0)
    bob = insert_media(b["id"], taken_at=dt(2021, 6, 2), camera_make="Canon", camera_model="EOS R5",
                       gps_lat=48.86, gps_lon=2.34, filename="IMG_0001.jpg", original_path="IMG_0001.jpg")

    add_detection(m["paris"]["id"], "dog", 0.9)
    add_detection(m["png"]["id"], "cat", 0.4)
    add_detection(m["png"]["id"], "dog", 0.3)
    add_detection(m["video"]["id"], "person", 0.8)
    add_detection(m["trashed"]["id"], "dog", 0.95)
    add_detection(bob["id"], "dog", 0.99)

    p1 = add_person(A, "Alice")
    base = vec(1)
    f_paris = add_face(m["paris"]["id"], A, base, person_id=p1["id"])
    f_override = add_face(m["override"]["id"], A, vec(2, base, noise=0.01))  # same face, not yet assigned
    add_face(m["video"]["id"], A, vec(3))  # a different face
    pb = add_person(b["id"], "Bob's friend")
    add_face(bob["id"], b["id"], vec(4, base, noise=0.01), person_id=pb["id"])  # similar, but Bob's

    add_ocr(m["paris"]["id"], "Welcome to the BEACH bar")
    add_transcript(m["video"]["id"], "hello summer festival")
    add_comment(m["override"]["id"], A, "lovely sunset at the opera")
    add_ocr(bob["id"], "beach sunset festival")

    album = client_for(app_for(services), a).post("/api/v1/albums", json={"name": "Islands"}).json()
    from pva.services import albums

    albums.add_media(album["id"], A, [m["fiji"]["id"], m["samoa"]["id"]])
    return {"a": a, "b": b, "m": m, "bob": bob, "person": p1, "bob_person": pb, "face": f_paris,
            "face_override": f_override, "album": album}


_app = {}


def app_for(services):
    if "app" not in _app:
        from gateway.app import create_app

        _app["app"] = create_app()
    return _app["app"]


@pytest.fixture(scope="module")
def ca(lib, services):
    return client_for(app_for(services), lib["a"])


def ids(lib, *names):
    return {str(lib["m"][n]["id"]) for n in names}


def found(client, **params):
    r = client.get("/api/v1/media", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["items"]}


LIVE = ("paris", "png", "video", "override", "fiji", "samoa")


def test_no_filter_lists_own_live_items_only(ca, lib):
    assert found(ca) == ids(lib, *LIVE)


def test_date_range(ca, lib):
    assert found(ca, **{"from": "2022-01-01", "to": "2022-12-31"}) == ids(lib, "png", "video")
    assert found(ca, to="2021-06-01") == ids(lib, "paris", "fiji", "samoa")  # a bare date includes that day
    assert found(ca, **{"from": "2021-06-01T10:00:01Z", "to": "2022-08-19"}) == ids(lib, "png")


def test_bbox_uses_the_gps_override_and_crosses_the_antimeridian(ca, lib):
    assert found(ca, bbox="48,2,49,3") == ids(lib, "paris")
    assert found(ca, bbox="-34,151,-33,152") == ids(lib, "override")  # override, not EXIF
    assert found(ca, bbox="40,-75,41,-73") == set()  # the EXIF location is hidden by the override
    assert found(ca, bbox="-20,170,-10,-170") == ids(lib, "fiji", "samoa")


def test_without_gps(ca, lib):
    assert found(ca, no_gps="true") == ids(lib, "png")


def test_label_with_minimum_confidence(ca, lib):
    assert found(ca, label="dog") == ids(lib, "paris", "png")
    assert found(ca, label="dog", min_confidence=0.5) == ids(lib, "paris")
    assert found(ca, label=["dog", "cat"]) == ids(lib, "png")
    assert found(ca, label="giraffe") == set()


def test_person(ca, lib):
    assert found(ca, person=str(lib["person"]["id"])) == ids(lib, "paris")


def test_similar_to_face_stays_inside_the_owner_library(ca, lib):
    assert found(ca, similar_face=lib["face"]) == ids(lib, "paris", "override")


def test_camera_make_and_model(ca, lib):
    assert found(ca, camera_make="Apple") == ids(lib, "png", "video")
    assert found(ca, camera_make="Canon", camera_model="EOS R5") == ids(lib, "paris")


def test_kind_and_format(ca, lib):
    assert found(ca, kind="video") == ids(lib, "video")
    assert found(ca, format="heic") == ids(lib, "override")
    assert found(ca, kind="photo", format="png") == ids(lib, "png")


def test_text_in_ocr_transcript_comment_and_file_name(ca, lib):
    assert found(ca, q="beach") == ids(lib, "paris")       # OCR, case-insensitive
    assert found(ca, q="summer fest") == ids(lib, "video")  # transcript, word prefixes
    assert found(ca, q="sunset") == ids(lib, "override")    # comment (Bob's OCR 'sunset' is not visible)
    assert found(ca, q="IMG_0001") == ids(lib, "paris")     # file name
    assert found(ca, q="trip") == ids(lib, "paris")         # folder of the original path


def test_album_filter(ca, lib):
    assert found(ca, album=str(lib["album"]["id"])) == ids(lib, "fiji", "samoa")


def test_trash_listing(ca, lib):
    assert found(ca, trashed="true") == ids(lib, "trashed")


def test_filters_combine(ca, lib):
    assert found(ca, camera_make="Apple", label="person", q="festival") == ids(lib, "video")
    assert found(ca, camera_make="Apple", **{"from": "2022-06-01"}, no_gps="true") == set()


def test_keyset_pages_cover_everything_once_in_order(ca, lib):
    for sort in ("taken", "added"):
        for order in ("desc", "asc"):
            seen, cursor = [], None
            while True:
                params = {"limit": 2, "sort": sort, "order": order}
                if cursor:
                    params["cursor"] = cursor
                page = ca.get("/api/v1/media", params=params).json()
                seen += [i["id"] for i in page["items"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            assert len(seen) == len(set(seen)) and set(seen) == ids(lib, *LIVE)
    seen = [i["id"] for i in ca.get("/api/v1/media", params={"limit": 10}).json()["items"]]
    # by date taken, newest first; the item without a date sorts by its (recent) date added
    assert seen[0] == str(lib["m"]["override"]["id"])
    assert seen[1:] == [str(lib["m"][n]["id"]) for n in ("video", "png", "paris", "samoa", "fiji")]


def test_bad_cursor_and_bad_parameters_are_clear_422s(ca):
    r = ca.get("/api/v1/media", params={"cursor": "garbage"})
    assert r.status_code == 422 and "cursor" in r.json()["message"]
    r = ca.get("/api/v1/media", params={"bbox": "1,2,3"})
    assert r.status_code == 422 and "south,west,north,east" in r.json()["message"]
    r = ca.get("/api/v1/media", params={"from": "yesterday"})
    assert r.status_code == 422 and "ISO date" in r.json()["message"]
    r = ca.get("/api/v1/media", params={"q": "!!!"})
    assert r.status_code == 422
    page = ca.get("/api/v1/media", params={"limit": 1, "sort": "taken"}).json()
    r = ca.get("/api/v1/media", params={"cursor": page["next_cursor"], "sort": "added"})
    assert r.status_code == 422


def test_facets_count_other_filters_but_not_their_own(ca, lib):
    f = ca.get("/api/v1/search/facets", params={"kind": "photo", "camera_make": "Apple"}).json()
    kinds = {r["value"]: r["n"] for r in f["kind"]}
    assert kinds == {"photo": 1, "video": 1}  # the kind filter does not narrow the kind facet
    assert {r["value"]: r["n"] for r in f["format"]} == {"png": 1}
    assert {r["value"]: r["n"] for r in f["label"]} == {"cat": 1, "dog": 1}
    f = ca.get("/api/v1/search/facets").json()
    assert {(r["make"], r["model"]): r["n"] for r in f["camera"]} == {
        ("Apple", "iPhone 12"): 2, ("Canon", "EOS R5"): 1, (None, None): 3}
    assert f["gps"] == {"with": 5, "without": 1}
    assert {r["value"]: r["n"] for r in f["label"]} == {"dog": 2, "cat": 1, "person": 1}
    assert [(str(r["id"]), r["n"]) for r in f["person"]] == [(str(lib["person"]["id"]), 1)]
    assert [(str(r["id"]), r["n"]) for r in f["album"]] == [(str(lib["album"]["id"]), 2)]
    assert {r["value"]: r["n"] for r in f["year"]}[2022] == 2
    for conf, want in ((0.5, {"dog": 1, "person": 1}), (0.35, {"dog": 1, "cat": 1, "person": 1})):
        f = ca.get("/api/v1/search/facets", params={"min_confidence": conf}).json()
        assert {r["value"]: r["n"] for r in f["label"]} == want, conf


def test_shared_album_is_readable_by_the_other_user_only_through_the_share(lib, services):
    app = app_for(services)
    ca = client_for(app, lib["a"])
    cb = client_for(app, lib["b"])
    album = str(lib["album"]["id"])
    fiji = str(lib["m"]["fiji"]["id"])
    assert cb.get("/api/v1/media", params={"album": album}).status_code == 404
    assert cb.get(f"/api/v1/media/{fiji}").status_code == 404
    r = ca.post(f"/api/v1/albums/{album}/shares", json={"username": lib["b"]["username"]})
    assert r.status_code == 201, r.text
    try:
        assert found(cb, album=album) == ids(lib, "fiji", "samoa")
        assert fiji not in found(cb)  # not part of Bob's own library
        d = cb.get(f"/api/v1/media/{fiji}")
        assert d.status_code == 200 and d.json()["access"] == "shared"
        assert any(a["id"] == album for a in cb.get("/api/v1/albums").json())
        # read-only: no edits through the share
        assert cb.put(f"/api/v1/media/{fiji}/gps", json={"lat": 1, "lon": 1}).status_code == 404
        assert cb.post(f"/api/v1/media/{fiji}/comments", json={"body": "hi"}).status_code == 404
        assert cb.patch(f"/api/v1/albums/{album}", json={"name": "mine"}).status_code == 404
        assert cb.post(f"/api/v1/albums/{album}/media", json={"media_ids": [str(lib["bob"]["id"])]}).status_code == 404
    finally:
        assert ca.delete(f"/api/v1/albums/{album}/shares/{lib['b']['id']}").status_code == 204
    assert cb.get(f"/api/v1/media/{fiji}").status_code == 404


def test_search_follows_replaced_analysis_results_and_deleted_comments(services):
    """label_tags / text_tsv on media are kept by triggers: rerunning an analysis or deleting a comment shows."""
    from pva.infra import db

    u = new_user()
    c = client_for(app_for(services), u)
    m = insert_media(u["id"])
    mid = str(m["id"])
    add_detection(m["id"], "zebra", 0.72)
    assert found(c, label="zebra", min_confidence=0.7) == {mid}
    assert found(c, label="zebra", min_confidence=0.72) == {mid}
    assert found(c, label="zebra", min_confidence=0.73) == set()  # finer than a tag: rechecked exactly
    with db.transaction() as cur:  # a detect rerun replaces the results in one transaction
        cur.execute("delete from detections where media_id = %s", (m["id"],))
        cur.execute("""insert into detections(media_id, label, confidence, x, y, w, h, model)
                       values (%s, 'giraffe', 0.9, 0, 0, 1, 1, 'v2')""", (m["id"],))
    assert found(c, label="zebra") == set() and found(c, label="giraffe", min_confidence=0.9) == {mid}
    r = c.post(f"/api/v1/media/{mid}/comments", json={"body": "quokka selfie"})
    assert found(c, q="quokka") == {mid}
    c.delete(f"/api/v1/comments/{r.json()['id']}")
    assert found(c, q="quokka") == set()
    add_ocr(m["id"], "platypus crossing")
    add_transcript(m["id"], "wombat noises")
    assert found(c, q="platypus") == found(c, q="wombat") == {mid}
    db.execute("delete from ocr where media_id = %s", (m["id"],))
    assert found(c, q="platypus") == set() and found(c, q="wombat") == {mid}
    assert "label_tags" not in c.get(f"/api/v1/media/{mid}").json()


def test_sparse_path_gives_the_same_pages(ca, lib, monkeypatch):
    """When date order is too slow the matches are collected through the filter indexes and sorted: same answer."""
    from pva.db.search import planner

    cases = [{"q": "beach"}, {"label": "dog"}, {"label": "dog", "min_confidence": 0.35}, {"bbox": "-20,170,-10,-170"},
             {"person": str(lib["person"]["id"])}, {"album": str(lib["album"]["id"])}, {"q": "summer fest"},
             {"bbox": "-90,-180,90,180"}, {"label": "dog", "order": "asc"}, {"bbox": "-90,-180,90,180", "sort": "added"},
             {"label": "dog", "no_gps": "true"}, {"kind": "photo", "label": "dog"}, {"kind": "video", "q": "summer"}]
    expected = []
    for params in cases:
        expected.append([i["id"] for i in ca.get("/api/v1/media", params={**params, "limit": 500}).json()["items"]])
    monkeypatch.setattr(planner, "FAST_MS", 0)
    for params, want in zip(cases, expected):
        assert [i["id"] for i in ca.get("/api/v1/media", params={**params, "limit": 500}).json()["items"]] == want
        seen, cursor = [], None
        while True:  # and page by page
            page = ca.get("/api/v1/media", params={**params, "limit": 2, **({"cursor": cursor} if cursor else {})}).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert seen == want, params
