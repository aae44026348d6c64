// "On this day" on the library page (issue 21): the memories the housekeeping cron prepared for the viewer's local
// date (GET /memories?day=), one card per earlier year ("1 year ago"), each with its photos as tiles.  A click on a
// tile opens the full-screen viewer over that memory's photos (viewer.js: the "pva:view" event with a grid of its
// own, complete, so ← and → stay within the memory).  Nothing is shown when there is no memory for today.
import { api, el, mediaCard } from "./api.js";

const SHOWN = 8;  // tiles visible on a card; the viewer still steps through all of the memory's photos

function localDay(d = new Date()) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

function card(memory) {
  const tiles = el("div", { class: "memory-tiles" });
  memory.items.forEach((it, i) => {
    const t = mediaCard(it, null, "");
    if (i >= SHOWN) t.hidden = true;  // (kept for the viewer)
    tiles.append(t);
  });
  const more = memory.items.length - SHOWN;
  const n = memory.items.length;
  const grid = { container: tiles, done: true, loading: false, more() {} };
  tiles.addEventListener("click", (e) => {
    const tile = e.target.closest(".tile-media");
    if (!tile || e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    const view = new CustomEvent("pva:view", { bubbles: true, cancelable: true, detail: { grid, tile } });
    if (!tile.dispatchEvent(view)) e.preventDefault();
  });
  const heading = el("h3", { class: "memory-title" }, memory.title,
    el("span", { class: "memory-meta muted" }, ` · ${memory.year} · ${n} ${n === 1 ? "photo" : "photos"}`));
  return el("article", { class: "memory", dataset: { year: String(memory.year) },
                         "aria-label": `${memory.title}, ${memory.year}` },
    heading, tiles, more > 0 ? el("p", { class: "memory-more muted" }, `+${more} more in the viewer`) : null);
}

export async function showMemories(section, list) {
  let data;
  try {
    data = await api("GET", `/memories?day=${localDay()}`);
  } catch {
    return;  // memories are a bonus: the library works without them
  }
  if (!data.memories.length) return;
  list.replaceChildren(...data.memories.map(card));
  section.hidden = false;
}

const section = document.getElementById("memories");
if (section) showMemories(section, document.getElementById("memories-list"));
