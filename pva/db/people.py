"""The people aggregate's repository: faces, people (face clusters) and their embeddings.  Owner only.

One module for the aggregate (issue 17): the faces of a media item, the people they are grouped into and the
pgvector searches over both.  The behaviour (incremental assignment, recluster, merge, similar faces) is in
pva/services/people.py.  Every function takes the caller's cursor, so one service call is one transaction, and
every query is scoped by owner: one user never reaches another user's faces or people.

``people.face_count``, centroid and cover face have one writer, :func:`refresh_people`: every write that moves
faces between people ends with it (in the same transaction).

Embeddings are numpy float32 arrays of 128 values (pgvector's psycopg2 adapter is registered on the pool).
"""
from __future__ import annotations

from typing import Iterable, Sequence
from uuid import UUID

import numpy as np
from psycopg2.extras import Json, execute_values

FACE_COLS = ("f.id, f.media_id, f.x, f.y, f.w, f.h, f.person_id, f.person_locked, f.crop_key, f.video_time, "
             "f.model, f.model_version, f.time_ranges")
PERSON_COLS = "p.id, p.name, p.hidden, p.cover_face_id, p.face_count, p.created_at, p.updated_at"

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


def _ids(person_ids: Iterable) -> list[str]:
    return [str(p) for p in person_ids if p]


def lock_owner(cur, owner_id) -> None:
    """Serialize people writes of one owner (face assignment, recluster, merge, move out) until the transaction
    ends."""
    cur.execute("select pg_advisory_xact_lock(hashtextextended('pva.faces:' || %s::text, 0))", (str(owner_id),))


# ------------------------------------------------------------------ faces of a media item
def faces_of_media(cur, media_id, with_embedding: bool = False) -> list[dict]:
    emb = ", f.embedding" if with_embedding else ""
    cur.execute(f"select {FACE_COLS}{emb} from faces f where f.media_id = %s order by f.video_time nulls first, f.id",
                (media_id,))
    return [_with_array(r) for r in cur.fetchall()]


def delete_faces_of_media(cur, media_id) -> list[dict]:
    """Delete a media item's faces; returns what they were (box, video_time, person, lock)."""
    cur.execute("""delete from faces where media_id = %s
                   returning id, x, y, w, h, video_time, person_id, person_locked, crop_key""", (media_id,))
    return list(cur.fetchall())


def insert_faces(cur, media_id, owner_id, rows: Sequence[dict], model: str, model_version: str) -> list[int]:
    """Insert faces (dicts with x, y, w, h, embedding, person_id, person_locked, crop_key, video_time and, for a
    video, time_ranges); returns their ids in order."""
    if not rows:
        return []
    values = [(media_id, owner_id, r["x"], r["y"], r["w"], r["h"], _vec(r["embedding"]), r.get("person_id"),
               bool(r.get("person_locked", False)), r.get("crop_key"), model, model_version, r.get("video_time"),
               None if r.get("time_ranges") is None else Json(r["time_ranges"]))
              for r in rows]
    out = execute_values(
        cur, """insert into faces(media_id, owner_id, x, y, w, h, embedding, person_id, person_locked, crop_key,
                                  model, model_version, video_time, time_ranges) values %s returning id""",
        values, fetch=True)
    return [r["id"] if isinstance(r, dict) else r[0] for r in out]


# ------------------------------------------------------------------ one face
def get_face(cur, face_id: int, owner_id, *, live: bool = False) -> dict | None:
    """One of the owner's faces with its embedding (None when it is not theirs or does not exist); ``live``: only
    when its media item is not in the trash.  The one "get a face" query."""
    live_sql = " and exists (select 1 from media m where m.id = f.media_id and m.trashed_at is null)" if live else ""
    cur.execute(f"select {FACE_COLS}, f.embedding from faces f where f.id = %s and f.owner_id = %s{live_sql}",
                (face_id, owner_id))
    return _with_array(cur.fetchone())


def set_face_person(cur, face_id: int, owner_id, person_id, locked: bool) -> dict | None:
    """Put one face in a person (or none); returns the face's previous person_id in {'old_person': ...}, or None
    when the face is not the owner's.  The caller refreshes both people (refresh_people)."""
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


