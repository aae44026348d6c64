"""The ingest core: every entry point (batch load, upload stream, object-store drop, the function's HTTP trigger)
ends here.  A file is stored and recorded, reported as a duplicate of an existing media id, rejected with its
reason, or — when a service is down — reported as failed and left where it was, so nothing is ever lost.

Order of work for one file: validate the name, detect the format by content, SHA-512, dedupe per owner, extract
metadata, make thumbnails (and video keyframes), put the original and the derived objects, then ONE transaction
for the media row and its queued analysis rows, then publish the analysis wake-ups.  Any failure after the first
put deletes what this call put (no orphan objects); the transaction leaves no half-written rows.
"""
from __future__ import annotations

import io
import logging
import os
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import psycopg2.errors

from .. import jobs, media
from . import bursts, duplicates
from ..config import Settings, get_settings
from ..db import analysis as analysis_q
from ..db import media as media_q
from ..db import rejections as rejections_q
from ..db import users as users_q
from . import companions  # live photos, motion photos, RAW+JPEG pairs (issue 22)
from ..errors import is_permanent
from ..infra import db
from ..media.errors import MediaError
from . import places

log = logging.getLogger("pva.ingest")  # the name its log lines always had

HEAD_BYTES = 64 * 1024


@dataclass
class IngestResult:
    status: str  # added | duplicate | rejected | failed (a service error: retry later, the file is kept)
    name: str
    media_id: str | None = None
    reason: str | None = None
    sha512: str | None = None
    kind: str | None = None
    format: str | None = None
    size: int | None = None
    storage_key: str | None = None
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


class Rejected(Exception):
    """The file itself cannot be ingested (its fault, not ours); the message is the reason shown to the user."""


def _owner_prefix(owner: dict) -> str:
    return owner["username"]


def _unique_key(cur, storage, bucket: str, key: str, sha_hex: str) -> str:
    if not media_q.key_taken(cur, key) and storage.stat(bucket, key) is None:
        return key
    p = PurePosixPath(key)
    return str(p.with_name(f"{p.stem}~{sha_hex[:12]}{p.suffix}"))


