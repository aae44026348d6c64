"""Fixtures and seeding helpers shared by the gateway tests (imported by test_gateway_*.py and test_auth*.py).

Rows are seeded directly with SQL (media, detections, faces, OCR, transcripts) so each test knows exactly which
items a query must return."""
from __future__ import annotations

import hashlib
import itertools
import secrets
from datetime import datetime, timedelta, timezone

import pytest

_seq = itertools.count(1)
BASE_TIME = datetime(2023, 1, 1, 12, 0, tzinfo=timezone.utc)


def new_user(name: str | None = None, *, admin: bool = False, password: str = "correct horse battery") -> dict:
    from pva.services import auth

    user = auth.create_user(name or f"u{secrets.token_hex(4)}", password, is_admin=admin)
    user["password"] = password
    return user


def token_for(user: dict, scopes=("read", "write", "upload")) -> str:
    from pva.services import auth

    if user.get("is_admin") and "admin" not in scopes:
        scopes = (*scopes, "admin")
    token, _ = auth.create_token(user["id"], list(scopes), name="test")
    return token


def client_for(app, user: dict | None = None, token: str | None = None, **kw):
    from fastapi.testclient import TestClient

    c = TestClient(app, raise_server_exceptions=False, **kw)
    if user is not None or token is not None:
        c.headers["Authorization"] = f"Bearer {token or token_for(user)}"
    return c


def insert_media(owner_id, **cols) -> dict:
    """Insert a media row with sensible defaults; returns the row (id, ...)."""
    from psycopg2.extras import Json

    from pva.infra import db

    n = next(_seq)
    row = {
        "owner_id": owner_id, "sha512": hashlib.sha512(f"{owner_id}-{n}-{secrets.token_hex(4)}".encode()).digest(),
        "kind": "photo", "format": "jpeg", "mime": "image/jpeg", "size": 1000 + n,
        "taken_at": BASE_TIME + timedelta(days=n), "storage_key": f"seed/{owner_id}/{n}-{secrets.token_hex(3)}.jpg",
        "original_path": f"seed/img_{n}.jpg", "filename": f"img_{n}.jpg", "metadata": {},
    }
    row.update(cols)
    row["metadata"] = Json(row["metadata"])
    keys = list(row)
    return db.query_one(f"insert into media({', '.join(keys)}) values ({', '.join(['%s'] * len(keys))}) "
                        "returning *", [row[k] for k in keys])


def add_detection(media_id, label: str, confidence: float, model: str = "seed") -> None:
    from pva.infra import db

    db.execute("""insert into detections(media_id, label, confidence, x, y, w, h, model)
                  values (%s, %s, %s, 0.1, 0.1, 0.2, 0.2, %s)""", (media_id, label, confidence, model))


def add_person(owner_id, name: str | None = None) -> dict:
    from pva.infra import db

    return db.query_one("insert into people(owner_id, name) values (%s, %s) returning *", (owner_id, name))


def add_face(media_id, owner_id, embedding, person_id=None, crop_key=None) -> int:
    import numpy as np

    from pva.infra import db

    row = db.query_one("""insert into faces(media_id, owner_id, x, y, w, h, embedding, person_id, crop_key, model)
                          values (%s, %s, 0.2, 0.2, 0.3, 0.3, %s, %s, %s, 'seed') returning id""",
                       (media_id, owner_id, np.asarray(embedding, dtype=np.float32), person_id, crop_key))
    if person_id is not None:
        db.execute("update people set face_count = face_count + 1 where id = %s", (person_id,))
    return row["id"]


def add_ocr(media_id, text: str) -> None:
    from psycopg2.extras import Json

    from pva.infra import db

    words = [{"text": w, "conf": 90, "x": 0.1, "y": 0.1, "w": 0.1, "h": 0.05} for w in text.split()]
    db.execute("insert into ocr(media_id, text, words, model) values (%s, %s, %s, 'seed')",
               (media_id, text, Json(words)))


def add_transcript(media_id, text: str) -> None:
    from psycopg2.extras import Json

    from pva.infra import db

    db.execute("""insert into transcripts(media_id, text, segments, language, engine, model)
                  values (%s, %s, %s, 'en', 'seed', 'seed')""",
               (media_id, text, Json([{"start": 0, "end": 1, "text": text}])))


def add_comment(media_id, author_id, body: str) -> dict:
    from pva.infra import db

    return db.query_one("insert into comments(media_id, author_id, body) values (%s, %s, %s) returning *",
                        (media_id, author_id, body))


def add_job(media_id, kind: str, status: str = "failed", error: str | None = "boom") -> None:
    from pva.infra import db

    db.execute("""insert into analysis(media_id, kind, status, attempts, error) values (%s, %s, %s, 3, %s)
                  on conflict (media_id, kind) do update set status = excluded.status, error = excluded.error""",
               (media_id, kind, status, error))


def vec(seed: int, base=None, noise: float = 0.0):
    import numpy as np

    rng = np.random.default_rng(seed)
    v = rng.normal(size=128).astype(np.float32) if base is None else np.asarray(base, dtype=np.float32)
    if noise:
        v = v + rng.normal(scale=noise, size=128).astype(np.float32)
    return v


@pytest.fixture(scope="module")
def app(services):
    from gateway.app import create_app

    return create_app()


@pytest.fixture(autouse=False)
def reset_rate_limit():
    from pva.services import auth

    auth.login_limiter.reset()
    yield
    auth.login_limiter.reset()
