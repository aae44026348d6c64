// Detail: overlay layers (objects, faces, OCR words), transcript in sync with the video, comments, GPS by map
// click, albums, trash, previous/next with the arrow keys.
import { api, baseMap, el, jsonData, toast } from "./api.js";

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
      const b = box("face", f, f.person_name || (f.person_id ? "person" : "face"),
        f.person_id ? `/search?person=${f.person_id}` : `/search?similar_face=${f.id}`);
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
}
if (picture && !picture.complete) picture.addEventListener("load", draw);

// ---- comments
const commentForm = document.getElementById("comment-form");
commentForm.addEventListener("submit", async (e) => {
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

// ---- GPS
const gpsMapEl = document.getElementById("gps-map");
const gpsMap = baseMap(gpsMapEl);
const gpsText = document.getElementById("gps-text");
const saveBtn = document.getElementById("gps-save");
const clearBtn = document.getElementById("gps-clear");
let marker = null;
let picked = null;
function place(lat, lon) {
  if (!gpsMap) return;
  if (marker) marker.setLatLng([lat, lon]);
  else marker = window.L.circleMarker([lat, lon], { radius: 8, color: "#dc2626", fillOpacity: 0.7 }).addTo(gpsMap);
}
if (gpsMap && data.gps && data.gps.lat !== null) {
  place(data.gps.lat, data.gps.lon);
  gpsMap.setView([data.gps.lat, data.gps.lon], 10);
}
if (gpsMap && saveBtn) {
  gpsMap.on("click", (e) => {
    picked = e.latlng.wrap();
    place(picked.lat, picked.lng);
    saveBtn.disabled = false;
    gpsText.textContent = `${picked.lat.toFixed(5)}, ${picked.lng.toFixed(5)} (not saved)`;
  });
  saveBtn.addEventListener("click", async () => {
    if (!picked) return;
    try {
      const r = await api("PUT", `/media/${data.id}/gps`, { lat: picked.lat, lon: picked.lng });
      gpsText.textContent = `${r.gps.lat.toFixed(5)}, ${r.gps.lon.toFixed(5)} (override)`;
      saveBtn.disabled = true;
      clearBtn.hidden = false;
      toast("Location saved");
    } catch (err) { toast(err.message, "error"); }
  });
  clearBtn.addEventListener("click", async () => {
    try {
      const r = await api("DELETE", `/media/${data.id}/gps`);
      clearBtn.hidden = true;
      if (r.gps.lat !== null) { place(r.gps.lat, r.gps.lon); gpsText.textContent = `${r.gps.lat.toFixed(5)}, ${r.gps.lon.toFixed(5)} (exif)`; }
      else { if (marker) { marker.remove(); marker = null; } gpsText.textContent = "No location."; }
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