def faces_of_person(cur, owner_id, person_id, limit: int = 100, offset: int = 0, *,
                    with_media: bool = False) -> list[dict]:
    """A person's faces (not on trashed media), newest media first; ``with_media`` adds the media item's
    filename and kind."""
    media_cols = ", m.filename as media_filename, m.kind as media_kind" if with_media else ""
    cur.execute(f"""select {FACE_COLS}{media_cols} from faces f join media m on m.id = f.media_id
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


# ------------------------------------------------------------------ similar faces (embeddings)
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


# ------------------------------------------------------------------ people as the user sees and edits them
def list_people(cur, owner_id, include_hidden: bool = False) -> list[dict]:
    """The owner's people, named first, then by faces.  An unnamed person whose faces are all in the trash is left
    out (an empty card would say nothing; restoring an item brings them back); a named one stays, so its name can
    still be given to a face."""
    cur.execute(f"""select {PERSON_COLS} from people p
                     where p.owner_id = %s {'' if include_hidden else 'and not p.hidden'}
                       and (p.face_count > 0 or p.name is not null)
                     order by p.name is null, p.face_count desc, p.id""", (owner_id,))
    return list(cur.fetchall())


def get_person(cur, person_id, owner_id) -> dict | None:
    cur.execute(f"select {PERSON_COLS} from people p where p.id = %s and p.owner_id = %s", (person_id, owner_id))
    return cur.fetchone()


def update_person(cur, person_id, owner_id, *, name: str | None = None, hidden: bool | None = None,
                  clear_name: bool = False) -> dict | None:
    cur.execute(f"""update people p set name = case when %(clear)s then null else coalesce(%(n)s, name) end,
                           hidden = coalesce(%(h)s, hidden), updated_at = now()
                     where p.id = %(id)s and p.owner_id = %(o)s returning {PERSON_COLS}""",
                {"clear": clear_name, "n": name, "h": hidden, "id": person_id, "o": owner_id})
    return cur.fetchone()


def merge_people(cur, owner_id, target_id, source_ids: Sequence) -> int | None:
    """Move the faces of source people into target (all the owner's), locked so reclustering keeps the user's
    decision, and delete the sources.  What moved is recorded first (people_merges: the sources' rows and each
    face's previous person and lock) so :func:`undo_merge` can put it back.  Returns the merge's id, or None
    (nothing changed) when one of them is not the owner's.  The caller refreshes the target (refresh_people)."""
    if not existing_people(cur, owner_id, [target_id, *source_ids]) >= {target_id, *source_ids}:
        return None
    sources = _ids(s for s in source_ids if s != target_id)
    if not sources:
        return 0  # a person merged into itself: nothing moved, nothing to undo
    cur.execute("""insert into people_merges(owner_id, target_id, sources, faces)
                   select %(o)s, %(t)s,
                          (select coalesce(jsonb_agg(jsonb_build_object(
                                      'id', p.id, 'name', p.name, 'hidden', p.hidden, 'cover_face_id', p.cover_face_id,
                                      'centroid', p.centroid::text, 'created_at', p.created_at)), '[]'::jsonb)
                             from people p where p.owner_id = %(o)s and p.id = any(%(s)s::uuid[])),
                          (select coalesce(jsonb_agg(jsonb_build_object(
                                      'id', f.id, 'person_id', f.person_id, 'locked', f.person_locked)), '[]'::jsonb)
                             from faces f where f.owner_id = %(o)s and f.person_id = any(%(s)s::uuid[]))
                   returning id""", {"o": owner_id, "t": target_id, "s": sources})
    merge_id = cur.fetchone()["id"]
    cur.execute("""update faces set person_id = %s, person_locked = true
                    where owner_id = %s and person_id = any(%s::uuid[])""", (target_id, owner_id, sources))
    cur.execute("delete from people where owner_id = %s and id = any(%s::uuid[])", (owner_id, sources))
    return merge_id


def merges_into(cur, owner_id, target_id) -> list[dict]:
    """The merges into a person that can still be undone, newest first: id, merged_at and the sources' names
    and face counts as they were."""
    cur.execute("""select m.id, m.merged_at,
                          (select coalesce(jsonb_agg(jsonb_build_object(
                                      'id', s->>'id', 'name', s->>'name',
                                      'face_count', (select count(*) from jsonb_array_elements(m.faces) f
                                                      where f->>'person_id' = s->>'id'))), '[]'::jsonb)
                             from jsonb_array_elements(m.sources) s) as sources
                     from people_merges m
                    where m.owner_id = %s and m.target_id = %s and m.undone_at is null
                    order by m.merged_at desc, m.id desc""", (owner_id, target_id))
    return list(cur.fetchall())


def get_merge(cur, owner_id, merge_id: int) -> dict | None:
    """One of the owner's merges (locked for the transaction), or None."""
    cur.execute("select * from people_merges where id = %s and owner_id = %s for update", (merge_id, owner_id))
    return cur.fetchone()


def undo_merge(cur, owner_id, merge: dict) -> list:
    """Put a merge back: the source people again under their old ids, names, hidden flags and centroids, and the
    faces the merge moved that are still in the target back to their previous person and lock (a face the user
    moved since stays where they put it).  Returns the sources' ids; the caller refreshes both sides."""
    cur.execute("""insert into people(id, owner_id, name, hidden, centroid, created_at)
                   select (s->>'id')::uuid, %s, s->>'name', (s->>'hidden')::boolean,
                          (s->>'centroid')::vector, (s->>'created_at')::timestamptz
                     from jsonb_array_elements(%s::jsonb) s""", (owner_id, Json(merge["sources"])))
    cur.execute("""update faces f set person_id = (e->>'person_id')::uuid, person_locked = (e->>'locked')::boolean
                     from jsonb_array_elements(%s::jsonb) e
                    where f.id = (e->>'id')::bigint and f.owner_id = %s and f.person_id = %s""",
                (Json(merge["faces"]), owner_id, merge["target_id"]))
    # the old covers, where those faces are back in their person (refresh_people keeps a cover that still fits)
    cur.execute("""update people p set cover_face_id = (s->>'cover_face_id')::bigint
                     from jsonb_array_elements(%s::jsonb) s
                    where p.id = (s->>'id')::uuid and p.owner_id = %s
                      and exists (select 1 from faces f where f.id = (s->>'cover_face_id')::bigint
                                                          and f.person_id = p.id)""",
                (Json(merge["sources"]), owner_id))
    cur.execute("update people_merges set undone_at = now() where id = %s", (merge["id"],))
    return [UUID(s["id"]) for s in merge["sources"]]


# ------------------------------------------------------------------ people: clustering writes
def owner_people(cur, owner_id) -> list[dict]:
    cur.execute("select id, name, hidden, face_count from people where owner_id = %s", (owner_id,))
    return list(cur.fetchall())


def nearest_person(cur, owner_id, embedding, exclude: Iterable = ()) -> tuple[UUID, float] | None:
    """The owner's person whose centroid is nearest to the embedding (other than `exclude`), with the distance."""
    cur.execute("""select id, centroid <-> %s as d from people
                    where owner_id = %s and centroid is not null and not (id = any(%s::uuid[]))
                    order by d limit 1""",
                (_vec(embedding), owner_id, _ids(exclude)))
    r = cur.fetchone()
    return (r["id"], float(r["d"])) if r else None


def create_person(cur, owner_id, centroid=None) -> UUID:
    cur.execute("insert into people(owner_id, centroid) values (%s, %s) returning id",
                (owner_id, None if centroid is None else _vec(centroid)))
    return cur.fetchone()["id"]


def existing_people(cur, owner_id, person_ids: Iterable) -> set:
    ids = _ids(person_ids)
    if not ids:
        return set()
    cur.execute("select id from people where owner_id = %s and id = any(%s::uuid[])", (owner_id, ids))
    return {r["id"] for r in cur.fetchall()}


def refresh_people(cur, owner_id, person_ids: Iterable | None = None) -> None:
    """Recompute centroid (mean embedding), face_count and cover face of the given people (all the owner's when
    None): the one writer of those columns.  A person left without faces keeps its last centroid, so a named
    person is found again later.  face_count and the cover count only faces on live (not trashed) items, as a
    person's page and media list show them; the centroid keeps a trashed item's faces until it is purged (a
    restore brings them back).  Trash, restore and purge refresh the people of their items
    (:func:`people_of_media`)."""
    ids = None if person_ids is None else _ids(set(person_ids))
    if ids == []:
        return
    cur.execute(
        """update people p
              set centroid = coalesce(s.c, p.centroid), face_count = s.n, updated_at = now(),
                  cover_face_id = case
                      when exists (select 1 from faces c join media m on m.id = c.media_id
                                    where c.id = p.cover_face_id and c.person_id = p.id and m.trashed_at is null)
                      then p.cover_face_id
                      else (select c.id from faces c join media m on m.id = c.media_id
                             where c.owner_id = p.owner_id and c.person_id = p.id and m.trashed_at is null
                             order by c.w * c.h desc, c.id limit 1) end
             from (select pp.id, a.c, coalesce(a.n, 0) as n
                     from people pp
                     left join lateral (select avg(f.embedding) as c,
                                               count(*) filter (where m.trashed_at is null) as n
                                          from faces f join media m on m.id = f.media_id
                                         where f.owner_id = pp.owner_id and f.person_id = pp.id) a on true
                    where pp.owner_id = %(o)s and (%(all)s or pp.id = any(%(ids)s::uuid[]))) s
            where p.id = s.id""",
        {"o": owner_id, "all": ids is None, "ids": ids or []})


def people_of_media(cur, owner_id, media_ids: Iterable) -> list[UUID]:
    """The owner's people with a face on one of these items (to refresh when the items move to or out of the
    trash, or before they are purged)."""
    ids = _ids(media_ids)
    if not ids:
        return []
    cur.execute("""select distinct person_id from faces
                    where owner_id = %s and media_id = any(%s::uuid[]) and person_id is not null""", (owner_id, ids))
    return [r["person_id"] for r in cur.fetchall()]


def delete_empty_unnamed(cur, owner_id, person_ids: Iterable | None = None) -> int:
    """Remove people with no faces and no name (named people are kept: their name is the user's)."""
    ids = None if person_ids is None else _ids(set(person_ids))
    if ids == []:
        return 0
    cur.execute("""delete from people p
                    where p.owner_id = %(o)s and p.name is null and (%(all)s or p.id = any(%(ids)s::uuid[]))
                      and not exists (select 1 from faces f where f.owner_id = p.owner_id and f.person_id = p.id)""",
                {"o": owner_id, "all": ids is None, "ids": ids or []})
    return cur.rowcount
