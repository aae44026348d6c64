"""Deleting for good, on the real services (Postgres, S3, ffmpeg): a purged item leaves nothing behind in either
bucket or in any table (its keyframes, web previews, face crops, analysis preview, thumbnails, companion files and
the objects of the items its companions were before they joined it, stray objects under its id included); and
people's face counts and covers count faces on live items only, through trash, restore (one, many) and purge."""
from __future__ import annotations

import io
import secrets
import shutil
import uuid

import numpy as np
import pytest
from PIL import Image

from test_companions import _cid, make_mov, make_still
from test_gateway_helpers import insert_media

pytestmark = [pytest.mark.usefixtures("services"),
              pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("exiftool")),
                                 reason="ffmpeg and exiftool (Debian's ffmpeg, libimage-exiftool-perl) make the "
                                        "videos and live photos")]


@pytest.fixture
def owner(make_user):
    return make_user(f"purge-{secrets.token_hex(3)}")


def _added(r) -> uuid.UUID:
    assert r.status == "added", r.as_dict()
    return uuid.UUID(r.media_id)


def _big_photo(path):
    """A photo longer than the analysis preview's box (2048 px), so ingest makes <id>/analysis.jpg."""
    y, x = np.mgrid[0:2000, 0:3000]
    rgb = np.stack([(x * 255 // 3000), (y * 255 // 2000), ((x + y) % 256)], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(path, "JPEG", quality=80)
    return path


def _fake_faces(media_id, n: int = 2) -> list[str]:
    """Faces stored the way the faces task stores them (crops in the thumbs bucket, rows matched to people)."""
    from pva.config import get_settings
    from pva.db import media as media_q
    from pva.infra import db
    from pva.infra.storage import get_storage
    from pva.services.people_match import NewFace, replace_media_faces

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), "pink").save(buf, "JPEG")
    keys = [f"{media_id}/faces/{i}.jpg" for i in range(n)]
    for k in keys:
        get_storage().put(get_settings().bucket_thumbs, k, buf.getvalue(), content_type="image/jpeg")
    rng = np.random.default_rng(0)
    with db.transaction() as cur:
        m = media_q.get(cur, media_id)
        replace_media_faces(cur, m, [NewFace((0.1 * i, 0.1, 0.1, 0.1), rng.normal(size=128) * 0.05 + i, crop_key=k)
                                     for i, k in enumerate(keys)], "test")
    return keys


def _transcode(media_id) -> dict:
    from pva.db import analysis as analysis_q
    from pva.infra import db
    from pva.jobs.pipeline import run_stored
    from pva.jobs.tasks.transcode import TranscodeTask

    with db.transaction() as cur:
        analysis_q.insert_queued(cur, media_id, ["transcode"])
    outcome, results = run_stored(TranscodeTask(), media_id, force=True)
    assert outcome == "done", outcome
    return results


def stored_keys(owner: dict, ids: list) -> dict[str, list[str]]:
    """Every object of the owner's originals (under their folder) and every thumbs object naming one of ids."""
    from pva.infra.storage import get_storage

    st = get_storage()
    marks = [str(i) for i in ids]
    return {"originals": sorted(o.key for o in st.list(st.originals, f"{owner['username']}/")),
            "thumbs": sorted(o.key for o in st.list(st.thumbs, "") if any(m in o.key for m in marks))}


def rows_naming(ids: list) -> dict[str, int]:
    """{table: rows whose text holds one of ids}, over every table of the database (a fresh test database)."""
    from pva.infra import db

    out = {}
    for t in db.query("""select table_name from information_schema.tables
                          where table_schema = 'public' and table_type = 'BASE TABLE' order by 1"""):
        name = t["table_name"]
        n = db.query_one(f'select count(*) as n from "{name}" t where t::text like any(%s)',
                         ([f"%{i}%" for i in ids],))["n"]
        if n:
            out[name] = n
    return out


def test_a_purge_leaves_nothing_of_the_items_in_s3_or_postgres(tmp_path, owner, ingestor, cid_source):
    from pva.services import media

    # a video: thumbnails, keyframes, a web preview (H.264 in MOV is copied into MP4), face crops
    video = _added(ingestor.ingest_file(make_mov(tmp_path / "clip.mov", None), owner, "trip/clip.mov"))
    assert _transcode(video).key == f"{video}/web.mp4"
    crops = _fake_faces(video)
    # a live photo whose MOV arrived first: the MOV was an item (<mov id>/...) before it joined the still
    still = make_still(tmp_path / "IMG_0007.JPG", cid_source)
    mov = _added(ingestor.ingest_file(make_mov(tmp_path / "IMG_0007.MOV", _cid(still)), owner, "IMG_0007.MOV"))
    live = _added(ingestor.ingest_file(still, owner, "IMG_0007.JPG"))
    assert _transcode(live).key == f"{live}/motion-web.mp4"
    # a photo bigger than the analysis preview's box
    photo = _added(ingestor.ingest_file(_big_photo(tmp_path / "big.jpg"), owner, "big.jpg"))
    ids = [video, mov, live, photo]

    from pva.config import get_settings
    from pva.infra.storage import get_storage

    # an object a crashed faces run left under the video's id, named by no row
    get_storage().put(get_settings().bucket_thumbs, f"{video}/faces/9.jpg", b"stray", content_type="image/jpeg")

    before = stored_keys(owner, ids)
    frames = [k for k in before["thumbs"] if k.startswith(f"{video}/keyframes/")]
    assert frames, before
    for want in [f"{video}/web.mp4", f"{video}/thumb.jpg", *crops, f"{live}/motion-web.mp4", f"{live}/thumb.jpg",
                 f"{photo}/analysis.jpg", f"{photo}/preview.jpg"]:
        assert want in before["thumbs"], (want, before)
    assert len(before["originals"]) == 4, before  # the video, the MOV (now the live photo's file), still, photo
    assert rows_naming(ids)

    for i in (video, live, photo):
        media.trash(i, owner["id"])
    assert media.purge_trash(owner["id"]) == 3

    assert stored_keys(owner, ids) == {"originals": [], "thumbs": []}
    assert rows_naming(ids) == {}


def test_the_expired_trash_purge_leaves_nothing_either(tmp_path, owner, ingestor):
    from pva.infra import db
    from pva.services import media

    video = _added(ingestor.ingest_file(make_mov(tmp_path / "old.mov", None), owner, "old.mov"))
    _transcode(video)
    kept = _added(ingestor.ingest_file(make_still(tmp_path / "kept.jpg", None), owner, "kept.jpg"))
    assert stored_keys(owner, [video])["thumbs"]
    media.trash(video, owner["id"])
    media.trash(kept, owner["id"])  # trashed today: not expired
    db.execute("update media set trashed_at = now() - interval '40 days' where id = %s", (video,))
    assert media.purge_expired_trash() >= 1
    left = stored_keys(owner, [video, kept])
    assert [k for k in left["thumbs"] if str(video) in k] == [] and len(left["originals"]) == 1, left
    assert rows_naming([video]) == {}
    assert db.query_one("select trashed_at from media where id = %s", (kept,))["trashed_at"] is not None


@pytest.fixture
def cid_source(shared):
    from conftest import shared_path

    return shared_path("fixtures", "exif-samples", "heic", "IMG_5195.HEIC")


# ------------------------------------------------------------------------------------------------ face counts
def _person(person_id) -> dict | None:
    from pva.infra import db

    return db.query_one("select id, name, face_count, cover_face_id from people where id = %s", (person_id,))


def _one_face(owner_id, emb, name: str) -> tuple[uuid.UUID, dict]:
    """An item with one face of this embedding (matched to a person as the faces task does)."""
    from pva.db import media as media_q
    from pva.infra import db
    from pva.services.people_match import NewFace, replace_media_faces

    m = insert_media(owner_id, filename=name)
    with db.transaction() as cur:
        (f,) = replace_media_faces(cur, media_q.get(cur, m["id"]), [NewFace((0.2, 0.2, 0.3, 0.3), emb)], "test")
    return m["id"], f


def _shown(owner_id, person_id) -> int:
    """How many faces the person's page shows."""
    from pva.services import people

    return len(people.person_page(owner_id, person_id)["faces"])


def test_face_counts_and_covers_follow_trash_restore_and_purge(make_user):
    from pva.services import bulk, media

    owner = make_user(f"faces-{secrets.token_hex(3)}")
    oid = owner["id"]
    rng = np.random.default_rng(3)
    anna, ben = rng.normal(size=128) * 0.1, rng.normal(size=128) * 0.1 + 1.0
    a1, fa1 = _one_face(oid, anna, "a1.jpg")
    a2, fa2 = _one_face(oid, anna + 0.01, "a2.jpg")
    a3, fa3 = _one_face(oid, anna - 0.01, "a3.jpg")
    b1, fb1 = _one_face(oid, ben, "b1.jpg")
    pa, pb = fa1["person_id"], fb1["person_id"]
    assert fa2["person_id"] == fa3["person_id"] == pa != pb
    assert _person(pa)["face_count"] == 3 == _shown(oid, pa)
    db_cover = _person(pa)["cover_face_id"]

    # the cover's item goes to the trash: one face fewer, and the cover is a face the page can still show
    cover_media = {fa1["id"]: a1, fa2["id"]: a2, fa3["id"]: a3}[db_cover]
    media.trash(cover_media, oid)
    p = _person(pa)
    assert p["face_count"] == 2 == _shown(oid, pa)
    assert p["cover_face_id"] in {fa1["id"], fa2["id"], fa3["id"]} - {db_cover}

    # many at once, out of the trash and back
    assert bulk.trash(oid, [a1, a2, a3, b1])["done"] == 4
    assert (_person(pa)["face_count"], _person(pa)["cover_face_id"]) == (0, None)
    assert _person(pb)["face_count"] == 0 == _shown(oid, pb)
    from pva.services import people

    assert {pa, pb}.isdisjoint(p["id"] for p in people.list_people(oid, include_hidden=True)), \
        "people whose faces are all in the trash are not listed as empty cards"
    assert bulk.restore(oid, [a2, a3])["done"] == 2
    assert pa in {p["id"] for p in people.list_people(oid)}
    assert _person(pa)["face_count"] == 2 == _shown(oid, pa)
    media.restore(a1, oid)
    assert _person(pa)["face_count"] == 3

    # purged: a trashed item's face was not counted and stays uncounted; a live one that goes is taken off
    people.name_person(oid, pb, "Ben")
    media.trash(a1, oid)
    media.trash(b1, oid)
    assert media.purge_trash(oid) == 2
    assert _person(pa)["face_count"] == 2 == _shown(oid, pa)
    assert _person(pb) == {"id": pb, "name": "Ben", "face_count": 0, "cover_face_id": None}  # named: kept
    assert pb in {p["id"] for p in people.list_people(oid)}, "a named person stays listed, to be given faces again"
    bulk.trash(oid, [a2, a3])
    assert media.purge_trash(oid) == 2
    assert _person(pa) is None, "an unnamed person left without faces goes, as after a faces rerun"



def test_faces_of_a_video_that_joins_a_still_as_its_motion_clip_leave_their_people(tmp_path, owner, ingestor,
                                                                                    cid_source):
    """A live photo's MOV that arrived first was an item with faces of its own; when its still arrives it becomes
    the still's file and its row (faces too) goes: the people those faces were in are counted again, and an
    unnamed one left empty goes."""
    from pva.db import media as media_q
    from pva.infra import db
    from pva.services import people
    from pva.services.people_match import NewFace, replace_media_faces

    still = make_still(tmp_path / "IMG_0021.JPG", cid_source)
    mov = _added(ingestor.ingest_file(make_mov(tmp_path / "IMG_0021.MOV", _cid(still)), owner, "IMG_0021.MOV"))
    rng = np.random.default_rng(5)
    named, unnamed = rng.normal(size=128) * 0.1, rng.normal(size=128) * 0.1 + 1.0
    _one_face(owner["id"], named, "kept.jpg")  # Nina on another item too
    with db.transaction() as cur:
        faces = replace_media_faces(cur, media_q.get(cur, mov), [NewFace((0.1, 0.1, 0.2, 0.2), named + 0.01),
                                                                 NewFace((0.5, 0.1, 0.2, 0.2), unnamed)], "test")
    p_named, p_unnamed = faces[0]["person_id"], faces[1]["person_id"]
    people.name_person(owner["id"], p_named, "Nina")
    assert _person(p_named)["face_count"] == 2 and _person(p_unnamed)["face_count"] == 1

    live = _added(ingestor.ingest_file(still, owner, "IMG_0021.JPG"))
    assert live != mov and _person(p_named)["face_count"] == 1 == _shown(owner["id"], p_named)
    assert _person(p_unnamed) is None


def test_a_job_whose_item_is_purged_while_it_runs_leaves_no_object_behind(tmp_path, owner, ingestor):
    """The transcode job has the original and is encoding when the item is purged: its preview lands after the
    purge cleaned the item's prefix, and its job row is gone so it cannot store; the preview goes all the same."""
    from pva.db import analysis as analysis_q
    from pva.infra import db
    from pva.jobs.pipeline import run_stored
    from pva.jobs.tasks.transcode import TranscodeTask
    from pva.services import media

    video = _added(ingestor.ingest_file(make_mov(tmp_path / "gone.mov", None), owner, "gone.mov"))

    class PurgedWhileEncoding(TranscodeTask):
        def analyze(self, inputs, job):
            inputs.original_path()  # ffmpeg has its copy of the original...
            media.trash(video, owner["id"])
            assert media.purge_trash(owner["id"], media_id=video) == 1  # ...when the owner empties the trash
            results = super().analyze(inputs, job)
            assert results.key == f"{video}/web.mp4"
            return results

    with db.transaction() as cur:
        analysis_q.insert_queued(cur, video, ["transcode"])
    assert run_stored(PurgedWhileEncoding(), video, force=True)[0] == "skipped"
    assert stored_keys(owner, [video]) == {"originals": [], "thumbs": []}
    assert rows_naming([video]) == {}
