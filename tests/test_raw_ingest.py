"""A RAW photo alone, end to end on the real services (Postgres, S3, the gateway): uploaded or loaded it is a photo
with its camera, date, place and sensor size, a thumbnail made from its preview, a detail page, the analysis can
load it, and the original downloads byte for byte with its RAW content type.  A damaged RAW in the same batch is
refused with a reason and the rest goes on."""
from __future__ import annotations

import hashlib
import io
import shutil

import pytest
from PIL import Image

import raw_samples as rs
from test_gateway_helpers import app, client_for, new_user  # noqa: F401

pytest.importorskip("rawpy", reason="rawpy (LibRaw) is not installed: pip install rawpy")
pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture(scope="module")
def owner(services):
    return new_user()


@pytest.fixture(scope="module")
def client(app, owner):  # noqa: F811
    return client_for(app, owner)


def test_uploaded_dng_is_a_photo_with_metadata_thumbnail_and_untouched_original(client, tmp_path):
    if not shutil.which("exiftool"):
        pytest.skip("exiftool is not installed (Debian libimage-exiftool-perl)")
    dng = rs.make_dng(tmp_path / "IMG_0001.DNG", size=(300, 200), orientation=6, make="Canon", model="EOS R5",
                      taken="2024:07:14 09:15:00", offset="+02:00", gps=(45.8326, 6.8652))
    cut = rs.make_dng(tmp_path / "cut.nef", size=(300, 200), preview=None)
    cut.write_bytes(cut.read_bytes()[:-60_000])
    jpeg = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 10)).save(jpeg, "JPEG")
    data = dng.read_bytes()
    r = client.post("/api/v1/media/upload", files=[
        ("files", ("IMG_0001.DNG", data, "application/octet-stream")),
        ("files", ("cut.nef", cut.read_bytes(), "image/x-nikon-nef")),
        ("files", ("after.jpg", jpeg.getvalue(), "image/jpeg"))])
    assert r.status_code == 200, r.text
    res = {x["name"]: x for x in r.json()["results"]}
    assert res["IMG_0001.DNG"]["status"] == "added", res
    assert res["cut.nef"]["status"] == "rejected"
    assert "damaged or truncated" in res["cut.nef"]["reason"] and str(tmp_path) not in res["cut.nef"]["reason"]
    assert res["after.jpg"]["status"] == "added"  # the rest of the batch goes on

    mid = res["IMG_0001.DNG"]["media_id"]
    d = client.get(f"/api/v1/media/{mid}").json()
    assert (d["kind"], d["format"], d["mime"]) == ("photo", "dng", "image/x-adobe-dng")
    assert (d["width"], d["height"]) == (300, 200)  # the sensor image, as displayed (stored 200x300, rotated)
    assert d["camera_make"] == "Canon" and d["camera_model"] == "EOS R5"
    assert d["taken_at"].startswith("2024-07-14T")
    assert d["gps"]["lat"] == pytest.approx(45.8326, abs=1e-4) and d["gps"]["lon"] == pytest.approx(6.8652, abs=1e-4)

    thumb = client.get(f"/api/v1/media/{mid}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    grid = Image.open(io.BytesIO(thumb.content))
    assert grid.width > grid.height  # upright: the preview is stored portrait with orientation 6
    preview = Image.open(io.BytesIO(client.get(f"/api/v1/media/{mid}/thumbnail?size=preview").content))
    assert max(preview.size) > 300  # made from the camera's 1200-pixel preview, not the small sensor image

    orig = client.get(f"/api/v1/media/{mid}/original?download=true")
    assert orig.status_code == 200 and orig.headers["content-type"] == "image/x-adobe-dng"
    assert hashlib.sha512(orig.content).digest() == hashlib.sha512(data).digest()
    assert "attachment" in orig.headers.get("content-disposition", "")


def test_loaded_raws_are_ingested_and_the_analysis_can_decode_their_originals(services, owner, tmp_path):
    from pva.config import get_settings
    from pva.infra import db
    from pva.infra.storage import get_storage
    from pva.media.image import load_image
    from pva.services.load import load

    root = tmp_path / "card"
    (root / "DCIM").mkdir(parents=True)
    nef = rs.make_dng(root / "DCIM" / "DSC_0042.NEF", size=(400, 300), preview=None, make="NIKON CORPORATION",
                      model="NIKON Z 6")  # the content says DNG whatever the name says
    arw = rs.make_dng(root / "DCIM" / "DSC01234.ARW", size=(400, 300), make="SONY", model="ILCE-7M3", dng=False)
    broken = root / "DCIM" / "IMG_0001.CR3"
    broken.write_bytes(rs.raw_header("cr3"))
    originals = {p.name: p.read_bytes() for p in (nef, arw)}
    summary = load(root, owner, workers=1, progress=False)
    assert summary.counts["added"] == 2 and summary.counts["rejected"] == 1, summary
    assert "CR3 RAW photo" in (root / "rejected" / "DCIM" / "IMG_0001.CR3.reason.txt").read_text()
    s = get_settings()
    with db.transaction() as cur:
        cur.execute("select * from media where owner_id = %s and filename in ('DSC_0042.NEF', 'DSC01234.ARW')",
                    (owner["id"],))
        rows = {r["filename"]: r for r in cur.fetchall()}
    assert (rows["DSC_0042.NEF"]["format"], rows["DSC01234.ARW"]["format"]) == ("dng", "arw")
    assert rows["DSC01234.ARW"]["mime"] == "image/x-sony-arw" and rows["DSC01234.ARW"]["camera_model"] == "ILCE-7M3"
    for name, row in rows.items():
        stored = get_storage().get_bytes(s.bucket_originals, row["storage_key"])
        assert stored == originals[name]
        img = load_image(stored, rgb=True, max_side=200)  # what the detect/faces/ocr tasks do with the original
        assert img.size == (200, 150) and img.getpixel((10, 10))[0] > 200, name  # red top-left
        thumb = get_storage().get_bytes(s.bucket_thumbs, row["thumb_key"])
        assert Image.open(io.BytesIO(thumb)).format == "JPEG"


def test_raws_dropped_into_the_inbox_are_ingested_and_a_damaged_one_set_aside_with_its_reason(services, owner,
                                                                                             monkeypatch, tmp_path):
    """What the ingest function does with each inbox event (pva.services.inbox.ingest_object), on an inbox bucket
    of this test's own."""
    from conftest import _reload

    from pva.config import get_settings
    from pva.infra.storage import get_storage
    from pva.services import inbox

    bucket = f"{get_settings().bucket_inbox}-raw"
    monkeypatch.setenv("PVA_BUCKET_INBOX", bucket)
    _reload()
    st = get_storage()
    st.ensure_buckets([bucket])
    try:
        good = rs.make_dng(tmp_path / "P1000001.RW2", size=(400, 300), make="SONY", model="ILCE-7M3", dng=False,
                           taken="2024:06:02 11:00:00")  # (not the bytes another test of this owner loads)
        bad = rs.make_dng(tmp_path / "bad.dng", size=(400, 300), preview=None)
        bad.write_bytes(bad.read_bytes()[:-50_000])
        keys = {}
        for p in (good, bad):
            key = f"{owner['username']}/trip/{p.name}"
            data = p.read_bytes()
            st.put(bucket, key, data, length=len(data), content_type="application/octet-stream")
            keys[p.name] = key
        added = inbox.ingest_object(bucket, keys[good.name])
        assert added.status == "added" and added.format == "arw", added  # by content: an ARW named .RW2
        refused = inbox.ingest_object(bucket, keys[bad.name])
        assert refused.status == "rejected" and "damaged or truncated" in refused.reason
        note = st.get_bytes(bucket, f"rejected/{keys[bad.name]}.reason.txt").decode()
        assert "damaged or truncated" in note and "/tmp" not in note
        assert sorted(o.key for o in st.list(bucket)) == [f"rejected/{keys[bad.name]}",
                                                          f"rejected/{keys[bad.name]}.reason.txt"]
    finally:
        for o in list(st.list(bucket)):
            st.delete(bucket, o.key)
        st.remove_bucket(bucket)
        monkeypatch.undo()
        _reload()


@pytest.mark.parametrize("preview", [1200, None], ids=["from-preview", "from-demosaic"])
def test_an_ingested_raw_is_analysed_like_any_photo(services, owner, tmp_path, preview):
    """The detect task on a RAW of the bus scene (tests/../shared fixture): the people and the bus are found,
    whether the picture comes from the camera's preview or from the sensor data."""
    from conftest import shared_path
    from test_detect_function import assert_bus_scene, job_row, stored

    from pva.jobs.pipeline import run_stored
    from pva.jobs.tasks.detect import DetectTask
    from pva.ml.objects import Detector
    from pva.services.ingest import Ingestor

    bus = Image.open(shared_path("fixtures", "detect", "bus.jpg")).convert("RGB")
    task = DetectTask(Detector(shared_path("models", "yolov8n_int8.onnx")))
    p = rs.make_dng(tmp_path / "bus.dng", size=bus.size, displayed=bus, orientation=6, preview=preview)
    r = Ingestor(publish=False).ingest_file(p, owner, f"raw/bus-{preview}.dng")
    assert r.status == "added", r
    assert run_stored(task, r.media_id)[0] == "done", job_row(r.media_id)
    assert_bus_scene(stored(r.media_id))
