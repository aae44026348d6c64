// The full-screen viewer (issue 18 item 2): a grid tile opens its item over the page; ←/→, swipe and the side
// buttons move through the grid's items (asking the grid for its next page at the end), Esc closes and gives the
// focus back to the tile.  Photos zoom (wheel, +/-, double-click, pinch, the buttons) and pan (drag) on the
// preview, swapped for the original once zoomed in when the browser can show its format; videos play the original
// through the streaming route (Range).  `i` toggles an information panel.  The item is in the URL (#view=<id>), so
// a reload reopens it and Back/Forward move through what was seen, then close.
//
// A small module of our own rather than PhotoSwipe: PhotoSwipe needs every item's size before it opens (our grid
// pages do not carry the oriented size), plays no video without a plugin, and leaves the URL, the info panel and
// paging a grid to the page anyway — what would be left of it is the zoom and pan, about a hundred lines here.
//
// grid.js dispatches a cancelable "pva:view" event on a tile when it is clicked plainly; cancelling it is how this
// module says it opened the item (the link then does not navigate).  Pages without this script keep the links.
// A page loads it BEFORE its own scripts (see the popstate listener below).
import { API, api, el, fmtDuration } from "./api.js";
import { liveInViewer } from "./live.js";

const MAX_SCALE = 8;
const STEP = 1.5;              // one +/- or button press
const PAN_STEP = 80;           // px an arrow key moves a zoomed picture
const SWIPE = 60;              // px of a horizontal drag that moves to the next item when not zoomed
const BROWSER_IMAGES = new Set(["image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp",
                                "image/svg+xml"]);
const DATE = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "long", year: "numeric",
                                                  hour: "2-digit", minute: "2-digit", timeZone: "UTC" });

// ---------------------------------------------------------------- what is shown of an item
function offsetText(minutes) {
  const sign = minutes < 0 ? "−" : "+";
  const m = Math.abs(minutes);
  return `UTC${sign}${String(Math.floor(m / 60)).padStart(2, "0")}:${String(m % 60).padStart(2, "0")}`;
}

// The capture time as the camera's clock showed it, with the offset when the file records one.
export function takenText(m) {
  if (!m.taken_at) return "";
  const utc = new Date(m.taken_at);
  if (Number.isNaN(utc.getTime())) return String(m.taken_at);
  if (m.taken_at_offset === null || m.taken_at_offset === undefined) return `${DATE.format(utc)} (no time zone)`;
  const local = new Date(utc.getTime() + m.taken_at_offset * 60000);
  return `${DATE.format(local)} (${offsetText(m.taken_at_offset)})`;
}

// "Canon EOS 40D", not "Canon Canon EOS 40D"
export function cameraText(make, model) {
  make = (make || "").trim();
  model = (model || "").trim();
  if (!make) return model;
  if (!model) return make;
  const first = make.split(/\s+/)[0].toLowerCase();
  return model.toLowerCase().startsWith(first) ? model : `${make} ${model}`;
}

function bytesText(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  return i ? `${n.toFixed(1)} ${units[i]}` : `${n} B`;
}

function placeText(m) {
  const gps = m.gps || { lat: m.lat, lon: m.lon };
  const name = m.place_name || (m.place && (m.place.name || m.place)) || "";
  const coords = gps && gps.lat !== null && gps.lat !== undefined
    ? `${Number(gps.lat).toFixed(5)}, ${Number(gps.lon).toFixed(5)}` : "";
  return [typeof name === "string" ? name : "", coords].filter(Boolean).join(" · ");
}

function infoRows(m) {
  return [
    ["Taken", takenText(m)],
    ["Camera", cameraText(m.camera_make, m.camera_model)],
    ["Lens", m.lens || ""],
    ["Place", placeText(m)],
    ["Size", bytesText(m.size)],
    ["Dimensions", m.width && m.height ? `${m.width} × ${m.height}` : ""],
    ["Duration", m.kind === "video" && m.duration ? fmtDuration(m.duration) : ""],
    ["File", m.filename || ""],
  ].filter(([, v]) => v);
}

