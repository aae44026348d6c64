// Search: every filter of GET /media, kept in the page URL; results grid and facet counts.
import { api, baseMap, el } from "./api.js";
import { cameraText } from "./camera.js";
import { Grid } from "./grid.js";

const form = document.getElementById("search-form");
const facetsBox = document.getElementById("facets");
const countText = document.getElementById("result-count");
const grid = new Grid(document.getElementById("grid"), document.getElementById("grid-sentinel"),
  document.getElementById("grid-empty"), {
    onPage: (page, n) => { countText.textContent = `${n}${page.next_cursor ? "+" : ""} item${n === 1 && !page.next_cursor ? "" : "s"}`; },
  });
const FIELDS = ["q", "from", "to", "min_confidence", "person", "similar_face", "camera_make", "camera_model",
  "kind", "format", "bbox", "country", "place"];

// ---- URL <-> form
function formToParams() {
  const p = new URLSearchParams();
  for (const name of FIELDS) {
    const v = (form.elements[name].value || "").trim();
    if (v && !(name === "min_confidence" && Number(v) === 0)) p.set(name, v);
  }
  for (const l of form.elements.label.value.split(",").map((s) => s.trim()).filter(Boolean)) p.append("label", l);
  if (form.elements.no_gps.checked) p.set("no_gps", "true");
  return p;
}

function paramsToForm(p) {
  for (const name of FIELDS) {
    const input = form.elements[name];
    const v = p.get(name) || "";
    if (input.tagName === "SELECT" && v && ![...input.options].some((o) => o.value === v)) {
      input.append(el("option", { value: v }, v));
    }
    input.value = name === "min_confidence" ? (v || "0") : v;
  }
  form.elements.label.value = p.getAll("label").join(", ");
  form.elements.no_gps.checked = p.get("no_gps") === "true";
  document.getElementById("f-minconf-out").textContent = form.elements.min_confidence.value;
  showSimilar(p.get("similar_face"));
  showBbox(p.get("bbox"));
  if (inUse(p)) openMore(true);
}

function showSimilar(faceId) {
  const box = document.getElementById("similar-field");
  box.hidden = !faceId;
  if (faceId) document.getElementById("similar-img").src = `/api/v1/faces/${encodeURIComponent(faceId)}/crop`;
}

// ---- map rectangle
const mapEl = document.getElementById("search-map");
const map = baseMap(mapEl, { zoomControl: true });
mapEl.leafletMap = map; // for tests and the console
let rect = null;
let drawing = false;
const drawBtn = document.getElementById("draw-rect");

function showBbox(bbox) {
  const text = document.getElementById("bbox-text");
  if (rect) { rect.remove(); rect = null; }
  if (!bbox) { text.textContent = ""; return; }
  const [s, w, n, e] = bbox.split(",").map(Number);
  text.textContent = `${s.toFixed(3)}, ${w.toFixed(3)} → ${n.toFixed(3)}, ${e.toFixed(3)}`;
  if (map && [s, w, n, e].every(Number.isFinite)) {
    rect = window.L.rectangle([[s, w], [n, e]], { color: "#2563eb", weight: 2 }).addTo(map);
    map.fitBounds(rect.getBounds(), { maxZoom: 8 });
  }
}

function setDrawing(on) {
  drawing = on;
  drawBtn.setAttribute("aria-pressed", String(on));
  drawBtn.textContent = on ? "Drag on the map…" : "Draw area";
  mapEl.classList.toggle("drawing", on);
  if (map) on ? map.dragging.disable() : map.dragging.enable();
}

if (map) {
  let start = null;
  drawBtn.addEventListener("click", () => setDrawing(!drawing));
  map.on("mousedown", (e) => {
    if (!drawing) return;
    start = e.latlng;
    if (rect) rect.remove();
    rect = window.L.rectangle([start, start], { color: "#2563eb", weight: 2 }).addTo(map);
  });
  map.on("mousemove", (e) => { if (drawing && start && rect) rect.setBounds([start, e.latlng]); });
  map.on("mouseup", (e) => {
    if (!drawing || !start) return;
    const b = window.L.latLngBounds(start, e.latlng);
    start = null;
    setDrawing(false);
    const clamp = (v, lim) => Math.max(-lim, Math.min(lim, v));
    const bbox = [clamp(b.getSouth(), 90), clamp(b.getWest(), 180), clamp(b.getNorth(), 90), clamp(b.getEast(), 180)]
      .map((v) => v.toFixed(5)).join(",");
    form.elements.bbox.value = bbox;
    form.elements.no_gps.checked = false;
    run(true);
  });
} else {
  drawBtn.disabled = true;
}
document.getElementById("clear-rect").addEventListener("click", () => {
  form.elements.bbox.value = "";
  showBbox("");
  run(true);
});
document.getElementById("similar-clear").addEventListener("click", () => {
  form.elements.similar_face.value = "";
  run(true);
});
form.elements.min_confidence.addEventListener("input", () => {
  document.getElementById("f-minconf-out").textContent = form.elements.min_confidence.value;
});

// ---- facets
let approximate = false;  // facet counts from a sample (a large library and broad filters): shown as ~n

function chip(label, n, apply, active) {
  return el("button", { type: "button", class: "chip facet" + (active ? " active" : ""), "aria-pressed": String(!!active),
                         onclick: apply }, label, " ",
            el("span", { class: "n", title: approximate ? "estimated from a sample" : "" }, (approximate ? "~" : "") + String(n)));
}

