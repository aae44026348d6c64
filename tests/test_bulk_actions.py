"""Many items at once (issue 18 item 3) through the API on the real services: trash, restore, location, album add
and remove act on the caller's own ids only (others' are counted as not found and stay as they were), in one
request each; the ZIP download holds the originals byte for byte under de-duplicated names, lets a share
recipient take what they can see, refuses a selection past its limits with a message, and streams: 200 MB go
through a live server while the process grows by less than 50 MB."""
from __future__ import annotations

import hashlib
import io
import random
import zipfile

import pytest

from test_gateway_helpers import app, client_for, insert_media, new_user, token_for  # noqa: F401
from test_web_ui import server  # noqa: F401  (the live uvicorn fixture)

pytestmark = pytest.mark.usefixtures("services")
V1 = "/api/v1"


def put_original(m: dict, data: bytes) -> None:
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    get_storage().put(get_settings().bucket_originals, m["storage_key"], data, content_type="image/jpeg")


@pytest.fixture(scope="module")
def people(services):
    return {"owner": new_user(), "other": new_user(), "recipient": new_user()}


@pytest.fixture
def items(people):
    """Three of the owner's items and one of the other user's, each with its original in the store."""
    owner, other = people["owner"]["id"], people["other"]["id"]
    mine = [insert_media(owner, filename=f"b{i}.jpg") for i in range(3)]
    theirs = insert_media(other, filename="theirs.jpg")
    for m in [*mine, theirs]:
        put_original(m, f"original of {m['id']}".encode())
    return {"mine": [str(m["id"]) for m in mine], "theirs": str(theirs["id"]), "rows": mine}


def row(mid):
    from pva.infra import db

    return db.query_one("select trashed_at, gps_override_lat, gps_override_lon from media where id = %s", (mid,))


def test_trash_and_restore_act_on_own_items_only(app, people, items):  # noqa: F811
    c = client_for(app, people["owner"])
    ids = [*items["mine"][:2], items["theirs"], "00000000-0000-0000-0000-000000000001"]
    r = c.post(f"{V1}/media/bulk/trash", json={"media_ids": ids})
    assert r.status_code == 200 and r.json() == {"done": 2, "not_found": 2}
    assert all(row(m)["trashed_at"] is not None for m in items["mine"][:2])
    assert row(items["mine"][2])["trashed_at"] is None
    assert row(items["theirs"])["trashed_at"] is None, "someone else's item was trashed"

    # the other user sends the owner's ids: nothing happens, and nothing says they exist
    r = client_for(app, people["other"]).post(f"{V1}/media/bulk/restore", json={"media_ids": items["mine"][:2]})
    assert r.json() == {"done": 0, "not_found": 2}
    assert all(row(m)["trashed_at"] is not None for m in items["mine"][:2])

    r = c.post(f"{V1}/media/bulk/restore", json={"media_ids": [*items["mine"][:2], items["mine"][0]]})
    assert r.json() == {"done": 2, "not_found": 0}, "a repeated id counts once"
    assert all(row(m)["trashed_at"] is None for m in items["mine"])


def test_location_sets_the_override_of_own_items(app, people, items):  # noqa: F811
    c = client_for(app, people["owner"])
    r = c.post(f"{V1}/media/bulk/location", json={"media_ids": [*items["mine"], items["theirs"]],
                                                  "lat": 48.8584, "lon": 2.2945})
    assert r.json() == {"done": 3, "not_found": 1}
    assert all((row(m)["gps_override_lat"], row(m)["gps_override_lon"]) == (48.8584, 2.2945) for m in items["mine"])
    assert row(items["theirs"])["gps_override_lat"] is None
    r = c.post(f"{V1}/media/bulk/location", json={"media_ids": items["mine"], "lat": 91, "lon": 0})
    assert r.status_code == 422 and "lat" in r.json()["message"]