// ---------------------------------------------------------------- the viewer
class Viewer {
  constructor() {
    this.details = new Map();       // id -> Promise of GET /media/{id}
    this.grid = null;
    this.id = null;
    this.returnTo = null;
    this.infoOpen = false;
    this.pointers = new Map();
    this.hidden = [];               // the page elements made inert while open
    this.build();
  }

  build() {
    const btn = (cls, label, glyph, onclick, keys) => el("button", {
      type: "button", class: `viewer-btn ${cls}`, "aria-label": label, title: keys ? `${label} (${keys})` : label,
      onclick }, el("span", { "aria-hidden": "true" }, glyph));
    this.title = el("h2", { id: "viewer-title", class: "viewer-title" });
    this.pos = el("span", { class: "viewer-pos muted" });
    this.zoomOut = btn("viewer-zoom-out", "Zoom out", "−", () => this.zoomBy(1 / STEP), "-");
    this.zoomIn = btn("viewer-zoom-in", "Zoom in", "+", () => this.zoomBy(STEP), "+");
    this.infoBtn = btn("viewer-info-btn", "Info", "i", () => this.toggleInfo(), "i");
    this.infoBtn.setAttribute("aria-pressed", "false");
    this.infoBtn.setAttribute("aria-controls", "viewer-info");
    this.closeBtn = btn("viewer-close", "Close", "×", () => this.close(), "Esc");
    this.prevBtn = btn("viewer-prev", "Previous", "‹", () => this.step(-1), "←");
    this.nextBtn = btn("viewer-next", "Next", "›", () => this.step(1), "→");
    this.stage = el("div", { class: "viewer-stage" });
    this.message = el("p", { class: "viewer-message", role: "status" });
    this.said = el("p", { class: "sr-only", "aria-live": "polite" });  // "harbour.jpg, 2 of 5" on each move
    this.infoList = el("dl", { class: "viewer-info-list" });
    this.detailsLink = el("a", { class: "btn viewer-details", href: "#" }, "Open details");
    this.info = el("aside", { id: "viewer-info", class: "viewer-info", "aria-labelledby": "viewer-info-h", hidden: true },
      el("h3", { id: "viewer-info-h" }, "Info"), this.infoList, this.detailsLink);
    this.root = el("div", { class: "viewer", role: "dialog", "aria-modal": "true", "aria-labelledby": "viewer-title",
                            tabindex: "-1", hidden: true },
      el("div", { class: "viewer-bar" }, this.closeBtn, el("div", { class: "viewer-heading" }, this.title, this.pos),
        el("div", { class: "viewer-tools" }, this.zoomOut, this.zoomIn, this.infoBtn)),
      el("div", { class: "viewer-body" }, this.stage, this.prevBtn, this.nextBtn, this.message, this.info), this.said);
    document.body.append(this.root);

    // on the document: a click on the picture leaves the focus on the dialog (tabindex -1), but be sure
    document.addEventListener("keydown", (e) => { if (!this.root.hidden) this.onKey(e); });
    this.stage.addEventListener("wheel", (e) => this.onWheel(e), { passive: false });
    this.stage.addEventListener("dblclick", (e) => this.onDoubleClick(e));
    this.stage.addEventListener("pointerdown", (e) => this.onPointerDown(e));
    this.stage.addEventListener("pointermove", (e) => this.onPointerMove(e));
    for (const t of ["pointerup", "pointercancel"]) this.stage.addEventListener(t, (e) => this.onPointerUp(e));
    window.addEventListener("resize", () => { if (this.id && this.img) this.layout(); });
  }

  // ------------------------------------------------------------ the grid's items, in the order shown
  tiles() {
    if (!this.grid) this.grid = pageGrid();
    const box = this.grid ? this.grid.container : null;
    return box ? [...box.querySelectorAll(".tile-media[data-id]")] : [];
  }

  tileOf(id) {
    return this.tiles().find((t) => t.dataset.id === id) || null;
  }