function setAndRun(name, value) {
  form.elements[name].value = value;
  run(true);
}

function renderFacets(f) {
  approximate = !!f.approximate;
  const groups = [];
  const p = formToParams();
  const group = (title, chips) => { if (chips.length) groups.push(el("div", { class: "facet-group" }, el("h3", {}, title), chips)); };
  group("Kind", f.kind.map((k) => chip(k.value, k.n, () => setAndRun("kind", p.get("kind") === k.value ? "" : k.value), p.get("kind") === k.value)));
  group("Format", f.format.map((k) => chip(k.value, k.n, () => setAndRun("format", p.get("format") === k.value ? "" : k.value), p.get("format") === k.value)));
  group("Objects", f.label.map((k) => chip(k.value, k.n, () => {
    const labels = p.getAll("label");
    const next = labels.includes(k.value) ? labels.filter((x) => x !== k.value) : [...labels, k.value];
    form.elements.label.value = next.join(", ");
    run(true);
  }, p.getAll("label").includes(k.value))));
  group("People", f.person.map((k) => chip(k.name || "unnamed", k.n, () => setAndRun("person", p.get("person") === k.id ? "" : k.id), p.get("person") === k.id)));
  group("Cameras", f.camera.filter((c) => c.make || c.model).map((c) => chip(cameraText(c.make, c.model), c.n, () => {
    form.elements.camera_make.value = c.make || "";
    form.elements.camera_model.value = c.model || "";
    run(true);
  })));
  group("Year", f.year.filter((y) => y.value).map((y) => chip(String(y.value), y.n, () => {
    form.elements.from.value = `${y.value}-01-01`;
    form.elements.to.value = `${y.value}-12-31`;
    run(true);
  })));
  group("Location", [chip("with GPS", f.gps.with, () => {}, false), chip("no GPS", f.gps.without, () => {
    form.elements.no_gps.checked = !form.elements.no_gps.checked;
    form.elements.bbox.value = "";
    run(true);
  }, p.get("no_gps") === "true")]);
  // places (issue 21): a chip filters by the exact place (country code, place id), not by its name as text
  const placeChip = (label, n, key, value) => chip(label, n, () => setAndRun(key, p.get(key) === value ? "" : value), p.get(key) === value);
  group("Countries", (f.country || []).map((c) => placeChip(c.name, c.n, "country", c.value)));
  group("Cities", (f.city || []).map((c) => placeChip(c.region && c.region !== c.city ? `${c.city}, ${c.region}` : c.city, c.n, "place", String(c.id))));
  group("Albums", f.album.map((a) => chip(a.name, a.n, () => { location.href = `/albums/${a.id}`; })));
  facetsBox.replaceChildren(...groups);
  fillList("label-options", f.label.map((k) => k.value));
  const fmt = form.elements.format;
  const current = fmt.value;
  fmt.replaceChildren(el("option", { value: "" }, "any"), ...f.format.map((k) => el("option", { value: k.value }, `${k.value} (${k.n})`)));
  if (current && ![...fmt.options].some((o) => o.value === current)) fmt.append(el("option", { value: current }, current));
  fmt.value = current;
}

function fillList(id, values) {
  document.getElementById(id).replaceChildren(...values.map((v) => el("option", { value: v })));
}

// ---- on a phone the filters beyond words and dates fold away; open while one of them is in use
const moreToggle = document.getElementById("more-toggle");
const more = document.getElementById("more-filters");
function openMore(open) {
  more.classList.toggle("open", open);
  moreToggle.setAttribute("aria-expanded", String(open));
  if (open && map) map.invalidateSize();
}
moreToggle.addEventListener("click", () => {
  openMore(!more.classList.contains("open"));
  if (more.classList.contains("open")) more.querySelector("input, select").focus();
});
const inUse = (p) => [...p.keys()].some((k) => !["q", "from", "to"].includes(k));
openMore(inUse(new URLSearchParams(location.search)));

// ---- suggestions: the camera boxes offer the library's own values matching what is typed ("nik" -> NIKON ...)
for (const input of form.querySelectorAll("[data-suggest]")) {
  let timer = null;
  let asked = null;
  const suggest = () => {
    const q = input.value.trim();
    if (q === asked) return;
    asked = q;
    api("GET", `/search/suggest?field=${encodeURIComponent(input.dataset.suggest)}&q=${encodeURIComponent(q)}`)
      .then((r) => { if (asked === q) fillList(input.getAttribute("list"), r.values.map((v) => v.value)); })
      .catch(() => { asked = null; });
  };
  input.addEventListener("focus", suggest);
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 120); });
}

// ---- run
async function run(push) {
  const p = formToParams();
  const qs = p.toString();
  if (push) history.pushState(null, "", qs ? `/search?${qs}` : "/search");
  paramsToForm(p);
  countText.textContent = "Searching…";
  grid.load(qs);
  try {
    renderFacets(await api("GET", "/search/facets?" + qs));
  } catch (e) {
    facetsBox.replaceChildren(el("p", { class: "error", role: "alert" }, e.message));
    countText.textContent = "";
  }
}

form.addEventListener("submit", (e) => { e.preventDefault(); run(true); });
form.addEventListener("reset", (e) => {
  e.preventDefault();
  history.pushState(null, "", "/search");
  paramsToForm(new URLSearchParams());
  run(false);
});
window.addEventListener("popstate", () => { paramsToForm(new URLSearchParams(location.search)); run(false); });
paramsToForm(new URLSearchParams(location.search));
run(false);
