"""The analysis preview (issue 20): ingest makes it from the decode the thumbnails need (bounded, oriented, sRGB),
detect and faces read it instead of downloading and decoding the original, and media ingested before it existed get
one made by their first analysis.  Real Postgres and S3 (the storage reads are counted, not replaced) and the real
models."""
from __future__ import annotations

import hashlib
import io
import secrets
import uuid

import numpy as np
import pytest
from PIL import Image

from conftest import SHARED

pytestmark = pytest.mark.usefixtures("services")

ZIDANE = SHARED / "fixtures" / "detect" / "zidane.jpg"
needs_shared = pytest.mark.skipif(not ZIDANE.is_file(), reason=f"shared fixture {ZIDANE} is absent")


# ------------------------------------------------------------------ helpers
def _jpeg(img: Image.Image, orientation: int = 1) -> bytes:
    import piexif

    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=92, exif=piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation}}))
    return buf.getvalue()


def _marked(size=(4000, 3000)) -> Image.Image:
    """A grey photo with a red block in its top left corner as displayed (where the orientation puts it)."""
    img = Image.new("RGB", size, (128, 128, 128))
    img.paste((220, 20, 20), (0, 0, size[0] // 8, size[1] // 8))
    return img


def _zidane_12mp() -> Image.Image:
    canvas = Image.new("RGB", (4000, 3000), (90, 100, 110))
    canvas.paste(Image.open(ZIDANE).convert("RGB").resize((4000, 2250)), (0, 375))
    return canvas


@pytest.fixture
def owner(make_user):
    return make_user(f"preview-{secrets.token_hex(3)}")


@pytest.fixture
def reads(monkeypatch):
    """Every object the storage client reads, as (bucket, key): the real client, counted."""
    from pva.infra.storage import get_storage

    st = get_storage()
    seen: list[tuple[str, str]] = []
    real = st.get_stream

    def counted(bucket, key, *a, **kw):
        seen.append((bucket, key))
        return real(bucket, key, *a, **kw)

    monkeypatch.setattr(st, "get_stream", counted)
    return seen


def _ingest(owner, tmp_path, data: bytes, name: str) -> dict:
    from pva.infra import db
    from pva.db import media as media_q
    from pva.services.ingest import Ingestor

    p = tmp_path / name
    p.write_bytes(data)
    res = Ingestor(publish=False).ingest_file(p, owner, name)
    assert res.status == "added", res.reason
    with db.transaction() as cur:
        return media_q.get(cur, uuid.UUID(res.media_id))


def _get(bucket_setting: str, key: str) -> bytes:
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    return get_storage().get_bytes(getattr(get_settings(), bucket_setting), key)


def _add_old_media(owner_id, data: bytes, name: str = "old.jpg") -> uuid.UUID:
    """A photo stored as ingest stored it before issue 20: original and row, no analysis preview."""
    from pva.infra import db
    from pva.config import get_settings
    from pva.db import analysis as analysis_q
    from pva.db import media as media_q
    from pva.infra.storage import get_storage

    media_id = uuid.uuid4()
    key = f"test/{media_id}/{name}"
    get_storage().put(get_settings().bucket_originals, key, data, length=len(data))
    with db.transaction() as cur:
        media_q.insert(cur, {"id": media_id, "owner_id": owner_id, "sha512": hashlib.sha512(data + media_id.bytes)
                             .digest(), "kind": "photo", "format": "jpeg", "mime": "image/jpeg", "size": len(data),
                             "storage_key": key, "original_path": name, "filename": name})
        analysis_q.insert_queued(cur, media_id, ["detect", "faces"])
    return media_id


def _originals_read(seen) -> list[str]:
    from pva.config import get_settings

    return [k for b, k in seen if b == get_settings().bucket_originals]


# ------------------------------------------------------------------ ingest makes it
def test_ingest_stores_a_bounded_analysis_preview_with_the_orientation_applied(owner, tmp_path):
    from pva import jobs

    # stored as a phone in portrait stores it: pixels turned, EXIF orientation 6; displayed 3000x4000
    displayed = _marked((3000, 4000))
    row = _ingest(owner, tmp_path, _jpeg(displayed.transpose(Image.Transpose.ROTATE_90), orientation=6),
                  "portrait.jpg")
    entry = row["metadata"]["analysis_preview"]
    assert entry["key"] == jobs.analysis_preview_key(row["id"])
    preview = Image.open(io.BytesIO(_get("bucket_thumbs", entry["key"])))
    assert preview.format == "JPEG" and preview.size == (entry["width"], entry["height"])
    w, h = preview.size
    assert h > w, "the preview is upright (orientation applied), not as the pixels are stored"
    assert jobs.ANALYSIS_PREVIEW_PX * jobs.ANALYSIS_PREVIEW_DRAFT <= h <= jobs.ANALYSIS_PREVIEW_PX
    px = np.asarray(preview.convert("RGB"))
    assert px[h // 32, w // 32].tolist()[0] > 180 and px[h // 32, w // 32].tolist()[1] < 80  # red top left
    assert px[h - h // 32, w - w // 32].tolist() == pytest.approx([128, 128, 128], abs=12)
    # and the display preview and grid thumbnail are still there, smaller
    assert max(Image.open(io.BytesIO(_get("bucket_thumbs", row["preview_key"]))).size) < h


def test_a_photo_smaller_than_the_preview_box_gets_none_and_is_analysed_from_its_original(owner, tmp_path):
    row = _ingest(owner, tmp_path, _jpeg(_marked((800, 600))), "small.jpg")
    assert row["metadata"]["analysis_preview"] == {"key": None, "width": 800, "height": 600}


# ------------------------------------------------------------------ the analyses read it
@needs_shared
def test_detect_and_faces_read_the_preview_and_never_the_original(owner, tmp_path, reads):
    from pva.jobs import pipeline
    from pva.jobs.tasks.detect import DetectTask
    from pva.jobs.tasks.faces import FacesTask

    row = _ingest(owner, tmp_path, _jpeg(_zidane_12mp()), "zidane-12mp.jpg")
    reads.clear()
    outcome, det = pipeline.run_stored(DetectTask(), row["id"])
    assert outcome == "done" and "person" in {d.label for _, d in det.items}
    outcome, faces = pipeline.run_stored(FacesTask(), row["id"])
    assert outcome == "done" and len(faces.items) == 2  # both men's faces, as on the photo itself
    assert _originals_read(reads) == []
    assert [k for _, k in reads].count(row["metadata"]["analysis_preview"]["key"]) == 2  # one read per analysis


@needs_shared
def test_faces_boxes_from_the_preview_match_those_from_the_original(owner, tmp_path):
    from pva.media.image import load_image
    from pva.jobs import pipeline
    from pva.jobs.tasks.faces import FacesTask

    data = _jpeg(_zidane_12mp())
    task = FacesTask()
    direct = task.engine.detect(load_image(data, max_side=task.engine.encode_max_side, rgb=True))
    row = _ingest(owner, tmp_path, data, "zidane-boxes.jpg")
    _, stored = pipeline.run_stored(task, row["id"])
    assert len(stored.items) == len(direct) == 2
    for (_, s), d in zip(sorted(stored.items, key=lambda i: i[1].box), sorted(direct, key=lambda f: f.box)):
        assert s.box == pytest.approx(d.box, abs=0.004)
        # the same person: embeddings from a 2000 px preview and a 4000 px original are close (the turned, shouting
        # face in the middle moves dlib's landmarks more between the two resolutions; still well within 0.6)
        assert float(np.linalg.norm(s.embedding - d.embedding)) < (0.3 if d.box[0] > 0.5 else 0.4)


# ------------------------------------------------------------------ media from before: made once, lazily
@needs_shared
def test_media_without_a_preview_get_one_from_the_first_analysis_and_the_next_reads_it(owner, reads):
    from pva import jobs
    from pva.infra import db
    from pva.db import media as media_q
    from pva.jobs import pipeline
    from pva.jobs.tasks.detect import DetectTask
    from pva.jobs.tasks.faces import FacesTask

    media_id = _add_old_media(owner["id"], _jpeg(_zidane_12mp()))
    outcome, det = pipeline.run_stored(DetectTask(), media_id)
    assert outcome == "done" and "person" in {d.label for _, d in det.items}
    assert len(_originals_read(reads)) == 1  # the first analysis reads the original once, to make the preview
    with db.transaction() as cur:
        entry = media_q.get(cur, media_id)["metadata"]["analysis_preview"]
    assert entry["key"] == jobs.analysis_preview_key(media_id) and entry["width"] == 2000
    reads.clear()
    outcome, faces = pipeline.run_stored(FacesTask(), media_id)
    assert outcome == "done" and len(faces.items) == 2
    assert _originals_read(reads) == [] and [k for _, k in reads] == [entry["key"]]


def test_a_damaged_original_without_a_preview_fails_the_job_with_its_reason(owner):
    from pva.infra import db
    from pva.db import analysis as analysis_q
    from pva.jobs import pipeline
    from pva.jobs.tasks.detect import DetectTask

    good = _jpeg(_marked((2400, 1800)))
    media_id = _add_old_media(owner["id"], good[: len(good) // 3], "cut.jpg")
    outcome, _ = pipeline.run_stored(DetectTask(), media_id)
    assert outcome == "failed"
    with db.transaction() as cur:
        err = analysis_q.get(cur, media_id, "detect")["error"]
    assert "damaged" in err or "truncated" in err
    assert "test/" not in err  # never the storage key


def test_purging_an_item_removes_its_analysis_preview(owner, tmp_path):
    from pva.config import get_settings
    from pva.infra.storage import get_storage
    from pva.services import media as media_service

    row = _ingest(owner, tmp_path, _jpeg(_marked((2400, 1800))), "gone.jpg")
    key = row["metadata"]["analysis_preview"]["key"]
    st, bucket = get_storage(), get_settings().bucket_thumbs
    assert st.stat(bucket, key) is not None
    media_service.trash(row["id"], owner["id"])
    assert media_service.purge_trash(owner["id"], media_id=row["id"]) == 1
    assert st.stat(bucket, key) is None


def test_a_small_photo_from_before_is_marked_from_its_header_and_read_as_it_is(owner, reads):
    from pva import jobs
    from pva.config import get_settings
    from pva.infra import db
    from pva.db import media as media_q
    from pva.infra.storage import get_storage
    from pva.jobs import pipeline
    from pva.jobs.tasks.detect import DetectTask

    media_id = _add_old_media(owner["id"], _jpeg(_marked((900, 600))), "small-old.jpg")
    assert pipeline.run_stored(DetectTask(), media_id)[0] == "done"
    with db.transaction() as cur:
        assert media_q.get(cur, media_id)["metadata"]["analysis_preview"] == {"key": None}
    assert get_storage().stat(get_settings().bucket_thumbs, jobs.analysis_preview_key(media_id)) is None
    assert len(_originals_read(reads)) == 1


def test_a_preview_missing_from_storage_is_made_again_from_the_original(owner, tmp_path, reads):
    from pva.config import get_settings
    from pva.infra.storage import get_storage
    from pva.jobs import pipeline
    from pva.jobs.tasks.detect import DetectTask

    row = _ingest(owner, tmp_path, _jpeg(_marked((2400, 1800))), "restored.jpg")
    key = row["metadata"]["analysis_preview"]["key"]
    st, bucket = get_storage(), get_settings().bucket_thumbs
    st.delete(bucket, key)  # a restore without derived data
    reads.clear()
    assert pipeline.run_stored(DetectTask(), row["id"])[0] == "done"
    assert len(_originals_read(reads)) == 1 and st.stat(bucket, key) is not None
