"""Many items at once (issue 18 item 3: select many, act once): trash, restore, set the location, add to or take
out of an album, and download the originals as one ZIP.

Each edit acts only on the caller's own media, in one transaction, and answers ``{done, not_found}``: an id that is
missing, someone else's or only shared with the caller is counted as not found and left alone, the same answer
either way (never reveal that an id exists), and one foreign id does not spoil the rest of a selection.  The
album routes name the album in the path: an album that is not the caller's own is "no such album", as for the
album routes of pva.services.albums.

The download holds each item's original and, beside it under the same base name, its companion files that arrived
as files of their own (a live photo's MOV, the RAW of a RAW+JPEG pair; a motion clip extracted from a JPEG is in
that JPEG already).  It streams: the ZIP is written entry by entry into a small buffer that is handed out as it
fills, each file read from the object store in chunks, so memory stays bounded whatever the size of the selection;
the entries are stored, not compressed (photos and videos do not shrink, and the bytes out are the bytes stored).  A
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


def _safe_name(raw: str | None) -> str:
    return _UNSAFE.sub("_", PurePosixPath((raw or "").replace("\\", "/")).name).strip(" .") or "file"


def _split(name: str) -> tuple[str, str]:
    stem, dot, ext = name.rpartition(".")
    return (stem, f".{ext}") if dot and stem else (name, "")


def zip_group_names(groups: list[list[str]]) -> list[list[str]]:
    """Entry names for items with their companion files: each group is an item's original's name, then its
    companions' (a live photo's MOV, a pair's RAW).  The original keeps its own name (no folders, nothing a file
    system refuses); each companion takes the original's base name with its own extension (IMG_1.JPG beside
    IMG_1.MOV), so the pair stays recognisable.  A name taken already makes the whole group "IMG_1 (2).JPG" +
    "IMG_1 (2).MOV", the way a desktop numbers copies; names are unique without regard to case, so unpacking on
    Windows or macOS does not overwrite one with another.  A companion whose extension is the original's (no
    camera makes such a pair) is numbered within its group: "IMG_1.1.JPG"."""
    seen: set[str] = set()
    out = []
    for group in groups:
        stem, ext = _split(_safe_name(group[0]))
        exts = [_split(_safe_name(c))[1] for c in group[1:]]
        n = 1
        while True:
            base = stem if n == 1 else f"{stem} ({n})"
            names = [base + ext]
            for e in exts:
                name = base + e
                if name.lower() in {x.lower() for x in names}:
                    name = f"{base}.{len(names)}{e}"
                names.append(name)
            if not any(x.lower() in seen for x in names):
                break
            n += 1
        seen.update(x.lower() for x in names)
        out.append(names)
    return out


def zip_names(names: list[str]) -> list[str]:
    """Entry names for files without companions (:func:`zip_group_names` of one-file groups)."""
    return [g[0] for g in zip_group_names([[n] for n in names])]


def download(user_id: UUID, media_ids) -> dict:
    """The ZIP of the originals among ``media_ids`` the user may see (their own, and what is shared with them),
    each with its companion files that arrived as files (a live photo's MOV, the RAW of a RAW+JPEG pair) beside it
    under the same base name: {chunks: an iterator of the ZIP's bytes, filename, count (items), not_found}.
    NotFound when none of them is visible, Invalid past DOWNLOAD_MAX_ITEMS items or DOWNLOAD_MAX_BYTES bytes
    (companions included)."""
    from ..db import media_files as files_q

    ids = _ids(media_ids)
    with db.transaction() as cur:
        files = media_q.visible_files(cur, user_id, ids)
        companions: dict = {}
        for c in files_q.arrived_files_of(cur, [f["id"] for f in files]) if files else []:
            companions.setdefault(c["media_id"], []).append(c)
    if not files:
        raise NotFound("media")
    total = sum(f["size"] for f in files) + sum(c["size"] or 0 for cs in companions.values() for c in cs)
    if len(files) > DOWNLOAD_MAX_ITEMS or total > DOWNLOAD_MAX_BYTES:
        raise Invalid(f"a download holds at most {DOWNLOAD_MAX_ITEMS} items and {_gb(DOWNLOAD_MAX_BYTES)}; this "
                      f"selection has {len(files)} items and {_gb(total)}: select fewer and download them in parts")
    groups = [[f["filename"], *(c["filename"] or f"{c['role']}.{c['format'] or 'bin'}"
                                for c in companions.get(f["id"], []))] for f in files]
    entries = []
    for f, names in zip(files, zip_group_names(groups)):
        entries.append({**f, "name": names[0]})
        entries += [{"id": f["id"], "storage_key": c["storage_key"], "size": c["size"], "name": name,
                     "taken_at": f["taken_at"], "created_at": f["created_at"]}
                    for c, name in zip(companions.get(f["id"], []), names[1:])]
    stamp = time.strftime("%Y-%m-%d-%H%M%S", time.gmtime())
    return {"chunks": zip_stream(entries), "filename": f"photos-{stamp}.zip", "count": len(files),
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
    """The ZIP of `files` (rows with storage_key, size and the entry's name: originals and companion files, all in
    the originals bucket) as it is written: a stored (not compressed) entry per file, read from the object store
    chunk by chunk.  A file missing from the store is left out (logged): the answer has started by then and cannot
    become an error."""
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
           "set_location", "trash", "zip_group_names", "zip_names", "zip_stream"]
