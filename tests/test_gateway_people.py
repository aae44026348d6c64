"""The people/faces API on real services and real faces (dlib on skimage's astronaut photo): merge, assign and
move-out keep face counts and centroids right and drop people left empty; similar faces to a face or to an
uploaded photo; a person's faces; other users' ids give 404; cookie writes need the CSRF token."""
from __future__ import annotations

import hashlib
import io
import re
import uuid

import numpy as np
import pytest
from PIL import Image, ImageOps

from test_gateway_helpers import app, client_for, new_user  # noqa: F401

skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) provides the astronaut photo")

pytestmark = pytest.mark.usefixtures("services")


def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="module")
def photos(astronaut) -> dict[str, bytes]:
    """The astronaut photo, a mirrored and a rescaled copy (the same face three times)."""
    return {"orig": jpeg(astronaut), "mirror": jpeg(ImageOps.mirror(astronaut)),
            "scaled": jpeg(astronaut.resize((900, 900), Image.Resampling.BICUBIC))}


@pytest.fixture(scope="module")
def task(services):
    """The real faces task; dlib's results are reused for pixel-identical images (each library below stores the
    same photos), every distinct image is detected for real."""
    from pva.ml import load_image
    from pva.ml.faces import FaceEngine
    from pva.jobs.tasks.faces import FacesTask

    class ReusingEngine(FaceEngine):
        _seen: dict = {}

        def detect(self, image):
            img = load_image(image)
            key = (img.size, img.mode, hashlib.sha256(img.tobytes()).hexdigest())
            if key not in self._seen:
                self._seen[key] = super().detect(img)
            return self._seen[key]

    return FacesTask(ReusingEngine(upsample=1))


def _add_media(owner_id, data: bytes, name: str) -> uuid.UUID:
    """Store the photo and its media row with a queued faces job, as ingest does."""
    from pva.infra import db
    from pva.config import get_settings
    from pva.db import analysis as analysis_q
    from pva.db import media as media_q
    from pva.infra.storage import get_storage

    s = get_settings()
    media_id = uuid.uuid4()
    key = f"test/{media_id}/{name}"
    get_storage().put(s.bucket_originals, key, data, length=len(data))
    row = {"id": media_id, "owner_id": owner_id, "sha512": hashlib.sha512(data + media_id.bytes).digest(),
           "kind": "photo", "format": "jpeg", "mime": "image/jpeg", "size": len(data), "storage_key": key,
           "original_path": name, "filename": name}
    with db.transaction() as cur:
        media_q.insert(cur, row)
        analysis_q.insert_queued(cur, media_id, ("faces",))
    return media_id


@pytest.fixture
def build(task, photos):
    """build(*photo names) -> (user, {name: the astronaut's face in that photo}): a fresh user (with a password,
    for cookie logins) whose photos went through the real faces job.  dlib also finds a false face or two low in
    some copies (on the suit); those stay in the library as faces of other people."""
    from pva.jobs.pipeline import run_stored

    def _build(*names):
        user = new_user()
        faces = {}
        for name in names:
            mid = _add_media(user["id"], photos[name], f"{name}.jpg")
            assert run_stored(task, mid)[0] == "done"
            found = [f for f in _faces(mid) if f["y"] < 0.3]  # the astronaut's face is in the top third
            assert len(found) == 1, f"{name}: expected the astronaut's face once, got {len(found)}"
            faces[name] = found[0]
        return user, faces

    return _build


@pytest.fixture
def lib(build):
    """Three copies of the astronaut (original, mirrored, rescaled): one person of three faces."""
    user, faces = build("orig", "mirror", "scaled")
    assert len({f["person_id"] for f in faces.values()}) == 1
    assert _person(faces["orig"]["person_id"])["face_count"] == 3
    return user, faces


def _faces(media_id) -> list[dict]:
    from pva.infra import db
    from pva.db.people import as_array

    rows = db.query("select id, media_id, person_id, person_locked, y, embedding from faces where media_id = %s "
                    "order by id", (media_id,))
    for r in rows:
        r["embedding"] = as_array(r["embedding"])
    return rows


def _face(face_id) -> dict:
    from pva.infra import db

    return db.query_one("select id, person_id, person_locked from faces where id = %s", (face_id,))


