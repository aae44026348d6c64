"""The faces function end to end on real services and dlib: stored faces with crops and 128-d vectors, similar-face
search through pgvector (owner-scoped), people grouping, recluster and reruns that keep the user's decisions, the
HTTP trigger, video keyframes, and the function running in the local Nuclio runtime."""
from __future__ import annotations

import hashlib
import io
import json
import logging
import time
import uuid

import pytest
from PIL import Image, ImageOps

from conftest import REPO, SHARED
from function_helpers import import_handler, signed_headers

skdata = pytest.importorskip("skimage.data", reason="scikit-image (dev extra) provides the astronaut photo")

pytestmark = pytest.mark.usefixtures("services")

ZIDANE = SHARED / "fixtures" / "detect" / "zidane.jpg"


# ------------------------------------------------------------------ helpers
def jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92)
    return buf.getvalue()


def add_media(owner_id, data: bytes, *, kind: str = "photo", name: str = "face.jpg", metadata: dict | None = None,
              kinds=("faces",)) -> uuid.UUID:
    """Put ``data`` in the originals bucket and record the media row with a queued faces job (what ingest does)."""
    from pva.infra import db
    from pva.config import get_settings
    from pva.db import analysis as analysis_q
    from pva.db import media as media_q
    from pva.infra.storage import get_storage

    s = get_settings()
    media_id = uuid.uuid4()
    key = f"test/{media_id}/{name}"
    get_storage().put(s.bucket_originals, key, data, length=len(data))
    fmt = {"photo": ("jpeg", "image/jpeg"), "video": ("mp4", "video/mp4")}[kind]
    row = {"id": media_id, "owner_id": owner_id, "sha512": hashlib.sha512(data + media_id.bytes).digest(),
           "kind": kind, "format": fmt[0], "mime": fmt[1], "size": len(data), "storage_key": key,
           "original_path": name, "filename": name}
    if metadata:
        row["metadata"] = metadata
    with db.transaction() as cur:
        media_q.insert(cur, row)
        analysis_q.insert_queued(cur, media_id, kinds)
    return media_id


def faces_of(media_id) -> list[dict]:
    from pva.infra import db

    from pva.db.people import as_array

    rows = db.query("""select id, person_id, person_locked, crop_key, video_time, time_ranges, embedding, x, y, w, h
                         from faces where media_id = %s order by w * h desc, id""", (media_id,))
    for r in rows:
        r["embedding"] = as_array(r["embedding"])
    return rows


def job_row(media_id) -> dict:
    from pva.infra import db

    return db.query_one("select * from analysis where media_id = %s and kind = 'faces'", (media_id,))


def person(person_id) -> dict | None:
    from pva.infra import db

    return db.query_one("select * from people where id = %s", (person_id,))


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(skdata.astronaut())


@pytest.fixture(scope="module")
def photos(astronaut) -> dict[str, bytes]:
    """The astronaut photo, a mirrored and a rescaled copy, and zidane.jpg (two other people)."""
    out = {"orig": jpeg(astronaut), "mirror": jpeg(ImageOps.mirror(astronaut)),
           "scaled": jpeg(astronaut.resize((900, 900), Image.Resampling.BICUBIC))}
    if ZIDANE.is_file():
        out["zidane"] = ZIDANE.read_bytes()
    return out


def need_zidane(photos):
    if "zidane" not in photos:
        pytest.skip(f"shared fixture {ZIDANE} is absent (the 'different people' checks need it)")


@pytest.fixture(scope="module")
def task(services):
    """The real FacesTask on dlib.  Detection results are reused for pixel-identical images (the same photo goes
    through many tests' libraries); every distinct image is detected by dlib for real."""
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


@pytest.fixture
def library(task, photos, make_user):
    """A fresh user whose astronaut copies (and zidane.jpg) went through the faces job."""
    from pva.jobs.pipeline import run_stored

    user = make_user()
    ids = {}
    for name, data in photos.items():
        ids[name] = add_media(user["id"], data, name=f"{name}.jpg")
        outcome, _ = run_stored(task, ids[name])
        assert outcome == "done", job_row(ids[name])
    return user, ids