  // Opened from the URL before the grid's first page came: its position, details link and the tile to go back to
  // once the tile is there.
  whenTileLoaded(id) {
    const box = this.grid ? this.grid.container : null;
    if (!box || this.tileOf(id)) { this.updatePosition(); return; }
    const seen = new MutationObserver(() => {
      if (this.id !== id) { seen.disconnect(); return; }
      const tile = this.tileOf(id);
      if (!tile) return;
      seen.disconnect();
      this.returnTo = tile;
      this.detailsLink.href = tile.getAttribute("href");
      this.updatePosition();
      this.preloadNeighbours();
    });
    seen.observe(box, { childList: true, subtree: true });
  }

  detail(id) {
    if (!this.details.has(id)) {
      const p = api("GET", `/media/${id}`);
      p.catch(() => this.details.delete(id));  // a failure is shown once, retried on the next visit
      this.details.set(id, p);
    }
    return this.details.get(id);
  }

  // ------------------------------------------------------------ open, move, close
  // grid: the Grid the item is in (null: the item alone); tile: where the focus goes back on close.
  // push: a history entry for the item (a click, a step); depth: how many of the viewer's entries lie above the
  // page's own, so that closing goes back to it (0: opened from the URL, closing just drops #view).
  open(grid, id, { push = true, tile = null, depth = null } = {}) {
    const opening = this.root.hidden;
    this.grid = grid;
    if (opening) {
      this.depth = 0;
      this.returnTo = tile || this.tileOf(id) || document.activeElement;
      this.hidden = [...document.body.children].filter((n) => n !== this.root && n.id !== "toast" && !n.inert);
      for (const n of this.hidden) n.inert = true;
      document.documentElement.classList.add("viewer-open");
      this.root.hidden = false;
    }
    this.show(id);
    if (push) {
      this.depth += 1;
      history.pushState({ pvaView: id, depth: this.depth }, "", viewUrl(id));
    } else if (depth !== null) {
      this.depth = depth;
    }
    if (opening) this.closeBtn.focus({ preventScroll: true });
  }

  // history: false when Back/Forward closed it (the URL is already the page's)
  close({ history: moveHistory = true } = {}) {
    if (this.root.hidden) return;
    this.stopMedia();
    this.root.hidden = true;
    for (const n of this.hidden) n.inert = false;
    this.hidden = [];
    document.documentElement.classList.remove("viewer-open");
    const back = (this.id && this.tileOf(this.id)) || this.returnTo;
    this.id = null;
    this.stage.replaceChildren();
    if (moveHistory) {
      if (this.depth > 0) { expectedPops += 1; history.go(-this.depth); }
      else history.replaceState(null, "", viewUrl(null));
    }
    this.depth = 0;
    this.back = back;
    this.revealBack();
  }

  // The tile the focus went back to, on screen (again after Back's scroll restoration, see expectedPops).
  revealBack() {
    const back = this.back;
    if (!back || !back.isConnected) return;
    if (document.activeElement !== back) back.focus({ preventScroll: true });
    back.scrollIntoView({ block: "nearest" });
  }

  async step(delta) {
    if (!this.id || this.paging) return;
    let tiles = this.tiles();
    let i = tiles.findIndex((t) => t.dataset.id === this.id);
    if (delta > 0 && (i === -1 || i === tiles.length - 1) && this.grid && !this.grid.done) {
      this.paging = true;  // one page at a time, however often → is pressed meanwhile
      try { tiles = await this.morePages(tiles.length); } finally { this.paging = false; }
      i = tiles.findIndex((t) => t.dataset.id === this.id);
    }
    const next = tiles[i === -1 ? (delta > 0 ? 0 : -1) : i + delta];
    if (!next || this.root.hidden) return;
    this.open(this.grid, next.dataset.id);
  }

  // The grid's next page; resolves with the tiles once there are more than `had` (or the grid is done).
  async morePages(had) {
    const grid = this.grid, said = this.message.textContent;
    this.message.textContent = "Loading more…";
    for (let n = 0; n < 100 && !grid.done && this.tiles().length <= had; n += 1) {
      if (!grid.loading) grid.more();
      await new Promise((r) => setTimeout(r, 100));
    }
    this.message.textContent = said;
    return this.tiles();
  }