def _person(person_id) -> dict | None:
    from pva.infra import db
    from pva.db.people import as_array

    p = db.query_one("select id, name, face_count, cover_face_id, centroid from people where id = %s", (person_id,))
    if p is not None:
        p["centroid"] = as_array(p["centroid"])
    return p


def _assert_centroid(person_id, *faces):
    want = np.mean([f["embedding"] for f in faces], axis=0)
    got = _person(person_id)["centroid"]
    assert np.allclose(got, want, atol=1e-5), f"centroid off by {np.abs(got - want).max()}"


# ------------------------------------------------------------------ edits
def test_move_out_gives_the_face_its_own_person_and_merge_brings_it_back_with_count_and_centroid(app, lib):
    user, f = lib
    c = client_for(app, user)
    pid = f["orig"]["person_id"]
    assert {x["person_id"] for x in f.values()} == {pid}, "the three copies start as one person"

    r = c.post(f"/api/v1/faces/{f['scaled']['id']}/move-out")
    assert r.status_code == 200, r.text
    body = r.json()
    new = body["person"]["id"]
    assert new != str(pid) and body["face"]["person_id"] == new and body["face"]["id"] == f["scaled"]["id"]
    assert body["person"]["face_count"] == 1
    assert body["person"]["cover_url"] == f"/api/v1/faces/{f['scaled']['id']}/crop"
    assert body["face"]["crop_url"] == f"/api/v1/faces/{f['scaled']['id']}/crop" and "crop_key" not in r.text
    assert _face(f["scaled"]["id"])["person_locked"]
    assert _person(pid)["face_count"] == 2
    _assert_centroid(pid, f["orig"], f["mirror"])
    _assert_centroid(new, f["scaled"])

    r = c.post(f"/api/v1/people/{pid}/merge", json={"source_ids": [new]})
    assert r.status_code == 200, r.text
    merged = r.json()
    assert merged["id"] == str(pid) and merged["face_count"] == 3
    assert merged["media_url"] == f"/api/v1/media?person={pid}" and merged["cover_url"].endswith("/crop")
    assert _person(new) is None and c.get(f"/api/v1/people/{new}").status_code == 404
    _assert_centroid(pid, f["orig"], f["mirror"], f["scaled"])
    listed = c.get(f"/api/v1/people/{pid}/faces").json()
    assert {x["id"] for x in listed} == {x["id"] for x in f.values()}
    assert all(x["crop_url"] == f"/api/v1/faces/{x['id']}/crop" and "embedding" not in x for x in listed)
    # storage keys are internal: a face is reached by its crop_url only
    assert not any("crop_key" in x for x in listed) and "crop_key" not in r.text


def test_assign_updates_both_centroids_and_removes_the_person_it_leaves_empty(app, lib):
    user, f = lib
    c = client_for(app, user)
    pid = f["orig"]["person_id"]
    new = c.post(f"/api/v1/faces/{f['mirror']['id']}/move-out").json()["person"]["id"]

    # the orig face joins the new person: the old one keeps only the scaled face
    r = c.put(f"/api/v1/faces/{f['orig']['id']}/person", json={"person_id": new})
    assert r.status_code == 200 and r.json()["person_id"] == new, r.text
    assert "crop_key" not in r.text and r.json()["crop_url"].endswith("/crop")
    assert _person(new)["face_count"] == 2 and _person(pid)["face_count"] == 1
    _assert_centroid(new, f["orig"], f["mirror"])
    _assert_centroid(pid, f["scaled"])

    # the scaled face joins too: its unnamed person is left empty and removed
    assert c.put(f"/api/v1/faces/{f['scaled']['id']}/person", json={"person_id": new}).status_code == 200
    assert _person(pid) is None and c.get(f"/api/v1/people/{pid}").status_code == 404
    assert _person(new)["face_count"] == 3
    _assert_centroid(new, f["orig"], f["mirror"], f["scaled"])

    # in nobody: the count follows, the face stays locked out of reclustering
    r = c.put(f"/api/v1/faces/{f['scaled']['id']}/person", json={"person_id": None})
    assert r.status_code == 200 and r.json()["person_id"] is None
    assert _person(new)["face_count"] == 2 and _face(f["scaled"]["id"])["person_locked"]
    _assert_centroid(new, f["orig"], f["mirror"])