# ------------------------------------------------------------------ stored jobs
def test_stored_photo_gets_box_128d_embedding_crop_thumbnail_and_person(task, photos, make_user):
    from pva.jobs.pipeline import run_stored
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    mid = add_media(make_user()["id"], photos["orig"])
    outcome, results = run_stored(task, mid)
    assert outcome == "done"
    faces = faces_of(mid)
    assert len(faces) >= 1
    f = faces[0]
    assert f["embedding"].shape == (128,)
    assert 0 <= f["x"] < 1 and 0 <= f["y"] < 1 and 0.05 < f["w"] < 1 and 0.05 < f["h"] < 1
    assert f["video_time"] is None and f["person_id"] is not None and not f["person_locked"]
    assert f["crop_key"] == f"{mid}/faces/0.jpg"
    crop = Image.open(io.BytesIO(get_storage().get_bytes(get_settings().bucket_thumbs, f["crop_key"])))
    assert crop.format == "JPEG" and max(crop.size) >= 100
    job = job_row(mid)
    assert job["status"] == "done" and job["model"] == task.model_name
    assert job["result_summary"]["count"] == len(faces)
    p = person(f["person_id"])
    assert p["face_count"] == 1 and p["cover_face_id"] == f["id"] and p["centroid"] is not None
    out = task.to_json(results)
    assert out[0]["id"] == f["id"] and "embedding" not in out[0]


def test_mirrored_and_rescaled_copies_are_nearest_below_0_4_and_other_people_above_0_6(library, photos):
    from pva.services import people as people_service

    need_zidane(photos)
    user, ids = library
    orig_face = faces_of(ids["orig"])[0]
    copies = {faces_of(ids["mirror"])[0]["id"], faces_of(ids["scaled"])[0]["id"]}
    others = {f["id"] for f in faces_of(ids["zidane"])}
    assert others, "no face found in zidane.jpg"
    res = people_service.similar_faces(user["id"], orig_face["id"], k=10)
    assert orig_face["id"] not in {r["id"] for r in res}
    assert {r["id"] for r in res[:2]} == copies
    assert all(r["distance"] < 0.4 and r["same_person"] for r in res[:2]), res[:2]
    assert [r["distance"] for r in res] == sorted(r["distance"] for r in res)
    rest = [r for r in res if r["id"] in others]
    assert rest and all(r["distance"] > 0.6 and not r["same_person"] for r in rest), rest
    # the index path and an exact scan agree
    exact = people_service.similar_faces(user["id"], orig_face["id"], k=10, exact=True)
    assert [r["id"] for r in exact] == [r["id"] for r in res]


def test_similar_to_an_uploaded_photo_finds_the_copies(library, astronaut, task):
    from pva.services import people as people_service
    from pva.ml import BadInput

    user, ids = library
    upload = jpeg(astronaut.resize((700, 700), Image.Resampling.LANCZOS))
    out = people_service.similar_to_image(user["id"], upload, k=3, engine=task.engine)
    hits = out["results"]
    astro_media = {ids["orig"], ids["mirror"], ids["scaled"]}
    assert {h["media_id"] for h in hits} == astro_media and all(h["distance"] < 0.4 for h in hits)
    with pytest.raises(BadInput, match="no face"):
        people_service.similar_to_image(user["id"], jpeg(Image.new("RGB", (300, 300), "gray")), engine=task.engine)


def test_copies_of_one_face_form_one_person_incrementally_and_after_recluster(library, photos):
    from pva.services import people as people_service

    need_zidane(photos)
    user, ids = library
    astro = {n: faces_of(ids[n])[0]["person_id"] for n in ("orig", "mirror", "scaled")}
    assert len(set(astro.values())) == 1, astro
    zidane_people = {f["person_id"] for f in faces_of(ids["zidane"])}
    assert astro["orig"] not in zidane_people
    assert person(astro["orig"])["face_count"] == 3

    rep = people_service.recluster(user["id"])
    assert rep.faces == sum(len(faces_of(m)) for m in ids.values())
    after = {n: faces_of(ids[n])[0]["person_id"] for n in ("orig", "mirror", "scaled")}
    assert len(set(after.values())) == 1
    # the cluster continues the old person (same id), and zidane's faces stay apart
    assert after["orig"] == astro["orig"]
    assert after["orig"] not in {f["person_id"] for f in faces_of(ids["zidane"])}
    media = people_service.person_media(user["id"], after["orig"])
    assert {m["id"] for m in media} == {ids["orig"], ids["mirror"], ids["scaled"]}


