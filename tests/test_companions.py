"""Items with several files (issue 22) on real Postgres and S3: Apple live photos (still + MOV with the same content
identifier) in both arrival orders, Android motion photos (an MP4 appended to a JPEG), RAW+JPEG pairs by folder and
base name; both files downloadable byte-identical; the MOV's SHA-512 counts as had; purge, check and backup know the
companion files; the bad cases say why."""
from __future__ import annotations

import hashlib
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import shared_path

pytestmark = [pytest.mark.usefixtures("services"),
              pytest.mark.skipif(not (shutil.which("ffmpeg") and shutil.which("exiftool")),
                                 reason="ffmpeg and exiftool (Debian's ffmpeg, libimage-exiftool-perl) make the "
                                        "live photo fixtures")]

HEIC_WITH_ID = ("fixtures", "exif-samples", "heic", "IMG_5195.HEIC")  # a real iPhone still with its identifier


def _run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def make_mov(path: Path, content_id: str | None, *, seconds: float = 2.0, tone: bool = True) -> Path:
    audio = (["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}"] if tone else
             ["-f", "lavfi", "-i", f"anullsrc=r=44100:cl=mono:d={seconds}"])
    meta = (["-movflags", "use_metadata_tags", "-metadata", f"com.apple.quicktime.content.identifier={content_id}"]
            if content_id else [])
    _run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=320x240:rate=15:duration={seconds}",
          *audio, "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", *meta, str(path)])
    return path


def make_still(path: Path, content_id_from: Path | None, color: str = "red") -> Path:
    """A JPEG; with content_id_from, Apple's maker note (and so its content identifier) copied from that file."""
    _run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"color=c={color}:size=320x240",
          "-frames:v", "1", str(path)])
    if content_id_from is not None:
        _run(["exiftool", "-q", "-overwrite_original", "-tagsFromFile", str(content_id_from), "-Make", "-Model",
              "-MakerNotes", str(path)])
    return path


def _container_xmp(mp4_length: int) -> bytes:
    """The XMP of today's Android motion photos: GCamera:MotionPhoto and a Container:Directory whose MotionPhoto
    item gives the appended MP4's length (exiftool 12.57 cannot write this structure: written by hand)."""
    item = ('<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="{}" Item:Semantic="{}" '
            'Item:Length="{}" Item:Padding="0"/></rdf:li>')
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/" '
            'xmlns:Container="http://ns.google.com/photos/1.0/container/" '
            'xmlns:Item="http://ns.google.com/photos/1.0/container/item/" GCamera:MotionPhoto="1" '
            'GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="500000">'
            '<Container:Directory><rdf:Seq>' + item.format("image/jpeg", "Primary", 0)
            + item.format("video/mp4", "MotionPhoto", mp4_length) + '</rdf:Seq></Container:Directory>'
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


def make_motion_photo(path: Path, *, truncate: int = 0, container: bool = False) -> tuple[Path, bytes]:
    """An Android motion photo: a JPEG announcing the MP4 appended to it, by XMP GCamera:MicroVideo (older
    phones) or, with ``container``, GCamera:MotionPhoto + Container:Directory (today's)."""
    import media_fixtures as mf

    clip = path.with_suffix(".clip.mp4")
    _run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15:duration=1.5",
          "-c:v", "libx264", "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(clip)])
    make_still(path, None, "blue")
    mp4 = clip.read_bytes()
    if container:
        path.write_bytes(mf._jpeg_with_xmp(path.read_bytes(), _container_xmp(len(mp4))) + mp4)
        return path, mp4
    _run(["exiftool", "-q", "-overwrite_original", "-XMP-GCamera:MicroVideo=1", "-XMP-GCamera:MicroVideoVersion=1",
          f"-XMP-GCamera:MicroVideoOffset={len(mp4)}", "-XMP-GCamera:MicroVideoPresentationTimestampUs=500000",
          str(path)])
    with open(path, "ab") as f:
        f.write(mp4[:len(mp4) - truncate] if truncate else mp4)
    return path, mp4


def sha(data: bytes) -> bytes:
    return hashlib.sha512(data).digest()


@pytest.fixture
def owner(make_user):
    return make_user(f"live-{secrets.token_hex(3)}")


