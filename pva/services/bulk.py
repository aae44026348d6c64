"""Many items at once (issue 18 item 3: select many, act once): trash, restore, set the location, add to or take
out of an album, and download the originals as one ZIP.

Each edit acts only on the caller's own media, in one transaction, and answers ``{done, not_found}``: an id that is
missing, someone else's or only shared with the caller is counted as not found and left alone, the same answer
either way (never reveal that an id exists), and one foreign id does not spoil the rest of a selection.  The
album routes name the album in the path: an album that is not the caller's own is "no such album", as for the
album routes of pva.services.albums.

The download streams: the ZIP is written entry by entry into a small buffer that is handed out as it fills, each
original read from the object store in chunks, so memory stays bounded whatever the size of the selection; the
entries are stored, not compressed (photos and videos do not shrink, and the bytes out are the bytes stored).  A
share recipient downloads what they may see; the originals are never changed.
"""
from __future__ import annotations

import re
import time
import zipfile
from collections.abc import Iterator
from pathlib import PurePosixPath
from uuid import UUID

from pva.infra import db
from ..config import get_settings
from ..db import albums as albums_q
from ..db import media as media_q
from ..errors import Invalid, NotFound
from ..log import get_logger
from . import bursts
from . import people
from . import places

log = get_logger("pva.services.bulk")

# A download is one request holding a connection for as long as it streams: bound it so that a click on "select
# all" in a large library is refused with a message instead of starting an hours-long transfer.
DOWNLOAD_MAX_ITEMS = 2000
DOWNLOAD_MAX_BYTES = 16 * 1024 ** 3


def _ids(media_ids) -> list[UUID]:
    return list(dict.fromkeys(UUID(str(m)) for m in media_ids))


def _answer(asked: list[UUID], done) -> dict:
    n = len(set(done))
    return {"done": n, "not_found": len(asked) - n}


# ---------------------------------------------------------------- edits
def trash(owner_id: UUID, media_ids) -> dict:
    """Move the owner's items to the trash (an item already there keeps its date)."""
    ids = _ids(media_ids)
    with db.transaction() as cur:
        people.lock_for_items(cur, owner_id)
        done = media_q.trash_many(cur, owner_id, ids)
        people.items_moved(cur, owner_id, done)  # their faces leave their people's counts (and covers)
    bursts.after_change(owner_id, done)  # they leave their bursts (issue 21)
    return _answer(ids, done)


def restore(owner_id: UUID, media_ids) -> dict:
    """Take the owner's items out of the trash."""
    ids = _ids(media_ids)
    with db.transaction() as cur:
        people.lock_for_items(cur, owner_id)
        done = media_q.restore_many(cur, owner_id, ids)
        people.items_moved(cur, owner_id, done)
    bursts.after_change(owner_id, done)
    return _answer(ids, done)


def set_location(owner_id: UUID, media_ids, lat: float, lon: float, alt: float | None = None) -> dict:
    """Set the location override of the owner's items (the original files are not touched)."""
    ids = _ids(media_ids)
    with db.transaction() as cur:
        done = media_q.set_gps_override_many(cur, owner_id, ids, lat, lon, alt)
        places.rename(cur, done)  # the place of the new location (issue 21)
        return _answer(ids, done)


def _owned_album(cur, album_id: UUID, owner_id: UUID) -> None:
    if albums_q.get_owned(cur, album_id, owner_id) is None:
        raise NotFound("album")  # also for an album only shared with the caller: it is read-only


def album_add(album_id: UUID, owner_id: UUID, media_ids) -> dict:
    """Put the owner's items (trashed ones too, as POST /albums/{id}/media does) into the owner's album; done counts
    those in it afterwards, whether or not they were already there."""
    ids = _ids(media_ids)
    with db.transaction() as cur:
        _owned_album(cur, album_id, owner_id)
        owned = media_q.owned_media_ids(cur, owner_id, ids, include_trashed=True)
        if owned:
            albums_q.add_media(cur, album_id, owner_id, list(owned))
        return _answer(ids, owned)


def album_remove(album_id: UUID, owner_id: UUID, media_ids) -> dict:
    """Take items out of the owner's album (they stay in the library); not_found counts those that were not in it."""
    ids = _ids(media_ids)
    with db.transaction() as cur:
        _owned_album(cur, album_id, owner_id)
        n = albums_q.remove_many(cur, album_id, owner_id, ids)
    return {"done": n, "not_found": len(ids) - n}


