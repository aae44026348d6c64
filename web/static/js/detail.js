// Detail: overlay layers (objects, faces, OCR words), transcript in sync with the video, comments, GPS by map
// click, albums, trash, previous/next with the arrow keys.
import { api, el, jsonData, toast } from "./api.js";
import { baseMap, parseCoords } from "./basemap.js";

const data = jsonData("media-data");
const overlay = document.getElementById("overlay");
const player = document.getElementById("player");
const picture = document.getElementById("picture");
const layers = { objects: document.getElementById("layer-objects"), faces: document.getElementById("layer-faces"),
                 ocr: document.getElementById("layer-ocr") };
// objects the model is less sure of than this are hidden until the slider asks for them ("giraffe 26%" on a tree)
const minConf = document.getElementById("layer-minconf");
const minConfOut = document.getElementById("layer-minconf-out");
const minConfHidden = document.getElementById("layer-minconf-hidden");
const labelChips = [...document.querySelectorAll("#labels .chip[data-confidence]")];
const threshold = () => (minConf ? Number(minConf.value) : 0);

function pct(v) { return `${(v * 100).toFixed(3)}%`; }

function box(kind, b, label, href) {
  const node = el(href ? "a" : "div", { class: `box box-${kind}`, href: href || null, title: label || null },
    label ? el("span", { class: "box-label" }, label) : null);
  node.style.left = pct(b.x); node.style.top = pct(b.y);
  node.style.width = pct(b.w); node.style.height = pct(b.h);
  return node;
}

// For a video, only what was found in the keyframe nearest to the current time.
function atTime(items) {
  if (!player) return items;
  const timed = items.filter((d) => d.video_time !== null && d.video_time !== undefined);
  if (!timed.length) return items;
  const t = player.currentTime;
  let best = null;
  for (const d of timed) if (best === null || Math.abs(d.video_time - t) < Math.abs(best - t)) best = d.video_time;
  return timed.filter((d) => d.video_time === best);
}

function draw() {
  const nodes = [];
  const min = threshold();
  if (layers.objects.checked) {
    for (const d of atTime(data.detections)) {
      if (d.confidence >= min - 1e-9) nodes.push(box("object", d, `${d.label} ${(d.confidence * 100).toFixed(0)}%`));
    }
  }
  if (layers.faces.checked) {
    data.faces.forEach((f, i) => { f.n = i + 1; });
    for (const f of atTime(data.faces)) {
      const who = f.person_name || (f.person_id ? "unnamed person" : "unknown person");
      // a share recipient cannot search the owner's people or faces: the box is a plain outline for them
      const b = box("face", f, f.person_name || (f.person_id ? "unnamed" : "face"), !data.owned ? null
        : f.person_id ? `/search?person=${f.person_id}` : `/search?similar_face=${f.id}`);
      if (!data.owned) { nodes.push(b); continue; }
      b.setAttribute("aria-label", f.person_id ? `Photos of ${who} (face ${f.n})` : `find similar faces: face ${f.n}`);
      nodes.push(b);
      const sim = el("a", { class: "box-similar", href: `/search?similar_face=${f.id}`,
                            "aria-label": `find similar faces: face ${f.n}, ${who}` }, "similar");
      b.append(sim);
    }
  }
  if (layers.ocr.checked) for (const w of data.ocr_words) nodes.push(box("ocr", w, w.text));
  overlay.replaceChildren(...nodes);
}
Object.values(layers).forEach((c) => c.addEventListener("change", draw));

function showSure() {
  const min = threshold();
  if (minConfOut) minConfOut.textContent = `${Math.round(min * 100)}%`;
  let hidden = 0;
  for (const c of labelChips) {
    c.hidden = Number(c.dataset.confidence) < min - 1e-9;
    if (c.hidden) hidden += 1;
  }
  if (minConfHidden) minConfHidden.textContent = hidden ? `${hidden} less sure hidden` : "";
  draw();
}
if (minConf) minConf.addEventListener("input", showSure);
showSure();

