// Select many, act once (issue 18 item 3).  Every tile of a grid gets a checkbox; shift-click selects a range (on
// a checkbox or a tile), each date header a "Select day" button, the bar "Select all" (every result of the query,
// not only the pages loaded).  While something is selected a bar replaces the top bar: the count, Add to album…,
// Remove from album (on an album of one's own), Move to trash (Restore on the trash page), Set location…,
// Download (a ZIP of the originals), Clear; Esc clears.  A plain click on a tile selects it too while a selection
// is open, and opens the item otherwise.
//
// grid.js calls gridSelection(grid) for every Grid; a page with a list of its own (the trash page) calls
//   attachSelection(list, { mode: "trash", query: () => "trashed=true", onDone: (action, ids) => ... })
// and gets the same checkboxes and bar for the .tile-media[data-id] cards inside `list`; onDone then removes what
// left the page instead of the default (removing the tiles).  restoreMany(ids) is the bare API call.
import { API, api, csrfToken, el, toast } from "./api.js";

const MAX = 5000;  // ids per request (the API's limit)
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

// ---- the API calls, usable without the UI: {done, not_found}
export const trashMany = (ids) => api("POST", "/media/bulk/trash", { media_ids: ids });
export const restoreMany = (ids) => api("POST", "/media/bulk/restore", { media_ids: ids });
export const locateMany = (ids, lat, lon) => api("POST", "/media/bulk/location", { media_ids: ids, lat, lon });
export const addToAlbum = (albumId, ids) => api("POST", `/media/bulk/albums/${albumId}/add`, { media_ids: ids });
export const removeFromAlbum = (albumId, ids) =>
  api("POST", `/media/bulk/albums/${albumId}/remove`, { media_ids: ids });

// The ZIP of the originals, saved by the browser under the server's name.
export async function downloadMany(ids) {
  const r = await fetch(API + "/media/download", {
    method: "POST", credentials: "same-origin", body: JSON.stringify({ media_ids: ids }),
    headers: { "Content-Type": "application/json", Accept: "application/zip", "X-CSRF-Token": csrfToken() },
  });
  if (!r.ok) {
    let data = null;
    try { data = await r.json(); } catch { data = null; }
    throw new Error((data && data.message) || `${r.status} ${r.statusText}`);
  }
  const name = (/filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "") || [])[1] || "photos.zip";
  const url = URL.createObjectURL(await r.blob());
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
  return { name, skipped: Number(r.headers.get("X-Not-Found") || 0) };
}

// "48.8584, 2.2945" (or "48.8584 2.2945") -> [lat, lon], null when it is not a place
export function parseLatLon(text) {
  const m = /^\s*(-?\d+(?:\.\d+)?)\s*[,;\s]\s*(-?\d+(?:\.\d+)?)\s*$/.exec(text || "");
  if (!m) return null;
  const lat = Number(m[1]), lon = Number(m[2]);
  return Math.abs(lat) <= 90 && Math.abs(lon) <= 180 ? [lat, lon] : null;
}

let current = null;  // one selection per page: the bar and Esc belong to it

export function attachSelection(container, opts = {}) {
  current = new Selection(container, opts);
  return current;
}

// The selection of a Grid (grid.js): what the page is tells which actions make sense.
export function gridSelection(grid) {
  const albumId = (/(?:^|&)album=([0-9a-f-]{36})(?:&|$)/.exec(grid.query || grid.container.dataset.query || "")
                   || [])[1] || null;
  const edit = document.getElementById("album-edit");
  const mode = albumId ? (edit && edit.dataset.album === albumId ? "album" : "shared") : "library";
  return attachSelection(grid.container, { mode, albumId, query: () => grid.query || "", grid });
}

class Selection {
  constructor(container, { mode = "library", albumId = null, query = () => "", onDone = null, grid = null } = {}) {
    Object.assign(this, { container, mode, albumId, query, onDone, grid });
    this.ids = new Set();
    this.anchor = null;
    this.generation = grid ? grid.generation : 0;
    this.bar = buildBar(this);
    container.addEventListener("click", (e) => this.onClick(e), true);  // before the viewer's hook
    document.addEventListener("keydown", (e) => {
      if (e.key !== "Escape" || !this.ids.size || e.defaultPrevented || current !== this) return;
      if (document.documentElement.classList.contains("viewer-open") || document.querySelector("dialog[open]")) return;
      this.clear();
    });
    this.decorate();
  }

