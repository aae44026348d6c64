"""Near-duplicates (issue 21): hashes at ingest, the pairs they make, the groups of the Duplicates page, "keep the
best, trash the rest" and "not duplicates".

- Ingest hashes every photo from the grid thumbnail it has just encoded and every video keyframe from the frame it
  has just decoded (``photo_hash``, ``frame_hash``), then ``link`` records, in the media row's own transaction, a
  pair with each of the owner's items of the same kind within ``pva.media.phash.NEAR`` bits.
- ``hash_existing`` does the same for items ingested before (``pva duplicates hash``), from their stored thumbnails.
- ``groups``: the connected components of the owner's pairs that are not dismissed and whose items are out of the
  trash; each group's id is its smallest media id, its best item first (resolution, then size, then metadata).
- ``resolve`` moves every other item of a group to the trash (restorable there); ``dismiss`` remembers "not
  duplicates" for the pairs of a group.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from uuid import UUID

from ..db import duplicates as dup_q
from ..db import media as media_q
from ..errors import Invalid, NotFound
from ..infra import db
from ..media import phash as ph
from . import bursts
from . import people

log = logging.getLogger("pva.duplicates")

MAX_GROUPS = 500  # a page shows at most this many groups (the count says how many there are)


# ---------------------------------------------------------------- hashing (ingest and the CLI)
def photo_hash(thumb_jpeg: bytes | None) -> int | None:
    """The hash of a photo from its grid thumbnail; None (logged) when it cannot be computed: never an ingest
    failure."""
    if not thumb_jpeg:
        return None
    try:
        return ph.phash_jpeg(thumb_jpeg)
    except Exception:  # a thumbnail we made ourselves: should not happen, and must not refuse the file
        log.warning("could not hash a thumbnail", exc_info=True)
        return None


def frame_hash(img) -> int | None:
    """The hash of a decoded video frame (a PIL image); None when it cannot be computed."""
    try:
        return ph.phash_image(img)
    except Exception:
        log.warning("could not hash a video frame", exc_info=True)
        return None


def video_hash(frame_hashes: list[int]) -> int | None:
    """A video's hash: its middle keyframe's (the first is often a fade from black, alike in many videos)."""
    return frame_hashes[len(frame_hashes) // 2] if frame_hashes else None


def link(cur, owner_id: UUID, media_id: UUID, kind: str, h: int | None) -> int:
    """Inside the caller's transaction (ingest's): store the hash and the item's near-duplicate pairs."""
    if h is None:
        return 0
    return dup_q.link(cur, owner_id, media_id, kind, h)


def hash_existing(owner_id: UUID | None = None, *, progress: Callable[[int, int], None] | None = None,
                  batch: int = 200) -> dict:
    """Hash the items that have no hash yet (one owner's or everyone's) from their stored thumbnails (and a
    video's keyframes), recording their pairs.  ``progress(done, total)`` after each item.  An item whose thumbnail
    is missing or unreadable is counted as failed and the rest goes on."""
    from pva.config import get_settings
    from pva.infra.storage import get_storage

    s = get_settings()
    st = get_storage()
    with db.transaction() as cur:
        total = dup_q.count_unhashed(cur, owner_id)
    done = hashed = failed = pairs = 0
    after = None
    failed_ids: set[UUID] = set()
    while True:
        with db.transaction() as cur:
            rows = dup_q.unhashed(cur, owner_id, after=after, limit=batch)
        if not rows:
            break
        for r in rows:
            after = r["id"]
            try:
                h, keyframes = _hash_stored(st, s.bucket_thumbs, r)
            except Exception as e:  # one unreadable thumbnail does not stop the rest
                log.warning("could not hash a stored item", extra={"media_id": str(r["id"]), "error": str(e)[:200]})
                h, keyframes = None, None
            if h is None:
                failed += 1
                failed_ids.add(r["id"])
            else:
                with db.transaction() as cur:
                    if keyframes is not None:
                        dup_q.set_keyframe_hashes(cur, r["id"], keyframes)
                    pairs += dup_q.link(cur, r["owner_id"], r["id"], r["kind"], h)
                hashed += 1
            done += 1
            if progress:
                progress(done, total)
    return {"hashed": hashed, "failed": failed, "pairs": pairs}


def _hash_stored(st, bucket: str, row: dict) -> tuple[int | None, list | None]:
    if row["kind"] == "video" and row.get("keyframes"):
        from PIL import Image
        import io

        keyframes = [dict(k) for k in row["keyframes"]]
        hashes = []
        for kf in keyframes:
            data = st.get_bytes(bucket, kf["key"])
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                h = frame_hash(im)
            if h is not None:
                kf["phash"] = ph.to_hex(h)
                hashes.append(h)
        return video_hash(hashes), keyframes
    return photo_hash(st.get_bytes(bucket, row["thumb_key"])), None


