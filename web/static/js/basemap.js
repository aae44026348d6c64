// The base layers every map shares (the Map page, the detail page's location editor, the search page's area):
// the tile server of PVA_TILE_URL (OpenStreetMap by default, with the attribution its licence requires) over a
// built-in world map, so a map shows land, coasts and borders with no internet at all.  When tiles do not load,
// a quiet note on the map says so.  No import from api.js: api.js re-exports baseMap for older callers.
//
// The world layer is Natural Earth's 1:50m countries from the world-atlas package (TopoJSON, 0.75 MB; public
// domain), turned into GeoJSON in the browser by topojson-client; both are served under /vendor/.  TopoJSON keeps
// shared borders once, so land, coastline and borders are three cheap layers.
const WORLD_URL = "/vendor/world-atlas/countries-50m.json";
const TOPOJSON_URL = "/vendor/topojson-client/topojson-client.min.js";
const OSM_ATTRIBUTION = '© <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors';
export const TILES_UNAVAILABLE = "Map tiles unavailable — showing the built-in world map";

let world = null; // one download per page, shared by its maps

// Natural Earth's land joins a few shapes across the antimeridian (Chukotka, Wrangel Island, Fiji): their rings
// jump from 180° to -180° and back, which on a flat map is a sliver across the whole world (an XOR band through
// the Arctic).  Such a ring is made continuous instead (180.5° rather than -179.5°); the world copies drawn either
// side cover the rest.  A ring that jumps once (Antarctica) goes round the pole: it is right as it is.
function unwrapRings(geometry) {
  const polygons = geometry.type === "MultiPolygon" ? geometry.coordinates
    : geometry.type === "Polygon" ? [geometry.coordinates] : [];
  for (const rings of polygons) {
    for (const ring of rings) {
      let jumps = 0;
      for (let i = 1; i < ring.length; i++) if (Math.abs(ring[i][0] - ring[i - 1][0]) > 180) jumps++;
      if (!jumps || jumps % 2) continue;
      let shift = 0;
      for (let i = 1; i < ring.length; i++) {
        const step = ring[i][0] + shift - ring[i - 1][0];
        if (step > 180) shift -= 360;
        else if (step < -180) shift += 360;
        ring[i] = [ring[i][0] + shift, ring[i][1]];
      }
    }
  }
  return geometry;
}

function worldShapes() {
  if (!world) {
    world = Promise.all([
      import(TOPOJSON_URL), // a UMD file: as a module it sets self.topojson
      fetch(WORLD_URL, { credentials: "same-origin" }).then((r) => {
        if (!r.ok) throw new Error(`${WORLD_URL}: ${r.status}`);
        return r.json();
      }),
    ]).then(([, topo]) => {
      const tj = window.topojson;
      const land = tj.feature(topo, topo.objects.land);
      for (const f of land.features || [land]) unwrapRings(f.geometry);
      return {
        land,
        borders: tj.mesh(topo, topo.objects.countries, (a, b) => a !== b),
      };
    });
  }
  return world;
}

// Every `step`-th point of each ring (rings left with fewer than four points are dropped).
function coarse(fc, step) {
  const ring = (r) => r.filter((p, i) => i % step === 0 || i === r.length - 1);
  const polygon = (rings) => rings.map(ring).filter((r) => r.length >= 4);
  return { type: "FeatureCollection", features: fc.features.map((f) => {
    const g = f.geometry;
    const coordinates = g.type === "MultiPolygon" ? g.coordinates.map(polygon).filter((p) => p.length)
      : g.type === "Polygon" ? polygon(g.coordinates) : g.coordinates;
    return { type: "Feature", properties: {}, geometry: { type: g.type, coordinates } };
  }) };
}

// The world layer on a canvas (several times quicker to zoom than SVG paths for its ~100,000 points), and its land
// twice more, a world either side, so it repeats like tiles do when the map is wider than the world or is panned
// across the antimeridian.
function drawWorld(map, container) {
  const L = window.L;
  map.createPane("world"); // .leaflet-world-pane sits under the tiles (app.css)
  const renderer = L.canvas({ pane: "world" });
  worldShapes().then(({ land, borders }) => {
    const common = { pane: "world", renderer, interactive: false };
    const copy = coarse(land, 4); // the copies are only ever seen at a map's edge: a quarter of the points
    for (const shift of [0, -360, 360]) {
      L.geoJSON(shift ? copy : land, { ...common, coordsToLatLng: (c) => L.latLng(c[1], c[0] + shift),
                        style: { color: "#a9b8c2", weight: 0.8, fillColor: "#f2efe9", fillOpacity: 1 },
                        attribution: shift ? null : "Natural Earth" }).addTo(map);
    }
    L.geoJSON(borders, { ...common, style: { color: "#b9a6c9", weight: 0.7, dashArray: "3 2" } }).addTo(map);
    container.dataset.world = "drawn";
  }).catch((e) => {
    container.dataset.world = "failed";
    console.warn("built-in world map not loaded:", e);
  });
}