  tiles() { return Array.from(this.container.querySelectorAll(".tile-media[data-id]")); }

  // checkboxes on new tiles, "Select day" on new date headers; called after every page a grid appends
  decorate() {
    if (this.grid && this.grid.generation !== this.generation) {  // a new search: a new selection
      this.generation = this.grid.generation;
      this.ids.clear();
      this.anchor = null;
    }
    for (const tile of this.tiles()) {
      if (tile.parentElement.classList.contains("sel-tile")) continue;
      const id = tile.dataset.id;
      const box = el("input", { type: "checkbox", class: "sel-check", dataset: { id },
                                "aria-label": `Select ${tile.title || "this item"}` });
      const wrap = el("div", { class: "sel-tile", dataset: { id } });
      tile.replaceWith(wrap);
      wrap.append(tile, box);
    }
    for (const h of this.container.querySelectorAll("h3.grid-date:not(.sel-day-done)")) {
      h.classList.add("sel-day-done");
      const day = h.textContent;
      const btn = el("button", { type: "button", class: "btn-link sel-day", "aria-label": `Select all of ${day}` },
                     "Select day");
      btn.addEventListener("click", () => this.toggleDay(h));
      h.append(btn);
    }
    this.render();
  }

  dayTiles(h) {
    const section = h.nextElementSibling;
    return section ? Array.from(section.querySelectorAll(".tile-media[data-id]")) : [];
  }

  toggleDay(h) {
    const ids = this.dayTiles(h).map((t) => t.dataset.id);
    const on = !ids.every((id) => this.ids.has(id));
    for (const id of ids) this.set(id, on);
    this.render();
  }

  set(id, on) {
    if (on && this.ids.size < MAX) this.ids.add(id);
    else if (!on) this.ids.delete(id);
  }

  range(fromId, toId, on) {
    const ids = this.tiles().map((t) => t.dataset.id);
    let a = ids.indexOf(fromId), b = ids.indexOf(toId);
    if (a < 0) a = b;
    if (a > b) [a, b] = [b, a];
    for (const id of ids.slice(a, b + 1)) this.set(id, on);
  }

  onClick(e) {
    const box = e.target.closest(".sel-check");
    if (box) {
      const id = box.dataset.id;
      if (e.shiftKey && this.anchor) this.range(this.anchor, id, box.checked);
      else this.set(id, box.checked);
      this.anchor = id;
      this.render();
      return;
    }
    const tile = e.target.closest(".tile-media[data-id]");
    if (!tile || e.button !== 0 || e.ctrlKey || e.metaKey || e.altKey) return;
    if (!e.shiftKey && !this.ids.size) return;  // a plain click opens the item
    e.preventDefault();  // the link and the viewer leave it alone (grid.js: a click already handled)
    const id = tile.dataset.id;
    if (e.shiftKey && this.anchor) this.range(this.anchor, id, true);
    else this.set(id, !this.ids.has(id));
    this.anchor = id;
    this.render();
  }

  clear() {
    this.ids.clear();
    this.anchor = null;
    this.render();
  }

  render() {
    const n = this.ids.size;
    this.container.classList.toggle("selecting", n > 0);
    for (const wrap of this.container.querySelectorAll(".sel-tile")) {
      const on = this.ids.has(wrap.dataset.id);
      wrap.classList.toggle("selected", on);
      const box = wrap.querySelector(".sel-check");
      if (box.checked !== on) box.checked = on;
    }
    for (const h of this.container.querySelectorAll("h3.grid-date.sel-day-done")) {
      const ids = this.dayTiles(h).map((t) => t.dataset.id);
      const all = ids.length > 0 && ids.every((id) => this.ids.has(id));
      const btn = h.querySelector(".sel-day");
      btn.textContent = all ? "Deselect day" : "Select day";
      btn.setAttribute("aria-label", `${all ? "Deselect" : "Select"} all of ${h.firstChild.textContent}`);
    }
    const wasHidden = this.bar.root.hidden;
    this.bar.root.hidden = n === 0;
    this.bar.count.textContent = n >= MAX ? `${n} selected (the most at once)` : `${n} selected`;
    document.body.classList.toggle("has-selection", n > 0);
    if (n === 0 && !wasHidden && this.bar.root.contains(document.activeElement)) {
      (this.tiles()[0] || document.querySelector("main")).focus();
    }
  }