# ---------------------------------------------------------------- groups
def _components(pairs: list[dict]) -> list[list[UUID]]:
    parent: dict[UUID, UUID] = {}

    def find(x):
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for p in pairs:
        ra, rb = find(p["a"]), find(p["b"])
        if ra != rb:
            parent[max(ra, rb, key=str)] = min(ra, rb, key=str)
    comps: dict[UUID, list[UUID]] = {}
    for x in parent:
        comps.setdefault(find(x), []).append(x)
    return list(comps.values())


def completeness(item: dict) -> int:
    """How much metadata an item has (date, camera, lens, place, exposure): the last tie-breaker of "best"."""
    return sum(bool(item.get(k)) for k in ("taken_at", "camera_make", "camera_model", "lens", "has_gps",
                                          "has_exposure"))


def best_key(item: dict):
    """Sort key, best first: most pixels, then largest file, then most metadata (then the oldest id, stable)."""
    return (-((item.get("width") or 0) * (item.get("height") or 0)), -(item.get("size") or 0),
            -completeness(item), str(item["id"]))


def _groups(cur, owner_id: UUID) -> list[dict]:
    pairs = dup_q.active_pairs(cur, owner_id)
    comps = _components(pairs)
    if not comps:
        return []
    dist: dict[UUID, int] = {}
    for p in pairs:
        for m in (p["a"], p["b"]):
            dist[m] = min(dist.get(m, 64), p["distance"])
    rows = {r["id"]: r for r in dup_q.items(cur, owner_id, [m for c in comps for m in c])}
    out = []
    for comp in comps:
        members = sorted((rows[m] for m in comp if m in rows), key=best_key)
        if len(members) < 2:
            continue
        out.append({"id": min(comp, key=str), "best_id": members[0]["id"],
                    "items": [_item(m, dist.get(m["id"]), best=(k == 0)) for k, m in enumerate(members)]})
    out.sort(key=lambda g: (_newest(g), str(g["id"])), reverse=True)  # newest first, like the library
    return out


def _item(m: dict, distance: int | None, *, best: bool) -> dict:
    return {**m, "distance": distance, "best": best, "metadata_score": completeness(m),
            "thumbnail_url": f"/api/v1/media/{m['id']}/thumbnail", "url": f"/media/{m['id']}"}


def _newest(g: dict) -> float:
    ts = [i["taken_at"].timestamp() for i in g["items"] if i.get("taken_at")]
    return max(ts) if ts else float("-inf")


def groups(owner_id: UUID, *, limit: int = MAX_GROUPS) -> dict:
    """The owner's near-duplicate groups, at most ``limit`` of them, with the total count."""
    with db.transaction() as cur:
        gs = _groups(cur, owner_id)
    return {"groups": gs[:limit], "total_groups": len(gs),
            "total_items": sum(len(g["items"]) for g in gs), "near": ph.NEAR}


def _find_group(cur, owner_id: UUID, group_id: UUID) -> dict:
    for g in _groups(cur, owner_id):
        if g["id"] == group_id or any(i["id"] == group_id for i in g["items"]):
            return g
    raise NotFound("duplicate group")


def resolve(owner_id: UUID, group_id: UUID, keep: UUID | None = None,
            media_ids: list[UUID] | None = None) -> dict:
    """Keep one item of the group (``keep``, else its best) and move the others to the trash.  ``media_ids``: the
    items the caller saw; only those (that are still in the group) go, so an item that joined the group since is
    never trashed unseen."""
    with db.transaction() as cur:
        people.lock_for_items(cur, owner_id)  # before the items' rows (people.items_moved)
        g = _find_group(cur, owner_id, group_id)
        members = [i["id"] for i in g["items"]]
        keep = keep or g["best_id"]
        if keep not in members:
            raise Invalid("keep: not an item of this group")
        trash = [m for m in members if m != keep and (media_ids is None or m in set(media_ids))]
        trashed = media_q.trash_many(cur, owner_id, trash)
        people.items_moved(cur, owner_id, trashed)  # their faces leave their people's counts
    bursts.after_change(owner_id, trashed)  # trashed frames leave their bursts, as a trash from the library does
    return {"group_id": group_id, "kept": keep, "trashed": trashed}


def resolve_all(owner_id: UUID) -> dict:
    """Keep the best of every group and move the others to the trash, in one transaction."""
    with db.transaction() as cur:
        people.lock_for_items(cur, owner_id)
        gs = _groups(cur, owner_id)
        trash = [i["id"] for g in gs for i in g["items"] if i["id"] != g["best_id"]]
        trashed = media_q.trash_many(cur, owner_id, trash) if trash else []
        people.items_moved(cur, owner_id, trashed)
    bursts.after_change(owner_id, trashed)
    return {"groups": len(gs), "kept": len(gs), "trashed": len(trashed)}


def dismiss(owner_id: UUID, group_id: UUID) -> dict:
    """"Not duplicates": the group's pairs are remembered as dismissed and the group is not shown again."""
    with db.transaction() as cur:
        g = _find_group(cur, owner_id, group_id)
        n = dup_q.dismiss(cur, owner_id, [i["id"] for i in g["items"]])
    return {"group_id": group_id, "dismissed_pairs": n}
