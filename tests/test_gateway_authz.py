"""Authorization sweep: for every route with id parameters, another user's ids answer 404 and nothing leaks.

Each id parameter is set in turn to the victim's while the others are the attacker's own (mixed ownership, which
tests/test_authz_matrix.py, the table of who may call each route, does not try).  That matrix is also where every
new route must be classified; this file adds the mixed-id sweep, ids inside bodies and queries, and leak checks
on the collections.
"""
from __future__ import annotations

import re

import pytest

from test_gateway_helpers import (add_comment, add_face, add_job, add_person, client_for,  # noqa: F401
                                  insert_media, new_user, token_for, vec)

SECRET = "victim-secret"

# Parameterless routes that list or act on the caller's data: GET ones are checked for leaks; writes are checked
# by dedicated tests below (named in the value).
COLLECTIONS = {
    ("GET", "/api/v1/media"), ("GET", "/api/v1/search/facets"), ("GET", "/api/v1/albums"),
    ("GET", "/api/v1/people"), ("GET", "/api/v1/stats"), ("GET", "/api/v1/stats/timeline"),
    ("GET", "/api/v1/jobs"), ("GET", "/api/v1/jobs/failed"), ("GET", "/api/v1/tokens"),
    ("GET", "/api/v1/auth/me"), ("GET", "/api/v1/memories"), ("GET", "/api/v1/duplicates"),
    ("POST", "/api/v1/duplicates/resolve-all"),  # test_duplicates_api: test_resolve_all_touches_only_own_groups
    ("POST", "/api/v1/media/have"),      # test_sha_check_does_not_reveal_other_libraries
    ("POST", "/api/v1/trash/empty"),     # test_empty_trash_and_job_retries_touch_only_own_rows
    ("POST", "/api/v1/jobs/retry"),      # same, and BODY_REFS below
    ("POST", "/api/v1/jobs/reanalyse"),  # same, and BODY_REFS below
    ("POST", "/api/v1/faces/similar"),   # test_gateway_people: test_photo_search_finds_only_the_callers_faces
}
# Routes with parameters that are not ids of the user's rows.
EXEMPT = {
    ("PATCH", "/api/v1/users/{user_id}"): "administrators' route: another user gets 403 before any id is read "
                                         "(test_authz_matrix: ADMIN)",
    ("POST", "/api/v1/users/{user_id}/password"): "administrators' route, as above",
    ("GET", "/s/{token}"): "a public link's token, no user's id: test_album_sharing (wrong, expired, revoked links; "
                           "media outside the album) and test_authz_matrix",
    ("POST", "/s/{token}/unlock"): "a public link's token, as above",
    ("GET", "/s/{token}/media/{media_id}/{what}"): "a public link's token, as above",
    ("POST", "/api/v1/functions/{name}/invoke"): "a function name; the media id in its body is checked by "
                                                 "test_authz_matrix and test_function_auth",
}
# Valid bodies so a write reaches its ownership check (a 422 would hide a missing check).
BODIES = {
    ("PUT", "/api/v1/media/{media_id}/gps"): {"lat": 1.0, "lon": 2.0},
    ("POST", "/api/v1/media/{media_id}/comments"): {"body": "attacker"},
    ("PATCH", "/api/v1/comments/{comment_id}"): {"body": "attacker"},
    ("PATCH", "/api/v1/albums/{album_id}"): {"name": "attacker"},
    ("POST", "/api/v1/albums/{album_id}/media"): lambda o: {"media_ids": [o["media_id"]]},
    ("PUT", "/api/v1/albums/{album_id}/cover"): lambda o: {"media_id": o["media_id"]},
    ("POST", "/api/v1/albums/{album_id}/shares"): lambda o: {"username": o["username"]},
    ("PATCH", "/api/v1/people/{person_id}"): {"name": "attacker"},
    ("POST", "/api/v1/people/{person_id}/merge"): lambda o: {"source_ids": [o["person_id"]]},
    ("PUT", "/api/v1/faces/{face_id}/person"): lambda o: {"person_id": o["person_id"]},
    ("POST", "/api/v1/media/bulk/albums/{album_id}/add"): lambda o: {"media_ids": [o["media_id"]]},
    ("POST", "/api/v1/media/bulk/albums/{album_id}/remove"): lambda o: {"media_ids": [o["media_id"]]},
    ("POST", "/api/v1/albums/{album_id}/links"): {},
}


