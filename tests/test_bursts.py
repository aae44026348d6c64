"""Bursts (issue 21) on real Postgres and S3: photos generated with EXIF DateTimeOriginal + SubSecTimeOriginal are
ingested, grouped per camera when taken within 2 s of the next, stacked in the library listing as one item with
its count, listed by GET /media/{id}/burst, regrouped when a frame is trashed or restored, and rebuilt by the
housekeeping cron for a library that was never grouped."""
from __future__ import annotations

import random
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

import piexif
import pytest

import media_fixtures as mf
from test_gateway_helpers import app, client_for, new_user  # noqa: F401  (app: the gateway fixture)

pytestmark = pytest.mark.usefixtures("services")

BASE = datetime(2024, 5, 1, 10, 0, 0)


def shot(tmp_path, make: str, model: str, at: datetime, name: str | None = None):
    """A JPEG from this camera taken at ``at`` (sub-seconds in SubSecTimeOriginal, as cameras write them)."""
    name = name or f"{model}-{at:%H%M%S}-{at.microsecond:06d}-{secrets.token_hex(2)}.jpg"
    colour = (random.randrange(256), random.randrange(256), random.randrange(256))
    from PIL import Image

    return mf.make_jpeg(tmp_path / name, image=Image.new("RGB", (64, 48), colour), make=make, model=model,
                        taken=at.strftime("%Y:%m:%d %H:%M:%S"),
                        extra_exif={piexif.ExifIFD.SubSecTimeOriginal: f"{at.microsecond // 1000:03d}".encode()})


def at(seconds: float, base: datetime = BASE) -> datetime:
    return base + timedelta(seconds=seconds)


def rows(owner_id) -> dict[str, dict]:
    from pva.infra import db

    return {r["filename"]: r for r in db.query(
        "select id, filename, taken_at, burst_id, burst_size from media where owner_id = %s", (owner_id,))}


def stacked(owner_id, **kw) -> list[dict]:
    from pva.services import search

    return search.search(owner_id, {}, stack="bursts", **kw)["items"]


# ---------------------------------------------------------------- the times: sub-seconds kept
def test_sub_second_capture_times_are_kept_in_taken_at(tmp_path):
    from pva.media.photo import extract_photo

    meta = extract_photo(shot(tmp_path, "Canon", "EOS R6", datetime(2024, 5, 1, 10, 0, 0, 345000)))
    assert meta.taken_at == datetime(2024, 5, 1, 10, 0, 0, 345000)
    p = mf.make_jpeg(tmp_path / "one-digit.jpg", make="Canon", model="EOS R6", taken="2024:05:01 10:00:01",
                     extra_exif={piexif.ExifIFD.SubSecTimeOriginal: b"5"})
    assert extract_photo(p).taken_at.microsecond == 500000  # "5" is half a second, not 5 microseconds


# ---------------------------------------------------------------- grouping
def test_photos_of_one_camera_within_two_seconds_are_one_burst_and_stack_as_one_item(tmp_path, ingest):
    owner = new_user()
    burst = [shot(tmp_path, "Canon", "EOS R6", at(s), f"burst-{i}.jpg") for i, s in
             enumerate([0.0, 0.3, 0.65, 1.1, 2.9])]            # the last one 1.8 s after the previous
    pair = [shot(tmp_path, "Canon", "EOS R6", at(60 + s), f"pair-{i}.jpg") for i, s in enumerate([0, 5])]
    # two cameras interleaved: each camera's own frames are its burst
    cam_a = [shot(tmp_path, "NIKON CORPORATION", "NIKON Z 6", at(120 + s), f"a-{i}.jpg")
             for i, s in enumerate([0.0, 0.5, 1.0])]
    cam_b = [shot(tmp_path, "FUJIFILM", "X-T4", at(120 + s), f"b-{i}.jpg") for i, s in enumerate([0.2, 0.7])]
    files = burst + pair + cam_a + cam_b
    random.Random(21).shuffle(files)  # out of order: a frame can join, extend or merge bursts
    for p in files:
        ingest(p, owner)

    r = rows(owner["id"])
    assert r["burst-2.jpg"]["taken_at"].microsecond == 650000
    lead = r["burst-0.jpg"]["id"]
    assert {(r[f"burst-{i}.jpg"]["burst_id"], r[f"burst-{i}.jpg"]["burst_size"]) for i in range(5)} == {(lead, 5)}
    assert r["pair-0.jpg"]["burst_id"] is None and r["pair-1.jpg"]["burst_id"] is None  # 5 s apart: no burst
    assert {(r[f"a-{i}.jpg"]["burst_id"], r[f"a-{i}.jpg"]["burst_size"]) for i in range(3)} == {(r["a-0.jpg"]["id"], 3)}
    assert {(r[f"b-{i}.jpg"]["burst_id"], r[f"b-{i}.jpg"]["burst_size"]) for i in range(2)} == {(r["b-0.jpg"]["id"], 2)}

    items = stacked(owner["id"])
    assert sorted((i["filename"], i["burst_size"]) for i in items) == [
        ("a-0.jpg", 3), ("b-0.jpg", 2), ("burst-0.jpg", 5), ("pair-0.jpg", None), ("pair-1.jpg", None)]
    from pva.services import search

    assert len(search.search(owner["id"], {})["items"]) == 12  # without stacking every photo is listed