@pytest.fixture
def cid_source(shared):
    return shared_path(*HEIC_WITH_ID)


def _cid(path: Path) -> str:
    from pva.media import motion

    return motion.still_content_id(path)


def items(owner_id) -> list[dict]:
    from pva.infra import db

    return db.query("select id, kind, format, filename from media where owner_id = %s order by created_at",
                    (owner_id,))


def files(media_id) -> list[dict]:
    from pva.infra import db

    return db.query("select * from media_files where media_id = %s order by role", (media_id,))


def download(media_id, owner_id, role: str | None) -> bytes:
    from pva.infra.storage import get_storage
    from pva.services import companions, media

    where = companions.file_object(media_id, owner_id, role) if role else media.original(media_id, owner_id)
    return get_storage().get_bytes(where["bucket"], where["key"])


def _retake_mov(tmp_path: Path, cid: str, name: str = "IMG_0001.MOV", **kw) -> Path:
    return make_mov(tmp_path / name, cid, **kw)


@pytest.mark.parametrize("order", ["still_first", "mov_first"])
def test_a_live_photo_is_one_item_whatever_arrives_first(tmp_path, owner, ingestor, cid_source, order):
    still = make_still(tmp_path / "IMG_0001.JPG", cid_source)
    cid = _cid(still)
    assert cid
    mov = make_mov(tmp_path / "IMG_0001.MOV", cid)
    arrivals = [(still, "phone/IMG_0001.JPG"), (mov, "phone/IMG_0001.MOV")]
    if order == "mov_first":
        arrivals.reverse()
    results = [ingestor.ingest_file(p, owner, rel) for p, rel in arrivals]
    assert [r.status for r in results] == ["added", "added"], [r.as_dict() for r in results]
    got = items(owner["id"])
    assert len(got) == 1 and got[0]["kind"] == "photo", got
    item = got[0]["id"]
    (motion_file,) = files(item)
    if order == "still_first":
        assert {r.media_id for r in results} == {str(item)}  # both answers name the one item
    else:  # the MOV was a video item of its own until the still came: its file says which one it was
        assert results[1].media_id == str(item) and results[0].media_id != str(item)
        assert motion_file["metadata"]["was_media_id"] == results[0].media_id
    assert motion_file["role"] == "motion" and motion_file["origin"] == "file"
    assert download(item, owner["id"], None) == still.read_bytes()
    assert download(item, owner["id"], "motion") == mov.read_bytes()
    # a 2-second clip is not transcribed, and says why
    assert motion_file["metadata"]["transcribe"]["worth"] is False
    assert "under 3 s" in motion_file["metadata"]["transcribe"]["reason"]
    notes = " ".join(results[1].warnings)
    assert ("motion file" in notes) if order == "still_first" else ("joined media" in notes)


def test_the_motion_files_sha512_counts_as_had_and_as_a_duplicate(tmp_path, owner, ingestor, cid_source):
    from pva.services import media as media_service

    still = make_still(tmp_path / "IMG_0002.JPG", cid_source)
    mov = make_mov(tmp_path / "IMG_0002.MOV", _cid(still))
    a = ingestor.ingest_file(still, owner, "IMG_0002.JPG")
    ingestor.ingest_file(mov, owner, "IMG_0002.MOV")
    mov_sha = hashlib.sha512(mov.read_bytes()).hexdigest()
    have = media_service.have(owner["id"], [mov_sha, "0" * 128])
    assert have["have"] == {mov_sha: a.media_id} and have["missing"] == ["0" * 128]
    again = ingestor.ingest_file(mov, owner, "elsewhere/IMG_0002.MOV")
    assert again.status == "duplicate" and again.media_id == a.media_id
    assert len(items(owner["id"])) == 1


def test_a_mov_whose_still_is_missing_stays_a_video_and_says_why(tmp_path, owner, ingestor):
    mov = make_mov(tmp_path / "IMG_0003.MOV", "AAAAAAAA-1111-2222-3333-444444444444")
    r = ingestor.ingest_file(mov, owner, "IMG_0003.MOV")
    assert r.status == "added" and r.kind == "video"
    assert any("still" in w and "not in the library" in w for w in r.warnings), r.warnings
    plain = ingestor.ingest_file(make_mov(tmp_path / "plain.mov", None, seconds=1.0), owner, "plain.mov")
    assert plain.status == "added" and not any("still" in w for w in plain.warnings)
    assert [i["kind"] for i in items(owner["id"])] == ["video", "video"]


