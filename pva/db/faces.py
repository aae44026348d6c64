"""SQL for the faces table and the clustering writes on people (centroids, counts, covers, new/empty people).

The gateway's reads and user edits of people (list/get/update/merge/assign_face) live in pva/db/people.py; the
people logic (incremental assignment, recluster, similar faces) is in pva/faces_service.py.  Every query here is
scoped by owner: one user never reaches another user's faces or people.

Embeddings are numpy float32 arrays of 128 values (pgvector's psycopg2 adapter is registered on the pool).
"""
from __future__ import annotations

from typing import Iterable, Sequence
from uuid import UUID

import numpy as np
from psycopg2.extras import execute_values

FACE_COLS = ("f.id, f.media_id, f.x, f.y, f.w, f.h, f.person_id, f.person_locked, f.crop_key, f.video_time, "
             "f.model, f.model_version")

EF_SEARCH_MAX = 1000  # pgvector's upper bound for hnsw.ef_search


def _vec(embedding) -> np.ndarray:
    v = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if v.shape[0] != 128:
        raise ValueError(f"a face embedding has 128 values, got {v.shape[0]}")
    return v


def as_array(v) -> np.ndarray:
    """A fetched vector column as a float32 numpy array (pgvector returns Vector objects or arrays)."""
    if hasattr(v, "to_numpy"):
        v = v.to_numpy()
    return np.asarray(v, dtype=np.float32)


def _with_array(row: dict | None, col: str = "embedding") -> dict | None:
    if row is not None and row.get(col) is not None:
        row[col] = as_array(row[col])
    return row


def lock_owner(cur, owner_id) -> None:
    """Serialize people writes of one owner (face assignment, recluster, move out) until the transaction ends."""
    cur.execute("select pg_advisory_xact_lock(hashtextextended('pva.faces:' || %s::text, 0))", (str(owner_id),))


# ------------------------------------------------------------------ faces of a media item
def for_media(cur, media_id, with_embedding: bool = False) -> list[dict]:
    emb = ", f.embedding" if with_embedding else ""
    cur.execute(f"select {FACE_COLS}{emb} from faces f where f.media_id = %s order by f.video_time nulls first, f.id",
                (media_id,))
    return [_with_array(r) for r in cur.fetchall()]


def delete_for_media(cur, media_id) -> list[dict]:
    """Delete a media item's faces; returns what they were (box, video_time, person, lock)."""
    cur.execute("""delete from faces where media_id = %s
                   returning id, x, y, w, h, video_time, person_id, person_locked, crop_key""", (media_id,))
    return list(cur.fetchall())


def insert(cur, media_id, owner_id, rows: Sequence[dict], model: str, model_version: str) -> list[int]:
    """Insert faces (dicts with x, y, w, h, embedding, person_id, person_locked, crop_key, video_time);
    returns their ids in order."""
    if not rows:
        return []
    values = [(media_id, owner_id, r["x"], r["y"], r["w"], r["h"], _vec(r["embedding"]), r.get("person_id"),
               bool(r.get("person_locked", False)), r.get("crop_key"), model, model_version, r.get("video_time"))
              for r in rows]
    out = execute_values(
        cur, """insert into faces(media_id, owner_id, x, y, w, h, embedding, person_id, person_locked, crop_key,
                                  model, model_version, video_time) values %s returning id""",
        values, fetch=True)
    return [r["id"] if isinstance(r, dict) else r[0] for r in out]


# ------------------------------------------------------------------ single faces
def get(cur, face_id: int, owner_id) -> dict | None:
    """One of the owner's faces, with its embedding (None when it is not theirs or does not exist)."""
    cur.execute(f"select {FACE_COLS}, f.embedding from faces f where f.id = %s and f.owner_id = %s",
                (face_id, owner_id))
    return _with_array(cur.fetchone())


def set_person(cur, face_id: int, owner_id, person_id, locked: bool) -> dict | None:
    """Put one face in a person; returns the face's previous person_id in {'old_person': ...} or None."""
    cur.execute("""update faces f set person_id = %s, person_locked = %s
                     from faces old where old.id = f.id and f.id = %s and f.owner_id = %s
                   returning old.person_id as old_person""", (person_id, locked, face_id, owner_id))
    return cur.fetchone()


def set_people_bulk(cur, owner_id, assignments: Sequence[tuple[int, UUID | None]]) -> int:
    """Set person_id for many faces at once (unlocked assignments from a recluster)."""
    if not assignments:
        return 0
    cur.execute("""update faces f set person_id = a.p
                     from (select unnest(%s::bigint[]) i, unnest(%s::uuid[]) p) a
                    where f.id = a.i and f.owner_id = %s and f.person_id is distinct from a.p""",
                ([i for i, _ in assignments], [str(p) if p else None for _, p in assignments], owner_id))
    return cur.rowcount


def owner_faces(cur, owner_id) -> list[dict]:
    """All of the owner's faces for clustering: id, embedding, person_id, person_locked (ordered by id)."""
    cur.execute("""select id, embedding, person_id, person_locked from faces where owner_id = %s order by id""",
                (owner_id,))
    return [_with_array(r) for r in cur.fetchall()]


def owners_with_faces(cur) -> list[dict]:
    cur.execute("""select u.id, u.username from users u
                    where exists (select 1 from faces f where f.owner_id = u.id) order by u.username""")
    return list(cur.fetchall())


def of_person(cur, owner_id, person_id, limit: int = 100, offset: int = 0) -> list[dict]:
    """A person's faces (not on trashed media), newest media first."""
    cur.execute(f"""select {FACE_COLS} from faces f join media m on m.id = f.media_id
                     where f.owner_id = %s and f.person_id = %s and m.trashed_at is null
                     order by coalesce(m.taken_at, m.created_at) desc, f.id limit %s offset %s""",
                (owner_id, person_id, limit, offset))
    return list(cur.fetchall())


