"""People from faces: the service the gateway, the faces task and the CLI call (issue 17: one home per feature).

The feature is split by step under one prefix (as PhotoPrism's faces*.go):
- people.py          this module: the user's reads and edits (list, name, hide, merge, assign, move out) and the
                     entry point that re-exports the steps below, so callers import one module;
- people_match.py    a media item's new faces matched to people (``replace_media_faces``, ``face_threshold``);
- people_cluster.py  the full recluster of an owner's faces;
- people_similar.py  similar-face search (to a face, an embedding or an uploaded photo).
SQL is in pva/db/people.py (faces + people + embeddings), the dlib model wrapper in pva/ml/faces.py.

Every function takes the owner's id and never reaches another owner's rows.
"""
from __future__ import annotations

from typing import Sequence
from uuid import UUID

from pva.errors import Conflict, NotFound
from pva.infra import db
from ..db import people as people_q
from .people_cluster import ReclusterReport, recluster, recluster_all
from .people_match import NewFace, face_threshold, replace_media_faces
from .people_similar import Busy, similar_faces, similar_to_embedding, similar_to_image

__all__ = ["Busy", "NewFace", "ReclusterReport", "assign_face", "face_threshold", "get_face", "get_person",
           "hide_person", "list_people", "media_faces", "merge_people", "merges_into", "move_face_out",
           "name_person", "person_faces", "person_page", "person_media", "recluster", "recluster_all", "replace_media_faces", "similar_faces",
           "similar_to_embedding", "similar_to_image", "undo_merge", "person", "own_face", "update_person", "merge",
           "faces_of", "assign", "move_out", "similar_to_face", "similar_to_photo", "crop_key",
           "lock_for_items", "items_moved", "items_purged"]


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
    transaction (under the owner's clustering lock, so a recluster never sees half a merge).  Returns the target
    with ``merge_id`` (for :func:`undo_merge`; None when nothing moved), or None when one of the people is not
    the owner's."""
    with db.transaction() as cur:
        people_q.lock_owner(cur, owner_id)
        merge_id = people_q.merge_people(cur, owner_id, target_id, list(source_ids))
        if merge_id is None:
            return None
        people_q.refresh_people(cur, owner_id, [target_id])
        p = people_q.get_person(cur, target_id, owner_id)
    return None if p is None else {**p, "merge_id": merge_id or None}


def merges_into(owner_id, person_id) -> list[dict]:
    """The merges into one of the owner's people that can still be undone, newest first."""
    with db.transaction() as cur:
        return people_q.merges_into(cur, owner_id, person_id)


def undo_merge(owner_id, merge_id: int) -> dict:
    """Undo a merge: the people merged away are back under their ids, names and hidden flags, with the faces the
    merge moved (except those moved again since), and the target keeps only its own.  Returns
    {"person": the target, "restored": [the people back]}.  NotFound for another owner's merge; Conflict when
    it was undone already or the target is gone (merged on into someone else: undo that merge first)."""
    with db.transaction() as cur:
        people_q.lock_owner(cur, owner_id)
        merge = people_q.get_merge(cur, owner_id, merge_id)
        if merge is None:
            raise NotFound("merge")
        if merge["undone_at"] is not None:
            raise Conflict("this merge was undone already")
        if people_q.get_person(cur, merge["target_id"], owner_id) is None:
            raise Conflict("the person this merge went into no longer exists (merged into someone else?): "
                           "undo that merge first")
        if people_q.existing_people(cur, owner_id, [s["id"] for s in merge["sources"]]):
            raise Conflict("a person this merge removed exists again")
        restored = people_q.undo_merge(cur, owner_id, merge)
        people_q.refresh_people(cur, owner_id, [merge["target_id"], *restored])
        return {"person": people_q.get_person(cur, merge["target_id"], owner_id),
                "restored": [people_q.get_person(cur, r, owner_id) for r in restored]}


def person_page(owner_id, person_id) -> dict | None:
    """What a person's page shows: the person, their faces (each with its media item's name and kind), the
    owner's other people to move a face to, and the merges into this person that can be undone.  None when the
    person is not the owner's."""
    with db.transaction() as cur:
        p = people_q.get_person(cur, person_id, owner_id)
        if p is None:
            return None
        return {"person": p, "faces": people_q.faces_of_person(cur, owner_id, person_id, 1000, 0, with_media=True),
                "people": [o for o in people_q.list_people(cur, owner_id, include_hidden=True) if o["id"] != p["id"]],
                "merges": people_q.merges_into(cur, owner_id, person_id)}


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
    from ..db import media as media_q

    with db.transaction() as cur:
        if media_q.get(cur, media_id, owner_id) is None:
            return None
        return people_q.faces_of_media(cur, media_id)


# ------------------------------------------------------------------ items moved to or out of the trash, purged
# A person's face_count and cover count faces on live items only (people_q.refresh_people), so the media service
# calls these in the transaction that trashes, restores or purges items.  ``lock_for_items`` comes first in that
# transaction: the faces task takes the owner's lock and then updates media rows (their person_ids), so taking
# the lock after updating the items could deadlock with it.
def lock_for_items(cur, owner_id) -> None:
    people_q.lock_owner(cur, owner_id)


def items_moved(cur, owner_id, media_ids) -> None:
    """After the owner's items went to the trash or came back: their people's counts and covers."""
    people_q.refresh_people(cur, owner_id, people_q.people_of_media(cur, owner_id, media_ids))


def items_purged(cur, owner_id, person_ids) -> None:
    """After the owner's items were deleted for good (their faces with them): the people those faces were in are
    counted again, and the unnamed ones left without any face go (as after a faces rerun)."""
    ids = [p for p in set(person_ids or []) if p]
    people_q.refresh_people(cur, owner_id, ids)
    people_q.delete_empty_unnamed(cur, owner_id, ids)


# ------------------------------------------------------------------ the API's calls: an answer, or a refusal
# The gateway's people routes call these in one step; each refuses what the caller may not have (404 for anything
# not theirs, the same answer as for what does not exist) instead of answering None.
def person(owner_id, person_id) -> dict:
    p = get_person(owner_id, person_id)
    if p is None:
        raise NotFound("person")
    return p


def own_face(owner_id, face_id: int) -> dict:
    """One of the caller's faces on a live (not trashed) media item."""
    f = get_face(owner_id, face_id)
    if f is None:
        raise NotFound("face")
    return f


def update_person(owner_id, person_id, name: str | None = None, hidden: bool | None = None) -> dict:
    """Name (an empty string clears it) and/or hide a person."""
    p = person(owner_id, person_id)
    if name is not None:
        p = name_person(owner_id, person_id, name)
    if p is not None and hidden is not None:
        p = hide_person(owner_id, person_id, hidden)
    if p is None:
        raise NotFound("person")
    return p


def merge(owner_id, target_id, source_ids: Sequence) -> dict:
    merged = merge_people(owner_id, target_id, list(dict.fromkeys(source_ids)))
    if merged is None:
        raise NotFound("person")
    return merged


def faces_of(owner_id, person_id, limit: int = 100, offset: int = 0) -> list[dict]:
    person(owner_id, person_id)
    return person_faces(owner_id, person_id, limit, offset)


def assign(owner_id, face_id: int, person_id) -> dict:
    own_face(owner_id, face_id)
    if not assign_face(owner_id, face_id, person_id):
        raise NotFound("face or person")
    return own_face(owner_id, face_id)


def move_out(owner_id, face_id: int) -> dict:
    """The face and the new person of its own it was moved to."""
    own_face(owner_id, face_id)
    new = move_face_out(owner_id, face_id)
    p = get_person(owner_id, new) if new is not None else None
    if p is None:
        raise NotFound("face")
    return {"face": own_face(owner_id, face_id), "person": p}


def similar_to_face(owner_id, face_id: int, k: int = 10) -> dict:
    own_face(owner_id, face_id)
    rows = similar_faces(owner_id, face_id, k)
    if rows is None:
        raise NotFound("face")
    return {"face_id": face_id, "threshold": face_threshold(), "results": rows}


def similar_to_photo(owner_id, image: bytes, k: int = 10) -> dict:
    """Faces of the library like the one face in an uploaded photo; a photo with none or several is refused."""
    from pva.errors import BadInput, Invalid, ModelError, Unavailable

    try:
        out = similar_to_image(owner_id, image, k)
    except BadInput as e:
        raise Invalid(str(e)) from None
    except Busy as e:
        raise Unavailable(str(e), retry_after=5) from None
    except ModelError as e:
        raise Unavailable(f"face recognition is not available on this server: {e}") from None
    if out["faces_in_upload"] > 1:
        raise Invalid(f"the photo shows {out['faces_in_upload']} faces: upload a photo (or a crop) with exactly "
                      "one face")
    out["threshold"] = face_threshold()
    return out


def crop_key(owner_id, face_id: int) -> str:
    """The storage key of a face's crop image (thumbs bucket)."""
    f = own_face(owner_id, face_id)
    if not f["crop_key"]:
        raise NotFound(message="this face has no crop image")
    return f["crop_key"]