def test_a_second_motion_clip_for_the_same_still_is_kept_as_its_own_item(tmp_path, owner, ingestor, cid_source):
    still = make_still(tmp_path / "IMG_0004.JPG", cid_source)
    cid = _cid(still)
    ingestor.ingest_file(still, owner, "IMG_0004.JPG")
    ingestor.ingest_file(make_mov(tmp_path / "a.MOV", cid), owner, "a.MOV")
    second = ingestor.ingest_file(make_mov(tmp_path / "b.MOV", cid, seconds=1.0), owner, "b.MOV")
    assert second.status == "added" and any("already has a motion file" in w for w in second.warnings)
    assert sorted(i["kind"] for i in items(owner["id"])) == ["photo", "video"]  # no file lost


@pytest.mark.parametrize("container", [False, True], ids=["microvideo", "container"])
def test_an_android_motion_photo_keeps_its_jpeg_and_extracts_the_clip(tmp_path, owner, ingestor, container):
    path, mp4 = make_motion_photo(tmp_path / "PXL_0001.MP.jpg", container=container)
    original = path.read_bytes()
    r = ingestor.ingest_file(path, owner, "PXL_0001.MP.jpg")
    assert r.status == "added" and r.kind == "photo", r.as_dict()
    (f,) = files(r.media_id)
    assert (f["role"], f["origin"], f["bucket"]) == ("motion", "embedded", "thumbs")
    assert download(r.media_id, owner["id"], None) == original  # the original is byte-identical
    assert download(r.media_id, owner["id"], "motion") == mp4


def test_a_truncated_motion_photo_keeps_the_photo_and_says_why(tmp_path, owner, ingestor):
    path, _ = make_motion_photo(tmp_path / "PXL_0002.MP.jpg", truncate=4000)
    r = ingestor.ingest_file(path, owner, "PXL_0002.MP.jpg")
    assert r.status == "added" and r.kind == "photo"
    assert any(w.startswith("motion photo:") and "without its motion part" in w for w in r.warnings), r.warnings
    assert files(r.media_id) == []


def test_purge_removes_the_companion_objects_and_check_counts_them(tmp_path, owner, ingestor, cid_source):
    from pva.infra.storage import get_storage
    from pva.services import check, media as media_service

    still = make_still(tmp_path / "IMG_0005.JPG", cid_source)
    mov = make_mov(tmp_path / "IMG_0005.MOV", _cid(still))
    a = ingestor.ingest_file(mov, owner, "IMG_0005.MOV")
    b = ingestor.ingest_file(still, owner, "IMG_0005.JPG")
    (f,) = files(b.media_id)
    assert f["storage_key"] == a.storage_key  # the MOV's object stayed where it was put
    rep = check.check(quick=True, progress=False)
    assert a.storage_key not in rep.orphans + rep.young_orphans
    assert not [m for m in rep.missing if m["key"] == a.storage_key]
    media_service.trash(b.media_id, owner["id"])
    media_service.purge_one(b.media_id, owner["id"])
    st = get_storage()
    assert st.stat(st.originals, a.storage_key) is None and st.stat(st.originals, b.storage_key) is None


def _dng(path: Path) -> Path:
    try:
        import raw_samples
    except ImportError:
        pytest.skip("tests/raw_samples.py (the RAW test files) is absent")
    from pva import media

    p = raw_samples.make_dng(path)
    fmt = media.detect_format(p.read_bytes()[:65536])
    if fmt is None or fmt.format != "dng":
        pytest.skip("this version does not read DNG files (RAW support is issue 22's other part)")
    return p


