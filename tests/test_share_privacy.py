"""What a share recipient sees (issue 16, findings 6 and 9), on the real database and object store.

A recipient of a read-only album share sees the shared items, not how their owner organises the library: no
owner album ids, people ids or names, face crops.  Media files are served `no-cache` with an ETag, so revoking a
share takes effect at the recipient's next view while the owner revalidates with a cheap 304.
"""
from __future__ import annotations

import pytest

from test_gateway_helpers import add_face, add_person, client_for, insert_media, new_user, vec

THUMB = b"\xff\xd8thumbnail-bytes\xff\xd9"


def _put(bucket_attr: str, key: str, data: bytes) -> None:
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    get_storage().put(getattr(get_settings(), bucket_attr), key, data, content_type="image/jpeg")


@pytest.fixture(scope="module")
def shared_world(services):
    """Owner with one photo in a private album and in an album shared with the recipient; a named person on it."""
    from gateway.app import create_app
    from gateway.routers import web
    from pva.services import albums

    owner, recipient = new_user(), new_user()
    m = insert_media(owner["id"], thumb_key=f"t/{owner['id']}/share-thumb.jpg",
                     preview_key=f"t/{owner['id']}/share-preview.jpg")
    _put("bucket_thumbs", m["thumb_key"], THUMB)
    _put("bucket_thumbs", m["preview_key"], THUMB + b"-preview")
    _put("bucket_originals", m["storage_key"], b"original-bytes")
    person = add_person(owner["id"], "Aunt Secretname")
    crop = f"faces/{owner['id']}/share-crop.jpg"
    _put("bucket_thumbs", crop, b"crop")
    add_face(m["id"], owner["id"], vec(11), person_id=person["id"], crop_key=crop)
    private = albums.create(owner["id"], "owner-private-album")
    shared = albums.create(owner["id"], "holiday-shared")
    albums.add_media(private["id"], owner["id"], [m["id"]])
    albums.add_media(shared["id"], owner["id"], [m["id"]])
    app = web.install(create_app())
    co, cr = client_for(app, owner), client_for(app, recipient)
    r = co.post(f"/api/v1/albums/{shared['id']}/shares", json={"username": recipient["username"]})
    assert r.status_code == 201, r.text
    return {"owner": co, "recipient": cr, "recipient_user": recipient, "app": app, "media_id": str(m["id"]),
            "private_album": str(private["id"]), "shared_album": str(shared["id"]),
            "person_id": str(person["id"]), "person_name": "Aunt Secretname"}


def _owner_secrets(w) -> list[str]:
    return [w["private_album"], w["person_id"], w["person_name"], "owner-private-album"]


def test_owner_detail_carries_the_private_ids_the_recipient_must_not_get(shared_world):
    """The control: the data really is there for the owner, so the recipient checks below can fail."""
    w = shared_world
    d = w["owner"].get(f"/api/v1/media/{w['media_id']}").json()
    assert d["access"] == "owner"
    assert w["private_album"] in {str(a) for a in d["album_ids"]}
    assert [f["person_name"] for f in d["faces"]] == [w["person_name"]] and d["faces"][0]["crop_url"]


def test_recipient_detail_has_no_owner_album_ids_or_people(shared_world):
    w = shared_world
    r = w["recipient"].get(f"/api/v1/media/{w['media_id']}")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["access"] == "shared"
    assert "album_ids" not in d and "person_ids" not in d
    assert [a["id"] for a in d["albums"]] == [w["shared_album"]]
    assert len(d["faces"]) == 1  # the box is part of the photo they see ...
    face = d["faces"][0]
    assert face["person_id"] is None and face["person_name"] is None and face["crop_url"] is None  # ... who, not
    for secret in _owner_secrets(w):
        assert secret not in r.text


def test_recipient_detail_page_does_not_name_the_owners_people(shared_world):
    from fastapi.testclient import TestClient

    w = shared_world
    browser = TestClient(w["app"], raise_server_exceptions=False)  # pages as a browser sees them: a session
    u = w["recipient_user"]
    assert browser.post("/api/v1/auth/login", json={"username": u["username"], "password": u["password"]}).is_success
    r = browser.get(f"/media/{w['media_id']}")
    assert r.status_code == 200, r.text[:300]
    assert "holiday-shared" in r.text
    for secret in _owner_secrets(w):
        assert secret not in r.text


