"""Public album links (issue 18 item 4) on the real database and object store: the owner makes a link (optional
expiry and password), anyone holding it sees that album's photos and nothing else, and a revoked or expired link
is "no such link" at its next request.  Tokens are stored hashed; a password opens the link through a signed
cookie for that link only."""
from __future__ import annotations

import hashlib

import pytest

from test_gateway_helpers import client_for, insert_media, new_user

THUMB = b"\xff\xd8link-thumb\xff\xd9"


def _put(bucket_attr: str, key: str, data: bytes) -> None:
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    get_storage().put(getattr(get_settings(), bucket_attr), key, data, content_type="image/jpeg")


def _photo(owner_id, tag: str) -> dict:
    m = insert_media(owner_id, filename=f"{tag}.jpg", thumb_key=f"t/{owner_id}/{tag}-thumb.jpg",
                     preview_key=f"t/{owner_id}/{tag}-preview.jpg")
    _put("bucket_thumbs", m["thumb_key"], THUMB + tag.encode())
    _put("bucket_thumbs", m["preview_key"], THUMB + b"preview-" + tag.encode())
    _put("bucket_originals", m["storage_key"], b"original-" + tag.encode())
    return m


@pytest.fixture(scope="module")
def world(services):
    from gateway.app import create_app
    from gateway.routers import web
    from pva.services import albums

    owner, other = new_user(), new_user()
    inside, outside = _photo(owner["id"], "inside"), _photo(owner["id"], "outside")
    others = _photo(other["id"], "others")
    album = albums.create(owner["id"], "Holiday by link")
    albums.add_media(album["id"], owner["id"], [inside["id"]])
    second = albums.create(owner["id"], "Another album")
    albums.add_media(second["id"], owner["id"], [outside["id"]])
    app = web.install(create_app())
    return {"app": app, "owner": client_for(app, owner), "other": client_for(app, other),
            "anon": lambda: client_for(app), "album": str(album["id"]), "second": str(second["id"]),
            "inside": str(inside["id"]), "outside": str(outside["id"]), "others": str(others["id"])}


def _link(w, album=None, **body) -> dict:
    r = w["owner"].post(f"/api/v1/albums/{album or w['album']}/links", json=body)
    assert r.status_code == 201, r.text
    return r.json()


def test_link_lifecycle_create_list_view_revoke(world):
    w = world
    link = _link(w)
    assert link["url"] == f"/s/{link['token']}" and not link["has_password"] and link["expires_at"] is None
    listed = w["owner"].get(f"/api/v1/albums/{w['album']}/links").json()
    assert link["id"] in [x["id"] for x in listed]
    assert all("token" not in x for x in listed), "the token is shown once, when the link is made"

    anon = w["anon"]()
    page = anon.get(link["url"], headers={"Accept": "text/html"})
    assert page.status_code == 200 and "Holiday by link" in page.text and w["inside"] in page.text
    assert w["outside"] not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    t = anon.get(f"{link['url']}/media/{w['inside']}/thumbnail")
    assert t.status_code == 200 and t.content == THUMB + b"inside"
    assert anon.get(f"{link['url']}/media/{w['inside']}/preview").content == THUMB + b"preview-inside"
    assert anon.get(f"{link['url']}/media/{w['inside']}/original").content == b"original-inside"

    r = w["owner"].delete(f"/api/v1/albums/{w['album']}/links/{link['id']}")
    assert r.status_code == 204
    gone = anon.get(link["url"], headers={"Accept": "text/html"})
    assert gone.status_code == 404 and "This link is gone" in gone.text and "Holiday" not in gone.text
    r = anon.get(f"{link['url']}/media/{w['inside']}/thumbnail")
    assert r.status_code == 404 and r.json()["message"] == "no such link"
    assert link["id"] not in [x["id"] for x in w["owner"].get(f"/api/v1/albums/{w['album']}/links").json()]
    # revoking twice, or someone else's link: 404
    assert w["owner"].delete(f"/api/v1/albums/{w['album']}/links/{link['id']}").status_code == 404


def test_only_the_owner_makes_lists_and_revokes_links(world):
    w = world
    link = _link(w)
    assert w["other"].post(f"/api/v1/albums/{w['album']}/links", json={}).status_code == 404
    assert w["other"].get(f"/api/v1/albums/{w['album']}/links").status_code == 404
    assert w["other"].delete(f"/api/v1/albums/{w['album']}/links/{link['id']}").status_code == 404
    # the link's id under another album of the owner's is not that album's link
    assert w["owner"].delete(f"/api/v1/albums/{w['second']}/links/{link['id']}").status_code == 404
    assert w["anon"]().get(f"{link['url']}/media/{w['inside']}/thumbnail").status_code == 200
    assert w["anon"]().post(f"/api/v1/albums/{w['album']}/links", json={}).status_code == 401