def _world(services):
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    s = get_settings()
    st = get_storage()
    out = {}
    for role in ("victim", "attacker"):
        u = new_user()
        tag = f"{SECRET}-{role}" if role == "victim" else role
        m = insert_media(u["id"], filename=f"{tag}.jpg", original_path=f"{tag}/{tag}.jpg",
                         thumb_key=f"t/{u['id']}/thumb.jpg", preview_key=f"t/{u['id']}/preview.jpg",
                         camera_make=tag)
        st.put(s.bucket_originals, m["storage_key"], b"original-bytes-" + role.encode(), content_type="image/jpeg")
        st.put(s.bucket_thumbs, m["thumb_key"], b"thumb", content_type="image/jpeg")
        st.put(s.bucket_thumbs, m["preview_key"], b"preview", content_type="image/jpeg")
        if role == "victim":  # a live photo's clip (issue 22); the attacker's item has none, so that its role 404s
            from test_authz_matrix import _motion_file

            _motion_file(m, True)
        trashed = insert_media(u["id"], trashed_at=__import__("datetime").datetime.now().astimezone(),
                               filename=f"{tag}-trashed.jpg")
        person = add_person(u["id"], f"{tag}-person")
        crop = f"faces/{u['id']}/1.jpg"
        st.put(s.bucket_thumbs, crop, b"crop", content_type="image/jpeg")
        face = add_face(m["id"], u["id"], vec(7), person_id=person["id"], crop_key=crop)
        comment = add_comment(m["id"], u["id"], f"{tag}-comment")
        add_job(m["id"], "detect", "failed", f"{tag}-error")
        add_job(m["id"], "ocr", "done", None)
        from pva.services import auth
        from pva.services import albums
        from pva.services import people as people_service

        album = albums.create(u["id"], f"{tag}-album")
        albums.add_media(album["id"], u["id"], [m["id"]])
        _tok, tokrow = auth.create_token(u["id"], ["read"], name=f"{tag}-token")
        from test_authz_matrix import _duplicate_pair

        group_id = _duplicate_pair(m)  # near-duplicates (issue 21)
        link = albums.create_link(album["id"], u["id"])
        other = add_person(u["id"], f"{tag}-merged")
        add_face(m["id"], u["id"], vec(8), person_id=other["id"])
        merge_id = people_service.merge_people(u["id"], person["id"], [other["id"]])["merge_id"]
        out[role] = {"user": u, "media_id": str(m["id"]), "album_id": str(album["id"]),
                     "comment_id": str(comment["id"]), "person_id": str(person["id"]), "face_id": face,
                     "token_id": str(tokrow["id"]), "user_id": str(u["id"]), "username": u["username"],
                     "trashed_id": str(trashed["id"]), "sha512": bytes(m["sha512"]).hex(),
                     "link_id": str(link["id"]), "merge_id": merge_id, "role": "motion", "group_id": group_id}
    return out


@pytest.fixture(scope="module")
def world(services):
    from gateway.app import create_app

    w = _world(services)
    w["app"] = create_app()
    return w


def _routes(app):
    from gateway.openapi import iter_routes

    for path, methods, _ in iter_routes(app):
        for m in sorted(methods):
            yield m, path


def _victim_strings(w) -> list[str]:
    v = w["victim"]
    return [SECRET, v["media_id"], v["album_id"], v["comment_id"], v["person_id"], v["token_id"], v["trashed_id"],
            v["sha512"]]


def test_other_users_ids_give_404_on_every_route(world):
    app = world["app"]
    v, a = world["victim"], world["attacker"]
    attacker = client_for(app, a["user"])
    victim = client_for(app, v["user"])
    checked = 0
    for method, path in _routes(app):
        params = re.findall(r"{(\w+)}", path)
        if not params or (method, path) in EXEMPT:
            continue
        assert all(p in v for p in params), f"{method} {path}: add its id parameters to _world (or to EXEMPT)"
        for target in params:
            values = {p: (v if p == target else a)[p] for p in params}
            url = path.format(**values)
            body = BODIES.get((method, path))
            if callable(body):
                body = body(a)  # ids in the body are the attacker's own: only the path id is foreign
            r = attacker.request(method, url, json=body if body is not None else None)
            assert r.status_code != 422, f"{method} {path}: add a valid body to BODIES ({r.text})"
            assert r.status_code == 404, f"{method} {url} as another user: {r.status_code} {r.text[:200]}"
            assert r.headers["content-type"].startswith("application/json")
            for s in _victim_strings(world):
                assert s not in r.text, f"{method} {url} leaks {s!r}"
            checked += 1
        if method in ("GET", "HEAD"):
            # positive control: the owner gets it, so the 404 above is the ownership check, not a broken route
            own = victim.request(method, path.format(**{p: v[p] for p in params}))
            assert own.status_code == 200, f"owner GET {path}: {own.status_code} {own.text[:200]}"
    assert checked >= 25


