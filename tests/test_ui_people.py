"""People that can be fixed, in headless Chromium (issue 18 item 9): the People page opens a person's page, which
lists their faces with the photo each comes from (and a video face's time ranges); a face moves to another person
picked by name, two people merged from the People page are put back by "Undo merge", and the person is renamed.
Every step is checked through the API.  Screenshots go to artifacts/screenshots/people-*.png."""
from __future__ import annotations

import io

import pytest

from test_gateway_helpers import add_face, add_person, vec
from test_web_ui import (CHROMIUM, PASSWORD, SHOTS, browser, jpeg, log_in, open_session, server,  # noqa: F401
                         user)  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]


def _crop(color) -> bytes:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (160, 160), color)
    d = ImageDraw.Draw(img)
    d.ellipse((30, 20, 130, 140), fill=(235, 200, 170))
    d.ellipse((58, 60, 70, 72), fill=(40, 40, 40))
    d.ellipse((90, 60, 102, 72), fill=(40, 40, 40))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


@pytest.fixture(scope="module")
def seeded(user):  # noqa: F811
    """Four photos; Alice in beach.jpg and party.jpg, an unnamed person in hike.jpg and another in dinner.jpg
    (which also carries time ranges, as a video's face does).  Returns names -> ids."""
    from pva.config import get_settings
    from pva.db import people as people_q
    from pva.infra import db
    from pva.infra.storage import get_storage
    from pva.services import ingest

    names = ["beach.jpg", "party.jpg", "hike.jpg", "dinner.jpg"]
    media = {}
    for i, name in enumerate(names):
        r = ingest.ingest_stream(user, io.BytesIO(jpeg(color=(40 + 50 * i, 110, 190 - 40 * i))), name).as_dict()
        assert r["status"] == "added", r
        media[name] = r["media_id"]
    uid = user["id"]
    alice, bob, carol = add_person(uid, "Alice"), add_person(uid), add_person(uid)
    faces = {}
    for i, (name, person) in enumerate([("beach.jpg", alice), ("party.jpg", alice), ("hike.jpg", bob),
                                        ("dinner.jpg", carol)]):
        key = f"{media[name]}/faces/0.jpg"
        get_storage().put(get_settings().bucket_thumbs, key, _crop((90 + 40 * i, 60, 150 - 30 * i)),
                          content_type="image/jpeg")
        faces[name] = add_face(media[name], uid, vec(20 + i), person_id=person["id"], crop_key=key)
    db.execute("update faces set time_ranges = '[[3, 9], [72, 75]]' where id = %s", (faces["dinner.jpg"],))
    with db.transaction() as cur:
        people_q.refresh_people(cur, uid)
    return {"media": media, "faces": faces, "alice": str(alice["id"]), "bob": str(bob["id"]),
            "carol": str(carol["id"])}


class Session:
    def __init__(self, page, base: str):
        self.page, self.base = page, base
        self.errors: list[str] = []
        self.csp_violations: list[str] = []
        self.dialogs: list[str] = []

    def go(self, path: str):
        return self.page.goto(self.base + path)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"people-{name}.png"), full_page=True)

    def api(self, path: str):
        return self.page.evaluate("async (p) => (await fetch(p, {headers: {Accept: 'application/json'}})).json()",
                                  path)


@pytest.fixture(scope="module")
def ui(browser, server, user, seeded):  # noqa: F811
    ctx, s = open_session(browser, server, failed_responses=False, session=Session)
    log_in(s, user["username"])
    yield s
    ctx.close()


def _faces_of(ui, person_id) -> set[int]:
    return {f["id"] for f in ui.api(f"/api/v1/people/{person_id}/faces")}


def test_fix_people_move_a_face_undo_a_merge_and_rename(ui, seeded):
    page, f = ui.page, seeded["faces"]
    alice, bob, carol = seeded["alice"], seeded["bob"], seeded["carol"]

    # People: the unnamed say so; merge Carol (unnamed) into Alice by keyboard and mouse
    ui.go("/people")
    page.wait_for_selector(f".person[data-id='{alice}']")
    assert page.locator(f".person[data-id='{bob}'] .person-name").get_attribute("placeholder") == "unnamed"
    assert page.get_by_role("link", name="Open unnamed").count() == 2
    page.get_by_role("checkbox", name="select Alice for merging").check()
    page.locator(f".person[data-id='{carol}']").get_by_role("checkbox", name="select unnamed for merging").focus()
    page.keyboard.press("Space")
    ui.shot("list")
    page.get_by_role("button", name="Merge selected").click()
    page.wait_for_url(f"**/people/{alice}")
    assert ui.dialogs and "Merge 1" in ui.dialogs[-1]
    assert _faces_of(ui, alice) == {f["beach.jpg"], f["party.jpg"], f["dinner.jpg"]}
    assert ui.api(f"/api/v1/people/{carol}")["error"] == "not_found"
    ui.errors.clear()  # that 404 was asked for

    # Alice's page: her faces with their photos, the video face's time ranges, the merge to undo
    page.wait_for_selector("#faces .face-card")
    assert page.locator("#faces .face-card").count() == 3
    for name in ("beach.jpg", "party.jpg", "dinner.jpg"):
        assert page.get_by_role("link", name=name, exact=True).count() == 1
        assert page.get_by_role("img", name=f"Face in {name}").evaluate("i => i.complete && i.naturalWidth > 0")
    assert page.locator(f".face-card[data-id='{f['dinner.jpg']}'] .times").text_content().strip() == \
        "0:03–0:09, 1:12–1:15"
    ui.shot("person-merged")

    # move party.jpg's face to Bob (picked by name in the list), by keyboard
    card = page.locator(f".face-card[data-id='{f['party.jpg']}']")
    card.get_by_label("Move to").select_option(label="unnamed (1 face)")
    card.get_by_role("button", name="Move the face in party.jpg", exact=True).focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(f".face-card[data-id='{f['party.jpg']}']", state="detached")
    assert f["party.jpg"] in _faces_of(ui, bob)
    assert page.locator("h2:has-text('2 faces')").count() == 1

    # undo the merge: Carol is back with her face, Alice keeps hers
    page.get_by_role("button", name="Undo the merge of unnamed").click()
    page.wait_for_selector("#merges", state="detached")
    assert _faces_of(ui, carol) == {f["dinner.jpg"]}
    assert _faces_of(ui, alice) == {f["beach.jpg"]}
    assert page.locator("#faces .face-card").count() == 1

    # rename
    page.get_by_label("Name", exact=True).fill("Alice Smith")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_selector("#person-title:has-text('Alice Smith')")
    assert ui.api(f"/api/v1/people/{alice}")["name"] == "Alice Smith"
    ui.shot("person-fixed")

    # Bob's page: the face moved in, and "Not this person" makes it nobody's
    ui.go(f"/people/{bob}")
    assert page.locator("#person-title").text_content() == "unnamed"
    page.get_by_role("button", name="Remove the face in party.jpg from this person").click()
    page.wait_for_selector(f".face-card[data-id='{f['party.jpg']}']", state="detached")
    faces = ui.api(f"/api/v1/media/{seeded['media']['party.jpg']}")["faces"]
    assert [x["person_id"] for x in faces] == [None]
    ui.shot("person-bob")
    assert not ui.csp_violations, ui.csp_violations
    assert not [e for e in ui.errors if "favicon" not in e], ui.errors
