// Map: a clustered pin for every photo and video with a location, over the shared base layers (basemap.js).
// A pin's popup shows the thumbnail and opens the item; a cluster zooms in to its pins, or, when they cannot be
// told apart any more (the same place, or the deepest zoom), lists them.  The view lives in the URL's hash
// (#zoom/lat/lon), so coming back from an item returns to the same place.
import { api, el } from "./api.js";
import { baseMap } from "./basemap.js";

const mapEl = document.getElementById("map");
const countText = document.getElementById("map-count");
const map = baseMap(mapEl);
mapEl.leafletMap = map; // for tests and the console
const LIST_MAX = 60; // thumbnails in a cluster's list; past that, a link to the same place in search

function thumb(item, size) {
  return item.thumbnail_url
    ? el("img", { src: item.thumbnail_url, alt: "", width: size, height: size, loading: "lazy" })
    : el("span", { class: "no-thumb", "aria-hidden": "true" }, item.kind === "video" ? "▶" : "□");
}

function when(item) {
  return item.taken_at ? new Date(item.taken_at).toLocaleDateString(undefined, { dateStyle: "medium" }) : "";
}

function popup(item) {
  return el("a", { class: "map-popup", href: `/media/${item.id}` }, thumb(item, 160),
    el("span", { class: "map-popup-name" }, item.filename || "open"),
    item.place ? el("span", { class: "map-popup-place" }, `${item.place.city}, ${item.place.country}`) : null,
    when(item) ? el("span", { class: "muted small" }, when(item)) : null);
}

// Icons with an accessible name (Leaflet makes them focusable buttons; Enter opens or zooms like a click).
function namedIcon(L) {
  return L.DivIcon.extend({
    createIcon(old) {
      const node = L.DivIcon.prototype.createIcon.call(this, old);
      node.setAttribute("aria-label", this.options.label);
      return node;
    },
  });
}

function clusterList(markers, bounds) {
  const items = markers.map((m) => m.options.item);
  const pad = 0.0005;
  const bbox = [bounds.getSouth() - pad, bounds.getWest() - pad, bounds.getNorth() + pad, bounds.getEast() + pad]
    .map((v) => v.toFixed(5)).join(",");
  return el("div", { class: "map-list" },
    el("p", { class: "map-list-head" }, `${items.length} items here`),
    el("ul", {}, items.slice(0, LIST_MAX).map((it) => el("li", {},
      el("a", { href: `/media/${it.id}`, title: it.filename || "" }, thumb(it, 72),
        el("span", { class: "sr-only" }, it.filename || "item"))))),
    el("a", { class: "map-list-all", href: `/search?bbox=${bbox}` },
      items.length > LIST_MAX ? `All ${items.length} in search` : "Show them in search"));
}

function viewFromHash() {
  const m = location.hash.match(/^#(\d+)\/(-?[\d.]+)\/(-?[\d.]+)$/);
  return m ? { zoom: Number(m[1]), center: [Number(m[2]), Number(m[3])] } : null;
}

async function load() {
  if (!map) return;
  const L = window.L;
  const Icon = namedIcon(L);
  const cluster = L.markerClusterGroup({
    showCoverageOnHover: false, zoomToBoundsOnClick: false, spiderfyOnMaxZoom: false,
    iconCreateFunction: (c) => {
      const n = c.getChildCount();
      const size = n < 10 ? "small" : n < 100 ? "medium" : "large";
      return new Icon({ html: `<div><span>${n}</span></div>`, className: `marker-cluster marker-cluster-${size}`,
                        iconSize: [40, 40], label: `${n} items: zoom in` });
    },
  });
  cluster.on("clusterclick clusterkeypress", (e) => {
    if (e.type === "clusterkeypress" && e.originalEvent.key !== "Enter") return;
    const c = e.layer;
    const b = c.getBounds();
    const samePlace = b.getSouthWest().distanceTo(b.getNorthEast()) < 1;
    if (samePlace || map.getZoom() >= map.getMaxZoom()) {
      L.popup({ maxWidth: 340, minWidth: 220, className: "map-list-popup" })
        .setLatLng(c.getLatLng()).setContent(clusterList(c.getAllChildMarkers(), b)).openOn(map);
    } else {
      c.zoomToBounds({ padding: [40, 40] });
    }
  });
  let cursor = null;
  let n = 0;
  const bounds = [];
  countText.textContent = "Loading…";
  do {
    const p = new URLSearchParams({ bbox: "-90,-180,90,180", limit: "500" });
    if (cursor) p.set("cursor", cursor);
    const page = await api("GET", "/media?" + p.toString());
    const markers = page.items.filter((it) => it.lat !== null && it.lon !== null).map((it) => {
      bounds.push([it.lat, it.lon]);
      const name = it.filename || "photo";
      return L.marker([it.lat, it.lon], { icon: new Icon({ className: "pin", iconSize: [14, 14], label: name }),
                                          title: name, keyboard: true, item: it })
        .bindPopup(() => popup(it));
    });
    cluster.addLayers(markers);
    n += markers.length;
    cursor = page.next_cursor;
  } while (cursor);
  cluster.addTo(map);
  // the popup's link takes the focus, so a keyboard user goes on with Enter (Esc closes it)
  map.on("popupopen", (e) => {
    const link = e.popup.getElement().querySelector(".leaflet-popup-content a[href]");
    if (link) link.focus({ preventScroll: true });
  });
  countText.textContent = `${n} items with a location`;
  const view = viewFromHash();
  if (view) map.setView(view.center, view.zoom);
  else if (bounds.length) map.fitBounds(bounds, { maxZoom: 12, padding: [30, 30] });
  map.on("moveend", () => {
    const c = map.getCenter().wrap();
    history.replaceState(null, "", `#${map.getZoom()}/${c.lat.toFixed(4)}/${c.lng.toFixed(4)}`);
  });
}

load().catch((e) => { countText.textContent = `Could not load the map: ${e.message || e}`; console.error(e); });