def test_named_person_emptied_by_a_move_is_kept_with_its_name(app, lib):
    user, f = lib
    c = client_for(app, user)
    new = c.post(f"/api/v1/faces/{f['mirror']['id']}/move-out").json()["person"]["id"]
    r = c.patch(f"/api/v1/people/{new}", json={"name": "  Mirror  ", "hidden": True})
    assert r.status_code == 200 and r.json()["name"] == "Mirror" and r.json()["hidden"] is True
    assert c.put(f"/api/v1/faces/{f['mirror']['id']}/person",
                 json={"person_id": str(f["orig"]["person_id"])}).status_code == 200
    p = c.get(f"/api/v1/people/{new}").json()
    assert p["name"] == "Mirror" and p["face_count"] == 0
    assert c.patch(f"/api/v1/people/{new}", json={"name": ""}).json()["name"] is None
    assert new not in {p["id"] for p in c.get("/api/v1/people").json()}, "hidden people are not listed"


# ------------------------------------------------------------------ similar faces
def test_similar_to_a_face_returns_the_mirrored_copy_first_below_0_4(app, build):
    user, f = build("orig", "mirror")
    c = client_for(app, user)
    r = c.get(f"/api/v1/faces/{f['orig']['id']}/similar", params={"k": 10})
    assert r.status_code == 200, r.text
    body = r.json()
    res = body["results"]
    assert body["face_id"] == f["orig"]["id"] and body["threshold"] == pytest.approx(0.6)
    assert f["orig"]["id"] not in {x["id"] for x in res}
    assert res[0]["id"] == f["mirror"]["id"], res
    assert res[0]["distance"] < 0.4 and res[0]["same_person"] is True
    assert res[0]["crop_url"] == f"/api/v1/faces/{f['mirror']['id']}/crop"
    assert res[0]["media_url"] == f"/api/v1/media/{f['mirror']['media_id']}"
    assert not any("crop_key" in x for x in res)
    assert [x["distance"] for x in res] == sorted(x["distance"] for x in res)
    # everything else in the library (the false faces on the suit) is past the threshold
    assert all(x["distance"] > 0.6 and x["same_person"] is False for x in res[1:]), res
    assert len(c.get(f"/api/v1/faces/{f['orig']['id']}/similar", params={"k": 1}).json()["results"]) == 1
    assert c.get(f"/api/v1/faces/{f['orig']['id']}/similar", params={"k": 0}).status_code == 422