def test_album_add_and_remove(app, people, items):  # noqa: F811
    from pva.infra import db
    from pva.services import albums

    c = client_for(app, people["owner"])
    album = albums.create(people["owner"]["id"], "bulk")["id"]
    r = c.post(f"{V1}/media/bulk/albums/{album}/add", json={"media_ids": [*items["mine"], items["theirs"]]})
    assert r.json() == {"done": 3, "not_found": 1}
    in_album = {str(x["media_id"]) for x in db.query("select media_id from album_media where album_id = %s", (album,))}
    assert in_album == set(items["mine"])
    r = c.post(f"{V1}/media/bulk/albums/{album}/add", json={"media_ids": items["mine"][:1]})
    assert r.json() == {"done": 1, "not_found": 0}, "already in it: still done"

    # someone else's album: no such album, for adding and for removing
    theirs = albums.create(people["other"]["id"], "theirs")["id"]
    for action in ("add", "remove"):
        r = c.post(f"{V1}/media/bulk/albums/{theirs}/{action}", json={"media_ids": items["mine"]})
        assert r.status_code == 404 and r.json()["message"] == "no such album"
    # nor may the other user take the owner's items out of the owner's album
    r = client_for(app, people["other"]).post(f"{V1}/media/bulk/albums/{album}/remove",
                                              json={"media_ids": items["mine"]})
    assert r.status_code == 404

    r = c.post(f"{V1}/media/bulk/albums/{album}/remove", json={"media_ids": [*items["mine"][:2], items["theirs"]]})
    assert r.json() == {"done": 2, "not_found": 1}
    in_album = {str(x["media_id"]) for x in db.query("select media_id from album_media where album_id = %s", (album,))}
    assert in_album == {items["mine"][2]}
    assert all(row(m)["trashed_at"] is None for m in items["mine"]), "removing from an album is not trashing"


def test_scopes(app, people, items):  # noqa: F811
    read = client_for(app, token=token_for(people["owner"], ("read",)))
    write = client_for(app, token=token_for(people["owner"], ("write",)))
    assert read.post(f"{V1}/media/bulk/trash", json={"media_ids": items["mine"]}).status_code == 403
    assert write.post(f"{V1}/media/download", json={"media_ids": items["mine"]}).status_code == 403
    assert read.post(f"{V1}/media/download", json={"media_ids": items["mine"]}).status_code == 200
    assert write.post(f"{V1}/media/bulk/trash", json={"media_ids": []}).status_code == 422


def test_download_is_a_zip_of_the_originals_with_unique_names(app, people):  # noqa: F811
    owner = people["owner"]["id"]
    rng = random.Random(7)
    names = ["IMG_1.jpg", "img_1.JPG", "IMG_1.jpg", "../../etc/passwd", "clip.mov"]
    rows, originals = [], {}
    for name in names:
        m = insert_media(owner, filename=name, size=3000)
        data = rng.randbytes(3000)
        put_original(m, data)
        rows.append(m)
        originals[str(m["id"])] = data
    theirs = insert_media(people["other"]["id"], filename="theirs.jpg")
    put_original(theirs, b"not yours")
    before = {k: hashlib.sha512(v).hexdigest() for k, v in originals.items()}

    c = client_for(app, people["owner"])
    r = c.post(f"{V1}/media/download", json={"media_ids": [str(m["id"]) for m in rows] + [str(theirs["id"])]})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"].startswith("attachment; filename=\"photos-")
    assert r.headers["x-not-found"] == "1"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert z.testzip() is None
    assert z.namelist() == ["IMG_1.jpg", "img_1 (2).JPG", "IMG_1 (3).jpg", "passwd", "clip.mov"]
    for info, m in zip(z.infolist(), rows):
        assert info.compress_type == zipfile.ZIP_STORED
        assert z.read(info) == originals[str(m["id"])]
        assert info.date_time[:3] == m["taken_at"].timetuple()[:3]
    # the originals are untouched
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    st = get_storage()
    assert {str(m["id"]): hashlib.sha512(st.get_bytes(get_settings().bucket_originals, m["storage_key"])).hexdigest()
            for m in rows} == before

    # nothing the caller may see: 404, not an empty zip
    r = c.post(f"{V1}/media/download", json={"media_ids": [str(theirs["id"])]})
    assert r.status_code == 404 and r.json()["message"] == "no such media"


