"""Ingest takes only what is its own (DESIGN.md, "Trust boundary"), on real Postgres, RabbitMQ and S3.

Storage events and media.ingest bucket+key messages act only on the configured inbox bucket, never on the inbox's
bookkeeping (rejected/ copies, .reason.txt notes) or SeaweedFS's unfinished multipart parts (.uploads/); a
media.ingest ``path`` is honoured only for a regular file under a load root.  Every test checks the object or
file afterwards, byte for byte, and that no media row appeared.  The ingest function answers exactly one dict per
event, also when nothing was ingested (Nuclio's Go side reads one result per event)."""
from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import time
import urllib.parse

import pytest

import media_fixtures as mf
from conftest import REPO
from function_helpers import runtime_copy

pytestmark = pytest.mark.usefixtures("services")


# ------------------------------------------------------------------ helpers
@pytest.fixture
def owner(make_user):
    return make_user(f"confine-{secrets.token_hex(3)}")


@pytest.fixture(scope="module")
def stranger_bucket(services):
    """A real bucket ingest was never configured for."""
    from pva.infra.storage import get_storage

    name = f"t{secrets.token_hex(4)}-stranger"
    get_storage().ensure_buckets([name])
    yield name
    try:
        get_storage().remove_bucket(name)
    except Exception:  # best effort: a leftover scratch bucket harms nothing
        pass


def jpeg(tmp_path, label: str) -> bytes:
    """A valid photo, distinct per label: were it handled, it would be ingested and removed."""
    return mf.make_jpeg(tmp_path / f"{label}.jpg", make=label).read_bytes()


def put(bucket: str, key: str, data: bytes) -> None:
    from pva.infra.storage import get_storage

    get_storage().put(bucket, key, data, length=len(data), content_type="image/jpeg")


def stored(bucket: str, key: str) -> bytes | None:
    from pva.infra.storage import get_storage

    st = get_storage()
    return st.get_bytes(bucket, key) if st.stat(bucket, key) is not None else None


def s3_event(bucket: str, key: str) -> dict:
    return {"EventName": "s3:ObjectCreated:Put", "Key": f"{bucket}/{key}",
            "Records": [{"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": "s3:ObjectCreated:Put",
                         "s3": {"bucket": {"name": bucket},
                                "object": {"key": urllib.parse.quote_plus(key, safe="/")}}}]}


def media_count(owner_id) -> int:
    from pva.infra import db

    return db.query_one("select count(*) n from media where owner_id = %s", (owner_id,))["n"]


def rejections(owner_id) -> dict[str, str]:
    from pva.infra import db

    return {r["name"]: r["reason"] for r in db.query("select name, reason from rejections where owner_id = %s",
                                                      (owner_id,))}


def bucket_of(kind: str, buckets, stranger_bucket) -> str:
    return stranger_bucket if kind == "unknown" else buckets[kind]


# ------------------------------------------------------------------ buckets other than the inbox
@pytest.mark.parametrize("kind", ["originals", "thumbs", "unknown"])
def test_storage_event_for_another_bucket_leaves_its_object_and_is_logged(kind, owner, buckets, stranger_bucket,
                                                                           tmp_path, caplog):
    from pva.services import inbox as events

    bucket = bucket_of(kind, buckets, stranger_bucket)
    key = f"{owner['username']}/kept-{kind}.jpg"
    data = jpeg(tmp_path, f"Event{kind}")
    put(bucket, key, data)
    with caplog.at_level(logging.WARNING, logger="pva.ingest.events"):
        assert events.handle_message("storage.inbox", s3_event(bucket, key)) == []
    assert stored(bucket, key) == data
    assert stored(bucket, events.REJECTED_PREFIX + key) is None
    assert media_count(owner["id"]) == 0
    assert any(getattr(r, "bucket", None) == bucket and getattr(r, "key", None) == key for r in caplog.records)


@pytest.mark.parametrize("kind", ["originals", "thumbs", "unknown"])
def test_media_ingest_bucket_and_key_for_another_bucket_leaves_its_object(kind, owner, buckets, stranger_bucket,
                                                                          tmp_path):
    from pva.services import inbox as events

    bucket = bucket_of(kind, buckets, stranger_bucket)
    key = f"{owner['username']}/msg-{kind}.jpg"
    data = jpeg(tmp_path, f"Msg{kind}")
    put(bucket, key, data)
    assert events.handle_message("media.ingest", {"bucket": bucket, "key": key, "owner": owner["username"]}) == []
    assert stored(bucket, key) == data
    assert stored(bucket, events.REJECTED_PREFIX + key) is None
    assert media_count(owner["id"]) == 0