def test_recipient_search_and_facets_in_the_shared_album_hide_the_owners_people(shared_world):
    w = shared_world
    page = w["recipient"].get("/api/v1/media", params={"album": w["shared_album"]})
    assert page.status_code == 200 and [i["id"] for i in page.json()["items"]] == [w["media_id"]]
    facets = w["recipient"].get("/api/v1/search/facets", params={"album": w["shared_album"]})
    assert facets.status_code == 200, facets.text
    assert facets.json()["person"] == [] and facets.json()["album"] == []
    for text in (page.text, facets.text):
        for secret in _owner_secrets(w):
            assert secret not in text
    # the owner's own facets of the same album still name the person
    mine = w["owner"].get("/api/v1/search/facets", params={"album": w["shared_album"]}).json()
    assert [p["name"] for p in mine["person"]] == [w["person_name"]]


def test_media_files_are_revalidated_on_every_view(shared_world):
    w = shared_world
    for path in ("thumbnail", "thumbnail?size=preview", "original"):
        for client in (w["owner"], w["recipient"]):
            r = client.get(f"/api/v1/media/{w['media_id']}/{path}")
            assert r.status_code == 200, (path, r.text)
            cache = r.headers["cache-control"]
            assert "no-cache" in cache and "private" in cache and "max-age" not in cache, (path, cache)
            assert r.headers["etag"]


def test_owner_gets_304_on_a_conditional_thumbnail_request(shared_world):
    w = shared_world
    url = f"/api/v1/media/{w['media_id']}/thumbnail"
    first = w["owner"].get(url)
    assert first.status_code == 200 and first.content == THUMB
    etag = first.headers["etag"]
    for header in (etag, f"W/{etag}", f'"something-else", {etag}', "*"):
        r = w["owner"].get(url, headers={"If-None-Match": header})
        assert r.status_code == 304 and r.content == b"", header
        assert r.headers["etag"] == etag and "no-cache" in r.headers["cache-control"]
    changed = w["owner"].get(url, headers={"If-None-Match": '"an-older-version"'})
    assert changed.status_code == 200 and changed.content == THUMB


def test_after_unsharing_the_recipients_next_thumbnail_request_is_404(services):
    """Even with the ETag the browser kept (a conditional request) the answer is 404, not 304."""
    from gateway.app import create_app
    from pva.services import albums

    owner, recipient = new_user(), new_user()
    m = insert_media(owner["id"], thumb_key=f"t/{owner['id']}/revoke-thumb.jpg")
    _put("bucket_thumbs", m["thumb_key"], THUMB)
    _put("bucket_originals", m["storage_key"], b"original-bytes")
    album = albums.create(owner["id"], "to-be-revoked")
    albums.add_media(album["id"], owner["id"], [m["id"]])
    app = create_app()
    co, cr = client_for(app, owner), client_for(app, recipient)
    assert co.post(f"/api/v1/albums/{album['id']}/shares", json={"username": recipient["username"]}).status_code == 201
    thumb, original = f"/api/v1/media/{m['id']}/thumbnail", f"/api/v1/media/{m['id']}/original"
    seen = cr.get(thumb)
    assert seen.status_code == 200 and seen.content == THUMB
    etag = seen.headers["etag"]
    assert cr.get(thumb, headers={"If-None-Match": etag}).status_code == 304  # while shared: cheap revalidation

    assert co.delete(f"/api/v1/albums/{album['id']}/shares/{recipient['id']}").status_code == 204
    assert cr.get(thumb, headers={"If-None-Match": etag}).status_code == 404
    assert cr.get(thumb).status_code == 404
    assert cr.get(original).status_code == 404
    assert cr.get(f"/api/v1/media/{m['id']}").status_code == 404
    assert co.get(thumb, headers={"If-None-Match": etag}).status_code == 304  # the owner is unaffected
