"""Backup, restore and the library check on real Postgres and S3: a library with photos, a video, a comment, an
album, a GPS override, detections and a face is backed up, restored onto a fresh database and fresh buckets, and
compared; incremental runs copy only what is new; an interrupted run completes when run again; `pva check` finds
what was changed behind the library's back and --repair moves orphans without deleting anything."""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

import media_fixtures as mf
from conftest import REPO, RUN_ID, _reload

pytestmark = pytest.mark.usefixtures("services")

# rows compared after a restore: every table a user's library lives in (ids are kept by the dump)
TABLES = {"users": "id", "media": "id", "comments": "id", "albums": "id", "album_media": "album_id, media_id",
          "analysis": "media_id, kind", "detections": "id", "faces": "id", "people": "id"}


def sha(data: bytes) -> str:
    return hashlib.sha512(data).hexdigest()


def ingest(ingestor, owner, path: Path, rel: str) -> dict:
    res = ingestor.ingest_file(path, owner, rel, source="load")
    assert res.status == "added", res
    from pva.infra import db

    return db.query_one("select * from media where id = %s", (res.media_id,))


@pytest.fixture(scope="module", autouse=True)
def own_stack(services):
    """This module's own database and buckets: a backup takes the whole library of every user, so the session's
    shared database (which other modules fill, and whose objects some of them delete on purpose) must not be in
    it."""
    with fresh_stack() as url:
        yield url


@pytest.fixture(scope="module")
def library(own_stack, tmp_path_factory):
    """One user's library with every kind of item; returns what the comparisons need."""
    from pva.infra import db
    from pva.db import comments, detections
    from pva.services import albums
    from pva.db import search as search_q
    from pva.services.people import NewFace, replace_media_faces
    from pva.services.ingest import Ingestor
    from pva.infra.storage import get_storage

    owner = db.query_one("insert into users(username, password_hash) values (%s, '!') returning id, username",
                         (f"bk-{secrets.token_hex(3)}",))
    src = tmp_path_factory.mktemp("library")
    ing = Ingestor(publish=False)
    photos = []
    for i, (make, gps) in enumerate([("Canon", (48.8584, 2.2945)), ("Nikon", (40.6892, -74.0445)),
                                     ("Canon", None), ("Sony", (35.6586, 139.7454))]):
        p = mf.make_jpeg(src / f"p{i}.jpg", size=(120 + 8 * i, 80), make=make, model=f"M{i}",
                         taken=f"2023:0{i + 1}:1{i} 10:00:00", gps=gps)
        photos.append(ingest(ing, owner, p, f"trip/beach_{i}.jpg"))
    png = mf.make_photo(src / "scan.png", "png", size=(90, 60))
    photos.append(ingest(ing, owner, png, "scans/receipt.png"))
    video = None
    if mf.ffmpeg_available():
        v = mf.make_video(src / "clip.mp4", duration=1.0, size=(96, 64), fps=5)
        video = ingest(ing, owner, v, "clips/clip.mp4")

    with db.transaction() as cur:
        comments.create(cur, photos[0]["id"], owner["id"], "sunset at the tower")
    album = albums.create(owner["id"], "Holidays")
    albums.add_media(album["id"], owner["id"], [photos[0]["id"], photos[1]["id"]])
    with db.transaction() as cur:
        search_q.set_gps_override(cur, photos[2]["id"], owner["id"], 51.5007, -0.1246, None)
    st = get_storage()
    with db.transaction() as cur:  # an analysis as the detect and faces functions store one (crop in thumbs)
        detections.replace(cur, photos[1]["id"], [{"label": "dog", "confidence": 0.9, "x": .1, "y": .1, "w": .3,
                                                   "h": .3}], "yolov8n", "1")
        cur.execute("update analysis set status = 'done', finished_at = now() where media_id = %s",
                    (photos[1]["id"],))
        crop = mf.make_jpeg(src / "crop.jpg", size=(32, 32)).read_bytes()
        key = f"{photos[3]['id']}/faces/0.jpg"
        st.put(st.thumbs, key, crop, content_type="image/jpeg")
        replace_media_faces(cur, photos[3], [NewFace((.2, .2, .2, .2), [0.01 * k for k in range(128)],
                                                     crop_key=key)], "dlib", "1")
        cur.execute("update analysis set status = 'done', finished_at = now() where media_id = %s and kind = 'faces'",
                    (photos[3]["id"],))
    face_id = db.query_one("select id from faces where media_id = %s", (photos[3]["id"],))["id"]
    return {"owner": owner, "photos": photos, "video": video, "album": album, "face_id": face_id, "src": src,
            "ingestor": ing}


