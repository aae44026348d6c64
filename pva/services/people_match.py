"""People from faces, step 1: a media item's new faces are matched to the owner's people (incremental).

- A new face joins the owner's person with the nearest centroid when closer than ``face_threshold`` (0.6), else
  it starts a new person (two faces of one image never join the same person this way).  Writes of one owner's
  people are serialized by an advisory lock.
- Rerunning faces on a media item replaces its faces; faces the user had placed (person_locked) go back to the
  same person when the same box is found again; the others are re-assigned by nearest centroid.  A person's
  centroid survives while the person has a name, so named people keep their faces across reruns; people left
  with no faces and no name are removed.

The other steps: people_cluster.py (full recluster), people_similar.py (similar-face search); the user's edits
and the entry point for callers are in people.py.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..config import get_settings
from ..db import people as people_q
from ..ml.faces import box_iou

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
    time_ranges: list | None = None          # a video's face: [[start, end], ...] seconds this person appears


def _same_time(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) < 0.05


def _locked_match(old_locked: list[dict], face: NewFace) -> dict | None:
    best, best_iou = None, LOCK_IOU
    for o in old_locked:
        if not _same_time(o["video_time"], face.video_time):
            continue
        v = box_iou((o["x"], o["y"], o["w"], o["h"]), face.box)
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
                     "person_locked": locked, "crop_key": f.crop_key, "video_time": f.video_time,
                     "time_ranges": f.time_ranges})
        out.append({"person_id": person, "person_locked": locked, "crop_key": f.crop_key,
                    "new_person": new_person})
    ids = people_q.insert_faces(cur, media["id"], owner, rows, model, model_version)
    for o, i in zip(out, ids):
        o["id"] = i
    people_q.refresh_people(cur, owner, touched)
    people_q.delete_empty_unnamed(cur, owner, touched)
    return out