  // ------------------------------------------------------------ one item on the stage
  show(id) {
    this.stopMedia();
    this.id = id;
    this.resetZoom();
    this.message.textContent = "";
    const tile = this.tileOf(id);
    const kind = tile ? tile.dataset.kind : null;
    const name = tile ? tile.getAttribute("title") || "" : "";
    this.title.textContent = name || "…";
    this.detailsLink.href = tile ? tile.getAttribute("href") : `/media/${id}`;
    this.updatePosition();
    this.stage.replaceChildren();
    this.img = null;
    this.video = null;
    if (kind === "video") this.showVideo(id, tile.querySelector("img"));
    else if (kind === "photo" || !kind) this.showPhoto(id, tile);
    this.detail(id).then((m) => this.onDetail(id, m, kind)).catch((e) => {
      if (this.id === id) this.message.textContent = `Could not load this item: ${e.message}`;
    });
    this.preloadNeighbours();
  }

  // The preview at once when the tile shows a thumbnail; otherwise what the item has, once its detail is known.
  showPhoto(id, tile) {
    const hasThumb = tile && tile.querySelector("img");
    const img = el("img", { class: "viewer-img", alt: "", draggable: "false" });
    this.img = img;
    this.naturalRatio = null;
    img.addEventListener("load", () => {
      if (this.img !== img) return;
      if (!this.naturalRatio) this.naturalRatio = img.naturalWidth / img.naturalHeight;
      this.layout();
    });
    img.addEventListener("error", () => {
      if (this.img === img) this.message.textContent = "This picture could not be shown.";
    });
    if (hasThumb) img.src = `${API}/media/${id}/thumbnail?size=preview`;
    this.stage.append(img);
  }

  showVideo(id, poster) {
    const video = el("video", { class: "viewer-video", controls: true, playsinline: true, preload: "metadata",
                                poster: poster ? `${API}/media/${id}/thumbnail?size=preview` : null,
                                src: `${API}/media/${id}/playback` });  // web preview, else original
    video.addEventListener("error", () => {
      if (this.video === video) this.message.textContent = "This browser cannot play this video; open its details to download it.";
    });
    this.video = video;
    this.stage.append(video);
    video.play().catch(() => { /* autoplay refused: the controls are there */ });
  }

  onDetail(id, m, kind) {
    if (this.id !== id) return;
    this.item = m;
    this.title.textContent = m.filename || "untitled";
    if (this.img) this.img.alt = m.filename || "photo";
    if (!kind && m.kind === "video") {  // opened from the URL before its tile was loaded
      this.stage.replaceChildren();
      this.img = null;
      this.showVideo(id, m.thumbnail_url);
    } else if (this.img && !this.img.getAttribute("src")) {
      if (m.thumbnail_url) this.img.src = `${API}/media/${id}/thumbnail?size=preview`;
      else if (BROWSER_IMAGES.has(m.mime)) { this.img.src = m.original_url; this.img.dataset.original = "1"; }
      else this.message.textContent = "No preview for this item.";
    }
    if (this.img) this.layout();
    liveInViewer(this, m);  // a live photo's motion over the still (issue 22)
    this.renderInfo(m);
    this.updatePosition();
  }