# ------------------------------------------------------------------ the inbox's own objects
def _bookkeeping_keys(username: str) -> list[str]:
    upload_id = secrets.token_hex(8)
    return [f"rejected/{username}/old.jpg",                     # a rejected drop kept for the user
            f"{username}/old.jpg.reason.txt",                   # a reason note (where a user might put one)
            f"rejected/{username}/older.jpg.reason.txt",        # the note beside a rejected drop
            f".uploads/{upload_id}/0001_{upload_id}.part",      # SeaweedFS multipart part at the bucket root
            f"{username}/.uploads/{upload_id}/0002_x.part"]     # ... or below a folder


@pytest.mark.parametrize("form", ["storage.inbox", "media.ingest"])
def test_rejected_copies_reason_notes_and_multipart_parts_are_never_ingested_nor_moved(form, owner, buckets,
                                                                                      tmp_path):
    from pva.services import inbox as events

    inbox = buckets["inbox"]
    keys = _bookkeeping_keys(owner["username"])
    data = {k: jpeg(tmp_path, f"Book{i}{form}") for i, k in enumerate(keys)}
    for k in keys:
        put(inbox, k, data[k])
    for k in keys:
        body = s3_event(inbox, k) if form == "storage.inbox" else {"bucket": inbox, "key": k}
        assert events.handle_message(form, body) == [], k
    for k in keys:
        assert stored(inbox, k) == data[k], k
        if not k.startswith(events.REJECTED_PREFIX):
            assert stored(inbox, events.REJECTED_PREFIX + k) is None, k
    assert media_count(owner["id"]) == 0


def test_a_drop_whose_name_only_looks_like_bookkeeping_is_still_ingested(owner, buckets, tmp_path):
    from pva.services import inbox as events

    inbox = buckets["inbox"]
    key = f"{owner['username']}/my.uploads/not-rejected/photo.jpg"
    put(inbox, key, jpeg(tmp_path, "Lookalike"))
    [res] = events.handle_message("storage.inbox", s3_event(inbox, key))
    assert res["status"] == "added" and res["name"] == "my.uploads/not-rejected/photo.jpg"
    assert stored(inbox, key) is None


def test_minio_announcing_the_rejected_copies_ingest_made_is_logged_and_ignored(owner, buckets, tmp_path, caplog):
    """MinIO's notification rule cannot leave out rejected/ (README, Drops): after a rejection it announces the
    copy (s3:ObjectCreated:Copy) and its note (Put), keys escaped as MinIO escapes them.  Ingest logs each and
    leaves it: no media, no new rejection, nothing moved, and no rejected/rejected/ copy - which a valid photo
    dropped for an unknown user would otherwise get, again and again, as the copy names the user "rejected"."""
    from pva.services import inbox as events

    inbox = buckets["inbox"]
    stray = f"nobody-{secrets.token_hex(3)}/photo.jpg"  # a valid photo, rejected for its folder
    broken = f"{owner['username']}/broken.jpg"          # the owner's file, rejected for its content
    put(inbox, stray, jpeg(tmp_path, "StrayRejected"))
    put(inbox, broken, b"not a photo or a video")

    def minio(name: str, key: str) -> dict:
        return {"EventName": name, "Key": f"{inbox}/{urllib.parse.quote_plus(key, safe='')}",
                "Records": [{"eventVersion": "2.0", "eventSource": "minio:s3", "eventName": name,
                             "s3": {"bucket": {"name": inbox},
                                    "object": {"key": urllib.parse.quote_plus(key, safe="")}}}]}

    for key in (stray, broken):
        [res] = events.handle_message("storage.inbox", minio("s3:ObjectCreated:Put", key))
        assert res["status"] == "rejected", res
    copies = [events.REJECTED_PREFIX + k for k in (stray, broken)]
    kept = {k: stored(inbox, k) for k in copies + [c + events.REASON_SUFFIX for c in copies]}
    assert all(kept.values()), kept
    rejected_before = rejections(owner["id"])

    for key in kept:
        name = "s3:ObjectCreated:Put" if key.endswith(events.REASON_SUFFIX) else "s3:ObjectCreated:Copy"
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="pva.ingest.events"):
            assert events.handle_message("storage.inbox", minio(name, key)) == [], key
            assert events.handle_message("media.ingest", {"bucket": inbox, "key": key}) == [], key
        assert [r.getMessage() for r in caplog.records if getattr(r, "key", None) == key] == \
            ["inbox bookkeeping or multipart part ignored"] * 2, key
    assert {k: stored(inbox, k) for k in kept} == kept
    assert not [o.key for o in get_storage_list(inbox, events.REJECTED_PREFIX + events.REJECTED_PREFIX)]
    assert rejections(owner["id"]) == rejected_before and media_count(owner["id"]) == 0


def get_storage_list(bucket: str, prefix: str) -> list:
    from pva.infra.storage import get_storage

    return list(get_storage().list(bucket, prefix))


