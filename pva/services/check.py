"""`pva check`: does the originals bucket hold exactly what the media rows say?

    report = check()                        # every row's object: present, right size, right SHA-512
    report = check(quick=True)              # sizes only (one bucket listing, no reads)
    report = check(repair=True)             # orphans moved to lost+found/ (never deleted)
    report = check(repair=True, repair_from="/mnt/backup")   # missing or changed originals put back from a backup

A missing or changed original can only come back from a backup: with `repair_from` its blob is found by the
SHA-512 its row stores (backups are content-addressed), checked while it is put back, and the changed bytes it
replaces are first set aside in lost+found/ like an orphan.

An orphan (an object no row names) is only touched once it is older than `grace_seconds`, because ingest puts the
original a moment before it commits the row: a younger object may be an ingest still under way.  The move is a
server-side copy to ``lost+found/<key>``, checked, then removal of the old key; the row table is asked again
right before, so an object whose row appeared meanwhile stays where it is.
"""
from __future__ import annotations

import concurrent.futures as cf
import hashlib
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pva.infra import db
from ..db import backup as backup_q
from ..db import media as media_q

LOST_FOUND = "lost+found/"


@dataclass
class CheckReport:
    media: int = 0
    objects: int = 0
    bytes_read: int = 0
    quick: bool = False
    missing: list[dict] = field(default_factory=list)        # row without its object
    wrong_size: list[dict] = field(default_factory=list)
    wrong_sha512: list[dict] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)         # object without a row (old enough to be judged)
    young_orphans: list[str] = field(default_factory=list)   # without a row, but maybe an ingest under way
    moved: list[tuple[str, str]] = field(default_factory=list)
    restored: list[dict] = field(default_factory=list)      # put back from a backup by --repair --from
    not_in_backup: list[dict] = field(default_factory=list)  # missing or changed, and the backup lacks it too
    in_lost_found: int = 0
    # thumbnails, previews, keyframes, face crops a row names but the thumbs bucket lacks: derived data, not a loss
    # of anything original, so they do not make the check fail
    missing_sidecars: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.wrong_size or self.wrong_sha512 or self.orphans)


def check(*, quick: bool = False, repair: bool = False, repair_from: str | None = None, grace_seconds: float = 900,
          jobs: int = 4, progress: bool = True, console=None, label: str = "checking") -> CheckReport:
    from pva.infra.storage import NotFound, get_storage
    from .transfer import ByteProgress, list_quiet

    st = get_storage()
    t0 = time.perf_counter()
    rep = CheckReport(quick=quick)
    # the rows first, then the listing: an object put and committed in between is then in the listing without
    # its row only if it is younger than the grace period, which keeps it out of the orphans
    with db.transaction() as cur:
        rows = backup_q.originals_for_check(cur)
        sidecars = [r for r in backup_q.referenced_objects(cur) if r["bucket"] == "thumbs"]
    listed = {o.key: o for o in list_quiet(st, st.originals)}
    thumbs = {o.key for o in list_quiet(st, st.thumbs)}
    rep.missing_sidecars = [{"key": r["key"], "media_id": str(r["media_id"])} for r in sidecars
                            if r["key"] not in thumbs and st.stat(st.thumbs, r["key"]) is None]
    rep.media = len(rows)
    rep.objects = len(listed)

    to_hash = []
    for r in rows:
        o = listed.get(r["storage_key"])
        item = {"media_id": str(r["id"]), "key": r["storage_key"], "size": r["size"],
                "sha512": bytes(r["sha512"]).hex(), "mime": r["mime"]}
        if o is None:
            if st.stat(st.originals, r["storage_key"]) is None:  # not just put after the listing
                rep.missing.append(item)
            continue
        if o.size != r["size"]:
            rep.wrong_size.append({**item, "actual_size": o.size})
        elif not quick:
            to_hash.append((r, item))

    def digest(r: dict) -> tuple[bytes | None, int]:
        h, n = hashlib.sha512(), 0
        try:
            with st.get_stream(st.originals, r["storage_key"]) as body:
                for chunk in body:
                    h.update(chunk)
                    n += len(chunk)
        except NotFound:  # deleted (with its row, or behind our back) since the listing
            return None, 0
        return h.digest(), n

    if to_hash:
        with ByteProgress(label, sum(r["size"] for r, _ in to_hash), len(to_hash), progress, console) as bar, \
                cf.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            for (r, item), (d, n) in zip(to_hash, pool.map(digest, [r for r, _ in to_hash])):
                rep.bytes_read += n
                if d is None:
                    rep.missing.append(item)
                elif d != bytes(r["sha512"]):
                    rep.wrong_sha512.append({**item, "actual_sha512": d.hex()})
                bar.advance(n)

    keys = {r["storage_key"] for r in rows}
    now = datetime.now(timezone.utc)
    for key, o in listed.items():
        if key.startswith(LOST_FOUND):
            rep.in_lost_found += 1
        elif key not in keys:
            age = (now - o.last_modified).total_seconds() if o.last_modified else float("inf")
            (rep.orphans if age >= grace_seconds else rep.young_orphans).append(key)

    if repair:
        for key in rep.orphans:
            target = _move_to_lost_found(st, key, listed)
            if target:
                rep.moved.append((key, target))
        if repair_from:
            _restore_from_backup(st, rep, repair_from, listed)
    rep.seconds = time.perf_counter() - t0
    return rep


def _restore_from_backup(st, rep: CheckReport, src: str, listed: dict) -> None:
    from .transfer import VerifyingReader
    from .backup_store import open_store

    store = open_store(src)
    held = store.blobs()
    for lst in (rep.missing, rep.wrong_size, rep.wrong_sha512):
        for item in list(lst):
            if held.get(item["sha512"]) != item["size"]:
                rep.not_in_backup.append(item)
                continue
            if item in rep.wrong_size or item in rep.wrong_sha512:
                if _set_aside(st, item["key"], listed) is None:
                    continue  # the changed bytes could not be kept: leave them rather than lose them
            with store.open_blob(item["sha512"]) as blob:
                body = VerifyingReader(blob, {**item, "bucket": "originals"})
                st.put(st.originals, item["key"], body, length=item["size"], content_type=item["mime"],
                       metadata={"sha512": item["sha512"], "media-id": item["media_id"]})
            try:
                body.check()
            except Exception:
                st.delete(st.originals, item["key"])  # the backup's copy is damaged: put nothing wrong back
                raise
            lst.remove(item)
            rep.restored.append(item)


def _move_to_lost_found(st, key: str, listed: dict) -> str | None:
    with db.transaction() as cur:
        if media_q.key_taken(cur, key):  # its row appeared since the listing: not an orphan after all
            return None
    return _set_aside(st, key, listed)


def _set_aside(st, key: str, listed: dict) -> str | None:
    """Move an object to lost+found/ (copy, check, then remove the old key); None when the copy is not proven."""
    target, n = LOST_FOUND + key, 1
    while target in listed or st.stat(st.originals, target) is not None:
        target, n = f"{LOST_FOUND}{key}~{n}", n + 1
    st.copy(st.originals, key, st.originals, target)
    src, dst = st.stat(st.originals, key), st.stat(st.originals, target)
    if src is None or dst is None or src.size != dst.size:
        return None  # the copy is not proven: keep the orphan where it is
    st.delete(st.originals, key)
    listed[target] = None
    return target
