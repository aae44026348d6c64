// Map: a clustered pin for every photo and video with a location; the popup shows the thumbnail and a link.
import { api, baseMap, el } from "./api.js";

const mapEl = document.getElementById("map");
const countText = document.getElementById("map-count");
const map = baseMap(mapEl);

function popup(item) {
  return el("a", { class: "map-popup", href: `/media/${item.id}` },
    item.thumbnail_url ? el("img", { src: item.thumbnail_url, alt: item.filename || "", width: 160, height: 160 }) : null,
    el("span", {}, item.filename || "open"));
}

async function load() {
  if (!map) return;
  const L = window.L;
  const cluster = L.markerClusterGroup ? L.markerClusterGroup({ showCoverageOnHover: false }) : L.layerGroup();
  const icon = L.divIcon({ className: "pin", iconSize: [14, 14] });
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
      return L.marker([it.lat, it.lon], { icon, title: it.filename || "", alt: it.filename || "photo", keyboard: true })
        .bindPopup(() => popup(it));
    });
    if (cluster.addLayers) cluster.addLayers(markers); else markers.forEach((m) => cluster.addLayer(m));
    n += markers.length;
    cursor = page.next_cursor;
  } while (cursor);
  cluster.addTo(map);
  countText.textContent = `${n} items with a location`;
  if (bounds.length) map.fitBounds(bounds, { maxZoom: 12, padding: [30, 30] });
}

load().catch((e) => { countText.textContent = `Could not load the map: ${e.message || e}`; console.error(e); });