# ------------------------------------------------------------------ media.ingest paths
@pytest.fixture
def configured_root(tmp_path, monkeypatch):
    """A folder listed in PVA_LOAD_ROOTS (beside a relative entry, which counts for nothing)."""
    from pva.config import reload_settings

    root = tmp_path / "configured"
    root.mkdir()
    monkeypatch.setenv("PVA_LOAD_ROOTS", os.pathsep.join(["relative/ignored", str(root)]))
    reload_settings()
    yield root
    monkeypatch.undo()
    reload_settings()


def path_message(owner, path, rel: str | None = None) -> dict:
    return {"path": str(path), "owner": owner["username"], "relative_path": rel or os.path.basename(str(path)),
            "source": "load"}


def test_path_under_a_configured_load_root_is_ingested_and_left_in_place(owner, configured_root, buckets):
    from pva.services import inbox as events

    (configured_root / "sub").mkdir()
    f = mf.make_jpeg(configured_root / "sub" / "in.jpg", make="Inside")
    data = f.read_bytes()
    [res] = events.handle_message("media.ingest", path_message(owner, f, "sub/in.jpg"))
    assert res["status"] == "added"
    assert stored(buckets["originals"], f"{owner['username']}/sub/in.jpg") == data
    assert f.read_bytes() == data


def test_path_under_a_root_pva_load_declared_is_ingested_for_that_owner_only(owner, make_user, tmp_path):
    from pva.services import inbox as events
    from pva.services.load import load

    root = tmp_path / "loaded"
    root.mkdir()
    mf.make_jpeg(root / "first.jpg", make="First")
    assert load(root, owner, workers=1, progress=False).counts["added"] == 1
    later = mf.make_jpeg(root / "later.jpg", make="Later")  # arrives after the load, named in a message
    other = make_user(f"other-{secrets.token_hex(3)}")
    [refused] = events.handle_message("media.ingest", path_message(other, later))
    assert refused["status"] == "rejected" and "load root" in refused["reason"]
    [res] = events.handle_message("media.ingest", path_message(owner, later))
    assert res["status"] == "added"
    assert later.exists()


def test_path_outside_the_load_roots_is_rejected_with_its_reason_and_left_in_place(owner, configured_root,
                                                                                  tmp_path):
    from pva.services import inbox as events

    outside = mf.make_jpeg(tmp_path / "outside.jpg", make="Outside")
    data = outside.read_bytes()
    escapes = {"outside.jpg": str(outside),
               "dotdot.jpg": f"{configured_root}/../outside.jpg",
               "shadow.jpg": "/etc/shadow"}
    for rel, path in escapes.items():
        [res] = events.handle_message("media.ingest", path_message(owner, path, rel))
        assert res["status"] == "rejected" and "load root" in res["reason"], res
        assert str(tmp_path) not in res["reason"]  # the reason never shows a server path
    assert outside.read_bytes() == data
    assert set(escapes) <= set(rejections(owner["id"]))
    assert media_count(owner["id"]) == 0


def test_symlink_inside_a_root_pointing_outside_is_rejected(owner, configured_root, tmp_path):
    from pva.services import inbox as events

    target = mf.make_jpeg(tmp_path / "secret.jpg", make="Secret")
    (configured_root / "link.jpg").symlink_to(target)
    (configured_root / "linkdir").symlink_to(tmp_path)
    for path in (configured_root / "link.jpg", configured_root / "linkdir" / "secret.jpg"):
        [res] = events.handle_message("media.ingest", path_message(owner, path))
        assert res["status"] == "rejected" and "load root" in res["reason"], path
    assert target.exists() and (configured_root / "link.jpg").is_symlink()
    assert media_count(owner["id"]) == 0


def test_symlink_inside_a_root_to_a_file_in_the_same_root_is_ingested(owner, configured_root):
    from pva.services import inbox as events

    real = mf.make_jpeg(configured_root / "real.jpg", make="Linked")
    (configured_root / "alias.jpg").symlink_to(real)
    [res] = events.handle_message("media.ingest", path_message(owner, configured_root / "alias.jpg"))
    assert res["status"] == "added"


def test_path_that_is_not_a_regular_file_or_not_absolute_is_rejected(owner, configured_root):
    from pva.services import inbox as events

    (configured_root / "folder.jpg").mkdir()
    os.mkfifo(configured_root / "pipe.jpg")
    cases = {str(configured_root / "folder.jpg"): "regular file", str(configured_root / "pipe.jpg"): "regular file",
             str(configured_root / "missing.jpg"): "no file", "relative/x.jpg": "absolute",
             str(configured_root) + "/nul\x00.jpg": "NUL"}
    for path, why in cases.items():
        [res] = events.handle_message("media.ingest", path_message(owner, path, "x.jpg"))
        assert res["status"] == "rejected" and why in res["reason"], (path, res)
    assert (configured_root / "pipe.jpg").exists()