def searches(lib) -> dict:
    """The answers compared before and after a restore (ids in order)."""
    from pva.services import search as search_q
    from pva.db.search import Filters

    uid = lib["owner"]["id"]
    queries = {"all": Filters(), "text": Filters(text="beach"), "comment": Filters(text="sunset"),
               "label": Filters(labels=["dog"]), "album": Filters(album_id=lib["album"]["id"]),
               "paris": Filters(bbox=(48, 2, 49, 3)), "london override": Filters(bbox=(51, -1, 52, 0)),
               "camera": Filters(camera_make="Canon"), "face": Filters(similar_face_id=lib["face_id"]),
               "videos": Filters(kind="video")}
    from pva.db import counts
    from pva.infra import db

    out = {name: [str(m["id"]) for m in search_q.search(uid, f)["items"]] for name, f in queries.items()}
    # the counters the UI shows (kept by triggers, 004_*.sql); their order is not part of the answer
    with db.transaction() as cur:
        out["library counts"] = sorted(tuple(str(v) for v in r.values()) for r in counts.totals(cur, uid))
    return out


def table_rows() -> dict:
    from pva.infra import db

    # as JSON text: vectors compare as text; a restore publishes the queued jobs, which stamps published_at
    return {t: [r["j"] for r in db.query(f"select (to_jsonb(t) - 'published_at' - 'updated_at')::text as j "
                                         f"from {t} t order by {order}")]
            for t, order in TABLES.items()}


def bucket_contents(lost_found: bool = False) -> dict:
    """{bucket kind: {key: sha512}}; lost+found/ (what `pva check --repair` set aside) only when asked."""
    from pva.infra.storage import get_storage

    st = get_storage()
    return {kind: {o.key: sha(st.get_bytes(b, o.key)) for o in st.list(b, "")
                   if lost_found or not o.key.startswith("lost+found/")}
            for kind, b in (("originals", st.originals), ("thumbs", st.thumbs))}


@contextlib.contextmanager
def fresh_stack(migrated: bool = True):
    """Point the library at a new empty database and new empty buckets (the 'wiped stack'), then back."""
    from pva.infra import db
    from pva.config import get_settings
    from pva.infra.migrate import migrate
    from pva.infra.storage import get_storage

    base = get_settings().effective_database_url
    name = f"pva_test_{RUN_ID}_restore_{secrets.token_hex(2)}"
    url = db.create_database(name, base)
    if migrated:
        migrate(url, log=lambda *a: None)
    keys = ["PVA_DATABASE_URL", "PVA_BUCKET_ORIGINALS", "PVA_BUCKET_THUMBS", "PVA_BUCKET_INBOX"]
    saved = {k: os.environ.get(k) for k in keys}
    tag = secrets.token_hex(3)
    os.environ["PVA_DATABASE_URL"] = url
    for kind in ("originals", "thumbs", "inbox"):
        os.environ[f"PVA_BUCKET_{kind.upper()}"] = f"t{RUN_ID}-{tag}-{kind}"
    _reload()
    st = get_storage()
    st.ensure_buckets()
    try:
        yield url
    finally:
        for b in (st.originals, st.thumbs, st.inbox):
            try:
                st.remove_bucket(b)
            except Exception:  # best effort: a leftover scratch bucket harms nothing
                pass
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _reload()
        db.drop_database(name, base)


def backup_to(dest, **kw):
    from pva.services.backup import backup

    return backup(str(dest), progress=False, **kw)


# ------------------------------------------------------------------ backup + restore