class Ingestor:
    """One per process (it holds the storage client).  Thread-safe for independent files."""

    def __init__(self, settings: Settings | None = None, publish: bool = True):
        from pva.infra.storage import get_storage

        self.s = settings or get_settings()
        self.storage = get_storage()
        self.publish = publish

    # ------------------------------------------------------------------ entry points
    def ingest_stream(self, stream: BinaryIO, owner: dict, filename: str, *, source: str = "upload",
                      relative_path: str | None = None) -> IngestResult:
        """Spool a byte stream to a temporary file (hashing while reading), then ingest it."""
        tmp_dir = self.s.tmp_dir
        name = relative_path or filename
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="ingest-")
        try:
            reader = media.HashingReader(stream)
            limit = self.s.max_upload_bytes
            head = b""
            with os.fdopen(fd, "wb") as out:
                while True:
                    chunk = reader.read(1024 * 1024 if len(head) >= HEAD_BYTES else HEAD_BYTES - len(head))
                    if not chunk:
                        break
                    out.write(chunk)
                    if len(head) < HEAD_BYTES:
                        head += chunk
                        if len(head) >= HEAD_BYTES:
                            # wrong type or too many pixels: say so now instead of receiving the rest first
                            early = head_reason(head)
                            if early:
                                return self._reject(owner, source, name, early, size=None)
                    if reader.bytes_read > limit:
                        return self._reject(owner, source, name, f"file is larger than the limit of "
                                            f"{limit} bytes (PVA_MAX_UPLOAD_BYTES)", size=reader.bytes_read)
            return self.ingest_file(Path(tmp), owner, name, source=source, sha512=reader.digest())
        finally:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass

    def ingest_file(self, path: Path, owner: dict, relative_path: str, *, source: str = "load",
                    sha512: bytes | None = None) -> IngestResult:
        """Ingest a local file (left in place: the caller moves or deletes it after the result)."""
        t0 = time.perf_counter()
        try:
            res = self._ingest(Path(path), owner, relative_path, source, sha512)
        except Rejected as e:
            res = self._reject(owner, source, relative_path, str(e), size=_size(path))
        except MediaError as e:
            if is_permanent(e):  # the file's fault (pva/errors.py): recorded as a rejection with the reason
                res = self._reject(owner, source, relative_path, str(e), size=_size(path))
            else:  # ffmpeg timed out or is missing: not the file's fault
                res = IngestResult("failed", relative_path, reason=f"{e} (try again later)")
        except Exception as e:  # a service is down or broke: nothing stored, the file stays, retry later
            log.exception("ingest failed", extra={"file": relative_path})
            res = IngestResult("failed", relative_path, reason=f"{type(e).__name__}: {media.public_reason(e)} — "
                               "nothing was stored; check `pva status` and run the same command again")
        if res.reason:  # the reason goes to the client: our file's location never does
            res.reason = media.public_reason(res.reason.replace(str(path), "the file"), 1000)
        res.seconds = time.perf_counter() - t0
        log.info("ingest", extra={"file": relative_path, "status": res.status, "media_id": res.media_id,
                                  "reason": res.reason, "seconds": round(res.seconds, 3)})
        return res

    # ------------------------------------------------------------------ the work
    def _ingest(self, path: Path, owner: dict, relative_path: str, source: str,
                sha512: bytes | None) -> IngestResult:
        s = self.s
        try:
            rel = media.safe_relative_path(relative_path)
        except MediaError as e:
            raise Rejected(str(e)) from None
        size = path.stat().st_size
        if size == 0:
            raise Rejected("empty file (0 bytes)")
        if size > s.max_upload_bytes:
            raise Rejected(f"file is larger than the limit of {s.max_upload_bytes} bytes (PVA_MAX_UPLOAD_BYTES)")
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
        fmt = media.detect_file(path, head)  # the head, and a TIFF's IFDs wherever they are (a DNG is no TIFF)
        if fmt is None:
            raise Rejected(media.unsupported_reason(head))
        if fmt.kind == "photo":  # the one pixel limit, from the header, before hashing or decoding anything
            media.check_image_header(path, fmt)
        digest = sha512 or bytes.fromhex(media.sha512_file(path))
        sha_hex = digest.hex()
        owner_id = owner["id"]

        with db.transaction() as cur:
            existing = media_q.find_by_sha(cur, owner_id, digest)
        if existing:
            return self._duplicate(existing, rel, fmt, size, sha_hex)

        media_id = uuid.uuid4()
        warnings: list[str] = []
        row: dict = {"id": media_id, "owner_id": owner_id, "sha512": digest, "kind": fmt.kind,
                     "format": fmt.format, "mime": fmt.mime, "size": size, "original_path": rel,
                     "filename": PurePosixPath(rel).name, "source": source, "status": "ready"}
        derived: dict[str, bytes] = {}
        phash, frame_hashes = None, []  # perceptual hashes for near-duplicates, of pixels already decoded (issue 21)
        if fmt.kind == "photo":
            meta = media.extract_photo(path)
            warnings += list(getattr(meta, "warnings", []) or [])
            row.update(_photo_columns(meta))
            # the analysis preview comes from the same decode as the thumbnails (issue 20: pva.jobs)
            thumbs = media.make_thumbnails(path, sizes={"thumb": s.thumb_grid_px, "preview": s.thumb_preview_px,
                                                        "analysis": jobs.ANALYSIS_PREVIEW_PX},
                                           qualities={"analysis": jobs.ANALYSIS_PREVIEW_QUALITY},
                                           draft_fraction=jobs.ANALYSIS_PREVIEW_DRAFT)
            derived[f"{media_id}/thumb.jpg"] = thumbs["thumb"]
            derived[f"{media_id}/preview.jpg"] = thumbs["preview"]
            row["metadata"] = {**row.get("metadata", {}),
                               **jobs.keep_analysis_preview(media_id, thumbs["analysis"], derived)}
            phash = duplicates.photo_hash(thumbs["thumb"])
        else:
            meta = media.probe_video(path)
            warnings += list(getattr(meta, "warnings", []) or [])
            row.update(_video_columns(meta))
            # a file kept from its container alone (its streams cannot be decoded: codec unknown) has no frames
            # to extract; it is still stored with the duration and date the container gives, with a warning
            frames = media.extract_frames(path, count=max(1, s.video_keyframes), duration=meta.duration,
                                          max_side=s.thumb_preview_px) if _get(meta, "codec") else []
            keyframes = []
            for i, (t, img) in enumerate(frames):
                jpeg = _to_jpeg(img)
                if i == 0:
                    thumbs = media.make_thumbnails(img, sizes={"thumb": s.thumb_grid_px,
                                                              "preview": s.thumb_preview_px})
                    derived[f"{media_id}/thumb.jpg"] = thumbs["thumb"]
                    derived[f"{media_id}/preview.jpg"] = thumbs["preview"]
                key = f"{media_id}/keyframes/{i:03d}.jpg"
                derived[key] = jpeg
                keyframes.append({"t": round(float(t), 3), "key": key})
                kh = duplicates.frame_hash(img)
                if kh is not None:
                    keyframes[-1]["phash"] = f"{kh:016x}"
                    frame_hashes.append(kh)
            phash = duplicates.video_hash(frame_hashes)
            row["metadata"] = {**row.get("metadata", {}), "keyframes": keyframes}
            if not frames:
                warnings.append("no frame could be decoded for a poster")
        # what it can pair with: a live photo's content identifier, a motion photo's clip, a RAW's JPEG (issue 22)
        pairing = companions.identify(path, fmt, rel, meta)
        row["metadata"] = {**row.get("metadata", {}), **pairing.file_metadata}
        if warnings or pairing.warnings:  # the item keeps what was found so far; settling it may add more
            row["metadata"] = {**row.get("metadata", {}), "warnings": (warnings + pairing.warnings)[:50]}
        if f"{media_id}/thumb.jpg" in derived:
            row["thumb_key"] = f"{media_id}/thumb.jpg"
            row["preview_key"] = f"{media_id}/preview.jpg"

        put: list[tuple[str, str]] = []
        try:
            with db.transaction() as cur:
                key = _unique_key(cur, self.storage, s.bucket_originals,
                                  f"{_owner_prefix(owner)}/{rel}", sha_hex)
            row["storage_key"] = key
            self.storage.put_file(s.bucket_originals, key, str(path), content_type=fmt.mime,
                                  metadata={"sha512": sha_hex, "media-id": str(media_id)})
            put.append((s.bucket_originals, key))
            for dkey, data in derived.items():
                self.storage.put(s.bucket_thumbs, dkey, data, length=len(data), content_type="image/jpeg")
                put.append((s.bucket_thumbs, dkey))
            embedded = companions.put_embedded(self.storage, pairing, media_id)
            if embedded:
                put.append(embedded)
            kinds = jobs.kinds_for(fmt.kind)
            with db.transaction() as cur:
                media_q.insert(cur, row)
                analysis_q.insert_queued(cur, media_id, kinds)
                duplicates.link(cur, owner_id, media_id, fmt.kind, phash)
                places.name_new(cur, media_id, row)  # city, region, country of its GPS (issue 21)
                settled = companions.after_insert(cur, row, pairing)  # last: it may remove the row
        except psycopg2.errors.UniqueViolation:
            self._cleanup(put)
            with db.transaction() as cur:
                existing = media_q.find_by_sha(cur, owner_id, digest)
            if existing:  # the same bytes arrived concurrently
                return self._duplicate(existing, rel, fmt, size, sha_hex)
            raise
        except BaseException:
            self._cleanup(put)
            raise
        warnings += pairing.warnings  # identify's, and what after_insert found settling it with its companions
        companions.delete_derived(self.storage, settled.derived)
        companions.refresh_people(owner_id, settled.people)  # an absorbed item's faces went with its row
        if self.publish and settled.jobs:  # the motion part's transcription, when it has speech worth it
            jobs.publish_jobs(settled.jobs)
        if settled.joined:  # it became a file of an existing item: no item, no analysis of its own
            return IngestResult("added", rel, media_id=str(settled.joined.media_id), sha512=sha_hex, kind=fmt.kind,
                                format=fmt.format, size=size, storage_key=row["storage_key"], warnings=warnings)
        if fmt.kind == "photo" and row.get("camera_model") and row.get("taken_at"):
            bursts.after_change(owner_id, [media_id])  # stacked with the camera's photos of the same moment (issue 21)
        if self.publish:
            jobs.publish_jobs([(media_id, k) for k in kinds])
        return IngestResult("added", rel, media_id=str(media_id), sha512=sha_hex, kind=fmt.kind,
                            format=fmt.format, size=size, storage_key=row["storage_key"], warnings=warnings)

    # ------------------------------------------------------------------ outcomes
    def _duplicate(self, existing: dict, rel: str, fmt, size: int, sha_hex: str) -> IngestResult:
        return IngestResult("duplicate", rel, media_id=str(existing["id"]), sha512=sha_hex, kind=fmt.kind,
                            format=fmt.format, size=size, storage_key=existing["storage_key"],
                            reason=f"same bytes as media {existing['id']} ({existing['original_path']})")

    def reject(self, owner: dict | None, source: str, name: str, reason: str, size: int | None = None
               ) -> IngestResult:
        """Refuse a file an entry point already judged (e.g. an upload refused from its first bytes while it
        streamed), recorded like every other rejection."""
        return self._reject(owner, source, name, media.public_reason(reason, 1000), size=size)

    def _reject(self, owner: dict | None, source: str, name: str, reason: str, size: int | None = None) -> IngestResult:
        try:
            with db.transaction() as cur:
                rejections_q.insert(cur, owner["id"] if owner else None, source, _db_text(str(name)),
                                    _db_text(reason), size)
        except Exception:  # recording the rejection must not hide it
            log.exception("could not record a rejection", extra={"file": name})
        return IngestResult("rejected", str(name), reason=reason, size=size)

    def _cleanup(self, put: list[tuple[str, str]]) -> None:
        for bucket, key in reversed(put):
            try:
                self.storage.delete(bucket, key)
            except Exception:
                log.exception("could not delete an object after a failed ingest; reconcile will find it",
                              extra={"bucket": bucket, "key": key})