  renderInfo(m) {
    this.infoList.replaceChildren(...infoRows(m).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  }

  updatePosition() {
    const tiles = this.tiles();
    const i = tiles.findIndex((t) => t.dataset.id === this.id);
    const more = this.grid && !this.grid.done ? "+" : "";
    this.pos.textContent = i === -1 ? "" : `${i + 1} of ${tiles.length}${more}`;
    const said = [this.title.textContent, this.pos.textContent].filter(Boolean).join(", ");
    if (this.said.textContent !== said) this.said.textContent = said;
    this.prevBtn.disabled = i <= 0;
    this.nextBtn.disabled = i === -1 || (i === tiles.length - 1 && !more);
    this.updateZoomButtons();
  }

  updateZoomButtons() {
    const zoomable = !!(this.img && this.naturalRatio);
    this.zoomIn.disabled = !zoomable || this.scale >= MAX_SCALE;
    this.zoomOut.disabled = !zoomable || this.scale <= 1;
  }

  preloadNeighbours() {
    const tiles = this.tiles();
    const i = tiles.findIndex((t) => t.dataset.id === this.id);
    for (const t of [tiles[i + 1], tiles[i - 1]]) {
      if (t && t.dataset.kind !== "video" && t.querySelector("img")) {
        new Image().src = `${API}/media/${t.dataset.id}/thumbnail?size=preview`;
      }
    }
  }

  stopMedia() {
    if (this.video) { this.video.pause(); this.video.removeAttribute("src"); this.video.load(); }
    this.video = null;
    this.item = null;
    this.originalLoading = false;
  }

  toggleInfo(force) {
    this.infoOpen = force === undefined ? !this.infoOpen : force;
    this.info.hidden = !this.infoOpen;
    this.infoBtn.setAttribute("aria-pressed", String(this.infoOpen));
    this.root.classList.toggle("with-info", this.infoOpen);
    if (this.img) requestAnimationFrame(() => this.layout());
  }

  // ------------------------------------------------------------ zoom and pan
  // The image box is the fitted size (scale 1); zoom and pan are a transform on it, clamped so it covers the stage.
  layout() {
    const img = this.img;
    if (!img || !this.naturalRatio) return;
    const W = this.stage.clientWidth, H = this.stage.clientHeight;
    const ratio = this.naturalRatio;
    // never blow a small photo up past its own pixels (the preview of a small one is the whole picture)
    const full = this.fullWidth() || Math.max(img.naturalWidth, 1);
    let w = Math.min(W, H * ratio, full);
    this.fitW = w;
    this.fitH = w / ratio;
    img.style.width = `${this.fitW}px`;
    img.style.height = `${this.fitH}px`;
    this.apply();
  }

  // The original's width as shown: the stored size may be before the EXIF rotation, so the preview's shape decides.
  fullWidth() {
    const m = this.item;
    if (!m || !m.width || !m.height || !this.naturalRatio) return null;
    const r = m.width / m.height;
    return Math.abs(this.naturalRatio - 1 / r) < Math.abs(this.naturalRatio - r) ? m.height : m.width;
  }

  resetZoom() {
    this.scale = 1; this.tx = 0; this.ty = 0;
    if (this.img) this.apply();
  }

  clamp() {
    const W = this.stage.clientWidth, H = this.stage.clientHeight;
    const mx = Math.max(0, (this.fitW * this.scale - W) / 2), my = Math.max(0, (this.fitH * this.scale - H) / 2);
    this.tx = Math.min(mx, Math.max(-mx, this.tx));
    this.ty = Math.min(my, Math.max(-my, this.ty));
  }

  apply() {
    if (!this.img) return;
    if (this.scale <= 1.001) { this.scale = 1; this.tx = 0; this.ty = 0; }
    this.clamp();
    this.updateZoomButtons();
    this.img.style.transform = `translate(${this.tx}px, ${this.ty}px) scale(${this.scale})`;
    this.root.classList.toggle("zoomed", this.scale > 1);
    if (this.scale > 1) this.loadOriginal();
  }

  // Zoom to `scale` keeping the stage point (px, py) (relative to the stage centre) where it is.
  zoomTo(scale, px = 0, py = 0) {
    if (!this.img || !this.naturalRatio) return;
    scale = Math.min(MAX_SCALE, Math.max(1, scale));
    const k = scale / this.scale;
    this.tx = px - (px - this.tx) * k;
    this.ty = py - (py - this.ty) * k;
    this.scale = scale;
    this.apply();
  }

  zoomBy(factor, px = 0, py = 0) { this.zoomTo(this.scale * factor, px, py); }

  panBy(dx, dy) { this.tx += dx; this.ty += dy; this.apply(); }

  stagePoint(e) {
    const r = this.stage.getBoundingClientRect();
    return [e.clientX - r.left - r.width / 2, e.clientY - r.top - r.height / 2];
  }

  // Zoomed in past the preview's own pixels: the original, when the browser can show its format.
  loadOriginal() {
    const img = this.img, m = this.item;
    if (!m || this.originalLoading || img.dataset.original || !BROWSER_IMAGES.has(m.mime)) return;
    if (img.naturalWidth && img.naturalWidth >= (this.fullWidth() || 0)) return;
    if (this.fitW * this.scale <= img.naturalWidth) return;
    this.originalLoading = true;
    const full = new Image();
    full.onload = () => {
      if (this.img !== img) return;
      img.src = full.src;   // same box and transform: only sharper
      img.dataset.original = "1";
      this.originalLoading = false;
    };
    full.onerror = () => { this.originalLoading = false; img.dataset.original = "failed"; };
    full.src = m.original_url;
  }

  onWheel(e) {
    if (!this.img) return;
    e.preventDefault();
    const [px, py] = this.stagePoint(e);
    this.zoomBy(Math.exp(-e.deltaY * (e.ctrlKey ? 0.01 : 0.002)), px, py);
  }

  onDoubleClick(e) {
    if (!this.img) return;
    const [px, py] = this.stagePoint(e);
    if (this.scale > 1) this.resetZoom(); else this.zoomTo(2.5, px, py);
  }

  onPointerDown(e) {
    if (this.video && e.target === this.video) return;  // the video's own controls
    if (e.pointerType === "mouse" && e.button !== 0) return;
    try { this.stage.setPointerCapture(e.pointerId); } catch { /* a pointer already gone */ }
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    this.gesture = this.pointers.size === 2 ? this.pinchStart() : { x: e.clientX, y: e.clientY, tx: this.tx, ty: this.ty };
    this.stage.classList.add("dragging");
  }

  pinchStart() {
    const [a, b] = [...this.pointers.values()];
    return { pinch: true, dist: Math.hypot(a.x - b.x, a.y - b.y) || 1, scale: this.scale };
  }

  onPointerMove(e) {
    if (!this.pointers.has(e.pointerId) || !this.gesture) return;
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    const g = this.gesture;
    if (g.pinch && this.pointers.size === 2) {
      const [a, b] = [...this.pointers.values()];
      const [px, py] = this.stagePoint({ clientX: (a.x + b.x) / 2, clientY: (a.y + b.y) / 2 });
      this.zoomTo(g.scale * Math.hypot(a.x - b.x, a.y - b.y) / g.dist, px, py);
    } else if (!g.pinch && this.scale > 1) {
      this.tx = g.tx + e.clientX - g.x;
      this.ty = g.ty + e.clientY - g.y;
      this.apply();
    } else if (!g.pinch && this.img) {
      this.img.style.transform = `translateX(${(e.clientX - g.x) * 0.5}px)`;  // a swipe follows the finger a little
    }
  }

  onPointerUp(e) {
    if (!this.pointers.has(e.pointerId)) return;
    this.pointers.delete(e.pointerId);
    const g = this.gesture;
    if (this.pointers.size === 0) {
      this.gesture = null;
      this.stage.classList.remove("dragging");
      if (g && !g.pinch && !g.afterPinch && this.scale <= 1) {
        const dx = e.clientX - g.x, dy = e.clientY - g.y;
        this.apply();
        if (Math.abs(dx) > SWIPE && Math.abs(dx) > 1.5 * Math.abs(dy)) this.step(dx < 0 ? 1 : -1);
      }
    } else if (this.pointers.size === 1) {
      const [p] = [...this.pointers.values()];
      this.gesture = { x: p.x, y: p.y, tx: this.tx, ty: this.ty, afterPinch: true };  // lifting a finger is no swipe
    }
  }

  // ------------------------------------------------------------ keys; the focus stays inside while open
  onKey(e) {
    if (e.altKey || e.ctrlKey || e.metaKey) return;
    const inVideo = e.target === this.video;
    switch (e.key) {
      case "Escape": this.close(); break;
      case "ArrowRight": case "ArrowLeft": case "ArrowUp": case "ArrowDown": {
        if (inVideo) return;
        const dir = { ArrowRight: [-1, 0], ArrowLeft: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] }[e.key];
        if (this.scale > 1) this.panBy(dir[0] * PAN_STEP, dir[1] * PAN_STEP);  // zoomed in: the keys pan
        else if (dir[0]) this.step(-dir[0]);
        else return;
        break;
      }
      case "i": case "I": this.toggleInfo(); break;
      case "+": case "=": this.zoomBy(STEP); break;
      case "-": case "_": this.zoomBy(1 / STEP); break;
      case "0": this.resetZoom(); break;
      case "Tab": this.trapTab(e); return;
      default: return;
    }
    e.preventDefault();
  }

