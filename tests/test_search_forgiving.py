"""Search that forgives (issue 18 item 7): camera make and model match whatever the case and by part ("canon",
"nikon" is NIKON CORPORATION, "d70"), the free-text box also finds people's names, album names and cameras, and
GET /api/v1/search/suggest offers the values of the caller's own library, never another user's."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from test_gateway_helpers import (add_face, add_person, app, client_for, insert_media, new_user,  # noqa: F401
                                  vec)


def dt(*a):
    return datetime(*a, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def lib(services):
    from pva.services import albums

    a, b = new_user(), new_user()
    A = a["id"]
    m = {
        "canon": insert_media(A, taken_at=dt(2021, 5, 1), camera_make="Canon", camera_model="Canon EOS 40D"),
        "nikon": insert_media(A, taken_at=dt(2021, 5, 2), camera_make="NIKON CORPORATION", camera_model="NIKON D70"),
        "apple": insert_media(A, taken_at=dt(2021, 5, 3), camera_make="Apple", camera_model="iPhone 12"),
        "plain": insert_media(A, taken_at=dt(2021, 5, 4), filename="beach.jpg", original_path="beach.jpg"),
        "gone": insert_media(A, taken_at=dt(2021, 5, 5), camera_make="Canon", camera_model="Canon EOS 40D",
                             trashed_at=dt(2024, 1, 1)),
    }
    # another user's camera: never found, never suggested
    bob = insert_media(b["id"], taken_at=dt(2021, 5, 6), camera_make="Canon", camera_model="Canon EOS 5D")
    bob_only = insert_media(b["id"], taken_at=dt(2021, 5, 7), camera_make="Hasselblad", camera_model="X2D")
    alice = add_person(A, "Alice Martin")
    add_face(m["plain"]["id"], A, vec(11), person_id=alice["id"])
    add_person(b["id"], "Apple Picker")  # Bob's person named like A's camera: not A's to search
    album = albums.create(A, "Summer holidays")
    albums.add_media(album["id"], A, [m["apple"]["id"]])
    return {"a": a, "b": b, "m": m, "bob": bob, "bob_only": bob_only}


@pytest.fixture(scope="module")
def ca(lib, app):  # noqa: F811
    return client_for(app, lib["a"])


def found(client, **params):
    r = client.get("/api/v1/media", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return {i["id"] for i in r.json()["items"]}


def ids(lib, *names):
    return {str(lib["m"][n]["id"]) for n in names}


@pytest.mark.parametrize("params, names", [
    ({"camera_make": "canon"}, ["canon"]),
    ({"camera_make": "CANON"}, ["canon"]),
    ({"camera_make": "Canon"}, ["canon"]),            # the exact value, as a facet chip sends it
    ({"camera_make": "nikon"}, ["nikon"]),
    ({"camera_make": "Nikon Corporation"}, ["nikon"]),
    ({"camera_model": "d70"}, ["nikon"]),
    ({"camera_model": "eos 40d"}, ["canon"]),
    ({"camera_model": "canon 40d"}, ["canon"]),       # make words in the model box
    ({"camera_make": "nikon", "camera_model": "d70"}, ["nikon"]),
    ({"camera_make": "canon", "camera_model": "d70"}, []),
    ({"camera_make": "hasselblad"}, []),              # only another user has one
    ({"camera_make": "%"}, []),                       # no wildcard: a character like any other
])
def test_camera_make_and_model_forgive_case_and_parts(ca, lib, params, names):
    assert found(ca, **params) == ids(lib, *names)


def test_camera_in_the_trash_too(ca, lib):
    assert found(ca, camera_make="canon", trashed="true") == ids(lib, "gone")


@pytest.mark.parametrize("q, names", [
    ("canon", ["canon"]),
    ("nikon", ["nikon"]),
    ("d70", ["nikon"]),
    ("alice", ["plain"]),            # a person's name
    ("martin", ["plain"]),
    ("summer", ["apple"]),           # an album's name
    ("summ", ["apple"]),             # typing: the last word is a prefix
    ("beach", ["plain"]),            # the file name, as before
    ("on", []),                      # inside a word of a camera name is not a match for the free text
    ("hasselblad", []),              # another user's camera
    ("picker", []),                  # another user's person
])
def test_free_text_finds_names_people_albums_and_cameras(ca, lib, q, names):
    assert found(ca, q=q) == ids(lib, *names)


def test_free_text_combines_with_the_other_filters(ca, lib):
    assert found(ca, q="canon", camera_model="d70") == set()
    assert found(ca, q="summer", camera_make="apple") == ids(lib, "apple")


def test_sparse_path_gives_the_same_answers(ca, lib, monkeypatch):
    from pva.db.search import planner

    monkeypatch.setattr(planner, "FAST_MS", 0)
    assert found(ca, q="alice") == ids(lib, "plain")
    assert found(ca, q="summer") == ids(lib, "apple")
    assert found(ca, camera_make="nikon") == ids(lib, "nikon")


def test_facets_under_a_partial_camera_filter(ca, lib):
    f = ca.get("/api/v1/search/facets", params={"camera_make": "nikon"}).json()
    assert {r["value"]: r["n"] for r in f["kind"]} == {"photo": 1}


def test_suggestions_are_the_callers_own_values(ca, lib):
    r = ca.get("/api/v1/search/suggest", params={"field": "camera_make", "q": "ni"})
    assert r.status_code == 200, r.text
    assert r.json() == {"field": "camera_make", "q": "ni", "values": [{"value": "NIKON CORPORATION", "n": 1}]}
    got = ca.get("/api/v1/search/suggest", params={"field": "camera"}).json()["values"]
    # readable names (no make repeated), live items only (the trashed Canon is not counted), none of Bob's
    assert sorted(v["value"] for v in got) == ["Apple iPhone 12", "Canon EOS 40D", "NIKON D70"]
    assert all(v["n"] == 1 for v in got)
    models = ca.get("/api/v1/search/suggest", params={"field": "camera_model", "q": "canon"}).json()["values"]
    assert [v["value"] for v in models] == ["Canon EOS 40D"]
    assert ca.get("/api/v1/search/suggest", params={"field": "camera_make", "q": "hassel"}).json()["values"] == []


def test_suggest_refuses_an_unknown_field_and_needs_a_login(ca, lib, app):  # noqa: F811
    r = ca.get("/api/v1/search/suggest", params={"field": "password"})
    assert r.status_code == 422 and "field" in r.json()["message"]
    assert client_for(app).get("/api/v1/search/suggest").status_code == 401


def test_camera_name_does_not_repeat_the_make():
    from pva.services.search import camera_name

    assert camera_name("Canon", "Canon EOS 40D") == "Canon EOS 40D"
    assert camera_name("NIKON CORPORATION", "NIKON D70") == "NIKON D70"
    assert camera_name("Apple", "iPhone 12") == "Apple iPhone 12"
    assert camera_name(None, "X2D") == "X2D" and camera_name("Sony", "") == "Sony" and camera_name(None, None) == ""
