"""People from faces: incremental assignment, full recluster, similar-face search and the user's edits.

Rules (issue 6):
- A new face joins the owner's person with the nearest centroid when closer than ``face_threshold`` (0.6), else
  it starts a new person (two faces of one image never join the same person this way).  Writes of one owner's people are serialized by an advisory lock.
- Rerunning faces on a media item replaces its faces; faces the user had placed (person_locked) go back to the
  same person when the same box is found again; the others are re-assigned by nearest centroid.  A person's
  centroid survives while the person has a name, so named people keep their faces across reruns; people left
  with no faces and no name are removed.
- ``recluster(owner)`` runs chinese whispers over all the owner's faces.  New clusters take over the old people
  with the most overlap (named/hidden people first), so names survive; locked faces stay where the user put them.
- Similar faces are searched in the owner's library only, through the HNSW index (pgvector ``<->``), falling back
  to an exact scan of the owner's faces when the index's candidates do not hold enough of the owner's faces.

Every function takes the owner's id and never reaches another owner's rows.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence
from uuid import UUID

import numpy as np

from . import db
from .config import get_settings
from .db import people as people_q

log = logging.getLogger("pva.faces")

#: photos decoded at once for similar-face queries in one process: a decode holds up to the pixel limit in memory
#: (PNG and other formats cannot be decoded at a reduced scale), so a burst of queries waits here instead of
#: multiplying that memory in the gateway
QUERY_DECODE_SLOTS = 2
QUERY_WAIT_SECONDS = 30
_query_slots = threading.BoundedSemaphore(QUERY_DECODE_SLOTS)


class Busy(RuntimeError):
    """Every decode slot stayed taken for QUERY_WAIT_SECONDS: answer 503 and let the client retry."""


DEFAULT_EF_SEARCH = 100   # hnsw.ef_search for similar-face queries (bench/faces.py: recall@10 vs latency)
LOCK_IOU = 0.5            # a new box overlapping a locked old box this much is "the same face" on a rerun


def face_threshold(threshold: float | None = None) -> float:
    t = get_settings().face_threshold if threshold is None else float(threshold)
    if not 0 < t < 2:
        raise ValueError(f"face threshold {t} is out of range: use a distance between 0 and 2 (default 0.6)")
    return t


# ------------------------------------------------------------------ storing a media item's faces
@dataclass
class NewFace:
    box: tuple[float, float, float, float]   # normalized x, y, w, h
    embedding: Any                           # 128 floats
    video_time: float | None = None
    crop_key: str | None = None


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _same_time(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 0.05


def _locked_match(old_locked: list[dict], face: NewFace) -> dict | None:
    best, best_iou = None, LOCK_IOU
    for o in old_locked:
        if not _same_time(o["video_time"], face.video_time):
            continue
        v = _iou((o["x"], o["y"], o["w"], o["h"]), face.box)
        if v >= best_iou:
            best, best_iou = o, v
    if best is not None:
        old_locked.remove(best)
    return best


def replace_media_faces(cur, media: dict, faces: Sequence[NewFace], model: str, model_version: str = "",
                        threshold: float | None = None) -> list[dict]:
    """Replace a media item's faces and assign each to a person, inside the caller's transaction.

    Returns one dict per stored face: id, person_id, person_locked, crop_key, new_person (bool)."""
    thr = face_threshold(threshold)
    owner = media["owner_id"]
    people_q.lock_owner(cur, owner)
    old = people_q.delete_faces_of_media(cur, media["id"])
    touched = {o["person_id"] for o in old if o["person_id"]}
    old_locked = [o for o in old if o["person_locked"]]
    alive = people_q.existing_people(cur, owner, {o["person_id"] for o in old_locked})
    rows, out = [], []
    in_frame: dict = {}  # video_time -> people already in that image: one person appears once per image
    for f in faces:
        emb = np.asarray(f.embedding, dtype=np.float32).reshape(-1)
        kept = _locked_match(old_locked, f)
        new_person = False
        frame = in_frame.setdefault(None if f.video_time is None else round(float(f.video_time), 3), set())
        if kept is not None and (kept["person_id"] is None or kept["person_id"] in alive):
            person, locked = kept["person_id"], True
        else:
            near = people_q.nearest_person(cur, owner, emb, exclude=frame)
            if near is not None and near[1] < thr:
                person = near[0]
            else:  # a new person; its centroid is this face until refresh, so later faces here can join it
                person, new_person = people_q.create_person(cur, owner, emb), True
            locked = False
        if person:
            touched.add(person)
            frame.add(person)
        x, y, w, h = (float(v) for v in f.box)
        rows.append({"x": x, "y": y, "w": w, "h": h, "embedding": emb, "person_id": person,
                     "person_locked": locked, "crop_key": f.crop_key, "video_time": f.video_time})
        out.append({"person_id": person, "person_locked": locked, "crop_key": f.crop_key,
                    "new_person": new_person})
    ids = people_q.insert_faces(cur, media["id"], owner, rows, model, model_version)
    for o, i in zip(out, ids):
        o["id"] = i
    people_q.refresh_people(cur, owner, touched)
    people_q.delete_empty_unnamed(cur, owner, touched)
    return out


# ------------------------------------------------------------------ full recluster
@dataclass
class ReclusterReport:
    faces: int = 0
    clusters: int = 0
    people_before: int = 0
    people_after: int = 0
    people_created: int = 0
    people_removed: int = 0
    faces_moved: int = 0
    faces_locked: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def recluster(owner_id, threshold: float | None = None) -> ReclusterReport:
    """Recluster all of an owner's faces (chinese whispers), keeping names, hidden flags and locked faces."""
    from .ml.faces import cluster

    thr = face_threshold(threshold)
    rep = ReclusterReport()
    with db.transaction() as cur:
        people_q.lock_owner(cur, owner_id)
        faces = people_q.owner_faces(cur, owner_id)
        people = {p["id"]: p for p in people_q.owner_people(cur, owner_id)}
        rep.faces, rep.people_before = len(faces), len(people)
        labels = cluster(np.stack([f["embedding"] for f in faces]), thr) if faces else []
        rep.clusters = len(set(labels))
        # which old person each new cluster continues: user-decided people (named or hidden) first, then the
        # biggest overlaps; each old person continues at most one cluster
        overlap = Counter((lbl, f["person_id"]) for lbl, f in zip(labels, faces)
                          if f["person_id"] is not None and f["person_id"] in people)

        def rank(item):
            (lbl, pid), n = item
            p = people[pid]
            return (p["name"] is not None or p["hidden"], n)

        target: dict[int, UUID] = {}
        taken: set = set()
        for (lbl, pid), _n in sorted(overlap.items(), key=rank, reverse=True):
            if lbl in target or pid in taken:
                continue
            target[lbl] = pid
            taken.add(pid)
        members: dict[int, list] = {}
        for lbl, f in zip(labels, faces):
            if not f["person_locked"]:
                members.setdefault(lbl, []).append(f["embedding"])
        changes: list[tuple[int, UUID | None]] = []
        for lbl, f in zip(labels, faces):
            if f["person_locked"]:
                rep.faces_locked += 1
                continue
            pid = target.get(lbl)
            if pid is None:
                pid = target[lbl] = people_q.create_person(cur, owner_id, np.mean(members[lbl], axis=0))
                rep.people_created += 1
            if pid != f["person_id"]:
                changes.append((f["id"], pid))
        rep.faces_moved = people_q.set_people_bulk(cur, owner_id, changes)
        people_q.refresh_people(cur, owner_id)
        rep.people_removed = people_q.delete_empty_unnamed(cur, owner_id)
        rep.people_after = len(people_q.owner_people(cur, owner_id))
    log.info("reclustered faces", extra={"owner_id": str(owner_id), **rep.as_dict()})
    return rep


