"""Near-duplicates on real Postgres and S3 (issue 21): hashes at ingest, copies grouped and other shots not, keep
the best (the rest in the trash, restorable), "not duplicates" remembered, another user's items never seen, the
hashing of a library ingested before."""
from __future__ import annotations

import secrets

import pytest

from conftest import shared_path
from duplicates_fixtures import copies, displayed, other_shots, to_jpeg_bytes

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture
def owner(make_user):
    return make_user(f"dups-{secrets.token_hex(3)}")


def ingest_bytes(owner, name: str, data: bytes):
    import io

    from pva.services.ingest import Ingestor

    res = Ingestor(publish=False).ingest_stream(io.BytesIO(data), owner, name)
    assert res.status == "added", res.reason
    return res.media_id


def row(media_id):
    from pva.infra import db

    return db.query_one("select id, phash, metadata, trashed_at from media where id = %s", (media_id,))


def photo_set(owner, photo: str = "Canon_40D.jpg"):
    """The photo, four of its copies and two other shots of its scene, ingested: ({label: media_id})."""
    im = displayed(shared_path("fixtures", "exif-samples", "jpg", photo))
    ids = {"original": ingest_bytes(owner, f"{photo}", to_jpeg_bytes(im, 95))}
    c = copies(im)
    for label in ("resized to 50 %", "recompressed q40", "cropped 3 %", "brightness +20 %"):
        ids[label] = ingest_bytes(owner, f"{label}.jpg", to_jpeg_bytes(c[label]))
    for label, shot in other_shots(im).items():
        if label != "panned 15 %":
            ids[label] = ingest_bytes(owner, f"{label}.jpg", to_jpeg_bytes(shot))
    return ids


def test_ingest_hashes_a_photo_from_its_thumbnail(owner):
    from pva.infra import db
    from pva.infra.storage import get_storage
    from pva.config import get_settings
    from pva.media import phash as ph

    mid = ingest_bytes(owner, "canon.jpg", shared_path("fixtures", "exif-samples", "jpg", "Canon_40D.jpg")
                       .read_bytes())
    r = db.query_one("select phash, thumb_key from media where id = %s", (mid,))
    assert r["phash"] is not None and len(r["phash"]) == 64
    thumb = get_storage().get_bytes(get_settings().bucket_thumbs, r["thumb_key"])
    assert ph.from_bits(r["phash"]) == ph.phash_jpeg(thumb)