  trapTab(e) {
    const focusable = [...this.root.querySelectorAll("button, a[href], video[controls], [tabindex]:not([tabindex='-1'])")]
      .filter((n) => !n.disabled && n.offsetParent !== null);
    if (!focusable.length) return;
    const first = focusable[0], last = focusable[focusable.length - 1];
    if (e.shiftKey && document.activeElement === first) { e.preventDefault(); last.focus(); }
    else if (!e.shiftKey && document.activeElement === last) { e.preventDefault(); first.focus(); }
  }
}

// ---------------------------------------------------------------- the URL: #view=<id>
function viewInUrl() {
  const m = location.hash.match(/^#view=([0-9a-fA-F-]{36})$/);
  return m ? m[1] : null;
}

function viewUrl(id) {
  return location.pathname + location.search + (id ? `#view=${id}` : "");
}

let viewer = null;
function theViewer() { return viewer || (viewer = new Viewer()); }

function pageGrid() {
  const box = document.querySelector(".media-grid");
  return box && box.pvaGrid ? box.pvaGrid : null;
}

document.addEventListener("pva:view", (e) => {
  const { grid, tile } = e.detail;
  e.preventDefault();
  theViewer().open(grid, tile.dataset.id, { tile });
});

// Back and Forward between the viewer's own entries move or close it.  The page's other listeners (search.js re-runs
// its search on popstate) must not see those: this listener is registered first (pages load viewer.js before their
// own scripts; listeners on window run in the order they were added) and stops them.  The viewer's
// entries always sit on the entry of the page they were opened on (the page is inert while it is open, so nothing
// else pushes in between), so they never change what the page shows.
let expectedPops = 0;   // the popstate of close()'s history.go(-depth)
window.addEventListener("popstate", (e) => {
  if (expectedPops > 0) {
    expectedPops -= 1;
    e.stopImmediatePropagation();
    if (viewInUrl()) history.replaceState(null, "", viewUrl(null));  // back on an entry that was opened from the URL
    // the browser restores the page's scroll of the entry gone back to: show the tile once that is done
    requestAnimationFrame(() => viewer.revealBack());
    return;
  }
  const state = e.state && e.state.pvaView ? e.state : null;
  if (state) {
    e.stopImmediatePropagation();
    theViewer().open(pageGrid(), state.pvaView, { push: false, depth: state.depth || 0 });
  } else if (viewer && !viewer.root.hidden) {
    e.stopImmediatePropagation();
    viewer.close({ history: false });
    requestAnimationFrame(() => viewer.revealBack());
  }
});

// A reload (or a link) with #view=<id> reopens the item; closing it then just drops #view from the URL.
// (after the page's scripts have made their grid: module scripts all run before DOMContentLoaded)
function openFromUrl() {
  const initial = viewInUrl();
  if (!initial) return;
  history.replaceState({ pvaView: initial, depth: 0 }, "", viewUrl(initial));
  const v = theViewer();
  v.open(pageGrid(), initial, { push: false, depth: 0 });
  v.whenTileLoaded(initial);
}
if (document.readyState === "complete") openFromUrl();
else document.addEventListener("DOMContentLoaded", openFromUrl);
// a #view=<id> link followed on the page itself (Back and Forward between our entries are the popstate above)
window.addEventListener("hashchange", () => {
  const id = viewInUrl();
  if (id && (!viewer || viewer.id !== id)) { if (viewer) viewer.close({ history: false }); openFromUrl(); }
});
