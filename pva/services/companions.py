"""Items with several files (issue 22): Apple live photos, Android motion photos, RAW+JPEG pairs.

Ingest asks :func:`identify` what a file can pair with (its pair keys), then, in the transaction that inserts its
media row, :func:`after_insert`: record its keys and an extracted motion clip; if it is the companion of an item
already here it becomes that item's file (its own row goes again), else it absorbs a standalone item that turns
out to be its companion.  That runs under a transaction-scoped advisory lock on the pair keys, so two halves of a pair ingested at the same time (``pva load`` runs several processes) still
meet, whatever the order and however the files are split into batches.

Rules: the still is the item and the MOV its 'motion' file (same content identifier); a JPEG with an embedded MP4
is the item and the extracted MP4 its 'motion' file; a JPEG/HEIC and a RAW of the same folder and base name are
one item (the JPEG shown) with the RAW as its 'raw' file.  A MOV whose still is missing stays a video until the
still arrives.  A conflict (the item already has a file of that role) keeps the newcomer as an item of its own:
no file is ever dropped.
"""
from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from uuid import UUID

from ..config import get_settings
from ..db import media_files as files_q
from ..errors import NotFound
from ..infra import db
from ..media import motion
from ..media.errors import MediaError

log = logging.getLogger("pva.companions")

RAW_FORMATS = frozenset({"dng", "cr2", "cr3", "nef", "arw", "orf", "rw2", "raf"})
STILL_FORMATS = frozenset({"jpeg", "heic", "heif"})
# the part a companion joins, and the role it takes there
ITEM_PART = {"motion": "still", "raw": "jpeg"}
COMPANION_PART = {v: k for k, v in ITEM_PART.items()}
ROLE_NAMES = {"motion": "motion file (live photo)", "raw": "RAW file"}


@dataclass
class Pairing:
    """What one arriving file can pair with."""

    keys: list[tuple[str, str]] = field(default_factory=list)  # (pair key, part)
    warnings: list[str] = field(default_factory=list)
    file_metadata: dict = field(default_factory=dict)           # kept on the file when it becomes a companion
    embedded: dict | None = None                                # an Android motion photo's extracted clip
    tmp: list[str] = field(default_factory=list)

    def cleanup(self) -> None:
        for t in self.tmp:
            try:
                os.unlink(t)
            except FileNotFoundError:
                pass
        self.tmp.clear()


@dataclass
class Joined:
    """The arriving file became the `role` file of item `media_id` (no item of its own)."""

    media_id: UUID
    role: str


def shot_key(rel: str) -> str:
    """Folder and base name, lower case: IMG_1234.CR2 and img_1234.JPG of one folder share it."""
    p = PurePosixPath(rel)
    return "shot:" + str(p.with_suffix("") if p.suffix else p).lower()


def identify(path: Path, fmt, rel: str, meta) -> Pairing:
    """The pair keys of a file (after its metadata is read): content identifiers of live photos, the shot key of
    a RAW or a JPEG/HEIC, and an Android motion photo's clip (extracted to a temporary file).  Never raises for
    the file's own faults: what cannot be used becomes a warning and the file is ingested as it is."""
    out = Pairing()
    try:
        if fmt.kind == "photo" and fmt.format in STILL_FORMATS:
            out.keys.append((shot_key(rel), "jpeg"))
            if str(getattr(meta, "camera_make", "") or "").lower().startswith("apple"):
                cid = motion.still_content_id(path)
                if cid:
                    out.keys.append((f"live:{cid}", "still"))
            if fmt.format == "jpeg":
                _embedded(path, out)
        elif fmt.kind == "photo" and fmt.format in RAW_FORMATS:
            out.keys.append((shot_key(rel), "raw"))
        elif fmt.kind == "video" and fmt.format in ("mov", "mp4"):
            raw = getattr(meta, "raw", None) or {}
            cid = motion.video_content_id((raw.get("format") or {}).get("tags"))
            if cid:
                out.keys.append((f"live:{cid}", "motion"))
                worth, reason, facts = motion.speech_worth(path, getattr(meta, "duration", None),
                                                           getattr(meta, "has_audio", None))
                out.file_metadata = {"live": {"content_identifier": cid},
                                     "transcribe": {"worth": worth, "reason": reason, **facts},
                                     "web": web_plan(raw, fmt.format)}
    except MediaError as e:  # exiftool timed out or is missing: the file goes in unpaired, saying why
        out.warnings.append(f"live/motion photo pairing skipped: {e}")
    return out


