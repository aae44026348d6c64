"""Memories, "On this day" (issue 21), on real Postgres and S3: real camera photos re-encoded with EXIF dates on
today's calendar day in earlier years are ingested; the housekeeping cron prepares the memories; the page's API
reads them grouped by year, without trashed items, later burst frames or near-duplicates."""
from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta, timezone
from uuid import UUID

import piexif
import pytest
from PIL import Image

import media_fixtures as mf
from conftest import shared_path
from test_gateway_helpers import app, client_for, new_user  # noqa: F401  (app: the gateway fixture)

pytestmark = pytest.mark.usefixtures("services")


def today() -> date:
    d = datetime.now(timezone.utc).date()
    if (d.month, d.day) == (2, 29):
        pytest.skip("today is Feb 29: earlier years have no such day (shown on Feb 28 instead, see month_days)")
    return d


def photo(tmp_path, src: str, when: datetime, *, width: int = 480, quality: int = 90, model: str = "EOS 40D",
          name: str | None = None):
    """A real camera photo (../shared fixtures) re-encoded at ``width`` px with this capture time."""
    im = Image.open(shared_path("fixtures", "exif-samples", "jpg", src)).convert("RGB")
    im = im.resize((width, round(im.height * width / im.width)))
    name = name or f"{src.split('.')[0]}-{when:%Y%m%d%H%M%S}-{secrets.token_hex(2)}.jpg"
    return mf.make_jpeg(tmp_path / name, image=im, quality=quality, make="Canon", model=model,
                        taken=when.strftime("%Y:%m:%d %H:%M:%S"),
                        extra_exif={piexif.ExifIFD.SubSecTimeOriginal: f"{when.microsecond // 1000:03d}".encode()})


def cron_until(done, step=None) -> None:
    """Run the cron's step until ``done()``: a tick prepares a bounded number of owners, and the session's database
    holds every other test's users too."""
    from pva.services import housekeeping

    for _ in range(500):
        (step or housekeeping.prepare_bursts_and_memories)()
        if done():
            return
    raise AssertionError("the cron never got to this owner")


def memories_q_due() -> list:
    from pva.db import memories as memories_q
    from pva.infra import db
    from pva.services import memories

    with db.transaction() as cur:
        return memories_q.owners_due(cur, memories.days_around(), memories.PREPARE_EVERY, 1)


def prepared_at(owner):
    from pva.infra import db

    row = db.query_one("select prepared_at from memories_prepared where owner_id = %s", (owner["id"],))
    return row["prepared_at"] if row else None


def ensure_phash(ids: list[UUID]) -> None:
    """The near-duplicate hashes (migration 010): ingest computes them; set from the thumbnails if it did not."""
    from pva.infra import db

    if not db.query_one("""select 1 as ok from information_schema.columns
                            where table_name = 'media' and column_name = 'phash'"""):
        pytest.skip("media.phash (migration 010, near-duplicates) is not in this database")
    from pva.config import get_settings
    from pva.infra.storage import get_storage
    from pva.media import phash

    for mid in ids:
        row = db.query_one("select phash, thumb_key from media where id = %s", (mid,))
        if row["phash"] is None:
            data = get_storage().get_bytes(get_settings().bucket_thumbs, row["thumb_key"])
            db.execute("update media set phash = %s::bit(64) where id = %s", (phash.to_bits(phash.phash_jpeg(data)), mid))


def test_on_this_day_groups_earlier_years_without_trash_burst_frames_or_near_duplicates(tmp_path, ingest):
    from pva.services import media, memories

    d = today()
    owner = new_user()

    def on(years_ago: int, hour: int, second: float = 0, day: date = d) -> datetime:
        return datetime(day.year - years_ago, day.month, day.day, hour) + timedelta(seconds=second)

    a = ingest(photo(tmp_path, "Canon_40D.jpg", on(1, 12)), owner)
    near = ingest(photo(tmp_path, "Canon_40D.jpg", on(1, 12, 300), width=360, quality=60), owner)  # resized copy
    trashed = ingest(photo(tmp_path, "Nikon_D70.jpg", on(1, 12, 600)), owner)
    b = ingest(photo(tmp_path, "Pentax_K10D.jpg", on(1, 13)), owner)
    frames = [ingest(photo(tmp_path, "Kodak_CX7530.jpg", on(3, 9, s), model="EOS R6", width=400 + i * 20), owner)
              for i, s in enumerate([0, 0.4, 0.8])]
    c = ingest(photo(tmp_path, "Sony_HDR-HC3.jpg", on(3, 15)), owner)
    ingest(photo(tmp_path, "Fujifilm_FinePix_E500.jpg", on(0, 0)), owner)  # this year: not a memory
    other_day = d + timedelta(days=3)
    ingest(photo(tmp_path, "Fujifilm_FinePix_E500.jpg", on(2, 12, day=other_day)), owner)  # another day
    ensure_phash([a, near, trashed, b, *frames, c])
    media.trash(trashed, owner["id"])

    cron_until(lambda: prepared_at(owner) is not None)  # the cron's step
    got = memories.for_day(owner["id"], d)
    assert got["day"] == d
    assert [(m["year"], m["title"], [i["id"] for i in m["items"]], m["total"]) for m in got["memories"]] == [
        (d.year - 1, "1 year ago", [a, b], 3),            # the copy left out; the trashed item not counted
        (d.year - 3, "3 years ago", [frames[0], c], 4),   # one photo of the burst
    ]
    assert memories.for_day(owner["id"], other_day)["memories"] == []  # only the days around today are prepared
    # an item trashed after the preparation is not shown; nothing else is asked of the cron for that
    media.trash(b, owner["id"])
    assert [i["id"] for i in memories.for_day(owner["id"], d)["memories"][0]["items"]] == [a]