  selected() { return Array.from(this.ids); }

  // every result of the query (all pages), up to MAX
  async selectAll() {
    const btn = this.bar.all;
    btn.disabled = true;
    try {
      let cursor = null;
      do {
        const params = new URLSearchParams(this.query());
        params.set("limit", "500");
        if (cursor) params.set("cursor", cursor);
        const page = await api("GET", "/media?" + params.toString());
        for (const it of page.items) this.set(it.id, true);
        cursor = page.next_cursor;
      } while (cursor && this.ids.size < MAX);
      this.render();
    } catch (e) { toast(e.message, "error"); } finally { btn.disabled = false; }
  }

  // after an action: the tiles that left this page go (or the page's onDone decides)
  gone(action, ids) {
    if (this.onDone) { this.onDone(action, ids); } else {
      for (const id of ids) {
        const wrap = this.container.querySelector(`.sel-tile[data-id="${CSS.escape(id)}"]`);
        if (!wrap) continue;
        const section = wrap.parentElement;
        wrap.remove();
        if (section && section.classList.contains("grid-day") && !section.children.length) {
          const h = section.previousElementSibling;
          if (h && h.matches("h3.grid-date")) h.remove();
          section.remove();
        }
      }
    }
    for (const id of ids) this.ids.delete(id);
    this.render();
  }

  async run(label, fn) {
    const ids = this.selected();
    this.bar.root.setAttribute("aria-busy", "true");
    try {
      return await fn(ids);
    } catch (e) {
      toast(`${label}: ${e.message}`, "error");
      return null;
    } finally { this.bar.root.removeAttribute("aria-busy"); }
  }

  async trash() {
    const r = await this.run("Move to trash", trashMany);
    if (!r) return;
    const ids = this.selected();
    toast(`Moved ${plural(r.done, "item")} to the trash` + (r.not_found ? ` (${r.not_found} not yours)` : ""));
    this.gone("trash", ids);
  }

  async restore() {
    const r = await this.run("Restore", restoreMany);
    if (!r) return;
    const ids = this.selected();
    toast(`Restored ${plural(r.done, "item")}`);
    this.gone("restore", ids);
  }

  async removeFromAlbum() {
    const r = await this.run("Remove from album", (ids) => removeFromAlbum(this.albumId, ids));
    if (!r) return;
    const ids = this.selected();
    toast(`Removed ${plural(r.done, "item")} from the album`);
    this.gone("remove", ids);
  }

  async download() {
    const btn = this.bar.download;
    btn.disabled = true;
    btn.textContent = "Preparing…";
    const r = await this.run("Download", downloadMany);
    btn.disabled = false;
    btn.textContent = "Download";
    if (r) toast(`Downloading ${r.name}` + (r.skipped ? ` (${r.skipped} left out)` : ""));
  }
}

// ---- the bar and its dialogs
function buildBar(sel) {
  const old = document.getElementById("selection-bar");
  if (old) old.remove();
  const b = (label, cls, fn, aria) => {
    const x = el("button", { type: "button", class: `btn ${cls || ""}`, "aria-label": aria || null }, label);
    x.addEventListener("click", fn);
    return x;
  };
  const bar = {};
  bar.count = el("span", { class: "sel-count", role: "status" });
  bar.all = b("Select all", "sel-all", () => sel.selectAll(), "Select all results");
  const actions = [];
  if (sel.mode === "library" || sel.mode === "album") {
    actions.push(b("Add to album…", "", () => albumDialog(sel)));
  }
  if (sel.mode === "album") actions.push(b("Remove from album", "", () => sel.removeFromAlbum()));
  if (sel.mode === "library" || sel.mode === "album") {
    actions.push(b("Set location…", "", () => locationDialog(sel)));
  }
  if (sel.mode === "trash") actions.push(b("Restore", "primary", () => sel.restore()));
  bar.download = b("Download", "", () => sel.download(), null);
  actions.push(bar.download);
  if (sel.mode === "library" || sel.mode === "album") actions.push(b("Move to trash", "danger", () => sel.trash()));
  const clear = b("✕", "sel-clear", () => sel.clear(), "Clear selection (Esc)");
  bar.root = el("div", { id: "selection-bar", class: "sel-bar", role: "region", "aria-label": "Selection", hidden: true },
                clear, bar.count, bar.all, el("span", { class: "sel-actions" }, actions));
  document.body.append(bar.root);
  return bar;
}