def _embedded(path: Path, out: Pairing) -> None:
    from .. import media

    found = motion.embedded_motion(path)
    if found is None:
        return
    if found.reason:
        out.warnings.append(f"motion photo: {found.reason}; the photo is kept without its motion part")
        return
    fd, tmp = tempfile.mkstemp(dir=get_settings().tmp_dir, prefix="motion-", suffix=".mp4")
    os.close(fd)
    out.tmp.append(tmp)
    try:
        motion.extract_range(path, found.start, found.length, tmp)
        vmeta = media.probe_video(tmp)
        if not getattr(vmeta, "codec", None):
            raise MediaError("no video stream could be decoded")
    except MediaError as e:
        out.warnings.append(f"motion photo: the embedded motion clip cannot be read ({e}); the photo is kept "
                            "without its motion part")
        return
    worth, reason, facts = motion.speech_worth(tmp, vmeta.duration, vmeta.has_audio)
    out.embedded = {"path": tmp, "size": found.length, "duration": vmeta.duration,
                    "sha512": bytes.fromhex(media.sha512_file(tmp)),
                    "metadata": {"motion_photo": {"offset": found.start, "kind": found.version},
                                 "video": {"codec": vmeta.codec, "width": vmeta.width, "height": vmeta.height,
                                           "has_audio": vmeta.has_audio},
                                 "transcribe": {"worth": worth, "reason": reason, **facts},
                                 "web": web_plan(getattr(vmeta, "raw", None) or {}, "mp4")}}


def put_embedded(storage, pairing: Pairing, media_id) -> tuple[str, str] | None:
    """Store an extracted motion clip (derived from the original: in the thumbs bucket); (bucket, key) put."""
    if not pairing.embedded:
        return None
    s = get_settings()
    key = f"{media_id}/motion.mp4"
    try:
        storage.put_file(s.bucket_thumbs, key, pairing.embedded["path"], content_type="video/mp4")
    finally:
        pairing.cleanup()  # the temporary copy of the clip is not needed any more, whatever happened
    pairing.embedded["key"] = key
    return s.bucket_thumbs, key


@dataclass
class Settled:
    """What pairing did in ingest's transaction: ``joined`` the item the arriving file became a file of (its own
    row then went again: no item of its own), and the derived objects (thumbs bucket) of rows that went, to delete
    after the commit."""

    joined: Joined | None = None
    derived: list[str] = field(default_factory=list)
    jobs: list[tuple] = field(default_factory=list)  # (media id, kind) queued here, to publish after the commit
    people: list = field(default_factory=list)  # people whose faces went with a row, refreshed after the commit