@pytest.mark.parametrize("order", ["jpeg_first", "raw_first"])
def test_a_raw_and_its_jpeg_of_the_same_shot_are_one_item_showing_the_jpeg(tmp_path, owner, ingestor, order):
    raw = _dng(tmp_path / "IMG_1234.DNG")
    jpeg = make_still(tmp_path / "IMG_1234.JPG", None, "purple")
    other = make_still(tmp_path / "IMG_1235.JPG", None, "gray")  # another shot of the folder: not its pair
    arrivals = [(jpeg, "dslr/day1/IMG_1234.JPG"), (raw, "dslr/day1/IMG_1234.DNG")]
    if order == "raw_first":
        arrivals.reverse()
    for p, rel in [*arrivals, (other, "dslr/day1/IMG_1235.JPG")]:
        r = ingestor.ingest_file(p, owner, rel)
        assert r.status == "added", r.as_dict()
    got = items(owner["id"])
    assert sorted(i["filename"] for i in got) == ["IMG_1234.JPG", "IMG_1235.JPG"], got
    item = next(i["id"] for i in got if i["filename"] == "IMG_1234.JPG")
    (f,) = files(item)
    assert (f["role"], f["format"]) == ("raw", "dng")
    assert download(item, owner["id"], None) == jpeg.read_bytes()
    assert download(item, owner["id"], "raw") == raw.read_bytes()


def test_a_raw_in_another_folder_is_not_paired(tmp_path, owner, ingestor):
    raw = _dng(tmp_path / "IMG_2000.DNG")
    ingestor.ingest_file(make_still(tmp_path / "IMG_2000.JPG", None), owner, "a/IMG_2000.JPG")
    ingestor.ingest_file(raw, owner, "b/IMG_2000.DNG")
    assert len(items(owner["id"])) == 2


def test_halves_of_a_pair_ingested_at_the_same_moment_still_meet(tmp_path, owner, cid_source):
    """Two ingests running at once (pva load's processes) take the pair keys' lock: never two items."""
    import concurrent.futures as cf

    from pva.services.ingest import Ingestor

    still = make_still(tmp_path / "IMG_0007.JPG", cid_source)
    cid = _cid(still)
    for n in range(3):
        mov = make_mov(tmp_path / f"IMG_000{n}.MOV", cid, seconds=1.0 + n / 10)
        user = {"id": owner["id"], "username": owner["username"]}
        if n:  # a new owner per round: the same still may pair again
            from pva.infra import db

            user = db.query_one("insert into users(username, password_hash) values (%s, '!') returning id, username",
                                (f"{owner['username']}-{n}",))
        with cf.ThreadPoolExecutor(2) as pool:
            futs = [pool.submit(Ingestor(publish=False).ingest_file, p, user, p.name) for p in (mov, still)]
            results = [f.result() for f in futs]
        assert all(r.status == "added" for r in results), [r.as_dict() for r in results]
        got = items(user["id"])
        assert len(got) == 1 and got[0]["kind"] == "photo", (n, got)
        assert [f["role"] for f in files(got[0]["id"])] == ["motion"]


def test_a_mov_that_joins_later_brings_its_albums_and_comments(tmp_path, owner, ingestor, cid_source):
    from pva.infra import db
    from pva.services import albums

    still = make_still(tmp_path / "IMG_0008.JPG", cid_source)
    mov = make_mov(tmp_path / "IMG_0008.MOV", _cid(still))
    video = ingestor.ingest_file(mov, owner, "IMG_0008.MOV")
    album = albums.create(owner["id"], "holiday")
    albums.add_media(album["id"], owner["id"], [video.media_id])
    db.execute("insert into comments(media_id, author_id, body) values (%s, %s, 'nice')", (video.media_id, owner["id"]))
    item = ingestor.ingest_file(still, owner, "IMG_0008.JPG").media_id
    in_album = db.query("select media_id from album_media where album_id = %s", (album["id"],))
    assert [str(r["media_id"]) for r in in_album] == [item]
    assert [r["body"] for r in db.query("select body from comments where media_id = %s", (item,))] == ["nice"]