function dialog(title, body, submitLabel, onSubmit) {
  const error = el("p", { class: "error sel-error", role: "alert" });
  const submit = el("button", { type: "submit", class: "btn primary" }, submitLabel);
  const cancel = el("button", { type: "button", class: "btn" }, "Cancel");
  const titleId = "sel-dialog-title";
  const form = el("form", { method: "dialog" }, el("h2", { id: titleId }, title), body, error,
                  el("div", { class: "actions" }, submit, cancel));
  const d = el("dialog", { class: "sel-dialog", "aria-labelledby": titleId }, form);
  cancel.addEventListener("click", () => d.close());
  d.addEventListener("close", () => d.remove());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      if (await onSubmit(error) !== false) d.close();
    } catch (err) {
      error.textContent = err.message;
    } finally { submit.disabled = false; }
  });
  document.body.append(d);
  d.showModal();
  return d;
}

async function albumDialog(sel) {
  let albums = [];
  try { albums = (await api("GET", "/albums")).filter((a) => !a.shared); } catch (e) { toast(e.message, "error"); return; }
  const select = el("select", { id: "sel-album" },
                    albums.map((a) => el("option", { value: a.id }, a.name)),
                    el("option", { value: "" }, "New album…"));
  const name = el("input", { id: "sel-album-name", maxlength: 200, placeholder: "Name of the new album",
                             autocomplete: "off" });
  const nameField = el("div", { class: "field" }, el("label", { for: "sel-album-name" }, "New album"), name);
  const sync = () => { nameField.hidden = select.value !== ""; };
  select.addEventListener("change", sync);
  if (!albums.length) select.value = "";
  sync();
  const n = sel.ids.size;
  dialog(`Add ${plural(n, "item")} to an album`,
         el("div", {}, el("div", { class: "field" }, el("label", { for: "sel-album" }, "Album"), select), nameField),
         "Add", async (error) => {
           let id = select.value, title = select.selectedOptions[0] ? select.selectedOptions[0].textContent : "";
           if (!id) {
             title = name.value.trim();
             if (!title) { error.textContent = "Name the new album."; name.focus(); return false; }
             id = (await api("POST", "/albums", { name: title })).id;
           }
           const r = await addToAlbum(id, sel.selected());
           toast(`Added ${plural(r.done, "item")} to “${title}”`);
           sel.clear();
         });
  (albums.length ? select : name).focus();
}

function locationDialog(sel) {
  const input = el("input", { id: "sel-latlon", placeholder: "48.8584, 2.2945", autocomplete: "off",
                              inputmode: "decimal", "aria-describedby": "sel-latlon-help" });
  const n = sel.ids.size;
  dialog(`Set the location of ${plural(n, "item")}`,
         el("div", { class: "field" }, el("label", { for: "sel-latlon" }, "Latitude, longitude"), input,
            el("p", { id: "sel-latlon-help", class: "small muted" },
               "Type or paste it, e.g. 48.8584, 2.2945. The files themselves are not changed.")),
         "Set location", async (error) => {
           const ll = parseLatLon(input.value);
           if (!ll) {
             error.textContent = "Type a latitude (-90 to 90) and a longitude (-180 to 180), e.g. 48.8584, 2.2945.";
             input.focus();
             return false;
           }
           const r = await locateMany(sel.selected(), ll[0], ll[1]);
           toast(`Location set on ${plural(r.done, "item")}`);
           sel.clear();
         });
  input.focus();
}