def recluster_all(threshold: float | None = None) -> dict[str, ReclusterReport]:
    with db.transaction() as cur:
        owners = people_q.owners_with_faces(cur)
    return {o["username"]: recluster(o["id"], threshold) for o in owners}


# ------------------------------------------------------------------ similar faces
def _similar(owner_id, embedding, k: int, exclude_face_id: int, threshold: float, ef_search: int | None,
             exact: bool) -> list[dict] | None:
    """Nearest faces to `embedding`, or to the owner's face `exclude_face_id` when embedding is None (None when
    that face is not theirs)."""
    if not 1 <= int(k) <= 1000:
        raise ValueError(f"k={k}: ask for between 1 and 1000 faces")
    ef = DEFAULT_EF_SEARCH if ef_search is None else int(ef_search)
    with db.transaction() as cur:
        if embedding is None:
            face = people_q.get_face(cur, exclude_face_id, owner_id)
            if face is None:
                return None
            embedding = face["embedding"]
        rows: list[dict] = []
        if not exact:
            rows = people_q.similar_ann(cur, owner_id, embedding, k, max(ef, 2 * k), exclude_face_id)
            if len(rows) < k and max(ef, 2 * k) < people_q.EF_SEARCH_MAX:
                # the owner holds a small share of all faces: widen the candidate list once
                rows = people_q.similar_ann(cur, owner_id, embedding, k, people_q.EF_SEARCH_MAX, exclude_face_id)
        if exact or len(rows) < k:
            rows = people_q.similar_exact(cur, owner_id, embedding, k, exclude_face_id)
    for r in rows:
        r["distance"] = float(r["distance"])
        r["same_person"] = r["distance"] < threshold
    return rows