def test_a_backup_holds_the_companion_files(tmp_path, owner, ingestor, cid_source):
    import json

    from pva.services import backup

    still = make_still(tmp_path / "IMG_0009.JPG", cid_source)
    mov = make_mov(tmp_path / "IMG_0009.MOV", _cid(still))
    first = ingestor.ingest_file(still, owner, "IMG_0009.JPG")
    moved = ingestor.ingest_file(mov, owner, "IMG_0009.MOV")
    motion_photo, clip = make_motion_photo(tmp_path / "PXL_0009.MP.jpg")
    android = ingestor.ingest_file(motion_photo, owner, "PXL_0009.MP.jpg")
    rep = backup.backup(str(tmp_path / "bk"), progress=False)
    # the backup is of the whole stack: other tests' rows (e.g. bulk actions' made-up originals) are not this test's
    mine = {str(r.media_id) for r in (first, moved, android)}
    assert not [e for e in rep.corrupt + rep.vanished if str(e.get("media_id")) in mine], rep
    manifest = json.loads((tmp_path / "bk" / "manifest.json").read_bytes())
    by_key = {(o["bucket"], o["key"]): o for o in manifest["objects"]}
    mov_entry = by_key[("originals", moved.storage_key)]
    assert mov_entry["sha512"] == hashlib.sha512(mov.read_bytes()).hexdigest()
    assert by_key[("thumbs", f"{android.media_id}/motion.mp4")]["sha512"] == hashlib.sha512(clip).hexdigest()


def _speech_mov(tmp_path: Path, cid: str) -> Path:
    """A live photo's MOV whose sound is the test sentence (espeak-ng), a few seconds long."""
    from speech_fixtures import SENTENCE

    wav = tmp_path / "speech.wav"
    _run(["espeak-ng", "-v", "en", "-w", str(wav), SENTENCE])
    out = tmp_path / "IMG_0010.MOV"
    _run(["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=15", "-i", str(wav),
          "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", "-movflags", "use_metadata_tags",
          "-metadata", f"com.apple.quicktime.content.identifier={cid}", str(out)])
    return out


@pytest.mark.skipif(not shutil.which("espeak-ng"), reason="espeak-ng (Debian package) speaks the test sentence")
def test_a_motion_clip_with_speech_is_transcribed_as_the_live_photos_transcript(tmp_path, owner, ingestor,
                                                                                 cid_source):
    from speech_fixtures import KEY_WORDS, words

    from pva.infra import db
    from pva.jobs import pipeline
    from pva.jobs.tasks.transcribe import TranscribeTask

    still = make_still(tmp_path / "IMG_0010.JPG", cid_source)
    ingestor.ingest_file(still, owner, "IMG_0010.JPG")
    r = ingestor.ingest_file(_speech_mov(tmp_path, _cid(still)), owner, "IMG_0010.MOV")
    (f,) = files(r.media_id)
    assert f["metadata"]["transcribe"]["worth"] is True, f["metadata"]
    job = db.query_one("select status from analysis where media_id = %s and kind = 'transcribe'", (r.media_id,))
    assert job and job["status"] == "queued"
    outcome, _ = pipeline.run_stored(TranscribeTask(), r.media_id)
    assert outcome == "done"
    text = db.query_one("select text from transcripts where media_id = %s", (r.media_id,))["text"]
    assert len(words(text) & KEY_WORDS) >= 3, text


def test_a_near_silent_motion_clip_is_not_transcribed_and_says_why(tmp_path, owner, ingestor, cid_source):
    from pva.infra import db

    still = make_still(tmp_path / "IMG_0011.JPG", cid_source)
    ingestor.ingest_file(still, owner, "IMG_0011.JPG")
    r = ingestor.ingest_file(make_mov(tmp_path / "IMG_0011.MOV", _cid(still), seconds=4.0, tone=False), owner,
                             "IMG_0011.MOV")
    (f,) = files(r.media_id)
    assert f["metadata"]["transcribe"]["worth"] is False
    assert "near-silent" in f["metadata"]["transcribe"]["reason"]
    assert db.query_one("select 1 as x from analysis where media_id = %s and kind = 'transcribe'",
                        (r.media_id,)) is None


