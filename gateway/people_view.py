"""People and faces as the API shows them: the URLs of their crops and photos added, storage keys and embeddings
left out (clients fetch a crop by its crop_url, as media's storage keys are internal too)."""
from __future__ import annotations


def person(p: dict) -> dict:
    p["cover_url"] = f"/api/v1/faces/{p['cover_face_id']}/crop" if p.get("cover_face_id") else None
    p["media_url"] = f"/api/v1/media?person={p['id']}"
    return p


def face(f: dict) -> dict:
    f.pop("embedding", None)
    f["crop_url"] = f"/api/v1/faces/{f['id']}/crop" if f.pop("crop_key", None) else None
    f["media_url"] = f"/api/v1/media/{f['media_id']}"
    return f


def faces(rows: list[dict]) -> list[dict]:
    return [face(r) for r in rows]


def similar(out: dict) -> dict:
    out["results"] = faces(out["results"])
    return out


def moved_out(out: dict) -> dict:
    return {"face": face(out["face"]), "person": person(out["person"])}


def undone(out: dict) -> dict:
    return {"person": person(out["person"]), "restored": [person(p) for p in out["restored"]]}