def after_insert(cur, row: dict, pairing: Pairing) -> Settled:
    """In ingest's transaction, right after the media row (and everything else that names it) is inserted, under a
    transaction-scoped lock of the pair keys: record the keys and an extracted motion clip; then either the new
    item is the companion (MOV, RAW) of an item already here and becomes its file, or it absorbs a standalone item
    that is its companion (a MOV or RAW that arrived first).  Either way the newcomer is checked under the same
    lock as its partner, so two halves of a pair ingested at the same moment still meet."""
    out = Settled()
    media_id, owner_id = row["id"], row["owner_id"]
    if pairing.keys:
        files_q.lock_keys(cur, owner_id, [k for k, _ in pairing.keys])
        files_q.add_keys(cur, media_id, owner_id, pairing.keys)
    emb = pairing.embedded
    roles: set[str] = set()
    if emb and emb.get("key"):
        files_q.insert_file(cur, {"media_id": media_id, "owner_id": owner_id, "role": "motion", "origin": "embedded",
                                  "bucket": "thumbs", "storage_key": emb["key"], "sha512": emb["sha512"],
                                  "size": emb["size"], "format": "mp4", "mime": "video/mp4",
                                  "duration": emb["duration"], "original_path": None,
                                  "filename": PurePosixPath(row["filename"]).stem + ".motion.mp4",
                                  "metadata": emb["metadata"]})
        roles.add("motion")
        _transcribe_motion(cur, media_id, emb["metadata"], out)
        _transcode_motion(cur, media_id, emb["metadata"], out)
    # the newcomer is a companion (a MOV with a content identifier, a RAW): does its item exist?
    for key, part in pairing.keys:
        if part not in ITEM_PART:
            continue
        for p in files_q.partners(cur, owner_id, key, ITEM_PART[part], exclude=media_id):
            if part in (p["roles"] or []):
                pairing.warnings.append(f"media {p['id']} already has a {ROLE_NAMES[part]}: this file is kept as an "
                                        "item of its own")
                continue
            gone = files_q.absorb(cur, media_id, p["id"], part, pairing.file_metadata)
            out.joined = Joined(p["id"], part)
            if part == "motion":
                _transcribe_motion(cur, p["id"], pairing.file_metadata, out)
                _transcode_motion(cur, p["id"], pairing.file_metadata, out)
            out.derived += gone["derived"] if gone else []
            out.people += gone["people"] if gone else []
            pairing.warnings.append(f"stored as the {ROLE_NAMES[part]} of media {p['id']}")
            return out
        if part == "motion":
            pairing.warnings.append(f"a live photo's motion clip whose still (content identifier {key[5:]}) is not in "
                                    "the library: kept as a video until the still arrives")
    # the newcomer is an item (a still, a JPEG/HEIC): standalone companions that arrived first join it
    for key, part in pairing.keys:
        if part not in COMPANION_PART:
            continue
        role = COMPANION_PART[part]
        for c in files_q.partners(cur, owner_id, key, role, exclude=media_id):
            if role in roles:
                pairing.warnings.append(f"media {c['id']} would be this item's {ROLE_NAMES[role]}, but it has one "
                                        "already: both stay")
                break
            meta = _absorbed_metadata(cur, c["id"])
            gone = files_q.absorb(cur, c["id"], media_id, role, meta)
            if gone is not None:
                if role == "motion":
                    _transcribe_motion(cur, media_id, meta, out)
                    _transcode_motion(cur, media_id, meta, out)
                out.derived += gone["derived"]
                out.people += gone["people"]
                roles.add(role)
                pairing.warnings.append(f"joined media {c['id']} as this item's {ROLE_NAMES[role]}")
                break
    return out


def _transcribe_motion(cur, media_id, file_metadata: dict, out: Settled) -> None:
    """A motion clip with speech worth it (motion.speech_worth, decided at ingest) is transcribed as the item's
    transcript: the item is marked (metadata.motion.transcribe, which TranscribeTask.applies_to reads) and its
    transcribe job queued.  A clip not worth it keeps the reason on its file (shown on the detail page)."""
    from ..db import analysis as analysis_q
    from ..db import media as media_q

    decision = (file_metadata or {}).get("transcribe") or {}
    if not decision.get("worth"):
        return
    media_q.set_metadata_keys(cur, media_id, {"motion": {"transcribe": True}})
    analysis_q.insert_queued(cur, media_id, ["transcribe"])
    out.jobs.append((media_id, "transcribe"))


def web_plan(probe: dict, container: str | None) -> dict:
    """Does a motion clip play in every browser as stored (pva.media.transcode.plan on ingest's ffprobe JSON)?
    {"action": as_stored|remux|transcode, "reason"}; kept on the motion file, and anything but as_stored gets the
    item a transcode job (an H.264/AAC MP4 of the clip, served by /files/motion?playable=1)."""
    from ..media import transcode as tc

    s = get_settings()
    try:
        p = tc.plan(probe or {}, container=container,
                    enc=tc.Encoding(max_side=s.transcode_max_side, max_kbps=s.transcode_max_kbps))
    except MediaError as e:
        return {"action": "as_stored", "reason": f"not planned: {e}"}
    return {"action": p.action, "reason": p.reason}


def _transcode_motion(cur, media_id, file_metadata: dict, out: Settled) -> None:
    """A motion clip not every browser plays (an iPhone's HEVC MOV): the item is marked (metadata.motion.transcode,
    which TranscodeTask.applies_to reads) and its transcode job queued.  Called after _transcribe_motion (whose
    mark replaces metadata.motion)."""
    from ..db import analysis as analysis_q
    from ..db import transcode as transcode_q

    if ((file_metadata or {}).get("web") or {}).get("action", "as_stored") == "as_stored":
        return
    transcode_q.mark_motion_preview(cur, media_id)
    analysis_q.insert_queued(cur, media_id, ["transcode"])
    out.jobs.append((media_id, "transcode"))