def test_uploads_pair_by_the_relative_paths_sent_and_the_api_serves_both_files(tmp_path, owner, cid_source):
    """Through the gateway: a RAW+JPEG pair uploaded in two requests (the relative path the uploader sends is the
    folder), a live photo in one; the detail lists the other files and each downloads byte for byte, with Range."""
    from gateway.app import create_app
    from test_gateway_helpers import client_for

    raw = _dng(tmp_path / "DSC_0042.DNG")
    jpeg = make_still(tmp_path / "DSC_0042.JPG", None, "yellow")
    still = make_still(tmp_path / "IMG_0012.JPG", cid_source)
    mov = make_mov(tmp_path / "IMG_0012.MOV", _cid(still))
    c = client_for(create_app(), owner)
    first = c.post("/api/v1/media/upload", files=[("files", ("cam/DSC_0042.JPG", jpeg.read_bytes(), "image/jpeg"))])
    second = c.post("/api/v1/media/upload", files=[("files", ("cam/DSC_0042.DNG", raw.read_bytes(), "image/x-adobe-dng")),
                                                   ("files", ("phone/IMG_0012.MOV", mov.read_bytes(), "video/quicktime")),
                                                   ("files", ("phone/IMG_0012.JPG", still.read_bytes(), "image/jpeg"))])
    assert first.status_code == 200 and second.status_code == 200, second.text
    (j,) = first.json()["results"]
    r_raw, r_mov, r_still = second.json()["results"]
    assert r_raw["media_id"] == j["media_id"] and r_raw["status"] == "added"
    assert r_still["media_id"] != r_mov["media_id"]  # the MOV came first: a video until its still joined it
    assert len(items(owner["id"])) == 2
    detail = c.get(f"/api/v1/media/{j['media_id']}").json()
    assert [(f["role"], f["filename"], f["url"]) for f in detail["files"]] == [
        ("raw", "DSC_0042.DNG", f"/api/v1/media/{j['media_id']}/files/raw")]
    assert c.get(detail["files"][0]["url"]).content == raw.read_bytes()
    assert c.get(f"/api/v1/media/{r_still['media_id']}/files/motion", headers={"Range": "bytes=10-19"}).content \
        == mov.read_bytes()[10:20]
    assert c.get(f"/api/v1/media/{j['media_id']}/files/motion").status_code == 404
    page = c.get("/api/v1/media?limit=10").json()["items"]
    assert sorted((it.get("companions") or [""])[0] for it in page) == ["motion", "raw"]


def test_an_iphone_heic_still_and_its_mov_are_one_item(tmp_path, owner, ingestor, cid_source):
    heic = tmp_path / "IMG_5195.HEIC"
    heic.write_bytes(cid_source.read_bytes())
    mov = make_mov(tmp_path / "IMG_5195.MOV", _cid(heic))
    a = ingestor.ingest_file(heic, owner, "iphone/IMG_5195.HEIC")
    if a.status != "added":
        pytest.skip(f"this build does not ingest HEIC: {a.reason}")
    b = ingestor.ingest_file(mov, owner, "iphone/IMG_5195.MOV")
    assert b.status == "added" and b.media_id == a.media_id
    (got,) = items(owner["id"])
    assert got["format"] == "heic"
    assert download(a.media_id, owner["id"], "motion") == mov.read_bytes()


def test_a_restore_gives_back_the_companion_files_byte_for_byte(tmp_path, cid_source):
    """Backup and restore of a library holding a live photo (its MOV in originals) and an Android motion photo
    (its extracted clip in thumbs), each on a stack of its own: same rows, same objects, pva check clean."""
    from test_backup import backup_to, bucket_contents, fresh_stack

    from pva.infra import db
    from pva.services.backup import restore
    from pva.services.ingest import Ingestor

    def rows():
        return db.query("select (to_jsonb(f) - 'created_at')::text as j from media_files f order by storage_key")

    with fresh_stack():
        owner = db.query_one("insert into users(username, password_hash) values ('bk-live', '!') "
                             "returning id, username")
        ing = Ingestor(publish=False)
        still = make_still(tmp_path / "IMG_0013.JPG", cid_source)
        ing.ingest_file(make_mov(tmp_path / "IMG_0013.MOV", _cid(still)), owner, "IMG_0013.MOV")
        live = ing.ingest_file(still, owner, "IMG_0013.JPG")
        android = ing.ingest_file(make_motion_photo(tmp_path / "PXL_0013.MP.jpg")[0], owner, "PXL_0013.MP.jpg")
        assert len(files(live.media_id)) == len(files(android.media_id)) == 1
        rep = backup_to(tmp_path / "bk")
        assert rep.ok and not rep.vanished, rep
        before = {"rows": rows(), "objects": bucket_contents()}
        with fresh_stack():
            r = restore(str(tmp_path / "bk"), progress=False)
            assert r.ok and not r.verify.orphans and not r.verify.missing, r.verify
            after = {"rows": rows(), "objects": bucket_contents()}
            assert download(live.media_id, owner["id"], "motion") == (tmp_path / "IMG_0013.MOV").read_bytes()
    assert after == before and len(before["rows"]) == 2