// ---- video: transcript in sync
if (player) {
  const segs = [...document.querySelectorAll("#transcript .seg")];
  let lastT = -1;
  player.addEventListener("timeupdate", () => {
    const t = player.currentTime;
    for (const s of segs) {
      const on = t >= Number(s.dataset.start) && t < Number(s.dataset.end);
      s.classList.toggle("current", on);
      if (on) s.setAttribute("aria-current", "true"); else s.removeAttribute("aria-current");
    }
    if (Math.abs(t - lastT) > 0.5) { lastT = t; draw(); }
  });
  for (const s of segs) {
    s.addEventListener("click", () => { player.currentTime = Number(s.dataset.start); player.play().catch(() => {}); });
  }
  // the keyframe strip: a click shows the video at that frame (and what was found in it); the nearest is marked
  const frames = [...document.querySelectorAll("#keyframes button[data-t]")];
  const markFrame = () => {
    const t = player.currentTime;
    let best = null;
    for (const f of frames) if (best === null || Math.abs(f.dataset.t - t) < Math.abs(best.dataset.t - t)) best = f;
    for (const f of frames) if (f === best) f.setAttribute("aria-current", "true"); else f.removeAttribute("aria-current");
  };
  for (const f of frames) {
    f.addEventListener("click", () => { player.pause(); player.currentTime = Number(f.dataset.t); });
  }
  player.addEventListener("seeked", () => { markFrame(); draw(); });
  player.addEventListener("timeupdate", markFrame);
  markFrame();
}
if (picture && !picture.complete) picture.addEventListener("load", draw);

// ---- comments
const commentForm = document.getElementById("comment-form");
commentForm?.addEventListener("submit", async (e) => {  // only owners comment
  e.preventDefault();
  const ta = document.getElementById("comment-body");
  const body = ta.value.trim();
  if (!body) return;
  try {
    const c = await api("POST", `/media/${data.id}/comments`, { body });
    document.getElementById("comments").append(el("li", { dataset: { id: c.id } },
      el("p", { class: "comment-body" }, c.body),
      el("p", { class: "muted small" }, "you · just now")));
    ta.value = "";
    toast("Comment added");
  } catch (err) { toast(err.message, "error"); }
});