def media_of_person(cur, owner_id, person_id, limit: int = 100, offset: int = 0) -> list[dict]:
    """The media items a person appears in (not trashed), newest first, with how many of their faces."""
    cur.execute("""select m.id, m.kind, m.filename, m.thumb_key, coalesce(m.taken_at, m.created_at) as taken,
                          count(*) as faces
                     from faces f join media m on m.id = f.media_id
                    where f.owner_id = %s and f.person_id = %s and m.trashed_at is null and m.owner_id = %s
                    group by m.id order by taken desc, m.id limit %s offset %s""",
                (owner_id, person_id, owner_id, limit, offset))
    return list(cur.fetchall())


# ------------------------------------------------------------------ similar faces
_SIMILAR_SELECT = """select f.id, f.media_id, f.person_id, f.x, f.y, f.w, f.h, f.crop_key, f.video_time,
                            f.embedding <-> %(q)s as distance
                       from faces f join media m on m.id = f.media_id
                      where f.owner_id = %(o)s and m.trashed_at is null and f.id <> %(ex)s"""


def similar_ann(cur, owner_id, embedding, k: int, ef_search: int, exclude_face_id: int = -1) -> list[dict]:
    """Nearest faces by L2 through the HNSW index (approximate; the owner filter is applied to the index's
    candidates, so fewer than k rows can come back when the owner holds a small share of all faces)."""
    ef = max(int(k), min(int(ef_search), EF_SEARCH_MAX))
    cur.execute(f"set local hnsw.ef_search = {ef}; " + _SIMILAR_SELECT + " order by f.embedding <-> %(q)s limit %(k)s",
                {"q": _vec(embedding), "o": owner_id, "ex": exclude_face_id, "k": int(k)})
    return list(cur.fetchall())


def similar_exact(cur, owner_id, embedding, k: int, exclude_face_id: int = -1) -> list[dict]:
    """Exact nearest faces among the owner's faces (a sequential scan of the owner's rows, no HNSW)."""
    cur.execute(f"with c as materialized ({_SIMILAR_SELECT}) select * from c order by distance limit %(k)s",
                {"q": _vec(embedding), "o": owner_id, "ex": exclude_face_id, "k": int(k)})
    return list(cur.fetchall())


# ------------------------------------------------------------------ people: clustering writes
def owner_people(cur, owner_id) -> list[dict]:
    cur.execute("select id, name, hidden, face_count from people where owner_id = %s", (owner_id,))
    return list(cur.fetchall())


def nearest_person(cur, owner_id, embedding, exclude: Iterable = ()) -> tuple[UUID, float] | None:
    """The owner's person whose centroid is nearest to the embedding (other than `exclude`), with the distance."""
    cur.execute("""select id, centroid <-> %s as d from people
                    where owner_id = %s and centroid is not null and not (id = any(%s::uuid[]))
                    order by d limit 1""",
                (_vec(embedding), owner_id, [str(p) for p in exclude if p]))
    r = cur.fetchone()
    return (r["id"], float(r["d"])) if r else None


def create_person(cur, owner_id, centroid=None) -> UUID:
    cur.execute("insert into people(owner_id, centroid) values (%s, %s) returning id",
                (owner_id, None if centroid is None else _vec(centroid)))
    return cur.fetchone()["id"]


def existing_people(cur, owner_id, person_ids: Iterable) -> set:
    ids = [str(p) for p in person_ids if p]
    if not ids:
        return set()
    cur.execute("select id from people where owner_id = %s and id = any(%s::uuid[])", (owner_id, ids))
    return {r["id"] for r in cur.fetchall()}


def refresh_people(cur, owner_id, person_ids: Iterable | None = None) -> None:
    """Recompute centroid (mean embedding), face_count and cover face of the given people (all the owner's when
    None).  A person left without faces keeps its last centroid, so a named person is found again later."""
    ids = None if person_ids is None else [str(p) for p in set(person_ids) if p]
    if ids == []:
        return
    cur.execute(
        """update people p
              set centroid = coalesce(s.c, p.centroid), face_count = s.n, updated_at = now(),
                  cover_face_id = case
                      when exists (select 1 from faces c where c.id = p.cover_face_id and c.person_id = p.id)
                      then p.cover_face_id
                      else (select c.id from faces c where c.owner_id = p.owner_id and c.person_id = p.id
                             order by c.w * c.h desc, c.id limit 1) end
             from (select pp.id, a.c, coalesce(a.n, 0) as n
                     from people pp
                     left join lateral (select avg(f.embedding) as c, count(*) as n from faces f
                                         where f.owner_id = pp.owner_id and f.person_id = pp.id) a on true
                    where pp.owner_id = %(o)s and (%(all)s or pp.id = any(%(ids)s::uuid[]))) s
            where p.id = s.id""",
        {"o": owner_id, "all": ids is None, "ids": ids or []})


def delete_empty_unnamed(cur, owner_id, person_ids: Iterable | None = None) -> int:
    """Remove people with no faces and no name (named people are kept: their name is the user's)."""
    ids = None if person_ids is None else [str(p) for p in set(person_ids) if p]
    if ids == []:
        return 0
    cur.execute("""delete from people p
                    where p.owner_id = %(o)s and p.name is null and (%(all)s or p.id = any(%(ids)s::uuid[]))
                      and not exists (select 1 from faces f where f.owner_id = p.owner_id and f.person_id = p.id)""",
                {"o": owner_id, "all": ids is None, "ids": ids or []})
    return cur.rowcount