def test_ids_in_bodies_and_queries_are_checked_too(world):
    app = world["app"]
    v, a = world["victim"], world["attacker"]
    c = client_for(app, a["user"])
    cases = [
        ("POST", f"/api/v1/albums/{a['album_id']}/media", {"media_ids": [v["media_id"]]}, None),
        ("POST", f"/api/v1/albums/{a['album_id']}/media", {"media_ids": [a["media_id"], v["media_id"]]}, None),
        ("PUT", f"/api/v1/albums/{a['album_id']}/cover", {"media_id": v["media_id"]}, None),
        ("POST", f"/api/v1/people/{a['person_id']}/merge", {"source_ids": [v["person_id"]]}, None),
        ("PUT", f"/api/v1/faces/{a['face_id']}/person", {"person_id": v["person_id"]}, None),
        ("POST", "/api/v1/jobs/retry", {"media_id": v["media_id"]}, None),
        ("POST", "/api/v1/jobs/reanalyse", {"media_ids": [v["media_id"]]}, None),
        ("GET", "/api/v1/media", None, {"album": v["album_id"]}),
        ("GET", "/api/v1/media", None, {"person": v["person_id"]}),
        ("GET", "/api/v1/media", None, {"similar_face": v["face_id"]}),
        ("GET", "/api/v1/search/facets", None, {"album": v["album_id"]}),
    ]
    for method, url, body, params in cases:
        r = c.request(method, url, json=body, params=params)
        assert r.status_code == 404, f"{method} {url} {body or params}: {r.status_code} {r.text[:200]}"
    from pva.infra import db

    assert db.query_one("select count(*) as n from album_media where album_id = %s", (a["album_id"],))["n"] == 1


def test_collections_do_not_leak_other_users_rows(world):
    app = world["app"]
    c = client_for(app, world["attacker"]["user"])
    for method, path in sorted(COLLECTIONS):
        if method != "GET":
            continue
        for params in ({}, {"trashed": "true"} if path == "/api/v1/media" else {}):
            r = c.get(path, params=params)
            assert r.status_code == 200, f"{path}: {r.status_code} {r.text[:200]}"
            for s in _victim_strings(world):
                assert s not in r.text, f"GET {path} {params} leaks {s!r}"


def test_victim_rows_are_untouched_after_the_sweep(world):
    from pva.infra import db

    v = world["victim"]
    m = db.query_one("select trashed_at, gps_override_lat from media where id = %s", (v["media_id"],))
    assert m["trashed_at"] is None and m["gps_override_lat"] is None
    assert db.query_one("select body from comments where id = %s", (v["comment_id"],))["body"].startswith(SECRET)
    assert db.query_one("select name from albums where id = %s", (v["album_id"],))["name"].startswith(SECRET)
    assert db.query_one("select name from people where id = %s", (v["person_id"],))["name"].startswith(SECRET)
    assert db.query_one("select revoked_at from api_tokens where id = %s", (v["token_id"],))["revoked_at"] is None
    assert db.query_one("select count(*) as n from album_shares where album_id = %s", (v["album_id"],))["n"] == 0


def test_sha_check_does_not_reveal_other_libraries(world):
    app = world["app"]
    v, a = world["victim"], world["attacker"]
    r = client_for(app, a["user"]).post("/api/v1/media/have", json={"sha512": [v["sha512"], a["sha512"]]})
    assert r.status_code == 200
    assert r.json()["have"] == {a["sha512"]: a["media_id"]} and r.json()["missing"] == [v["sha512"]]


def test_empty_trash_and_job_retries_touch_only_own_rows(world):
    from pva.infra import db

    app = world["app"]
    v, a = world["victim"], world["attacker"]
    c = client_for(app, a["user"])
    assert c.post("/api/v1/jobs/retry", json={}).json()["requeued"] == 1
    assert c.post("/api/v1/jobs/reanalyse", json={}).status_code == 200
    assert db.query_one("select status from analysis where media_id = %s and kind = 'detect'",
                        (v["media_id"],))["status"] == "failed"
    assert db.query_one("select status from analysis where media_id = %s and kind = 'ocr'",
                        (v["media_id"],))["status"] == "done"
    assert c.post("/api/v1/trash/empty").json()["purged"] == 1
    assert db.query_one("select 1 as x from media where id = %s", (v["trashed_id"],)) is not None
    assert db.query_one("select 1 as x from media where id = %s", (a["trashed_id"],)) is None
    # administrators may act on everyone's jobs, others may not ask for it
    assert c.get("/api/v1/jobs", params={"all": "true"}).status_code == 403
