// The trash: the page listing trashed items (Restore, Delete forever, Empty trash) and, on a trashed item's
// detail page, the banner's Restore button.
import { api, el, mediaCard, toast } from "./api.js";

const list = document.getElementById("trash-list");
const banner = document.getElementById("trash-banner");

// ---- the Trash page
if (list) {
  const DAY = 24 * 3600 * 1000;
  const days = Number(document.getElementById("trash-note").dataset.days) || 30;
  const more = document.getElementById("trash-more");
  const empty = document.getElementById("trash-empty");
  const emptyAll = document.getElementById("empty-trash");
  const count = document.getElementById("trash-count");
  const heading = document.getElementById("trash-h");
  let cursor = null;

  const name = (item) => item.filename || "this item";

  function leftText(item) {
    if (!item.trashed_at) return "";
    const left = Math.ceil((new Date(item.trashed_at).getTime() + days * DAY - Date.now()) / DAY);
    return left <= 1 ? "Deleted for good within a day" : `Deleted for good in ${left} days`;
  }

  function update() {
    const n = list.children.length;
    empty.hidden = n > 0 || !more.hidden;
    emptyAll.hidden = n === 0;
    count.textContent = n === 0 ? "" : `${n}${more.hidden ? "" : "+"} item${n === 1 ? "" : "s"} in the trash`;
  }

  // after an item leaves the list, the focus goes to the next item's first button (or the heading);
  // hadFocus is read before the pressed button is disabled (a disabled button lets the focus go)
  function removeItem(li, hadFocus) {
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    update();
    if (hadFocus) (next ? next.querySelector("button") : heading).focus();
  }

  async function restore(item, li, btn) {
    const hadFocus = li.contains(document.activeElement);
    btn.disabled = true;
    try {
      await api("POST", `/media/${item.id}/restore`);
      toast(`Restored ${name(item)}`);
      removeItem(li, hadFocus);
    } catch (e) { btn.disabled = false; toast(e.message, "error"); }
  }

  async function purge(item, li, btn) {
    if (!confirm(`Delete “${name(item)}” forever? This cannot be undone.`)) return;
    const hadFocus = li.contains(document.activeElement);
    btn.disabled = true;
    try {
      await api("DELETE", `/media/${item.id}`);
      toast(`Deleted ${name(item)} forever`);
      removeItem(li, hadFocus);
    } catch (e) { btn.disabled = false; toast(e.message, "error"); }
  }

  function row(item) {
    const li = el("li", { class: "trash-item", dataset: { id: item.id } });
    const restoreBtn = el("button", { type: "button", class: "btn restore", "aria-label": `Restore: ${name(item)}` },
                          "Restore");
    const purgeBtn = el("button", { type: "button", class: "btn danger purge",
                                    "aria-label": `Delete forever: ${name(item)}` }, "Delete forever");
    restoreBtn.addEventListener("click", () => restore(item, li, restoreBtn));
    purgeBtn.addEventListener("click", () => purge(item, li, purgeBtn));
    li.append(mediaCard(item), el("p", { class: "name", title: item.filename || "" }, item.filename || "—"),
              el("p", { class: "when small muted" }, leftText(item)),
              el("div", { class: "item-actions" }, restoreBtn, purgeBtn));
    return li;
  }

  async function load() {
    const params = new URLSearchParams({ trashed: "true", limit: "60" });
    if (cursor) params.set("cursor", cursor);
    more.disabled = true;
    try {
      const page = await api("GET", "/media?" + params.toString());
      list.append(...page.items.map(row));
      cursor = page.next_cursor;
      more.hidden = !cursor;
    } catch (e) {
      toast(e.message, "error");
    } finally {
      more.disabled = false;
      update();
    }
  }

  more.addEventListener("click", load);
  emptyAll.addEventListener("click", async () => {
    if (!confirm("Delete everything in the trash forever? This cannot be undone.")) return;
    emptyAll.disabled = true;
    try {
      const r = await api("POST", "/trash/empty");
      toast(`Deleted ${r.purged} item${r.purged === 1 ? "" : "s"} forever`);
      list.replaceChildren();
      cursor = null;
      more.hidden = true;
      update();
      heading.focus();
    } catch (e) { toast(e.message, "error"); } finally { emptyAll.disabled = false; }
  });
  load();
}

// ---- a trashed item's page: the banner's Restore
if (banner) {
  const btn = document.getElementById("trash-restore");
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    try {
      await api("POST", `/media/${banner.dataset.id}/restore`);
      location.reload();
    } catch (e) { btn.disabled = false; toast(e.message, "error"); }
  });
}
