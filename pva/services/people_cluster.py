"""People from faces, step 2: ``recluster(owner)`` regroups all the owner's faces (chinese whispers).

New clusters take over the old people with the most overlap (named/hidden people first), so names survive;
locked faces stay where the user put them.  Run by `pva faces recluster`.
"""
from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from uuid import UUID

import numpy as np

from pva.infra import db
from ..db import people as people_q
from ..ml.faces import cluster
from .people_match import face_threshold

log = logging.getLogger("pva.faces")


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