def motion_path(media_id, tmp_dir: str) -> Path:
    """The item's motion clip downloaded to a temporary file (the caller deletes it); NotFound without one."""
    from pva.infra.storage import get_storage

    with db.transaction() as cur:
        f = files_q.file_of(cur, media_id, "motion")
    if f is None:
        raise NotFound("motion file")
    s = get_settings()
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=f"{media_id}-motion-", suffix="." + (f["format"] or "mov")[:8])
    os.close(fd)
    get_storage().download(s.bucket_originals if f["bucket"] == "originals" else s.bucket_thumbs, f["storage_key"],
                           tmp)
    return Path(tmp)


def _absorbed_metadata(cur, media_id) -> dict:
    from ..db import media as media_q

    m = media_q.get(cur, media_id) or {}
    md = m.get("metadata") or {}
    out = {k: md[k] for k in ("live", "transcribe", "video") if k in md}
    # ingest keeps a video's ffprobe JSON as metadata.raw
    out["web"] = web_plan(md.get("raw") or (md.get("video") or {}).get("raw") or {}, m.get("format"))
    return out


def delete_derived(storage, keys: list[str]) -> None:
    s = get_settings()
    for k in keys:
        try:
            storage.delete(s.bucket_thumbs, k)
        except Exception:  # garbage in the thumbs bucket harms nothing; the row is already gone
            log.exception("could not delete a derived object of an absorbed item", extra={"key": k})


def refresh_people(owner_id, person_ids: list) -> None:
    """After the commit that absorbed items: the people their faces were in are counted again (and unnamed ones
    left without faces go), in a transaction of their own that takes the owner's people lock first (ingest's
    transaction holds row locks the faces task may be waiting for while it holds that lock)."""
    if not person_ids:
        return
    from . import people

    with db.transaction() as cur:
        people.lock_for_items(cur, owner_id)
        people.items_purged(cur, owner_id, person_ids)


# ---------------------------------------------------------------- reading (detail page, downloads, grids)
def _visible(cur, media_id: UUID, user_id: UUID) -> None:
    """The item's access rule (pva.services.media.visible's: owner, or a recipient of a shared album)."""
    from ..db import media as media_q

    if media_q.media_access(cur, media_id, user_id) is None:
        raise NotFound("media")


def files(media_id: UUID, user_id: UUID) -> list[dict]:
    """The companion files of an item the user may see (NotFound otherwise)."""
    with db.transaction() as cur:
        _visible(cur, media_id, user_id)
        rows = files_q.files_of(cur, media_id)
    return [file_out(r) for r in rows]


def file_out(r: dict) -> dict:
    md = r.get("metadata") or {}
    return {"role": r["role"], "origin": r["origin"], "filename": r["filename"], "format": r["format"],
            "mime": r["mime"], "size": r["size"], "duration": r["duration"],
            "sha512": bytes(r["sha512"]).hex(), "transcribe": md.get("transcribe")}


def file_object(media_id: UUID, user_id: UUID, role: str, playable: bool = False) -> dict:
    """Where the item's `role` file is stored, as gateway.streaming.stream_object takes it (range-capable); the
    same access rule as the item's original.  ``playable``: a motion clip's web preview (H.264/AAC MP4, made by
    the transcode function) when it has one, else the clip as stored."""
    with db.transaction() as cur:
        _visible(cur, media_id, user_id)
        f = files_q.file_of(cur, media_id, role)
    if f is None:
        raise NotFound(f"{role} file")
    s = get_settings()
    web = (f.get("metadata") or {}).get("web_video_key")
    if playable and role == "motion" and web:
        stem = (f["filename"] or "motion").rsplit(".", 1)[0] or "motion"
        return {"bucket": s.bucket_thumbs, "key": web, "content_type": "video/mp4", "filename": f"{stem}.mp4",
                "etag_hint": f"{media_id}-motion-web"}
    bucket = s.bucket_originals if f["bucket"] == "originals" else s.bucket_thumbs
    return {"bucket": bucket, "key": f["storage_key"], "content_type": f["mime"], "filename": f["filename"],
            "etag_hint": bytes(f["sha512"]).hex()[:32]}


def roles_for(media_ids: list) -> dict[str, list[str]]:
    """{media id: roles of its companion files} for a page of items (the grid's live badge)."""
    ids = [str(i) for i in media_ids if i]
    if not ids:
        return {}
    with db.transaction() as cur:
        return files_q.roles_for(cur, ids)


__all__ = ["Pairing", "Joined", "Settled", "identify", "put_embedded", "after_insert", "delete_derived",
           "refresh_people",
           "files", "file_out", "file_object", "roles_for", "shot_key", "motion_path", "web_plan", "RAW_FORMATS"]