def similar_faces(owner_id, face_id: int, k: int = 10, *, threshold: float | None = None,
                  ef_search: int | None = None, exact: bool = False) -> list[dict] | None:
    """The k faces nearest to one of the owner's faces, across the owner's library (itself excluded), nearest
    first, each with ``distance`` (L2) and ``same_person`` (distance < threshold).  None: no such face of theirs."""
    return _similar(owner_id, None, k, int(face_id), face_threshold(threshold), ef_search, exact)


def similar_to_embedding(owner_id, embedding, k: int = 10, *, threshold: float | None = None,
                         ef_search: int | None = None, exact: bool = False) -> list[dict]:
    return _similar(owner_id, embedding, k, -1, face_threshold(threshold), ef_search, exact)


def similar_to_image(owner_id, image, k: int = 10, *, engine=None, threshold: float | None = None) -> dict:
    """Faces in the owner's library like the (largest) face in an uploaded photo.

    The photo passes the one pixel limit of every entry point (read from its header before any decode) and a
    JPEG is decoded at a reduced scale (DCT scaling) to the size the face detector works at, so a 14000 x 14000
    JPEG costs a 1750 x 1750 decode (other formats are shrunk right after decoding); at most QUERY_DECODE_SLOTS
    photos are decoded at once per process.
    Raises pva.analysis.BadInput when the upload is not an image, is too large or holds no face, Busy when the
    decode slots stay taken."""
    from .ml import BadInput
    from .analysis.pipeline import open_image

    engine = engine or _engine()
    side = int(getattr(engine, "detect_max_side", 0) or 1600)
    if not _query_slots.acquire(timeout=QUERY_WAIT_SECONDS):
        raise Busy("the server is busy decoding other photos: retry in a few seconds")
    try:
        # shrunk to the detector's size before the RGB conversion: a PNG (no reduced-scale decode) costs its
        # decoded size once, not three more copies
        found = engine.detect(open_image(image, max_side=side))
    finally:
        _query_slots.release()
    if not found:
        raise BadInput("no face found in the uploaded photo: upload a photo where one face is clearly visible")
    q = found[0]
    return {"query_box": list(q.box), "faces_in_upload": len(found),
            "results": similar_to_embedding(owner_id, q.embedding, k, threshold=threshold)}


_ENGINE = None


def _engine():
    global _ENGINE
    if _ENGINE is None:
        from .ml.faces import FaceEngine

        _ENGINE = FaceEngine()
    return _ENGINE