@pytest.mark.parametrize("where", ["folder", "s3"])
def test_restore_onto_a_wiped_stack_gives_back_the_same_library(library, tmp_path, where):
    from pva.services.backup import restore
    from pva.services.backup_store import BackupError
    from pva.infra.storage import get_storage

    dest = tmp_path / "bk" if where == "folder" else f"s3://t{RUN_ID}-bk-{secrets.token_hex(2)}/nightly"
    rep = backup_to(dest)
    assert rep.ok and not rep.vanished and rep.copied == rep.objects > 0
    before = {"rows": table_rows(), "objects": bucket_contents(), "search": searches(library)}
    assert all(before["search"][q] for q in before["search"] if q != "videos" or library["video"])  # not vacuous
    assert before["search"]["label"] == [str(library["photos"][1]["id"])]
    assert before["search"]["london override"] == [str(library["photos"][2]["id"])]
    assert len(before["objects"]["thumbs"]) >= 2 * len(before["objects"]["originals"])

    with pytest.raises(BackupError, match="already holds a library"):
        restore(str(dest), progress=False)

    try:
        with fresh_stack():
            r = restore(str(dest), progress=False)
            assert r.ok and r.verify.media == len(before["rows"]["media"]) and not r.verify.orphans
            after = {"rows": table_rows(), "objects": bucket_contents(), "search": searches(library)}
    finally:
        if where == "s3":
            get_storage().remove_bucket(str(dest)[5:].split("/")[0])
    # originals byte-identical under the same keys, sidecars too (thumbnails, previews, keyframes, face crop)
    assert after["objects"] == before["objects"]
    assert after["search"] == before["search"]
    for t in TABLES:
        assert after["rows"][t] == before["rows"][t], t


def test_restore_works_for_a_database_role_that_is_not_a_superuser(library, tmp_path):
    """Production databases belong to a plain role; an administrator installed pgvector.  pg_restore must then not
    drop and create the extension (only a superuser may)."""
    from psycopg2.extensions import make_dsn, parse_dsn

    from pva.infra import db
    from pva.config import get_settings
    from pva.infra.migrate import migrate
    from pva.services.backup import restore

    backup_to(tmp_path / "bk")
    base = get_settings().effective_database_url
    role, name = f"pva_restore_{RUN_ID}", f"pva_test_{RUN_ID}_plainrole"
    db._admin_execute(f"create role {role} login", base)
    try:
        db._admin_execute(f"create database {name} owner {role}", base)
        db._admin_execute("create extension if not exists vector", make_dsn(base, dbname=name))
        url = make_dsn(base, dbname=name, user=role)
        migrate(url, log=lambda *a: None)
        with fresh_stack() as scratch_url:
            os.environ["PVA_DATABASE_URL"] = url  # fresh buckets, and this role's database
            _reload()
            try:
                r = restore(str(tmp_path / "bk"), progress=False)
                assert r.ok and r.verify.media == len(rep_originals(tmp_path / "bk"))
                assert db.query_one("select current_user as u")["u"] == role
            finally:
                os.environ["PVA_DATABASE_URL"] = scratch_url
                _reload()
        assert parse_dsn(url)["user"] == role
    finally:
        db._admin_execute(f'drop database if exists "{name}" with (force)', base)
        db._admin_execute(f"drop role if exists {role}", base)


def rep_originals(dest: Path) -> list[dict]:
    import json

    return [e for e in json.loads((dest / "manifest.json").read_text())["objects"] if e["bucket"] == "originals"]


def test_restore_refuses_buckets_holding_other_objects(library, tmp_path):
    from pva.services.backup import restore
    from pva.services.backup_store import BackupError
    from pva.infra.storage import get_storage

    backup_to(tmp_path / "bk")
    with fresh_stack(migrated=False):
        st = get_storage()
        st.put(st.originals, "someone/else.jpg", b"not from this backup")
        with pytest.raises(BackupError, match="is not empty"):
            restore(str(tmp_path / "bk"), progress=False)
        assert st.get_bytes(st.originals, "someone/else.jpg") == b"not from this backup"


def test_a_damaged_backup_is_refused_and_an_interrupted_restore_finishes_when_run_again(library, tmp_path):
    import json

    from pva.services.backup import restore
    from pva.services.backup_store import BackupError
    from pva.infra.storage import get_storage

    rep = backup_to(tmp_path / "bk")
    before = bucket_contents()
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_text())
    victim = next(e for e in manifest["objects"] if e["bucket"] == "originals")
    blob = tmp_path / "bk" / "blobs" / victim["sha512"][:2] / victim["sha512"]
    good = blob.read_bytes()
    blob.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # bit rot on the backup disk
    with fresh_stack():
        with pytest.raises(BackupError, match="damaged"):
            restore(str(tmp_path / "bk"), progress=False, jobs=1)
        st = get_storage()
        assert not st.exists(st.originals, victim["key"]), "bytes that differ from the manifest were left in S3"
        from pva.infra import db

        assert db.query_one("select count(*) n from media")["n"] == 0  # objects first, the database last
        blob.write_bytes(good)
        r = restore(str(tmp_path / "bk"), progress=False)
        assert r.ok and r.already_there > 0 and r.copied + r.already_there == rep.objects
        assert bucket_contents() == before