def test_ingest_hashes_every_video_keyframe(owner, tmp_path):
    import media_fixtures as mf

    if not mf.ffmpeg_available():
        pytest.skip("ffmpeg is not installed")
    path = mf.make_video(tmp_path / "clip.mp4", duration=3.0, size=(320, 240))
    mid = ingest_bytes(owner, "clip.mp4", path.read_bytes())
    r = row(mid)
    frames = r["metadata"]["keyframes"]
    assert frames and all(len(k["phash"]) == 16 for k in frames)
    assert int(frames[len(frames) // 2]["phash"], 16) == int(r["phash"], 2)


def test_copies_are_one_group_and_other_shots_are_left_out(owner):
    from pva.services import duplicates

    ids = photo_set(owner)
    ans = duplicates.groups(owner["id"])
    assert ans["total_groups"] == 1
    group = ans["groups"][0]
    members = {str(i["id"]) for i in group["items"]}
    expected = {ids[k] for k in ("original", "resized to 50 %", "recompressed q40", "cropped 3 %",
                                 "brightness +20 %")}
    assert members == expected
    assert not members & {ids["panned 10 %"], ids["zoomed 20 %"]}
    # the best: the most pixels (the full-size original or its same-size edits), never the half-size copy
    assert str(group["best_id"]) != ids["resized to 50 %"]
    best = group["items"][0]
    assert best["width"] * best["height"] == max(i["width"] * i["height"] for i in group["items"])


def test_keep_best_trashes_the_others_and_they_can_be_restored(owner):
    from pva.services import duplicates, media

    ids = photo_set(owner)
    g = duplicates.groups(owner["id"])["groups"][0]
    ans = duplicates.resolve(owner["id"], g["id"])
    assert ans["kept"] == g["best_id"] and len(ans["trashed"]) == len(g["items"]) - 1
    assert row(g["best_id"])["trashed_at"] is None
    assert all(row(m)["trashed_at"] is not None for m in ans["trashed"])
    assert duplicates.groups(owner["id"])["total_groups"] == 0
    assert row(ids["panned 10 %"])["trashed_at"] is None  # not in the group: untouched
    media.restore(ans["trashed"][0], owner["id"])
    again = duplicates.groups(owner["id"])["groups"]
    assert len(again) == 1 and {i["id"] for i in again[0]["items"]} == {g["best_id"], ans["trashed"][0]}


def test_keep_one_chosen_and_only_the_items_seen_go(owner):
    from pva.services import duplicates

    ids = photo_set(owner)
    g = duplicates.groups(owner["id"])["groups"][0]
    keep = next(i["id"] for i in g["items"] if str(i["id"]) == ids["resized to 50 %"])
    seen = [i["id"] for i in g["items"]][:3]
    ans = duplicates.resolve(owner["id"], g["id"], keep=keep, media_ids=seen + [keep])
    assert ans["kept"] == keep
    assert set(ans["trashed"]) == set(seen) - {keep}


def test_resolve_all_keeps_the_best_of_every_group(owner):
    from pva.services import duplicates

    photo_set(owner, "Canon_40D.jpg")
    photo_set(owner, "Nikon_D70.jpg")
    gs = duplicates.groups(owner["id"])["groups"]
    assert len(gs) == 2
    ans = duplicates.resolve_all(owner["id"])
    assert ans["groups"] == 2 and ans["trashed"] == sum(len(g["items"]) - 1 for g in gs)
    assert all(row(g["best_id"])["trashed_at"] is None for g in gs)
    assert duplicates.groups(owner["id"])["total_groups"] == 0


def test_not_duplicates_is_remembered(owner):
    from pva.services import duplicates

    photo_set(owner)
    g = duplicates.groups(owner["id"])["groups"][0]
    duplicates.dismiss(owner["id"], g["id"])
    assert duplicates.groups(owner["id"])["total_groups"] == 0
    # a later copy of the same photo is a new pair (with each member), shown on its own
    im = displayed(shared_path("fixtures", "exif-samples", "jpg", "Canon_40D.jpg"))
    new = ingest_bytes(owner, "later copy.jpg", to_jpeg_bytes(im.resize((400, 266)), 70))
    again = duplicates.groups(owner["id"])["groups"]
    assert len(again) == 1 and new in {str(i["id"]) for i in again[0]["items"]}


def test_another_users_items_never_appear_and_cannot_be_resolved(owner, make_user):
    from pva.errors import NotFound
    from pva.services import duplicates

    other = make_user(f"dups-other-{secrets.token_hex(3)}")
    theirs = photo_set(other)
    # the same photo in both libraries: never a pair across owners
    mine = ingest_bytes(owner, "mine.jpg", to_jpeg_bytes(displayed(
        shared_path("fixtures", "exif-samples", "jpg", "Canon_40D.jpg")), 95))
    assert duplicates.groups(owner["id"])["total_groups"] == 0
    g = duplicates.groups(other["id"])["groups"][0]
    assert mine not in {str(i["id"]) for i in g["items"]}
    with pytest.raises(NotFound):
        duplicates.resolve(owner["id"], g["id"])
    with pytest.raises(NotFound):
        duplicates.dismiss(owner["id"], g["id"])
    assert duplicates.resolve_all(owner["id"])["trashed"] == 0
    assert all(row(m)["trashed_at"] is None for m in theirs.values())


def test_hash_existing_finds_the_pairs_of_a_library_ingested_before(owner):
    from pva.infra import db
    from pva.services import duplicates

    photo_set(owner)
    before = duplicates.groups(owner["id"])["groups"][0]
    with db.transaction() as cur:  # as a library ingested before migration 010 looks
        cur.execute("update media set phash = null where owner_id = %s", (owner["id"],))
        cur.execute("delete from media_near_duplicates where owner_id = %s", (owner["id"],))
    assert duplicates.groups(owner["id"])["total_groups"] == 0
    seen = []
    ans = duplicates.hash_existing(owner["id"], progress=lambda done, total: seen.append((done, total)))
    assert ans["hashed"] == 7 and ans["failed"] == 0
    assert seen[-1] == (7, 7)
    after = duplicates.groups(owner["id"])["groups"]
    assert len(after) == 1 and {i["id"] for i in after[0]["items"]} == {i["id"] for i in before["items"]}


def test_the_hash_command_hashes_a_library_ingested_before(owner, capsys):
    from pva.cli import main
    from pva.infra import db
    from pva.services import duplicates

    photo_set(owner)
    with db.transaction() as cur:
        cur.execute("update media set phash = null where owner_id = %s", (owner["id"],))
        cur.execute("delete from media_near_duplicates where owner_id = %s", (owner["id"],))
    assert main(["duplicates", "hash", "--owner", owner["username"], "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "7 item(s) hashed" in out and "near-duplicate pair(s) found" in out
    assert duplicates.groups(owner["id"])["total_groups"] == 1
    assert main(["duplicates", "list", "--owner", owner["username"]]) == 0
    assert "1 group(s), 5 item(s)" in capsys.readouterr().out