def test_frames_ingested_at_the_same_time_still_make_one_burst(tmp_path, ingest):
    owner = new_user()
    files = [shot(tmp_path, "Apple", "iPhone 15", at(s), f"f-{i}.jpg") for i, s in
             enumerate([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda p: ingest(p, owner), files))
    r = rows(owner["id"])
    assert {(x["burst_id"], x["burst_size"]) for x in r.values()} == {(r["f-0.jpg"]["id"], 8)}


def test_trashing_and_restoring_frames_regroups_the_burst(tmp_path, ingest):
    from pva.services import bulk, media

    owner = new_user()
    ids = [ingest(shot(tmp_path, "Sony", "ILCE-7M4", at(s), f"s-{i}.jpg"), owner) for i, s in
           enumerate([0, 1, 2.5, 3.5])]
    r = rows(owner["id"])
    assert {x["burst_size"] for x in r.values()} == {4}

    media.trash(ids[0], owner["id"])  # the first frame: the next one leads the rest
    r = rows(owner["id"])
    assert r["s-0.jpg"]["burst_id"] is None
    assert {(r[f"s-{i}.jpg"]["burst_id"], r[f"s-{i}.jpg"]["burst_size"]) for i in (1, 2, 3)} == {(ids[1], 3)}
    assert [(i["filename"], i["burst_size"]) for i in stacked(owner["id"])] == [("s-1.jpg", 3)]

    bulk.trash(owner["id"], [ids[2]])  # 1 s and 3.5 s: 2.5 s apart, no burst left
    r = rows(owner["id"])
    assert all(x["burst_id"] is None for x in r.values())
    assert sorted(i["filename"] for i in stacked(owner["id"])) == ["s-1.jpg", "s-3.jpg"]

    bulk.restore(owner["id"], [ids[0], ids[2]])
    r = rows(owner["id"])
    assert {(x["burst_id"], x["burst_size"]) for x in r.values()} == {(ids[0], 4)}


def test_the_cron_builds_the_bursts_of_a_library_never_grouped(tmp_path, ingest):
    from pva.infra import db
    from pva.services import housekeeping

    owner = new_user()
    for i, s in enumerate([0, 0.4, 0.8, 10, 10.5]):
        ingest(shot(tmp_path, "Canon", "EOS R6", at(s), f"c-{i}.jpg"), owner)
    want = {k: (v["burst_id"], v["burst_size"]) for k, v in rows(owner["id"]).items()}
    assert sorted(n for _, n in want.values()) == [2, 2, 3, 3, 3]
    # as after migration 011 on an existing library: no burst, never built
    db.execute("update media set burst_id = null, burst_size = null where owner_id = %s", (owner["id"],))
    db.execute("delete from bursts_built where owner_id = %s", (owner["id"],))
    for _ in range(500):  # a tick builds a few libraries; the session's database holds every test's users
        housekeeping.prepare_bursts_and_memories()
        if db.query_one("select 1 as ok from bursts_built where owner_id = %s", (owner["id"],)):
            break
    assert {k: (v["burst_id"], v["burst_size"]) for k, v in rows(owner["id"]).items()} == want
    assert db.query_one("select 1 as ok from bursts_built where owner_id = %s", (owner["id"],))


# ---------------------------------------------------------------- the API
def test_the_api_stacks_bursts_and_lists_a_burst_to_its_owner_only(tmp_path, ingest, app):  # noqa: F811
    owner, other = new_user(), new_user()
    ids = [ingest(shot(tmp_path, "Canon", "EOS R6", at(200 + s), f"api-{i}.jpg"), owner)
           for i, s in enumerate([0, 0.5, 1.0])]
    single = ingest(shot(tmp_path, "Canon", "EOS R6", at(300), "alone.jpg"), owner)
    c = client_for(app, owner)
    page = c.get("/api/v1/media", params={"stack": "bursts"}).json()
    assert sorted((i["filename"], i["burst_size"]) for i in page["items"]) == [("alone.jpg", None), ("api-0.jpg", 3)]
    assert len(c.get("/api/v1/media").json()["items"]) == 4
    for filters in ({"camera_model": "EOS R6"}, {"q": "api"}, {"kind": "photo", "sort": "added", "order": "asc"}):
        page = c.get("/api/v1/media", params={"stack": "bursts", **filters}).json()
        assert [i["burst_size"] for i in page["items"] if i["filename"].startswith("api-")] == [3], filters
    assert c.get("/api/v1/media", params={"stack": "everything"}).status_code == 422

    b = c.get(f"/api/v1/media/{ids[0]}/burst").json()
    assert b["burst_id"] == str(ids[0]) and [i["id"] for i in b["items"]] == [str(i) for i in ids]  # capture order
    assert all(i["thumbnail_url"] for i in b["items"])
    assert c.get(f"/api/v1/media/{ids[2]}/burst").json()["burst_id"] == str(ids[0])  # asked from any frame
    alone = c.get(f"/api/v1/media/{single}/burst").json()
    assert alone["burst_id"] is None and [i["id"] for i in alone["items"]] == [str(single)]
    assert client_for(app, other).get(f"/api/v1/media/{ids[0]}/burst").status_code == 404


def test_a_burst_whose_first_photo_left_without_a_regroup_still_shows_its_other_photos(tmp_path, ingest):
    from pva.infra import db

    owner = new_user()
    ids = [ingest(shot(tmp_path, "Canon", "EOS R6", at(400 + s), f"g-{i}.jpg"), owner) for i, s in
           enumerate([0, 0.5, 1.0])]
    # trashed by a path that does not regroup (as a bulk edit straight in the database would): until the cron's
    # rebuild the others still point at it; the library shows them on their own, without a count
    db.execute("update media set trashed_at = now() where id = %s", (ids[0],))
    assert sorted((i["filename"], i["burst_size"]) for i in stacked(owner["id"])) == [
        ("g-1.jpg", None), ("g-2.jpg", None)]
    from pva.services import bursts

    bursts.rebuild(owner["id"])
    assert [(i["filename"], i["burst_size"]) for i in stacked(owner["id"])] == [("g-1.jpg", 2)]
