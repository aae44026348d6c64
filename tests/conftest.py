"""Shared test fixtures: real services only.

- ``stack``: the embedded stack (`pva up`, idempotent) — Postgres (pgserver or PVA_DATABASE_URL), RabbitMQ, S3.
- ``db_url``: a fresh, migrated database for this test session; PVA_DATABASE_URL points at it.
- ``amqp_url``: an isolated RabbitMQ vhost for this session (when rabbitmqctl can make one), PVA_AMQP_URL set.
- ``buckets``: buckets unique to this session, PVA_BUCKET_* set.
- ``services``: all three.
- ``shared``: ../shared, or a skip with the reason when it is absent (a user's fresh clone).
- ``make_user``, ``ingest``, ``ingestor``: a user made in the database; a file ingested through the real Ingestor;
  that Ingestor itself (no bus), for tests that look at its results.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from uuid import UUID

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
RUN_ID = secrets.token_hex(4)

sys.path.insert(0, str(REPO / "tests"))


def _reload():
    from pva.infra import db
    from pva.config import reload_settings

    db.close_pool()
    try:
        from pva.infra import storage

        if hasattr(storage, "reset"):
            storage.reset()
    except ImportError:
        pass
    return reload_settings()


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test saying why."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} is absent (../shared holds the real-camera fixtures and the dev model; "
                    "this part needs it)")
    return p


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is absent: real-camera fixtures and the dev YOLO model are not available")
    return SHARED


@pytest.fixture(scope="session")
def stack():
    from pva import stack as pva_stack

    _reload()
    state = pva_stack.up(log=lambda *a, **k: None)
    _reload()
    return state


@pytest.fixture(scope="session")
def db_url(stack):
    from psycopg2.extensions import parse_dsn

    from pva.config import get_settings
    from pva.infra.db import create_database, drop_database
    from pva.infra.migrate import migrate

    base = get_settings().effective_database_url
    name = f"pva_test_{RUN_ID}"
    url = create_database(name, base)
    migrate(url, log=lambda *a: None)
    old = os.environ.get("PVA_DATABASE_URL")
    os.environ["PVA_DATABASE_URL"] = url
    _reload()
    yield url
    from pva.infra import db

    db.close_pool()
    if old is None:
        os.environ.pop("PVA_DATABASE_URL", None)
    else:
        os.environ["PVA_DATABASE_URL"] = old
    drop_database(name, base)
    assert parse_dsn(url)["dbname"] == name


@pytest.fixture(scope="session")
def amqp_url(stack):
    from pva.config import get_settings

    base = get_settings().effective_amqp_url
    vhost = f"pva-test-{RUN_ID}"
    ctl = shutil.which("rabbitmqctl")
    made = False
    if ctl and base.startswith("amqp://guest:guest@127.0.0.1"):
        r1 = subprocess.run([ctl, "add_vhost", vhost], capture_output=True, timeout=60)
        r2 = subprocess.run([ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                            capture_output=True, timeout=60)
        made = r1.returncode == 0 and r2.returncode == 0
    url = base.rstrip("/") + "/" + vhost if made else base
    old = os.environ.get("PVA_AMQP_URL")
    os.environ["PVA_AMQP_URL"] = url
    _reload()
    yield url
    if old is None:
        os.environ.pop("PVA_AMQP_URL", None)
    else:
        os.environ["PVA_AMQP_URL"] = old
    if made:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


@pytest.fixture(scope="session")
def buckets(stack):
    names = {}
    for kind in ("originals", "thumbs", "inbox"):
        env = f"PVA_BUCKET_{kind.upper()}"
        names[kind] = f"t{RUN_ID}-{kind}"
        os.environ[env] = names[kind]
    _reload()
    from pva.infra.storage import get_storage

    get_storage().ensure_buckets()
    yield names
    st = get_storage()
    for b in names.values():
        try:
            st.remove_bucket(b)
        except Exception:  # best effort: a leftover scratch bucket harms nothing
            pass


@pytest.fixture(scope="session")
def services(db_url, amqp_url, buckets):
    """Postgres (fresh database), RabbitMQ (own vhost) and S3 (own buckets) for this test session."""
    return {"db_url": db_url, "amqp_url": amqp_url, "buckets": buckets}


@pytest.fixture
def make_user(services):
    """Create a user directly in the database: make_user('alice') -> dict(id, username)."""
    from pva.infra import db

    def _make(username: str | None = None, admin: bool = False) -> dict:
        username = username or f"user-{secrets.token_hex(3)}"
        return db.query_one(
            "insert into users(username, password_hash, is_admin) values (%s, %s, %s) returning id, username",
            (username, "!", admin))

    return _make


@pytest.fixture
def ingestor(services):
    """The real Ingestor, without the bus (nothing published to the analyses' queues)."""
    from pva.services.ingest import Ingestor

    return Ingestor(publish=False)


@pytest.fixture
def ingest(ingestor):
    """Ingest a file through the real Ingestor, without the bus: ingest(path, owner) -> its media id, after
    asserting it was added (stored under its file name)."""

    def _ingest(path, owner) -> UUID:
        res = ingestor.ingest_file(path, owner, path.name)
        assert res.status == "added", res.reason
        return UUID(res.media_id)

    return _ingest
