"""Place names in Chromium (issue 21): the detail page of a photo taken in Lisbon says "Lisbon, Portugal" in its
facts and over its map; setting the location to Tokyo by typing coordinates names Tokyo at once; the search page's
facets list the countries and cities, and a city chip finds its photo; the stats page lists them; a pin's popup on
the map names its place.  Screenshots go to artifacts/screenshots/places-*.png."""
from __future__ import annotations

import secrets

import pytest

import media_fixtures as mf
from test_web_ui import PASSWORD, SHOTS, browser, log_in, open_session, server  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("services")]

LISBON = (38.7223, -9.1393)
TOKYO = (35.6762, 139.6503)
OBIDOS = (39.3606, -9.1571)


@pytest.fixture(scope="module")
def library(services, tmp_path_factory):
    from PIL import Image

    from pva.services import auth
    from pva.services.ingest import Ingestor

    user = auth.create_user(f"placeui-{secrets.token_hex(3)}", PASSWORD)
    src = tmp_path_factory.mktemp("placeui")
    ing = Ingestor(publish=False)
    ids = {}
    for name, gps, color in (("a.jpg", LISBON, (200, 90, 60)), ("b.jpg", OBIDOS, (40, 110, 170)),
                             ("c.jpg", (38.0, -20.0), (60, 150, 70))):
        p = mf.make_jpeg(src / name, image=Image.new("RGB", (800, 600), color), make="PlaceCam", model="P1",
                         taken="2024:05:04 18:30:00", gps=gps)
        res = ing.ingest_file(p, user, f"trip/{name}")
        assert res.status == "added", res
        ids[name] = str(res.media_id)
    return {"user": user, "ids": ids}


@pytest.fixture(scope="module")
def ui(browser, server, library):  # noqa: F811
    ctx, s = open_session(browser, server, viewport=(1366, 900), offline=False, console_errors=False,
                          failed_responses=False, accept_dialogs=False)  # only page errors recorded, as before
    log_in(s, library["user"]["username"])
    yield s
    ctx.close()


def shot(ui, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    ui.page.screenshot(path=str(SHOTS / f"places-{name}.png"), full_page=True)


def test_the_detail_page_names_the_place_and_a_new_location_renames_it(ui, library):
    page = ui.page
    ui.go(f"/media/{library['ids']['a.jpg']}")
    facts = page.locator("#facts")
    assert "Lisbon, Portugal" in facts.text_content()
    assert page.locator("#place-text").text_content().strip() == "Lisbon, Portugal"
    shot(ui, "detail-lisbon")
    page.fill("#gps-input", f"{TOKYO[0]}, {TOKYO[1]}")
    page.click("#gps-save")
    page.wait_for_function("() => document.getElementById('place-text').textContent.includes('Tokyo')")
    assert page.locator("#place-text").text_content().strip() == "Tokyo, Japan"
    page.click("#gps-clear")
    page.wait_for_function("() => document.getElementById('place-text').textContent.includes('Lisbon')")
    ui.go(f"/media/{library['ids']['c.jpg']}")  # at sea: a location, no place
    assert page.locator("#place-text").text_content().strip() == ""
    assert "Place" not in [t.strip() for t in page.locator("#facts dt").all_text_contents()]
    assert not ui.errors, ui.errors


def test_search_facets_list_countries_and_cities_and_a_city_chip_finds_its_photo(ui, library):
    page = ui.page
    ui.go("/search")
    page.wait_for_selector("#facets .facet-group")
    countries = page.locator(".facet-group", has=page.get_by_role("heading", name="Countries"))
    assert "Portugal" in countries.text_content() and "2" in countries.text_content()
    cities = page.locator(".facet-group", has=page.get_by_role("heading", name="Cities"))
    cities.get_by_role("button", name="Óbidos").click()
    page.wait_for_function("""(id) => {
        const got = [...document.querySelectorAll('#grid .tile-media')].map((t) => t.dataset.id);
        return got.length === 1 && got[0] === id;
    }""", arg=library["ids"]["b.jpg"])
    assert "place=" in page.url and "q=" not in page.url  # the exact place, not its name as text (issue 21)
    # the facets follow (fetched after the grid): one country, one city, its chip pressed
    page.wait_for_function("() => !document.getElementById('facets').textContent.includes('Lisbon')")
    assert cities.get_by_role("button", name="Óbidos").get_attribute("aria-pressed") == "true"
    assert "Portugal1" in countries.text_content().replace(" ", "")
    shot(ui, "search-facets")
    ui.go("/stats")
    tables = page.locator(".stat-tables").text_content()
    assert "Portugal" in tables and "Lisbon" in tables and "Óbidos" in tables
    assert not ui.errors, ui.errors


def test_a_map_pin_popup_names_the_place(ui, library):
    page = ui.page
    ui.go(f"/map#11/{OBIDOS[0]}/{OBIDOS[1]}")  # zoomed in: Lisbon's pin is apart
    pin = page.locator("#map .pin[aria-label='b.jpg']")
    pin.wait_for()
    pin.click()
    popup = page.locator(".leaflet-popup .map-popup")
    popup.wait_for()
    page.wait_for_selector(".leaflet-popup .map-popup img")
    assert "Óbidos, Portugal" in page.locator(".leaflet-popup .map-popup-place").text_content()
    page.wait_for_timeout(300)  # the popup fades in
    shot(ui, "map-popup")
    assert not ui.errors, ui.errors
