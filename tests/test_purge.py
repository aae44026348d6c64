"""Deleting for good, on the real services (Postgres, S3, ffmpeg): a purged item leaves nothing behind in either
bucket or in any table (its keyframes, web previews, face crops, analysis preview, thumbnails, companion files and
the objects of the items its companions were before they joined it, stray objects under its id included)."""
from __future__ import annotations

import io
import secrets
import shutil
import uuid

import numpy as np
import pytest
from PIL import Image

from test_companions import _cid, make_mov, make_still

pytestmark = [pytest.mark.usefixtures("services"),
              pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("exiftool")),
                                 reason="ffmpeg and exiftool (Debian's ffmpeg, libimage-exiftool-perl) make the "
                                        "videos and live photos")]


@pytest.fixture
def owner(make_user):
    return make_user(f"purge-{secrets.token_hex(3)}")


@pytest.fixture
def ingestor(services):
    from pva.services.ingest import Ingestor

    return Ingestor(publish=False)


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
