// The media grid: keyset pages from GET /media with infinite scroll and date headers.
import { api, el, mediaCard } from "./api.js";
import { gridSelection } from "./selection.js";
import { liveHover } from "./live.js";
import { stackTile } from "./bursts.js";

const MONTHS = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "long" });
const DAYS = new Intl.DateTimeFormat(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric" });

export class Grid {
  constructor(container, sentinel, empty, { pageSize = 60, onPage = null } = {}) {
    this.container = container;
    this.sentinel = sentinel;
    this.empty = empty;
    this.pageSize = pageSize;
    this.onPage = onPage;
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.more();
    }, { rootMargin: "600px" });
    this.observer.observe(sentinel);
    viewerHook(this);
    liveHover(container);  // live photos play on hover (issue 22)
    selectionHook(this);
  }

  // query: a URLSearchParams string of filters ("" = whole library)
  load(query) {
    this.query = query || "";
    this.cursor = null;
    this.done = false;
    this.lastDay = null;
    this.lastMonth = null;
    this.count = 0;
    this.generation = (this.generation || 0) + 1;
    this.container.replaceChildren();
    if (this.empty) this.empty.hidden = true;
    this.loading = false;
    return this.more();
  }

  async more() {
    if (this.loading || this.done || this.query === undefined) return;
    this.loading = true;
    const gen = this.generation;
    const params = new URLSearchParams(this.query);
    params.set("limit", String(this.pageSize));
    if (this.container.dataset.stack) params.set("stack", this.container.dataset.stack);  // bursts.js
    if (this.cursor) params.set("cursor", this.cursor);
    try {
      const page = await api("GET", "/media?" + params.toString());
      if (gen !== this.generation) return;
      this.append(page.items);
      this.cursor = page.next_cursor;
      this.done = !page.next_cursor;
      if (this.onPage) this.onPage(page, this.count);
      if (this.empty) this.empty.hidden = this.count > 0;
    } catch (e) {
      this.container.append(el("p", { class: "error", role: "alert" }, e.message));
      this.done = true;
    } finally {
      if (gen === this.generation) this.loading = false;
    }
    // keep filling while the sentinel is still on screen
    if (!this.done && gen === this.generation) {
      const r = this.sentinel.getBoundingClientRect();
      if (r.top < window.innerHeight + 600) return this.more();
    }
  }

  append(items) {
    for (const it of items) {
      const when = new Date(it.taken_at || it.created_at);
      const month = MONTHS.format(when);
      const day = DAYS.format(when);
      if (month !== this.lastMonth) {
        this.container.append(el("h2", { class: "grid-month" }, month));
        this.lastMonth = month;
        this.lastDay = null;
      }
      if (day !== this.lastDay) {
        this.section = el("div", { class: "grid-day" });
        this.container.append(el("h3", { class: "grid-date" }, day), this.section);
        this.lastDay = day;
      }
      this.section.append(stackTile(this, it, mediaCard(it, null, this.query)));
      this.count += 1;
    }
    selectionAppended(this);
  }
}

// ---- viewer hook (issue 18 item 2): a plain click on a tile asks the full-screen viewer (viewer.js, on the pages
// that load it) to open the item over this grid; when it does (it cancels the "pva:view" event) the link does not
// navigate.  A click already handled (e.preventDefault, e.g. by selection), a modified click (new tab, range) or a
// page without the viewer keeps the link to the detail page.
function viewerHook(grid) {
  grid.container.pvaGrid = grid;
  grid.container.addEventListener("click", (e) => {
    const tile = e.target.closest(".tile-media");
    if (!tile || e.defaultPrevented || e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    const view = new CustomEvent("pva:view", { bubbles: true, cancelable: true, detail: { grid, tile } });
    if (!tile.dispatchEvent(view)) e.preventDefault();
  });
}

// ---- selection hooks (issue 18 item 3; selection.js): a checkbox on every tile, shift-click ranges, "Select day"
// on each date header, "Select all" results, and the bar of actions.  The selection listens to clicks on the
// container in the capture phase, so a click it takes (shift-click, or any click while something is selected) is
// already handled (defaultPrevented) when the viewer hook above sees it.
function selectionHook(grid) {
  grid.selection = gridSelection(grid);
}

// after each page: the new tiles and date headers get their checkbox and button (and a new query a new selection)
function selectionAppended(grid) {
  if (grid.selection) grid.selection.decorate();
}
