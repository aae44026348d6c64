"""The near-duplicates API through the gateway (issue 21): the groups answer with their model, keep-best and "not
duplicates" act on the caller's own groups only, resolve-all never touches another library."""
from __future__ import annotations

import pytest

from test_gateway_helpers import client_for, insert_media, new_user

pytestmark = pytest.mark.usefixtures("services")


@pytest.fixture(scope="module")
def app(services):
    from gateway.app import create_app

    return create_app()


def group_of(owner_id, *sizes_and_pixels) -> list[dict]:
    """Items of the owner recorded as near-duplicates of the first: [(size, width, height), ...] -> rows."""
    from pva.infra import db

    rows = [insert_media(owner_id, size=s, width=w, height=h) for s, w, h in sizes_and_pixels]
    for r in rows[1:]:
        a, b = sorted((str(rows[0]["id"]), str(r["id"])))
        db.execute("insert into media_near_duplicates(owner_id, a, b, distance) values (%s, %s, %s, 4)",
                   (owner_id, a, b))
    return rows


def trashed(media_id) -> bool:
    from pva.infra import db

    return db.query_one("select trashed_at from media where id = %s", (media_id,))["trashed_at"] is not None


def test_groups_answer_with_the_best_first_and_validate_against_the_model(app):
    from gateway.schemas import DuplicateGroups

    u = new_user()
    rows = group_of(u["id"], (500, 100, 100), (900, 100, 100), (100, 400, 300))
    r = client_for(app, u).get("/api/v1/duplicates")
    assert r.status_code == 200, r.text
    body = DuplicateGroups.model_validate(r.json())
    assert body.total_groups == 1 and body.total_items == 3
    g = body.groups[0]
    # resolution first (400x300), then size (900 before 500)
    assert [str(i.id) for i in g.items] == [str(rows[2]["id"]), str(rows[1]["id"]), str(rows[0]["id"])]
    assert g.items[0].best and not any(i.best for i in g.items[1:])
    assert g.items[0].thumbnail_url == f"/api/v1/media/{rows[2]['id']}/thumbnail"


def test_resolve_keeps_the_chosen_item_and_trashes_the_rest(app):
    u = new_user()
    rows = group_of(u["id"], (500, 100, 100), (900, 100, 100), (100, 400, 300))
    c = client_for(app, u)
    g = c.get("/api/v1/duplicates").json()["groups"][0]
    keep = str(rows[0]["id"])
    r = c.post(f"/api/v1/duplicates/{g['id']}/resolve", json={"keep": keep})
    assert r.status_code == 200, r.text
    assert r.json()["kept"] == keep and sorted(r.json()["trashed"]) == sorted(str(x["id"]) for x in rows[1:])
    assert not trashed(keep) and all(trashed(x["id"]) for x in rows[1:])
    assert c.get("/api/v1/duplicates").json()["total_groups"] == 0
    # restorable from the trash, as every trashed item
    assert c.post(f"/api/v1/media/{rows[1]['id']}/restore").status_code == 200
    assert c.get("/api/v1/duplicates").json()["total_groups"] == 1


def test_keep_must_be_an_item_of_the_group(app):
    u = new_user()
    rows = group_of(u["id"], (500, 100, 100), (900, 100, 100))
    stranger = insert_media(u["id"])
    c = client_for(app, u)
    gid = c.get("/api/v1/duplicates").json()["groups"][0]["id"]
    r = c.post(f"/api/v1/duplicates/{gid}/resolve", json={"keep": str(stranger["id"])})
    assert r.status_code == 400 and "keep" in r.json()["message"]
    assert not any(trashed(x["id"]) for x in rows)


def test_dismiss_is_remembered(app):
    u = new_user()
    group_of(u["id"], (500, 100, 100), (900, 100, 100))
    c = client_for(app, u)
    gid = c.get("/api/v1/duplicates").json()["groups"][0]["id"]
    r = c.post(f"/api/v1/duplicates/{gid}/dismiss")
    assert r.status_code == 200 and r.json()["dismissed_pairs"] == 1
    assert c.get("/api/v1/duplicates").json()["total_groups"] == 0
    assert c.post(f"/api/v1/duplicates/{gid}/dismiss").status_code == 404  # no such group any more


def test_resolve_all_touches_only_own_groups(app):
    me, other = new_user(), new_user()
    mine = group_of(me["id"], (500, 100, 100), (900, 100, 100))
    theirs = group_of(other["id"], (500, 100, 100), (900, 100, 100))
    r = client_for(app, me).post("/api/v1/duplicates/resolve-all")
    assert r.status_code == 200 and r.json() == {"groups": 1, "kept": 1, "trashed": 1}
    assert trashed(mine[0]["id"]) and not trashed(mine[1]["id"])
    assert not any(trashed(x["id"]) for x in theirs)
    listing = client_for(app, me).get("/api/v1/duplicates").text
    assert all(str(x["id"]) not in listing for x in theirs)
