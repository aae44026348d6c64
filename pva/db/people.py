"""SQL for people (face clusters) as the gateway shows and edits them.  Owner only."""
from __future__ import annotations

from uuid import UUID

from . import query, query_one, transaction

_COLS = "p.id, p.name, p.hidden, p.cover_face_id, p.face_count, p.created_at, p.updated_at"


def list_for(owner_id: UUID, include_hidden: bool = False) -> list[dict]:
    return query(f"""select {_COLS} from people p where p.owner_id = %s {'' if include_hidden else 'and not p.hidden'}
                      order by p.name is null, p.face_count desc, p.id""", (owner_id,))


def get(person_id: UUID, owner_id: UUID) -> dict | None:
    return query_one(f"select {_COLS} from people p where p.id = %s and p.owner_id = %s", (person_id, owner_id))


def update(person_id: UUID, owner_id: UUID, *, name: str | None = None, hidden: bool | None = None,
           clear_name: bool = False) -> dict | None:
    return query_one(f"""update people p set name = case when %(clear)s then null else coalesce(%(n)s, name) end,
                                hidden = coalesce(%(h)s, hidden), updated_at = now()
                          where p.id = %(id)s and p.owner_id = %(o)s returning {_COLS}""",
                     {"clear": clear_name, "n": name, "h": hidden, "id": person_id, "o": owner_id})


def merge(target_id: UUID, source_ids: list[UUID], owner_id: UUID, cur=None) -> dict | None:
    """Move the faces of source people into target (all the owner's), delete the sources; locks the faces so
    reclustering keeps the user's decision.  In the caller's transaction when `cur` is given."""
    if cur is None:
        with transaction() as cur:
            return merge(target_id, source_ids, owner_id, cur)
    cur.execute("select id from people where owner_id = %s and id = any(%s::uuid[])",
                (owner_id, [target_id, *source_ids]))
    found = {r["id"] for r in cur.fetchall()}
    if target_id not in found or not set(source_ids) <= found:
        return None
    sources = [s for s in source_ids if s != target_id]
    cur.execute("""update faces set person_id = %s, person_locked = true
                    where owner_id = %s and person_id = any(%s::uuid[])""", (target_id, owner_id, sources))
    cur.execute("delete from people where owner_id = %s and id = any(%s::uuid[])", (owner_id, sources))
    cur.execute(f"""update people p set face_count = (select count(*) from faces f where f.person_id = p.id),
                           updated_at = now() where p.id = %s returning {_COLS}""", (target_id,))
    return cur.fetchone()


def face(face_id: int, owner_id: UUID) -> dict | None:
    return query_one("""select f.id, f.media_id, f.person_id, f.crop_key, f.x, f.y, f.w, f.h
                          from faces f join media m on m.id = f.media_id
                         where f.id = %s and f.owner_id = %s and m.trashed_at is null""", (face_id, owner_id))


def assign_face(face_id: int, owner_id: UUID, person_id: UUID | None, cur=None) -> bool:
    """Put a face in one of the owner's people (or none); locked against reclustering.  In the caller's
    transaction when `cur` is given."""
    if cur is None:
        with transaction() as cur:
            return assign_face(face_id, owner_id, person_id, cur)
    if person_id is not None:
        cur.execute("select 1 from people where id = %s and owner_id = %s", (person_id, owner_id))
        if cur.fetchone() is None:
            return False
    cur.execute("""update faces set person_id = %s, person_locked = true where id = %s and owner_id = %s
                   returning (select person_id from faces where id = %s) as old_person""",
                (person_id, face_id, owner_id, face_id))
    row = cur.fetchone()
    if row is None:
        return False
    cur.execute("""update people p set face_count = (select count(*) from faces f where f.person_id = p.id)
                    where p.id = any(%s::uuid[])""", ([x for x in (person_id, row["old_person"]) if x],))
    return True