def test_photo_search_finds_only_the_callers_faces(app, build, astronaut):
    user, f = build("orig", "mirror", "scaled")
    # a rescaled copy where dlib (upsample 1, the default) finds the one face only
    upload = jpeg(astronaut.resize((800, 800), Image.Resampling.LANCZOS))
    c = client_for(app, user)
    r = c.post("/api/v1/faces/similar", params={"k": 10}, files={"file": ("q.jpg", upload, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["faces_in_upload"] == 1 and len(body["query_box"]) == 4
    same = [x for x in body["results"] if x["same_person"]]
    assert not any("crop_key" in x for x in body["results"])
    assert {x["id"] for x in same} == {x["id"] for x in f.values()}
    assert all(x["distance"] < 0.4 for x in same) and body["results"][:3] == same
    # the raw image as the body works the same
    raw = c.post("/api/v1/faces/similar", params={"k": 10}, content=upload, headers={"Content-Type": "image/jpeg"})
    assert raw.status_code == 200 and [x["id"] for x in raw.json()["results"]] == [x["id"] for x in body["results"]]
    # another user with one copy of their own finds that copy, never the first user's faces
    other, of = build("mirror")
    r = client_for(app, other).post("/api/v1/faces/similar", files={"file": ("q.jpg", upload, "image/jpeg")})
    assert r.status_code == 200, r.text
    assert {x["media_id"] for x in r.json()["results"]} == {str(of["mirror"]["media_id"])}


def test_photo_search_refuses_no_face_several_faces_and_non_images_with_a_reason(app, lib, astronaut):
    user, _ = lib
    c = client_for(app, user)
    gray = jpeg(Image.new("RGB", (300, 300), "gray"))
    r = c.post("/api/v1/faces/similar", files={"file": ("gray.jpg", gray, "image/jpeg")})
    assert r.status_code == 400 and "no face" in r.json()["message"]
    two = Image.new("RGB", (1024, 512))
    two.paste(astronaut, (0, 0))
    two.paste(ImageOps.mirror(astronaut), (512, 0))
    r = c.post("/api/v1/faces/similar", content=jpeg(two), headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 400 and re.search(r"shows \d+ faces", r.json()["message"]), r.text
    assert "exactly one face" in r.json()["message"]
    r = c.post("/api/v1/faces/similar", content=b"not an image at all", headers={"Content-Type": "image/jpeg"})
    assert r.status_code == 400, r.text
    r = c.post("/api/v1/faces/similar", content=b"")
    assert r.status_code == 400 and "no photo" in r.json()["message"]
    r = c.post("/api/v1/faces/similar", files=[("file", ("a.jpg", gray, "image/jpeg")),
                                               ("file", ("b.jpg", gray, "image/jpeg"))])
    assert r.status_code == 400 and "exactly one photo" in r.json()["message"]


# ------------------------------------------------------------------ ownership and CSRF
def test_another_user_gets_404_on_every_new_route_and_changes_nothing(app, lib):
    user, f = lib
    attacker = client_for(app, new_user())
    pid, face = f["orig"]["person_id"], f["orig"]["id"]
    for method, url in [("POST", f"/api/v1/faces/{face}/move-out"), ("GET", f"/api/v1/faces/{face}/similar"),
                        ("GET", f"/api/v1/people/{pid}/faces"), ("GET", f"/api/v1/faces/{face}/crop")]:
        r = attacker.request(method, url)
        assert r.status_code == 404, f"{method} {url}: {r.status_code} {r.text}"
        assert str(pid) not in r.text
    assert _face(face)["person_id"] == pid and _person(pid)["face_count"] == 3
    # an attacker's own person id in the path does not reach the victim's faces either
    assert attacker.get(f"/api/v1/people/{uuid.uuid4()}/faces").status_code == 404


def test_cookie_writes_need_the_csrf_token(app, lib):
    user, f = lib
    c = client_for(app)
    r = c.post("/api/v1/auth/login", json={"username": user["username"], "password": user["password"]})
    assert r.status_code == 200, r.text
    csrf = r.json()["csrf_token"]
    pid, face = f["orig"]["person_id"], f["scaled"]["id"]
    assert c.get(f"/api/v1/faces/{face}/similar").status_code == 200, "cookie reads need no CSRF token"
    for method, url, body in [("POST", f"/api/v1/faces/{face}/move-out", None),
                              ("PUT", f"/api/v1/faces/{face}/person", {"person_id": None}),
                              ("POST", f"/api/v1/people/{pid}/merge", {"source_ids": [str(pid)]}),
                              ("PATCH", f"/api/v1/people/{pid}", {"name": "csrf"})]:
        r = c.request(method, url, json=body)
        assert r.status_code == 403 and "X-CSRF-Token" in r.json()["message"], f"{method} {url}: {r.text}"
    assert _face(face)["person_id"] == pid and _person(pid)["name"] is None
    r = c.post(f"/api/v1/faces/{face}/move-out", headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200 and _face(face)["person_id"] != pid


# ------------------------------------------------------------------ undoing a merge (issue 18 item 9)
def _state(*person_ids) -> dict:
    """Everything a merge changes and undo must put back: the people's rows and their faces' person and lock."""
    from pva.infra import db

    people = db.query("""select id, name, hidden, cover_face_id, face_count, centroid::text as centroid, created_at
                           from people where id = any(%s::uuid[]) order by id""", ([str(p) for p in person_ids],))
    faces = db.query("""select id, person_id, person_locked from faces
                         where person_id = any(%s::uuid[]) order by id""", ([str(p) for p in person_ids],))
    return {"people": people, "faces": faces}


def test_undo_merge_restores_both_people_exactly(app, lib):
    user, f = lib
    c = client_for(app, user)
    pid = f["orig"]["person_id"]
    other = c.post(f"/api/v1/faces/{f['mirror']['id']}/move-out").json()["person"]["id"]
    assert c.patch(f"/api/v1/people/{pid}", json={"name": "Astronaut", "hidden": True}).status_code == 200
    before = _state(pid, other)
    assert not _face(f["orig"]["id"])["person_locked"], "the clustered faces start unlocked"

    # the named, hidden person with unlocked faces goes into the other one
    r = c.post(f"/api/v1/people/{other}/merge", json={"source_ids": [str(pid)]})
    assert r.status_code == 200, r.text
    merge_id = r.json()["merge_id"]
    assert isinstance(merge_id, int) and r.json()["face_count"] == 3
    assert _person(pid) is None and _face(f["orig"]["id"])["person_locked"]

    r = c.post(f"/api/v1/people/merges/{merge_id}/undo")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["person"]["id"] == other and body["person"]["face_count"] == 1
    assert [p["id"] for p in body["restored"]] == [str(pid)] and body["restored"][0]["name"] == "Astronaut"
    assert _state(pid, other) == before, "undo puts back the people, their faces, locks, covers and centroids"
    _assert_centroid(pid, f["orig"], f["scaled"])

    r = c.post(f"/api/v1/people/merges/{merge_id}/undo")
    assert r.status_code == 409 and "undone already" in r.json()["message"], r.text


def test_undo_keeps_a_face_moved_since_where_the_user_put_it(app, lib):
    user, f = lib
    c = client_for(app, user)
    pid = f["orig"]["person_id"]
    other = c.post(f"/api/v1/faces/{f['mirror']['id']}/move-out").json()["person"]["id"]
    merge_id = c.post(f"/api/v1/people/{other}/merge", json={"source_ids": [str(pid)]}).json()["merge_id"]
    # after the merge the user takes the scaled face out of the person (unassigned)
    assert c.put(f"/api/v1/faces/{f['scaled']['id']}/person", json={"person_id": None}).status_code == 200
    assert c.post(f"/api/v1/people/merges/{merge_id}/undo").status_code == 200
    assert _face(f["orig"]["id"])["person_id"] == pid and _face(f["scaled"]["id"])["person_id"] is None
    assert _person(pid)["face_count"] == 1 and _person(other)["face_count"] == 1


def test_undo_after_the_target_was_merged_on_is_a_conflict_until_that_merge_is_undone(app, lib):
    user, f = lib
    c = client_for(app, user)
    pid = f["orig"]["person_id"]
    b = c.post(f"/api/v1/faces/{f['mirror']['id']}/move-out").json()["person"]["id"]
    a = c.post(f"/api/v1/faces/{f['scaled']['id']}/move-out").json()["person"]["id"]
    first = c.post(f"/api/v1/people/{b}/merge", json={"source_ids": [a]}).json()["merge_id"]
    second = c.post(f"/api/v1/people/{pid}/merge", json={"source_ids": [b]}).json()["merge_id"]
    r = c.post(f"/api/v1/people/merges/{first}/undo")
    assert r.status_code == 409 and "undo that merge first" in r.json()["message"], r.text
    assert c.post(f"/api/v1/people/merges/{second}/undo").status_code == 200
    assert c.post(f"/api/v1/people/merges/{first}/undo").status_code == 200
    assert {_face(f[n]["id"])["person_id"] for n in ("orig", "mirror", "scaled")} == {pid, uuid.UUID(b), uuid.UUID(a)}


def test_another_users_merge_ids_and_people_give_404_and_change_nothing(app, lib):
    user, f = lib
    c = client_for(app, user)
    pid = f["orig"]["person_id"]
    other = c.post(f"/api/v1/faces/{f['mirror']['id']}/move-out").json()["person"]["id"]
    merge_id = c.post(f"/api/v1/people/{pid}/merge", json={"source_ids": [other]}).json()["merge_id"]
    state = _state(pid)
    attacker = client_for(app, new_user())
    for method, url, body in [("POST", f"/api/v1/people/merges/{merge_id}/undo", None),
                              ("PUT", f"/api/v1/faces/{f['orig']['id']}/person", {"person_id": None}),
                              ("POST", f"/api/v1/people/{pid}/merge", {"source_ids": [str(pid)]}),
                              ("PATCH", f"/api/v1/people/{pid}", {"name": "x"})]:
        r = attacker.request(method, url, json=body)
        assert r.status_code == 404, f"{method} {url}: {r.status_code} {r.text}"
        assert str(pid) not in r.text
    assert c.post("/api/v1/people/merges/999999999/undo").status_code == 404
    assert _state(pid) == state
    # the owner can still undo it
    assert c.post(f"/api/v1/people/merges/{merge_id}/undo").status_code == 200