def test_a_link_reaches_its_album_only(world):
    w = world
    link = _link(w)
    anon = w["anon"]()
    for mid in (w["outside"], w["others"]):  # the owner's photo in another album; another user's photo
        for what in ("thumbnail", "preview", "original"):
            r = anon.get(f"{link['url']}/media/{mid}/{what}")
            assert r.status_code == 404 and r.json()["message"] == "no such media", (mid, what, r.text)
    for what in ("comments", "faces", "jobs"):  # only the three files are served through a link
        assert anon.get(f"{link['url']}/media/{w['inside']}/{what}").status_code in (404, 422)
    # the API and other pages still need a login
    assert anon.get(f"/api/v1/media/{w['inside']}/thumbnail").status_code == 401
    assert anon.get(f"/api/v1/albums/{w['album']}").status_code == 401
    assert anon.get(f"/albums/{w['album']}", follow_redirects=False).status_code in (303, 401)
    # a made-up token, or one of the right length: the same "no such link"
    for bad in ("nope", link["token"][:-1] + ("A" if link["token"][-1] != "A" else "B"), "x" * 500):
        r = anon.get(f"/s/{bad}/media/{w['inside']}/thumbnail")
        assert r.status_code == 404 and r.json()["message"] == "no such link"
    # a trashed item leaves the link's album
    from pva.infra import db

    db.execute("update media set trashed_at = now() where id = %s", (w["inside"],))
    try:
        assert anon.get(f"{link['url']}/media/{w['inside']}/thumbnail").status_code == 404
        assert w["inside"] not in anon.get(link["url"]).text
    finally:
        db.execute("update media set trashed_at = null where id = %s", (w["inside"],))


def test_expired_link_is_gone(world):
    from pva.infra import db

    w = world
    link = _link(w, expires_in_days=2)
    assert link["expires_at"] is not None
    anon = w["anon"]()
    assert anon.get(f"{link['url']}/media/{w['inside']}/thumbnail").status_code == 200
    db.execute("update album_links set expires_at = now() - interval '1 second' where id = %s", (link["id"],))
    r = anon.get(f"{link['url']}/media/{w['inside']}/thumbnail")
    assert r.status_code == 404 and r.json()["message"] == "no such link"
    assert anon.get(link["url"]).status_code == 404
    assert link["id"] not in [x["id"] for x in w["owner"].get(f"/api/v1/albums/{w['album']}/links").json()]
    assert w["owner"].post(f"/api/v1/albums/{w['album']}/links", json={"expires_in_days": 0}).status_code == 422


def test_password_link_needs_the_password_and_its_cookie_opens_that_link_only(world):
    w = world
    link = _link(w, password="open sesame")
    assert link["has_password"]
    plain = _link(w)
    anon = w["anon"]()
    page = anon.get(link["url"])
    assert page.status_code == 200 and 'id="unlock-form"' in page.text and w["inside"] not in page.text
    assert anon.get(f"{link['url']}/media/{w['inside']}/thumbnail").status_code == 404
    r = anon.post(f"{link['url']}/unlock", json={"password": "wrong"})
    assert r.status_code == 400 and r.json()["message"] == "wrong password"
    r = anon.post(f"{link['url']}/unlock", json={"password": "open sesame"})
    assert r.status_code == 204
    cookie = r.cookies.get("pva_link")
    assert cookie and "HttpOnly" in r.headers["set-cookie"] and f"Path={link['url']}" in r.headers["set-cookie"]
    assert anon.get(f"{link['url']}/media/{w['inside']}/thumbnail", cookies={"pva_link": cookie}).status_code == 200
    assert w["inside"] in anon.get(link["url"], cookies={"pva_link": cookie}).text
    # the cookie names this link: another password link of the same album is not opened by it
    other = _link(w, password="open sesame")
    assert anon.get(f"{other['url']}/media/{w['inside']}/thumbnail", cookies={"pva_link": cookie}).status_code == 404
    # a forged or stale cookie does nothing
    until, _mac = cookie.split(".", 1)
    for bad in (f"{until}.AAAA", f"{int(until) + 99999}.{_mac}", f"1.{_mac}", "garbage"):
        assert anon.get(f"{link['url']}/media/{w['inside']}/thumbnail", cookies={"pva_link": bad}).status_code == 404
    # revoked at once, cookie or not
    w["owner"].delete(f"/api/v1/albums/{w['album']}/links/{link['id']}")
    assert anon.get(f"{link['url']}/media/{w['inside']}/thumbnail", cookies={"pva_link": cookie}).status_code == 404
    assert anon.post(f"{link['url']}/unlock", json={"password": "open sesame"}).status_code == 404
    assert anon.get(f"{plain['url']}/media/{w['inside']}/thumbnail").status_code == 200


def test_password_guessing_is_capped_per_link(world):
    from pva.services import albums

    w = world
    link = _link(w, password="the right one")
    anon = w["anon"]()
    codes = [anon.post(f"{link['url']}/unlock", json={"password": f"guess {i}"}).status_code for i in range(11)]
    assert codes[:10] == [400] * 10 and codes[10] == 429
    assert anon.post(f"{link['url']}/unlock", json={"password": "the right one"}).status_code == 429
    assert albums.link_unlocks.limit == 10


def test_tokens_and_passwords_are_stored_hashed(world):
    from pva.infra import db

    w = world
    link = _link(w, password="stored hashed")
    row = db.query_one("select * from album_links where id = %s", (link["id"],))
    assert bytes(row["token_hash"]) == hashlib.sha256(link["token"].encode()).digest()
    dump = repr(dict(row))
    assert link["token"] not in dump and "stored hashed" not in dump
    assert row["password_hash"].startswith("$argon2id$")


def test_album_cover_is_chosen_from_the_album(world):
    w = world
    r = w["owner"].put(f"/api/v1/albums/{w['album']}/cover", json={"media_id": w["outside"]})
    assert r.status_code == 404
    r = w["owner"].put(f"/api/v1/albums/{w['album']}/cover", json={"media_id": w["inside"]})
    assert r.status_code == 200 and r.json()["cover_media_id"] == w["inside"]