# ------------------------------------------------------------------ the user's edits
def list_people(owner_id, include_hidden: bool = False) -> list[dict]:
    with db.transaction() as cur:
        return people_q.list_people(cur, owner_id, include_hidden)


def get_person(owner_id, person_id) -> dict | None:
    with db.transaction() as cur:
        return people_q.get_person(cur, person_id, owner_id)


_FACE_OUT = ("id", "media_id", "person_id", "crop_key", "x", "y", "w", "h")


def get_face(owner_id, face_id: int) -> dict | None:
    """One of the owner's faces on a live (not trashed) media item: id, media_id, person_id, crop_key and box
    (None when there is no such face of theirs)."""
    with db.transaction() as cur:
        f = people_q.get_face(cur, face_id, owner_id, live=True)
    return None if f is None else {k: f[k] for k in _FACE_OUT}


def name_person(owner_id, person_id, name: str | None) -> dict | None:
    """Name a person (None or blank clears the name)."""
    name = (name or "").strip()
    with db.transaction() as cur:
        return people_q.update_person(cur, person_id, owner_id, name=name or None, clear_name=not name)


def hide_person(owner_id, person_id, hidden: bool = True) -> dict | None:
    with db.transaction() as cur:
        return people_q.update_person(cur, person_id, owner_id, hidden=hidden)


def merge_people(owner_id, target_id, source_ids: Sequence) -> dict | None:
    """Merge people into target (faces locked there) and refresh the target's centroid, count and cover, in one
    transaction (under the owner's clustering lock, so a recluster never sees half a merge).  Returns the target,
    or None when one of the people is not the owner's."""
    with db.transaction() as cur:
        people_q.lock_owner(cur, owner_id)
        if not people_q.merge_people(cur, owner_id, target_id, list(source_ids)):
            return None
        people_q.refresh_people(cur, owner_id, [target_id])
        return people_q.get_person(cur, target_id, owner_id)


def assign_face(owner_id, face_id: int, person_id) -> bool:
    """Put a face in one of the owner's people (None: in nobody), locked against reclustering."""
    with db.transaction() as cur:
        people_q.lock_owner(cur, owner_id)
        if person_id is not None and not people_q.existing_people(cur, owner_id, [person_id]):
            return False
        moved = people_q.set_face_person(cur, face_id, owner_id, person_id, locked=True)
        if moved is None:
            return False
        people_q.refresh_people(cur, owner_id, [person_id, moved["old_person"]])
        people_q.delete_empty_unnamed(cur, owner_id, [moved["old_person"]])
    return True


def move_face_out(owner_id, face_id: int) -> UUID | None:
    """"This face is not this person": the face gets a person of its own (locked).  Returns the new person's
    id, or None when the face is not one of the owner's."""
    with db.transaction() as cur:
        people_q.lock_owner(cur, owner_id)
        face = people_q.get_face(cur, face_id, owner_id)
        if face is None:
            return None
        new = people_q.create_person(cur, owner_id, face["embedding"])
        people_q.set_face_person(cur, face_id, owner_id, new, locked=True)
        people_q.refresh_people(cur, owner_id, [new, face["person_id"]])
        people_q.delete_empty_unnamed(cur, owner_id, [face["person_id"]])
    return new


def person_faces(owner_id, person_id, limit: int = 100, offset: int = 0) -> list[dict]:
    with db.transaction() as cur:
        return people_q.faces_of_person(cur, owner_id, person_id, limit, offset)


def person_media(owner_id, person_id, limit: int = 100, offset: int = 0) -> list[dict]:
    """Search by person: the owner's media items in which the person appears."""
    with db.transaction() as cur:
        return people_q.media_of_person(cur, owner_id, person_id, limit, offset)


def media_faces(owner_id, media_id) -> list[dict] | None:
    """The faces of one of the owner's media items (None when it is not theirs)."""
    from .db import media as media_q

    with db.transaction() as cur:
        if media_q.get(cur, media_id, owner_id) is None:
            return None
        return people_q.faces_of_media(cur, media_id)