def test_rerun_replaces_faces_but_keeps_the_given_name(library, task):
    from pva.infra import db
    from pva.services import people as people_service
    from pva.jobs.pipeline import run_stored

    user, ids = library
    pid = faces_of(ids["orig"])[0]["person_id"]
    assert people_service.name_person(user["id"], pid, "Eileen Collins")["name"] == "Eileen Collins"
    before = {f["id"] for f in faces_of(ids["orig"])}
    for n in ("orig", "mirror", "scaled"):
        assert run_stored(task, ids[n], force=True)[0] == "done"
    after = faces_of(ids["orig"])
    assert before.isdisjoint({f["id"] for f in after}), "a rerun replaces the faces"
    assert db.query_one("select count(*) n from faces where media_id = %s", (ids["orig"],))["n"] == len(before)
    for n in ("orig", "mirror", "scaled"):
        assert faces_of(ids[n])[0]["person_id"] == pid
    p = person(pid)
    assert p["name"] == "Eileen Collins" and p["face_count"] == 3
    # no unnamed people without faces are left behind
    assert db.query("""select id from people p where owner_id = %s and not exists
                         (select 1 from faces f where f.person_id = p.id)""", (user["id"],)) == []


def test_named_person_keeps_name_when_all_its_faces_are_rerun_one_at_a_time(task, photos, make_user):
    from pva.services import people as people_service
    from pva.jobs.pipeline import run_stored

    user = make_user()
    mid = add_media(user["id"], photos["orig"])
    assert run_stored(task, mid)[0] == "done"
    pid = faces_of(mid)[0]["person_id"]
    people_service.name_person(user["id"], pid, "Astronaut")
    assert run_stored(task, mid, force=True)[0] == "done"
    assert faces_of(mid)[0]["person_id"] == pid and person(pid)["name"] == "Astronaut"


def test_recluster_keeps_names_and_faces_the_user_moved(library, task):
    from pva.services import people as people_service
    from pva.jobs.pipeline import run_stored

    user, ids = library
    pid = faces_of(ids["orig"])[0]["person_id"]
    people_service.name_person(user["id"], pid, "Eileen")
    moved = faces_of(ids["scaled"])[0]
    new_pid = people_service.move_face_out(user["id"], moved["id"])
    assert new_pid is not None and new_pid != pid
    assert person(pid)["face_count"] == 2 and person(new_pid)["face_count"] == 1

    people_service.recluster(user["id"])
    assert faces_of(ids["orig"])[0]["person_id"] == pid and faces_of(ids["mirror"])[0]["person_id"] == pid
    assert person(pid)["name"] == "Eileen"
    f = faces_of(ids["scaled"])[0]
    assert f["person_id"] == new_pid and f["person_locked"]
    # a rerun of that photo finds the same box again: the user's placement survives it too
    assert run_stored(task, ids["scaled"], force=True)[0] == "done"
    f = faces_of(ids["scaled"])[0]
    assert f["person_id"] == new_pid and f["person_locked"]

    # merge back (faces locked into the target), hide, search by person
    merged = people_service.merge_people(user["id"], pid, [new_pid])
    assert merged["face_count"] == 3 and person(new_pid) is None
    assert people_service.hide_person(user["id"], pid)["hidden"] is True
    assert pid not in {p["id"] for p in people_service.list_people(user["id"])}
    assert len(people_service.person_faces(user["id"], pid)) == 3