def head_reason(head: bytes) -> str | None:
    """Why a file can be refused from its first bytes alone (HEAD_BYTES of them, or the whole file when shorter):
    not a supported format, or a photo whose header already shows it is over the pixel limit.  None: read on."""
    fmt = media.detect_format(head)
    if fmt is None:
        return media.unsupported_reason(head)
    if fmt.kind == "photo":
        try:
            media.check_image_header(head, fmt)
        except MediaError as e:
            return str(e)
    return None


def _db_text(text: str) -> str:
    """Text Postgres can store: NUL and undecodable bytes (lone surrogates from non-UTF-8 file names) escaped, so
    the rejection of a file with such a name is still recorded with its reason."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _size(path) -> int | None:
    try:
        return Path(path).stat().st_size
    except OSError:
        return None


def _to_jpeg(img) -> bytes:
    if isinstance(img, (bytes, bytearray)):
        return bytes(img)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, "JPEG", quality=88)
    return buf.getvalue()


def _get(meta, name, default=None):
    return getattr(meta, name, default)


def _photo_columns(meta) -> dict:
    out = {c: _get(meta, c) for c in ("width", "height", "camera_make", "camera_model", "lens", "gps_lat",
                                      "gps_lon", "gps_alt", "orientation", "taken_at", "taken_at_offset",
                                      "taken_at_local")}
    out["metadata"] = _get(meta, "raw", None) or {}
    extra = {k: _get(meta, k) for k in ("iso", "f_number", "exposure_time", "focal_length")
             if _get(meta, k) is not None}
    if extra:
        out["metadata"] = {**out["metadata"], "exposure": extra}
    return {k: v for k, v in out.items() if v is not None}


def _video_columns(meta) -> dict:
    out = {c: _get(meta, c) for c in ("width", "height", "duration", "gps_lat", "gps_lon", "gps_alt",
                                      "camera_make", "camera_model")}
    out["taken_at"] = _get(meta, "creation_time")
    # an AVI keeps the camera's wall clock with no offset: stored as photos without OffsetTime are
    out["taken_at_local"] = _get(meta, "taken_at_local")
    out["taken_at_offset"] = _get(meta, "taken_at_offset")
    out["metadata"] = {"video": {k: _get(meta, k) for k in ("codec", "frame_rate", "rotation", "has_audio",
                                                            "audio_codec", "bit_rate", "coded_width",
                                                            "coded_height")
                                 if _get(meta, k) is not None},
                       **({"raw": _get(meta, "raw")} if _get(meta, "raw") else {})}
    return {k: v for k, v in out.items() if v is not None}


def resolve_owner(owner) -> dict:
    """A user dict (id, username) from a dict, a user id or a username; a clear error when unknown."""
    if isinstance(owner, dict) and "id" in owner and "username" in owner:
        return owner
    key = owner["id"] if isinstance(owner, dict) else owner
    with db.transaction() as cur:
        row = users_q.find(cur, str(key))
    if row is None:
        raise LookupError(f"no such user {key!r}: create one with `pva users create NAME`")
    return row


_ingestor: Ingestor | None = None
_ingestor_pid: int | None = None


def get_ingestor() -> Ingestor:
    global _ingestor, _ingestor_pid
    if _ingestor is None or _ingestor_pid != os.getpid():
        _ingestor, _ingestor_pid = Ingestor(), os.getpid()
    return _ingestor


def ingest_stream(owner, stream: BinaryIO, filename: str, *, source: str = "upload",
                  relative_path: str | None = None) -> IngestResult:
    """Ingest a byte stream for `owner` (a user dict, id or username)."""
    return get_ingestor().ingest_stream(stream, resolve_owner(owner), filename, source=source,
                                        relative_path=relative_path)


def ingest_file(owner, path, relative_path: str, *, source: str = "load") -> IngestResult:
    return get_ingestor().ingest_file(Path(path), resolve_owner(owner), relative_path, source=source)


def reject(owner, source: str, name: str, reason: str, size: int | None = None) -> IngestResult:
    """Record a file an entry point already refused (Ingestor.reject) for `owner` (a user dict, id or username)."""
    return get_ingestor().reject(resolve_owner(owner), source, name, reason, size=size)
