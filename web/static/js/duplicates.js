// The Duplicates page (issue 21): near-duplicate groups side by side; keep one (the best by default) and move the
// rest to the trash, per group or for every group; or say "not duplicates" (remembered).
import { api, el, mediaCard, toast } from "./api.js";
import { cameraText } from "./camera.js";

const list = document.getElementById("dups-list");
const heading = document.getElementById("dups-h");
const count = document.getElementById("dups-count");
const empty = document.getElementById("dups-empty");
const loading = document.getElementById("dups-loading");
const all = document.getElementById("dups-resolve-all");

let notShown = 0;  // groups beyond the first 500 the API answers with
const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function sizeText(bytes) {
  if (bytes == null) return "—";
  const units = ["B", "KB", "MB", "GB"];
  let v = bytes, i = 0;
  while (v >= 1000 && i < units.length - 1) { v /= 1000; i++; }
  return `${v >= 100 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

function dateText(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? "—" : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

function update() {
  const groups = list.querySelectorAll(".dup-group").length;
  const items = list.querySelectorAll(".dup-item").length;
  empty.hidden = groups > 0;
  all.hidden = groups === 0;
  count.textContent = groups ? `${plural(groups, "group")}, ${plural(items, "item")}` +
    (notShown ? ` (${notShown} more after these: resolve some to see them)` : "") : "";
}

function removeGroup(section) {
  const next = section.nextElementSibling || section.previousElementSibling;
  section.remove();
  update();
  (next ? next.querySelector("input, button") : heading).focus();
}

function card(g, item, section) {
  const li = el("li", { class: "dup-item" + (item.id === g.best_id ? " keep" : ""), dataset: { id: item.id } });
  const radio = el("input", { type: "radio", name: `keep-${g.id}`, value: item.id,
                              checked: item.id === g.best_id });
  radio.addEventListener("change", () => {
    section.querySelectorAll(".dup-item").forEach((x) => x.classList.toggle("keep", x === li));
  });
  const label = el("label", { class: "keep-choice" }, radio, "Keep",
                   item.best ? el("span", { class: "badge best" }, "Best") : null);
  const res = item.width && item.height ? `${item.width} × ${item.height}` : "—";
  const rows = [["Resolution", res], ["Size", sizeText(item.size)], ["Date", dateText(item.taken_at)],
                ["Camera", cameraText(item.camera_make, item.camera_model) || "—"],
                ["Folder", item.original_path.includes("/") ? item.original_path.replace(/\/[^/]*$/, "") : "—"]];
  li.append(mediaCard(item), el("p", { class: "name", title: item.filename }, item.filename),
            el("dl", {}, rows.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)])), label);
  return li;
}

function group(g, index) {
  const hid = `dup-g-${index}`;
  const section = el("section", { class: "dup-group", "aria-labelledby": hid, dataset: { id: g.id } });
  const ul = el("ul", { class: "dup-items" });
  ul.append(...g.items.map((item) => card(g, item, section)));
  const keepBtn = el("button", { type: "button", class: "btn primary resolve" },
                     `Keep one, trash ${plural(g.items.length - 1, "other")}`);
  const dismissBtn = el("button", { type: "button", class: "btn dismiss" }, "Not duplicates");
  keepBtn.addEventListener("click", async () => {
    const keep = section.querySelector(`input[name="keep-${g.id}"]:checked`)?.value || g.best_id;
    keepBtn.disabled = dismissBtn.disabled = true;
    try {
      const r = await api("POST", `/duplicates/${g.id}/resolve`,
                          { keep, media_ids: g.items.map((i) => i.id) });
      toast(`Kept 1, moved ${plural(r.trashed.length, "item")} to the trash`);
      removeGroup(section);
    } catch (e) { keepBtn.disabled = dismissBtn.disabled = false; toast(e.message, "error"); }
  });
  dismissBtn.addEventListener("click", async () => {
    keepBtn.disabled = dismissBtn.disabled = true;
    try {
      await api("POST", `/duplicates/${g.id}/dismiss`);
      toast("Marked as not duplicates");
      removeGroup(section);
    } catch (e) { keepBtn.disabled = dismissBtn.disabled = false; toast(e.message, "error"); }
  });
  section.append(el("h2", { id: hid }, `${plural(g.items.length, "item")} alike`,
                    el("span", { class: "small muted" }, ` · ${dateText(g.items[0].taken_at)}`)),
                 ul, el("div", { class: "dup-actions" }, keepBtn, dismissBtn));
  return section;
}

async function load() {
  try {
    const data = await api("GET", "/duplicates");
    list.replaceChildren(...data.groups.map(group));
    notShown = data.total_groups - data.groups.length;
  } catch (e) {
    toast(e.message, "error");
  } finally {
    loading.hidden = true;
    update();
  }
}

all.addEventListener("click", async () => {
  const n = list.querySelectorAll(".dup-group").length;
  if (!confirm(`Keep the best item of every group (${plural(n, "group")}) and move the others to the trash?`)) return;
  all.disabled = true;
  try {
    const r = await api("POST", "/duplicates/resolve-all");
    toast(`Kept ${plural(r.kept, "item")}, moved ${plural(r.trashed, "item")} to the trash`);
    list.replaceChildren();
    await load();
    heading.focus();
  } catch (e) { toast(e.message, "error"); } finally { all.disabled = false; }
});
load();