# ---------------------------------------------------------------- download
_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def zip_names(names: list[str]) -> list[str]:
    """Entry names for the files: each original's own name (no folders, nothing a file system refuses), made
    unique the way a desktop does ("IMG_1.jpg", "IMG_1 (2).jpg"); unique without regard to case, so unpacking
    on Windows or macOS does not overwrite one with another."""
    seen: set[str] = set()
    out = []
    for raw in names:
        name = _UNSAFE.sub("_", PurePosixPath((raw or "").replace("\\", "/")).name).strip(" .") or "file"
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, dot, ext = name, "", ""
        candidate, n = name, 1
        while candidate.lower() in seen:
            n += 1
            candidate = f"{stem} ({n}){dot}{ext}"
        seen.add(candidate.lower())
        out.append(candidate)
    return out


def download(user_id: UUID, media_ids) -> dict:
    """The ZIP of the originals among ``media_ids`` the user may see (their own, and what is shared with them):
    {chunks: an iterator of the ZIP's bytes, filename, count, not_found}.  NotFound when none of them is visible,
    Invalid past DOWNLOAD_MAX_ITEMS items or DOWNLOAD_MAX_BYTES bytes."""
    ids = _ids(media_ids)
    with db.transaction() as cur:
        files = media_q.visible_files(cur, user_id, ids)
    if not files:
        raise NotFound("media")
    total = sum(f["size"] for f in files)
    if len(files) > DOWNLOAD_MAX_ITEMS or total > DOWNLOAD_MAX_BYTES:
        raise Invalid(f"a download holds at most {DOWNLOAD_MAX_ITEMS} items and {_gb(DOWNLOAD_MAX_BYTES)}; this "
                      f"selection has {len(files)} items and {_gb(total)}: select fewer and download them in parts")
    for f, name in zip(files, zip_names([f["filename"] for f in files])):
        f["name"] = name
    stamp = time.strftime("%Y-%m-%d-%H%M%S", time.gmtime())
    return {"chunks": zip_stream(files), "filename": f"photos-{stamp}.zip", "count": len(files),
            "not_found": len(ids) - len(files)}


def _gb(n: int) -> str:
    return f"{n / 1024 ** 3:.1f} GB"


class _Pipe:
    """The file the ZipFile writes to: not seekable (so zipfile writes sizes after each entry's data, in a data
    descriptor), and emptied by the generator after every write."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, b) -> int:
        self.parts.append(bytes(b))
        return len(b)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = self.parts[0] if len(self.parts) == 1 else b"".join(self.parts)
        self.parts.clear()
        return out


def _zip_time(f: dict) -> tuple:
    when = f.get("taken_at") or f.get("created_at")
    if when is None or when.year < 1980:  # the ZIP format's clock starts in 1980
        return (1980, 1, 1, 0, 0, 0)
    return when.timetuple()[:6]


def zip_stream(files: list[dict]) -> Iterator[bytes]:
    """The ZIP of `files` (rows with storage_key, size and the entry's name) as it is written: a stored (not
    compressed) entry per original, read from the object store chunk by chunk.  An original missing from the store
    is left out (logged): the answer has started by then and cannot become an error."""
    from pva.infra.storage import NotFound as ObjectMissing
    from pva.infra.storage import get_storage

    bucket, store = get_settings().bucket_originals, get_storage()
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for f in files:
            try:
                stream = store.get_stream(bucket, f["storage_key"])
            except ObjectMissing:
                log.warning("download: original missing from the store", extra={"media_id": str(f["id"])})
                continue
            info = zipfile.ZipInfo(f["name"], date_time=_zip_time(f))
            info.compress_type = zipfile.ZIP_STORED
            info.file_size = f["size"]  # decides whether the entry needs ZIP64 sizes (written after the data)
            info.external_attr = 0o644 << 16
            with stream, zf.open(info, "w") as out:
                for chunk in stream.iter_chunks():
                    out.write(chunk)
                    if pipe.parts:
                        yield pipe.take()
            yield pipe.take()  # the rest of the entry: its data descriptor
    yield pipe.take()  # the central directory


__all__ = ["DOWNLOAD_MAX_BYTES", "DOWNLOAD_MAX_ITEMS", "album_add", "album_remove", "download", "restore",
           "set_location", "trash", "zip_names", "zip_stream"]