def test_cli_recluster_for_one_owner_reports_and_keeps_the_name(library, capsys):
    from pva.cli import main

    user, ids = library
    pid = faces_of(ids["orig"])[0]["person_id"]
    from pva.services import people as people_service

    people_service.name_person(user["id"], pid, "Named")
    assert main(["faces", "recluster", "--owner", user["username"]]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["owner"] == user["username"] and report["faces"] >= 4
    assert faces_of(ids["mirror"])[0]["person_id"] == pid and person(pid)["name"] == "Named"
    assert main(["faces", "recluster", "--owner", "no-such-user-x"]) == 1
    assert "no user" in capsys.readouterr().err


def test_one_user_never_sees_another_users_faces_or_people(task, photos, make_user):
    from pva.services import people as people_service
    from pva.jobs.pipeline import run_stored

    alice, bob = make_user(), make_user()
    a = add_media(alice["id"], photos["orig"])
    b1 = add_media(bob["id"], photos["mirror"])
    b2 = add_media(bob["id"], photos["scaled"])
    for m in (a, b1, b2):
        assert run_stored(task, m)[0] == "done"
    a_face, b_face = faces_of(a)[0], faces_of(b1)[0]
    assert a_face["person_id"] != b_face["person_id"], "people are per owner"

    res = people_service.similar_faces(alice["id"], a_face["id"], k=10)
    assert {r["media_id"] for r in res} <= {a}, "bob's copies of alice's face must not show up"
    assert all(not r["same_person"] for r in res)
    bob_res = people_service.similar_faces(bob["id"], b_face["id"], k=10)
    assert {r["media_id"] for r in bob_res} <= {b1, b2}
    assert bob_res[0]["media_id"] == b2 and bob_res[0]["same_person"]
    assert people_service.similar_faces(alice["id"], b_face["id"]) is None
    assert {r["media_id"] for r in people_service.similar_to_embedding(alice["id"], b_face["embedding"], k=5)} == {a}

    assert {p["id"] for p in people_service.list_people(alice["id"])} == {f["person_id"] for f in faces_of(a)}
    assert people_service.person_media(alice["id"], b_face["person_id"]) == []
    assert people_service.person_faces(alice["id"], b_face["person_id"]) == []
    assert people_service.move_face_out(alice["id"], b_face["id"]) is None
    assert people_service.assign_face(alice["id"], b_face["id"], a_face["person_id"]) is False
    assert people_service.assign_face(alice["id"], a_face["id"], b_face["person_id"]) is False
    assert people_service.name_person(alice["id"], b_face["person_id"], "x") is None
    assert people_service.media_faces(alice["id"], b1) is None
    people_service.recluster(alice["id"])
    assert faces_of(b1)[0]["person_id"] == b_face["person_id"] and person(b_face["person_id"])["name"] is None


def test_two_faces_in_one_photo_never_join_the_same_person(task, astronaut, make_user):
    from pva.jobs.pipeline import run_stored
    from pva.services.people import face_threshold

    twins = Image.new("RGB", (1024, 512))
    twins.paste(astronaut, (0, 0))
    twins.paste(ImageOps.mirror(astronaut), (512, 0))
    mid = add_media(make_user()["id"], jpeg(twins))
    assert run_stored(task, mid)[0] == "done"
    main = [f for f in faces_of(mid) if f["y"] < 0.3]
    assert len(main) == 2
    from pva.ml.faces import face_distances

    assert face_distances(main[0]["embedding"], [main[1]["embedding"]])[0] < face_threshold()
    assert main[0]["person_id"] != main[1]["person_id"]


def test_video_keyframes_give_faces_with_their_times(task, photos, make_user):
    from pva.jobs.pipeline import run_stored
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    s = get_settings()
    vid = uuid.uuid4()
    keyframes = []
    for i, (t, name) in enumerate([(0.5, "orig"), (2.0, "mirror")]):
        key = f"{vid}/keyframes/{i:03d}.jpg"
        get_storage().put(s.bucket_thumbs, key, photos[name], content_type="image/jpeg")
        keyframes.append({"t": t, "key": key})
    mid = add_media(make_user()["id"], b"not decoded: faces reads the keyframes", kind="video", name="clip.mp4",
                    metadata={"keyframes": keyframes})
    assert run_stored(task, mid)[0] == "done", job_row(mid)
    faces = faces_of(mid)
    main = [f for f in faces if f["y"] < 0.3]  # the astronaut's face (HOG also finds a weak one on the suit)
    assert len(main) == 1, "the same face in two keyframes is one face of the video, with its time ranges"
    assert main[0]["video_time"] in (0.5, 2.0) and main[0]["time_ranges"] == [[0.5, 2.0]]
    assert main[0]["person_id"] is not None
    assert job_row(mid)["result_summary"]["frames"] == 2

    bare = add_media(make_user()["id"], b"x", kind="video", name="nokf.mp4")
    assert run_stored(task, bare)[0] == "done"
    assert faces_of(bare) == [] and "keyframes" in job_row(bare)["result_summary"]["skipped_reason"]


def test_bad_photo_fails_the_job_with_its_reason(task, make_user):
    from pva.jobs.pipeline import run_stored

    mid = add_media(make_user()["id"], b"plain text, not a picture")
    assert run_stored(task, mid)[0] == "failed"
    job = job_row(mid)
    assert job["status"] == "failed" and "not an image" in job["error"] and faces_of(mid) == []


# ------------------------------------------------------------------ HTTP trigger (handler called directly)
class _Ctx:
    """What the handler uses of a Nuclio context: Response, logger and user_data (nuclio_sdk's own classes)."""

    def __init__(self):
        import nuclio_sdk

        self.Response = nuclio_sdk.Response
        self.logger = nuclio_sdk.Logger(logging.INFO, name="test.faces")
        self.user_data = type("UserData", (), {})()


def _event(body, content_type: str, fields=None, owner: str | None = None):
    """An HTTP event as Nuclio hands it over, signed as the gateway signs (for `owner`, default a spare user)."""
    import nuclio_sdk

    return nuclio_sdk.Event(body=body, content_type=content_type, fields=fields or {},
                            headers=signed_headers(body, content_type, owner=owner, query=fields),
                            trigger=nuclio_sdk.TriggerInfo("http", "http"), method="POST", path="/")


@pytest.fixture(scope="module")
def handler_module(task):
    mod = import_handler("faces")
    ctx = _Ctx()
    ctx.user_data.task = task  # the module's task (init_context is exercised by the runtime test)
    return mod, ctx


def _call(handler_module, event) -> tuple[int, dict]:
    mod, ctx = handler_module
    r = mod.handler(ctx, event)
    return r.status_code, json.loads(r.body)


def test_http_post_bytes_answers_faces_without_storing(handler_module, photos):
    from pva.infra import db

    n_before = db.query_one("select count(*) n from faces")["n"]
    status, body = _call(handler_module, _event(photos["orig"], "image/jpeg"))
    assert status == 200, body
    assert body["kind"] == "faces" and body["results"]
    f = body["results"][0]
    assert set(f["box"]) == {"x", "y", "w", "h"} and "embedding" not in f and "id" not in f
    status, body = _call(handler_module, _event(photos["orig"], "image/jpeg", {"embeddings": "1"}))
    assert status == 200 and len(body["results"][0]["embedding"]) == 128
    assert db.query_one("select count(*) n from faces")["n"] == n_before
    status, body = _call(handler_module, _event(b"\xff\xd8\xff truncated", "image/jpeg"))
    assert status == 422 and body["error"]


def test_http_post_media_id_reanalyses_stored_media(handler_module, photos, make_user):
    user = make_user()
    mid = add_media(user["id"], photos["orig"])
    status, body = _call(handler_module, _event({"media_id": str(mid)}, "application/json",
                                                owner=user["username"]))
    assert status == 200 and body["outcome"] == "done", body
    stored = faces_of(mid)
    assert [r["id"] for r in body["results"]] == [f["id"] for f in stored]
    assert body["results"][0]["person_id"] == str(stored[0]["person_id"])
    status, body = _call(handler_module, _event({"media_id": str(uuid.uuid4())}, "application/json",
                                                owner=user["username"]))
    assert status == 404
    status, body = _call(handler_module, _event({"media_id": "nope"}, "application/json", owner=user["username"]))
    assert status == 400 and "UUID" in body["error"]


# ------------------------------------------------------------------ through the local runtime
def test_function_runs_a_published_job_in_the_local_runtime(services, photos, make_user, tmp_path):
    import yaml

    from pva import jobs
    from pva.runtime import Processor, load_function

    spec = yaml.safe_load((REPO / "functions" / "faces" / "function.yaml").read_text())
    triggers = spec["spec"]["triggers"]
    assert {t["kind"] for t in triggers.values()} == {"rabbit-mq", "http"}
    # the queue trigger only (each worker loads dlib's models; the HTTP path is tested on the handler above)
    spec["spec"]["triggers"] = {n: t for n, t in triggers.items() if t["kind"] == "rabbit-mq"}
    for t in spec["spec"]["triggers"].values():
        t["attributes"]["queueName"] += f"-{uuid.uuid4().hex[:8]}"
    fdir = tmp_path / "faces"
    fdir.mkdir()
    (fdir / "function.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (fdir / "handler.py").write_text((REPO / "functions" / "faces" / "handler.py").read_text())

    mid = add_media(make_user()["id"], photos["orig"])
    with Processor([load_function(fdir)], log_dir=tmp_path / "logs"):
        assert jobs.publish_jobs([(mid, "faces")]) == 1
        deadline = time.monotonic() + 60
        while job_row(mid)["status"] not in ("done", "failed") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job_row(mid)["status"] == "done", job_row(mid)
        assert faces_of(mid) and faces_of(mid)[0]["person_id"] is not None