// ---- GPS: click the map or type coordinates, then save (the override); or go back to the camera's location
const gpsMapEl = document.getElementById("gps-map");
const gpsMap = baseMap(gpsMapEl);
gpsMapEl.leafletMap = gpsMap; // for tests and the console
const gpsText = document.getElementById("gps-text");
const gpsForm = document.getElementById("gps-form");
const gpsInput = document.getElementById("gps-input");
const gpsError = document.getElementById("gps-error");
const saveBtn = document.getElementById("gps-save");
const clearBtn = document.getElementById("gps-clear");
let marker = null;
let picked = null;
const fmt = (lat, lon) => `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
function place(lat, lon) {
  if (!gpsMap) return;
  if (marker) marker.setLatLng([lat, lon]);
  else marker = window.L.circleMarker([lat, lon], { radius: 8, color: "#dc2626", fillOpacity: 0.7 }).addTo(gpsMap);
}
function gpsProblem(message) {
  gpsError.textContent = message || "";
  if (message) gpsInput.setAttribute("aria-invalid", "true"); else gpsInput.removeAttribute("aria-invalid");
}
function pick(lat, lon) {
  picked = { lat, lng: lon };
  place(lat, lon);
  saveBtn.disabled = false;
  gpsText.textContent = `${fmt(lat, lon)} (not saved)`;
}
if (gpsMap && data.gps && data.gps.lat !== null) {
  place(data.gps.lat, data.gps.lon);
  gpsMap.setView([data.gps.lat, data.gps.lon], 10);
}
// the place named after the location (city, region, country; none at sea), as _details.html's place_name writes it
function showPlace(p) {
  const text = p ? [p.city, p.region && p.region !== p.city ? p.region : null, p.country].filter(Boolean).join(", ") : "";
  const el = document.getElementById("place-text");
  if (el) el.textContent = text;
}
if (gpsForm) {
  if (gpsMap) {
    gpsMap.on("click", (e) => {
      const p = e.latlng.wrap();
      gpsInput.value = fmt(p.lat, p.lng);
      gpsProblem("");
      pick(p.lat, p.lng);
    });
  }
  // typing: a readable pair shows on the map as you go; Enter (or Save) saves it, anything else says why not
  gpsInput.addEventListener("input", () => {
    gpsProblem("");
    try {
      const c = parseCoords(gpsInput.value);
      pick(c.lat, c.lon);
      if (gpsMap) gpsMap.setView([c.lat, c.lon], Math.max(gpsMap.getZoom(), 8));
    } catch { saveBtn.disabled = !gpsInput.value.trim() && !picked; }
  });
  gpsForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (gpsInput.value.trim()) {
      try {
        const c = parseCoords(gpsInput.value);
        picked = { lat: c.lat, lng: c.lon };
      } catch (err) { gpsProblem(err.message); gpsInput.focus(); return; }
    }
    if (!picked) { gpsProblem("Click the map or type a latitude and a longitude, e.g. 48.8584, 2.2945."); return; }
    try {
      const r = await api("PUT", `/media/${data.id}/gps`, { lat: picked.lat, lon: picked.lng });
      place(r.gps.lat, r.gps.lon);
      gpsText.textContent = `${fmt(r.gps.lat, r.gps.lon)} (override)`;
      showPlace(r.place);
      gpsProblem("");
      saveBtn.disabled = true;
      clearBtn.hidden = false;
      toast("Location saved");
    } catch (err) { gpsProblem(err.message); }
  });
  clearBtn.addEventListener("click", async () => {
    try {
      const r = await api("DELETE", `/media/${data.id}/gps`);
      clearBtn.hidden = true;
      picked = null;
      gpsInput.value = "";
      gpsProblem("");
      saveBtn.disabled = true;
      if (r.gps.lat !== null) { place(r.gps.lat, r.gps.lon); gpsText.textContent = `${fmt(r.gps.lat, r.gps.lon)} (exif)`; }
      else { if (marker) { marker.remove(); marker = null; } gpsText.textContent = "No location."; }
      showPlace(r.place);
      toast("Location reset");
    } catch (err) { toast(err.message, "error"); }
  });
}

// ---- albums
const albumForm = document.getElementById("album-form");
if (albumForm) {
  const sel = document.getElementById("album-select");
  const newName = document.getElementById("album-new-name");
  const sync = () => { newName.hidden = sel.value !== "__new"; newName.required = !newName.hidden; };
  sel.addEventListener("change", sync);
  sync();
  albumForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      let id = sel.value;
      let name = sel.options[sel.selectedIndex].textContent;
      if (id === "__new") {
        const a = await api("POST", "/albums", { name: newName.value.trim() });
        id = a.id; name = a.name;
        sel.insertBefore(el("option", { value: id }, name), sel.lastElementChild);
        sel.value = id; newName.value = ""; sync();
      }
      await api("POST", `/albums/${id}/media`, { media_ids: [data.id] });
      const list = document.getElementById("in-albums");
      if (![...list.querySelectorAll("a")].some((a) => a.getAttribute("href") === `/albums/${id}`)) {
        list.append(el("li", {}, el("a", { href: `/albums/${id}` }, name)));
      }
      toast(`Added to ${name}`);
    } catch (err) { toast(err.message, "error"); }
  });
}

// ---- trash
const trashBtn = document.getElementById("trash-btn");
if (trashBtn) {
  trashBtn.addEventListener("click", async () => {
    if (!confirm("Move this item to the trash?")) return;
    try {
      await api("POST", `/media/${data.id}/trash`);
      const next = document.getElementById("next-link") || document.getElementById("prev-link");
      location.href = next ? next.href : "/";
    } catch (err) { toast(err.message, "error"); }
  });
}

// ---- previous / next with the keyboard
document.addEventListener("keydown", (e) => {
  if (e.target.closest("input, textarea, select, video, [contenteditable]")) return;
  const link = e.key === "ArrowLeft" ? document.getElementById("prev-link")
    : e.key === "ArrowRight" ? document.getElementById("next-link") : null;
  if (link) location.href = link.href;
});