def test_path_message_without_a_known_owner_is_a_bad_event(tmp_path):
    from pva.services import inbox as events

    for body in ({"path": str(tmp_path / "x.jpg")}, {"path": str(tmp_path / "x.jpg"), "owner": "nobody-here"},
                 {"path": str(tmp_path / "x.jpg"), "owner": {"id": "x", "username": "forged"}},
                 {"path": 7, "owner": "someone"}):
        with pytest.raises(events.BadEvent):
            events.handle_message("media.ingest", body)


# ------------------------------------------------------------------ the real function
@pytest.fixture
def ingest_worker(services):
    """functions/ingest's handler loaded and called by the local runtime's worker, in this process."""
    from pva.runtime import load_function
    from pva.runtime.worker import Worker

    fdir = str(REPO / "functions" / "ingest")
    spec = load_function(fdir)
    queue = next(t for t in spec.triggers.values() if t.kind != "http")
    sys.modules.pop("handler", None)
    w = Worker({"function": spec.name, "trigger": queue.name, "kind": getattr(queue, "event_kind", queue.kind),
                "worker_id": 0, "num_workers": 1, "attributes": queue.attributes, "function_dir": fdir,
                "handler": spec.handler})
    w.setup()
    yield w
    sys.modules.pop("handler", None)
    if fdir in sys.path:
        sys.path.remove(fdir)


def test_handler_answers_one_dict_for_every_event_even_when_nothing_is_ingested(ingest_worker, owner, buckets,
                                                                                 tmp_path):
    inbox = buckets["inbox"]
    put(buckets["originals"], f"{owner['username']}/h.jpg", jpeg(tmp_path, "HandlerOrig"))
    good = f"{owner['username']}/good.jpg"
    put(inbox, good, jpeg(tmp_path, "HandlerGood"))
    empty = [("storage.inbox", s3_event(inbox, f"rejected/{owner['username']}/r.jpg")),
             ("storage.inbox", s3_event(inbox, f"rejected/{owner['username']}/r.jpg.reason.txt")),
             ("storage.inbox", s3_event(buckets["originals"], f"{owner['username']}/h.jpg")),
             ("media.ingest", {"bucket": inbox, "key": f"{owner['username']}/never-there.jpg"})]
    for rk, body in empty:
        ev = ingest_worker.make_event(body=body, content_type="application/json", path=f"pva/{rk}")
        out = ingest_worker._call_handler(ev)
        assert out == {"results": []}, (rk, body)
    ev = ingest_worker.make_event(body=s3_event(inbox, good), content_type="application/json",
                                  path="pva/storage.inbox")
    resp, ok = ingest_worker.invoke(ev)
    assert ok and resp["status_code"] == 200
    assert [r["status"] for r in json.loads(resp["body"])["results"]] == ["added"]
    # the same event again (a redelivery): one dict with no results
    resp, ok = ingest_worker.invoke(ev)
    assert ok and json.loads(resp["body"]) == {"results": []}


def test_function_on_the_local_runtime_skips_foreign_events_and_keeps_consuming(owner, buckets, tmp_path):
    from pva.infra import bus
    from pva.runtime import Processor, load_function

    inbox, originals = buckets["inbox"], buckets["originals"]
    kept = {(originals, f"{owner['username']}/rt-kept.jpg"): jpeg(tmp_path, "RtKept"),
            (buckets["thumbs"], f"{owner['username']}/rt-thumb.jpg"): jpeg(tmp_path, "RtThumb"),
            (inbox, f"rejected/{owner['username']}/rt.jpg"): jpeg(tmp_path, "RtRejected"),
            (inbox, f".uploads/{secrets.token_hex(4)}/0001_a.part"): jpeg(tmp_path, "RtPart")}
    for (b, k), data in kept.items():
        put(b, k, data)
    good = f"{owner['username']}/rt-good.jpg"
    put(inbox, good, jpeg(tmp_path, "RtGood"))
    msgs = [("storage.inbox", s3_event(b, k), f"confine-{i}") for i, (b, k) in enumerate(kept)]
    msgs.append(("media.ingest", {"bucket": originals, "key": f"{owner['username']}/rt-kept.jpg"}, "confine-msg"))
    msgs.append(("storage.inbox", s3_event(inbox, good), "confine-good"))  # last: handled only after the rest

    fdir = runtime_copy(REPO / "functions" / "ingest", tmp_path / "functions")
    with Processor([load_function(fdir)], log_dir=fdir / "logs"):
        bus.publish_many(msgs)
        deadline = time.monotonic() + 60
        while media_count(owner["id"]) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
    assert media_count(owner["id"]) == 1
    assert stored(inbox, good) is None
    for (b, k), data in kept.items():
        assert stored(b, k) == data, (b, k)