def test_a_share_recipient_downloads_what_they_can_see(app, people):  # noqa: F811
    from pva.services import albums

    owner, recipient = people["owner"], people["recipient"]
    shared = insert_media(owner["id"], filename="shared.jpg")
    private = insert_media(owner["id"], filename="private.jpg")
    put_original(shared, b"shared bytes")
    put_original(private, b"private bytes")
    album = albums.create(owner["id"], "for the recipient")["id"]
    albums.add_media(album, owner["id"], [shared["id"]])
    albums.share(album, owner["id"], recipient["id"])
    c = client_for(app, recipient)
    r = c.post(f"{V1}/media/download", json={"media_ids": [str(shared["id"]), str(private["id"])]})
    assert r.status_code == 200 and r.headers["x-not-found"] == "1"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    assert z.namelist() == ["shared.jpg"] and z.read("shared.jpg") == b"shared bytes"
    # but a recipient edits nothing of the owner's
    r = c.post(f"{V1}/media/bulk/trash", json={"media_ids": [str(shared["id"])]})
    assert r.json() == {"done": 0, "not_found": 1}


def test_download_past_the_limits_is_refused_with_a_message(app, people, items, monkeypatch):  # noqa: F811
    from pva.services import bulk

    c = client_for(app, people["owner"])
    monkeypatch.setattr(bulk, "DOWNLOAD_MAX_ITEMS", 2)
    r = c.post(f"{V1}/media/download", json={"media_ids": items["mine"]})
    assert r.status_code == 400
    assert r.json()["message"].startswith("a download holds at most 2 items")
    assert "select fewer" in r.json()["message"]
    monkeypatch.setattr(bulk, "DOWNLOAD_MAX_ITEMS", 100)
    monkeypatch.setattr(bulk, "DOWNLOAD_MAX_BYTES", 10)
    assert c.post(f"{V1}/media/download", json={"media_ids": items["mine"]}).status_code == 400


class Generated(io.RawIOBase):
    """`size` pseudo-random bytes made as they are read (never all in memory), with their SHA-256."""

    def __init__(self, size: int, seed: int):
        self.left, self.rng, self.sha = size, random.Random(seed), hashlib.sha256()

    def readable(self):
        return True

    def read(self, n=-1):
        n = self.left if n is None or n < 0 else min(n, self.left)
        out = self.rng.randbytes(n)
        self.left -= n
        self.sha.update(out)
        return out


def rss() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_200_mb_download_streams_in_bounded_memory(server, people, tmp_path):  # noqa: F811
    """Server (uvicorn in a thread) and client are this process: a ZIP built or read whole would add 200 MB."""
    import httpx

    from pva.config import get_settings
    from pva.infra.storage import get_storage

    owner = people["owner"]
    st, bucket = get_storage(), get_settings().bucket_originals
    size, n = 50 * 1024 * 1024, 4
    rows, sums = [], []
    for i in range(n):
        m = insert_media(owner["id"], filename=f"big{i}.bin", size=size)
        src = Generated(size, seed=i)
        st.put(bucket, m["storage_key"], src, length=size, content_type="application/octet-stream")
        rows.append(m)
        sums.append(src.sha.hexdigest())

    out = tmp_path / "big.zip"
    headers = {"Authorization": f"Bearer {token_for(owner)}"}
    base = peak = rss()
    with httpx.Client(timeout=120) as client, out.open("wb") as f:
        with client.stream("POST", server + f"{V1}/media/download", headers=headers,
                           json={"media_ids": [str(m["id"]) for m in rows]}) as r:
            assert r.status_code == 200
            for chunk in r.iter_bytes():
                f.write(chunk)
                peak = max(peak, rss())
    assert out.stat().st_size > n * size
    assert peak - base < 50 * 1024 * 1024, f"the process grew by {(peak - base) >> 20} MB while streaming"

    with zipfile.ZipFile(out) as z:
        assert [i.file_size for i in z.infolist()] == [size] * n
        for info, want in zip(z.infolist(), sums):
            h = hashlib.sha256()
            with z.open(info) as e:
                while chunk := e.read(1 << 20):
                    h.update(chunk)
            assert h.hexdigest() == want, f"{info.filename} differs from its original"