function notice(map, text) {
  const L = window.L;
  const node = document.createElement("div");
  node.className = "map-notice";
  node.setAttribute("role", "status");
  node.hidden = true;
  node.textContent = text;
  const control = L.control({ position: "topright" }); // clear of the zoom buttons and the attribution
  control.onAdd = () => node;
  control.addTo(map);
  // clear of the zoom buttons on the left, however narrow the map (the search page's is)
  const fit = () => { node.style.maxWidth = `${Math.max(120, map.getSize().x - 64)}px`; };
  fit();
  map.on("resize", fit);
  return node;
}

// Tiles from `url` ("{z}/{x}/{y}" template); the note shows while a whole batch of tiles failed and hides as soon
// as tiles load again.
function addTiles(map, url) {
  const L = window.L;
  const note = notice(map, TILES_UNAVAILABLE);
  let loaded = 0;
  let failed = 0;
  // OpenStreetMap's tile policy wants the site's origin as the referrer; the pages' own policy is same-origin
  const tiles = L.tileLayer(url, { maxZoom: 19, attribution: OSM_ATTRIBUTION,
                                   referrerPolicy: "strict-origin-when-cross-origin" });
  tiles.on("loading", () => { loaded = 0; failed = 0; });
  tiles.on("tileload", () => { loaded += 1; note.hidden = true; });
  tiles.on("tileerror", (e) => { failed += 1; e.tile.classList.add("tile-failed"); });
  tiles.on("load", () => { note.hidden = !(failed && !loaded); });
  tiles.addTo(map);
  return tiles;
}

// A Leaflet map in `container` with the shared base layers (null, with a message, when Leaflet is missing).
export function baseMap(container, opts = {}) {
  const L = window.L;
  if (!L) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "The map library is not installed (run make install).";
    container.append(p);
    return null;
  }
  container.classList.add("basemap");
  const map = L.map(container, { worldCopyJump: true, minZoom: 1, maxZoom: 18, ...opts }).setView([20, 0], 1);
  drawWorld(map, container);
  const url = document.body.dataset.tileUrl;
  if (url) addTiles(map, url);
  return map;
}

// "48.8584, 2.2945", "48.8584 2.2945", "48.8584;2.2945" or degrees-minutes-seconds with hemispheres
// ("48°51'30\"N 2°17'40\"E", "48 51.5 N, 2 17.7 E") -> {lat, lon}; throws Error with a message for a person.
export function parseCoords(text) {
  const s = String(text || "").trim();
  const example = "e.g. 48.8584, 2.2945";
  if (!s) throw new Error(`Type a latitude and a longitude, ${example}.`);
  let lat;
  let lon;
  const dec = s.match(/^([+-]?\d+(?:\.\d+)?)\s*[,;\s]\s*([+-]?\d+(?:\.\d+)?)$/);
  if (dec) {
    lat = Number(dec[1]);
    lon = Number(dec[2]);
  } else {
    // one part per hemisphere letter: degrees, optional minutes and seconds
    const part = /(\d+(?:\.\d+)?)\s*°?\s*(?:(\d+(?:\.\d+)?)\s*['′]?\s*)?(?:(\d+(?:\.\d+)?)\s*(?:["″]|'')?\s*)?([NSEW])/gi;
    const found = [...s.replace(/,/g, " ").matchAll(part)];
    if (found.length !== 2) throw new Error(`“${s}” is not a latitude and longitude: type ${example}.`);
    const vals = {};
    for (const m of found) {
      const [deg, min, sec] = [m[1], m[2], m[3]].map((x) => Number(x || 0));
      if (min >= 60 || sec >= 60) throw new Error(`“${m[0].trim()}”: minutes and seconds must be below 60.`);
      const hemi = m[4].toUpperCase();
      const v = (deg + min / 60 + sec / 3600) * (hemi === "S" || hemi === "W" ? -1 : 1);
      vals[hemi === "N" || hemi === "S" ? "lat" : "lon"] = v;
    }
    if (vals.lat === undefined || vals.lon === undefined) {
      throw new Error(`“${s}” needs one latitude (N/S) and one longitude (E/W).`);
    }
    ({ lat, lon } = vals);
  }
  if (!(lat >= -90 && lat <= 90)) throw new Error(`Latitude must be between -90 and 90 (got ${lat}).`);
  if (!(lon >= -180 && lon <= 180)) throw new Error(`Longitude must be between -180 and 180 (got ${lon}).`);
  return { lat, lon };
}