def test_the_cron_prepares_an_owner_again_only_when_due(tmp_path, ingest):
    from pva.infra import db
    from pva.services import memories

    d = today()
    owner = new_user()
    x = ingest(photo(tmp_path, "Canon_40D.jpg", datetime(d.year - 2, d.month, d.day, 8)), owner)
    cron_until(lambda: prepared_at(owner) is not None, memories.prepare_due)
    first = db.query_one("select prepared_at, days from memories_prepared where owner_id = %s", (owner["id"],))
    assert first["days"] == memories.days_around()
    cron_until(lambda: not memories_q_due(), memories.prepare_due)  # every owner prepared: nothing is due
    memories.prepare_due()
    assert db.query_one("select prepared_at from memories_prepared where owner_id = %s",
                        (owner["id"],))["prepared_at"] == first["prepared_at"]  # not due: untouched
    y = ingest(photo(tmp_path, "Nikon_D70.jpg", datetime(d.year - 2, d.month, d.day, 9)), owner)
    db.execute("update memories_prepared set prepared_at = now() - interval '2 hours' where owner_id = %s",
               (owner["id"],))
    cron_until(lambda: prepared_at(owner) > first["prepared_at"], memories.prepare_due)
    assert [i["id"] for i in memories.for_day(owner["id"], d)["memories"][0]["items"]] == [x, y]


def test_feb_29_shows_on_feb_28_of_a_common_year_and_choose_keeps_one_of_each_burst_and_look():
    from pva.services import memories

    assert memories.month_days(date(2025, 2, 28)) == [228, 229]
    assert memories.month_days(date(2024, 2, 28)) == [228]
    h = "0" * 64
    rows = [{"id": 1, "burst_id": 9, "phash": h}, {"id": 2, "burst_id": 9, "phash": "1" * 64},
            {"id": 3, "burst_id": None, "phash": "1" * 6 + "0" * 58},   # 6 bits from the first: a near-duplicate
            {"id": 4, "burst_id": None, "phash": "1" * 7 + "0" * 57},   # 7 bits: another picture
            {"id": 5, "burst_id": None, "phash": None}]
    assert memories.choose(rows) == [1, 4, 5]


def test_the_memories_api_answers_the_owners_prepared_day(tmp_path, ingest, app):  # noqa: F811
    from pva.services import memories

    d = today()
    owner, other = new_user(), new_user()
    x = ingest(photo(tmp_path, "Canon_40D.jpg", datetime(d.year - 5, d.month, d.day, 8)), owner)
    memories.prepare(owner["id"])
    r = client_for(app, owner).get("/api/v1/memories", params={"day": d.isoformat()})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["day"] == d.isoformat()
    assert [(m["title"], [i["id"] for i in m["items"]]) for m in body["memories"]] == [("5 years ago", [str(x)])]
    assert body["memories"][0]["items"][0]["thumbnail_url"]
    assert client_for(app, other).get("/api/v1/memories", params={"day": d.isoformat()}).json()["memories"] == []
    assert client_for(app, owner).get("/api/v1/memories", params={"day": "yesterday"}).status_code == 422


def test_the_commands_prepare_memories_and_group_bursts_of_every_library_now(tmp_path, ingest, capsys):
    from pva.cli import main
    from pva.infra import db
    from pva.services import memories

    d = today()
    owner = new_user()
    when = datetime(d.year - 4, d.month, d.day, 8)
    x = ingest(photo(tmp_path, "Canon_40D.jpg", when), owner)
    ingest(photo(tmp_path, "Canon_40D.jpg", when + timedelta(seconds=0.5), width=300), owner)  # a burst
    db.execute("update media set burst_id = null, burst_size = null where owner_id = %s", (owner["id"],))
    assert main(["bursts", "--no-progress"]) == 0
    assert "grouped" in capsys.readouterr().out
    assert {r["burst_id"] for r in db.query("select burst_id from media where owner_id = %s", (owner["id"],))} == {x}
    assert main(["memories", "--no-progress"]) == 0
    assert "prepared" in capsys.readouterr().out
    assert [i["id"] for i in memories.for_day(owner["id"], d)["memories"][0]["items"]] == [x]  # not the second frame of its burst