def test_the_restore_command_refuses_a_stack_that_holds_a_library(library, tmp_path):
    backup_to(tmp_path / "bk")
    r = subprocess.run([sys.executable, "-m", "pva.cli", "restore", str(tmp_path / "bk"), "--no-progress"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 1 and "already holds a library" in r.stderr and "PVA_DATABASE_URL" in r.stderr


def test_a_backup_taken_while_photos_arrive_restores_to_a_library_that_checks_clean(library, tmp_path):
    """The dump and the object list come from one snapshot: whatever ingest commits meanwhile is either wholly
    in the backup (row and objects) or wholly out of it."""
    import threading

    from pva.services.backup import restore
    from pva.services.check import check

    stop, added = threading.Event(), []

    def keep_ingesting():
        i = 0
        while not stop.is_set() and i < 40:
            p = mf.make_jpeg(tmp_path / f"live{i}.jpg", size=(100 + i, 70), model=f"live-{i}")
            added.append(library["ingestor"].ingest_file(p, library["owner"], f"live/{i}.jpg").status)
            i += 1

    t = threading.Thread(target=keep_ingesting)
    t.start()
    try:
        while len(added) < 2:
            threading.Event().wait(0.01)
        at_start = len(added)
        rep = backup_to(tmp_path / "bk")
        at_end = len(added)
    finally:
        stop.set()
        t.join()
    assert at_end > at_start, "no photo arrived while the backup ran: the test proved nothing"
    assert rep.ok and not rep.vanished and set(added) == {"added"}
    with fresh_stack():
        r = restore(str(tmp_path / "bk"), progress=False)
        assert r.ok
        c = check(progress=False, grace_seconds=0)
        assert c.ok and not c.young_orphans and c.media == len([e for e in r_manifest(tmp_path / "bk")
                                                               if e["bucket"] == "originals"])


def r_manifest(dest: Path) -> list[dict]:
    import json

    return json.loads((dest / "manifest.json").read_text())["objects"]


def test_a_face_crop_missing_from_the_backup_requeues_that_faces_analysis_on_restore(library, tmp_path):
    from pva.infra import db
    from pva.services.backup import restore
    from pva.infra.storage import get_storage

    st = get_storage()
    media = library["photos"][3]
    crop_key = f"{media['id']}/faces/0.jpg"
    crop = st.get_bytes(st.thumbs, crop_key)
    st.delete(st.thumbs, crop_key)  # lost behind the library's back before the backup
    try:
        from pva.services.check import check

        c = check(quick=True, progress=False)
        assert c.missing_sidecars == [{"key": crop_key, "media_id": str(media["id"])}] and c.ok  # not an original
        rep = backup_to(tmp_path / "bk")
    finally:
        st.put(st.thumbs, crop_key, crop, content_type="image/jpeg")
    assert rep.ok and rep.vanished == [{"bucket": "thumbs", "key": crop_key, "media_id": str(media["id"])}]
    with fresh_stack(migrated=False):  # a bare `createdb` database: the dump brings the schema
        r = restore(str(tmp_path / "bk"), progress=False)
        assert r.ok and r.faces_requeued == 1
        job = db.query_one("select status from analysis where media_id = %s and kind = 'faces'", (media["id"],))
        assert job["status"] == "queued"
        assert r.jobs_published == r.jobs_queued >= 1


def test_a_second_backup_copies_nothing_then_only_a_new_photo_and_each_run_stays_restorable(library, tmp_path):
    from pva.infra.storage import get_storage

    first = backup_to(tmp_path / "bk")
    assert first.copied == first.objects and first.skipped == 0
    again = backup_to(tmp_path / "bk")
    assert (again.copied, again.bytes_copied, again.skipped) == (0, 0, first.objects)

    new = ingest(library["ingestor"], library["owner"],
                 mf.make_jpeg(library["src"] / "new.jpg", size=(200, 150), make="Fuji"), "trip/new.jpg")
    third = backup_to(tmp_path / "bk")
    st = get_storage()
    expected = new["size"] + sum(st.stat(st.thumbs, k).size for k in (new["thumb_key"], new["preview_key"]))
    assert (third.copied, third.bytes_copied) == (3, expected)  # the original, its thumbnail and its preview
    assert third.objects == first.objects + 3
    blob = tmp_path / "bk" / "blobs" / new["sha512"].hex()[:2] / new["sha512"].hex()
    assert blob.read_bytes() == st.get_bytes(st.originals, new["storage_key"])

    # every finished run stays restorable: the first one comes back without the new photo
    from pva.infra import db
    from pva.services.backup import restore

    with fresh_stack():
        r = restore(str(tmp_path / "bk"), run=first.run, progress=False)
        assert r.ok and r.objects == first.objects
        assert not db.query("select 1 from media where id = %s", (new["id"],))
        assert db.query_one("select count(*) n from media")["n"] == r.verify.media > 0


def test_an_interrupted_backup_completes_when_run_again(library, tmp_path):
    from pva.infra import db

    dest = tmp_path / "bk"
    dest.mkdir()
    originals = db.query("select sha512 from media order by storage_key")
    victim = bytes(originals[len(originals) // 2]["sha512"]).hex()
    # a real failure halfway: the victim's blob folder cannot be made (a file is in the way)
    (dest / "blobs").mkdir()
    (dest / "blobs" / victim[:2]).write_bytes(b"in the way")
    with pytest.raises(OSError):
        backup_to(dest, jobs=1)
    assert not (dest / "manifest.json").exists()
    written = [p for p in (dest / "blobs").rglob("*") if p.is_file() and len(p.name) == 128]
    assert written, "the run died before writing any object: it did not fail halfway"

    (dest / "blobs" / victim[:2]).unlink()
    done = backup_to(dest, jobs=1)
    assert done.ok and done.copied == done.objects - len(written) and done.skipped == len(written)
    import json

    manifest = json.loads((dest / "manifest.json").read_text())
    for e in manifest["objects"]:
        assert sha((dest / "blobs" / e["sha512"][:2] / e["sha512"]).read_bytes()) == e["sha512"]
    assert not [p for p in dest.rglob(".*part-*")], "temporary files left behind"


def test_a_backup_killed_midway_completes_when_run_again(library, tmp_path):
    import json
    import time

    from pva.infra import db

    # enough bytes that the copy lasts a while: noise photos do not compress
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(3)
    for i in range(24):
        px = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        ingest(library["ingestor"], library["owner"],
               mf.make_jpeg(tmp_path / f"noise{i}.jpg", image=Image.fromarray(px)), f"noise/{i}.jpg")
    dest = tmp_path / "bk"
    proc = subprocess.Popen([sys.executable, "-m", "pva.cli", "backup", str(dest), "--jobs", "1", "--no-progress"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not [p for p in (dest / "blobs").glob("*/*") if not p.name.startswith(".")]:
            assert proc.poll() is None and time.monotonic() < deadline, "the backup ended before writing a blob"
            time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()
    assert not (dest / "manifest.json").exists(), "the backup finished before it was killed: not a mid-run kill"
    written = [p for p in (dest / "blobs").glob("*/*") if not p.name.startswith(".")]

    done = backup_to(dest)
    assert done.ok and done.copied + done.skipped == done.objects and done.skipped >= len(written)
    manifest = json.loads((dest / "manifest.json").read_text())
    assert len([e for e in manifest["objects"] if e["bucket"] == "originals"]) == \
        db.query_one("select count(*) n from media")["n"]
    for e in manifest["objects"]:
        assert sha((dest / "blobs" / e["sha512"][:2] / e["sha512"]).read_bytes()) == e["sha512"]
    assert not [p for p in dest.rglob(".*") if p.name != ".lock"], "the killed run's temporary files are left"


def test_backup_command_reports_rate_and_writes_a_manifest(library, tmp_path):
    r = subprocess.run([sys.executable, "-m", "pva.cli", "backup", str(tmp_path / "bk"), "--no-progress"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "MB/s" in r.stdout and "copied" in r.stdout
    assert (tmp_path / "bk" / "manifest.json").is_file()


# ------------------------------------------------------------------ pva check


def test_check_reports_an_original_deleted_or_changed_behind_the_librarys_back_and_repairs_it_from_a_backup(library, tmp_path):
    from pva.services.check import check
    from pva.infra.storage import get_storage

    st = get_storage()
    gone = ingest(library["ingestor"], library["owner"], mf.make_jpeg(tmp_path / "gone.jpg", size=(64, 64)),
                  "check/gone.jpg")
    changed = ingest(library["ingestor"], library["owner"], mf.make_jpeg(tmp_path / "changed.jpg", size=(66, 64)),
                     "check/changed.jpg")
    backup_to(tmp_path / "bk")
    data, flipped = st.get_bytes(st.originals, gone["storage_key"]), st.get_bytes(st.originals, changed["storage_key"])
    st.delete(st.originals, gone["storage_key"])
    rotten = flipped[:-1] + bytes([flipped[-1] ^ 0xFF])
    st.put(st.originals, changed["storage_key"], rotten)  # same size, other bytes
    try:
        r = check(progress=False)
        assert [m["key"] for m in r.missing] == [gone["storage_key"]]
        assert [m["key"] for m in r.wrong_sha512] == [changed["storage_key"]]
        assert not r.ok
        quick = check(quick=True, progress=False)
        assert [m["key"] for m in quick.missing] == [gone["storage_key"]] and not quick.wrong_sha512

        cli = subprocess.run([sys.executable, "-m", "pva.cli", "check", "--no-progress"], capture_output=True,
                             text=True, cwd=REPO, timeout=300)
        assert cli.returncode == 1
        assert f"MISSING      {gone['storage_key']}" in cli.stdout
        assert f"WRONG SHA512 {changed['storage_key']}" in cli.stdout

        fixed = check(progress=False, repair=True, repair_from=str(tmp_path / "bk"))
        assert sorted(m["key"] for m in fixed.restored) == sorted([gone["storage_key"], changed["storage_key"]])
        assert fixed.ok and not fixed.not_in_backup
        assert st.get_bytes(st.originals, gone["storage_key"]) == data
        assert st.get_bytes(st.originals, changed["storage_key"]) == flipped
        # the bytes it replaced are kept, not deleted
        assert st.get_bytes(st.originals, "lost+found/" + changed["storage_key"]) == rotten
    finally:
        if not st.exists(st.originals, gone["storage_key"]):
            st.put(st.originals, gone["storage_key"], data)
        st.put(st.originals, changed["storage_key"], flipped)
    assert check(progress=False).ok


def test_check_repair_moves_an_orphan_to_lost_and_found_and_deletes_nothing(library):
    from pva.services.check import check
    from pva.infra.storage import get_storage

    st = get_storage()
    orphan = f"{library['owner']['username']}/stray/{secrets.token_hex(3)}.jpg"
    st.put(st.originals, orphan, b"bytes nobody recorded")
    before = bucket_contents(lost_found=True)["originals"]
    before_lost_found = len([k for k in before if k.startswith("lost+found/")])

    young = check(quick=True, progress=False, repair=True)  # default grace: it may be an ingest under way
    assert orphan in young.young_orphans and not young.moved and st.exists(st.originals, orphan)

    r = check(quick=True, progress=False, repair=True, grace_seconds=0)
    assert r.orphans == [orphan] and r.moved == [(orphan, "lost+found/" + orphan)]
    after = bucket_contents(lost_found=True)["originals"]
    assert sorted(after.values()) == sorted(before.values())  # every byte still there, one key moved
    assert after["lost+found/" + orphan] == sha(b"bytes nobody recorded") and orphan not in after
    again = check(quick=True, progress=False, grace_seconds=0)
    assert again.ok and again.in_lost_found == before_lost_found + 1


def test_dump_tools_older_than_the_server_are_refused_with_what_to_install():
    from pva.services.backup import pg_tool
    from pva.services.backup_store import BackupError

    assert "pginstall" in pg_tool("pg_dump", 16)  # the embedded server's own, not Debian's older 15 on PATH
    from pathlib import Path as P

    from pva.services.backup import _tool_major

    # an external server: PATH first, but (Debian 12 ships 15) only a tool at least as new as the server will do
    assert _tool_major(P(pg_tool("pg_dump", 16, embedded=False))) >= 16
    with pytest.raises(BackupError, match="postgresql-client-99"):
        pg_tool("pg_dump", 99)