def test_the_zip_download_holds_the_companion_files_beside_their_original(tmp_path, owner, ingestor, cid_source):
    """A live photo's MOV and a pair's RAW go into the selection's ZIP beside the original, byte for byte, under
    its base name with their own extension; another item of the same name numbers its whole group (never two
    entries of one name, whatever the case); an Android motion photo's clip is in its JPEG already."""
    import io
    import zipfile

    from pva.services import bulk

    still = make_still(tmp_path / "IMG_0001.JPG", cid_source)
    mov = make_mov(tmp_path / "IMG_0001.MOV", _cid(still))
    other = make_still(tmp_path / "other.jpg", None, "green")          # another folder's IMG_0001.JPG
    video = make_mov(tmp_path / "video.mov", None, seconds=1.0)       # another folder's IMG_0001.MOV
    raw = _dng(tmp_path / "IMG_1234.DNG")
    jpeg = make_still(tmp_path / "IMG_1234.JPG", None, "purple")
    android, _ = make_motion_photo(tmp_path / "PXL_0001.MP.jpg")
    ids = {}
    for name, p, rel in [("mov", mov, "a/IMG_0001.MOV"), ("live", still, "a/IMG_0001.JPG"),
                         ("other", other, "b/IMG_0001.JPG"), ("video", video, "c/IMG_0001.MOV"),
                         ("jpeg", jpeg, "d/IMG_1234.JPG"), ("raw", raw, "d/IMG_1234.DNG"),
                         ("android", android, "e/PXL_0001.MP.jpg")]:
        r = ingestor.ingest_file(p, owner, rel)
        assert r.status == "added", r.as_dict()
        ids[name] = r.media_id
    assert ids["mov"] != ids["live"] and ids["raw"] == ids["jpeg"]  # the MOV came first; the RAW joined its JPEG

    z = bulk.download(owner["id"], [ids["live"], ids["other"], ids["video"], ids["jpeg"], ids["android"]])
    assert (z["count"], z["not_found"]) == (5, 0)
    body = b"".join(z["chunks"])
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        assert zf.testzip() is None
        got = {i.filename: zf.read(i) for i in zf.infolist()}
        assert zf.namelist() == ["IMG_0001.JPG", "IMG_0001.MOV", "IMG_0001 (2).JPG", "IMG_0001 (2).MOV",
                                 "IMG_1234.JPG", "IMG_1234.DNG", "PXL_0001.MP.jpg"]
    assert got["IMG_0001.JPG"] == still.read_bytes() and got["IMG_0001.MOV"] == mov.read_bytes()
    assert got["IMG_0001 (2).JPG"] == other.read_bytes() and got["IMG_0001 (2).MOV"] == video.read_bytes()
    assert got["IMG_1234.JPG"] == jpeg.read_bytes() and got["IMG_1234.DNG"] == raw.read_bytes()
    assert got["PXL_0001.MP.jpg"] == android.read_bytes()


def test_zip_names_keep_a_group_together_and_unique_without_regard_to_case():
    from pva.services.bulk import zip_group_names, zip_names

    assert zip_group_names([["IMG_1.jpg", "IMG_1.MOV"], ["img_1.JPG"], ["img_1.mov"], ["x.jpg", "raw.jpg"]]) == [
        ["IMG_1.jpg", "IMG_1.MOV"], ["img_1 (2).JPG"], ["img_1 (2).mov"], ["x.jpg", "x.1.jpg"]]
    # a group moves as a whole when one of its names is taken
    assert zip_group_names([["IMG_2.MOV"], ["IMG_2.JPG", "IMG_2.MOV"]]) == [["IMG_2.MOV"],
                                                                          ["IMG_2 (2).JPG", "IMG_2 (2).MOV"]]
    assert zip_names(["a/b.jpg", "B.JPG", "../c"]) == ["b.jpg", "B (2).JPG", "c"]
