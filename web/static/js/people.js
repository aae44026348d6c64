// People: name (saved on change), hide/unhide, merge the selected into the first selected (then its page, which
// can undo the merge).
import { api, toast } from "./api.js";

const list = document.getElementById("people");
const mergeBtn = document.getElementById("merge-btn");
const showHidden = document.getElementById("show-hidden");
const picked = [];

list.addEventListener("change", async (e) => {
  const card = e.target.closest(".person");
  if (!card) return;
  if (e.target.classList.contains("person-name")) {
    try {
      await api("PATCH", `/people/${card.dataset.id}`, { name: e.target.value.trim() });
      toast(e.target.value.trim() ? `Named ${e.target.value.trim()}` : "Name removed");
    } catch (err) { toast(err.message, "error"); }
  } else if (e.target.classList.contains("merge-pick")) {
    const i = picked.indexOf(card.dataset.id);
    if (e.target.checked && i < 0) picked.push(card.dataset.id);
    if (!e.target.checked && i >= 0) picked.splice(i, 1);
    mergeBtn.disabled = picked.length < 2;
  }
});

list.addEventListener("click", async (e) => {
  if (!e.target.classList.contains("hide-toggle")) return;
  const card = e.target.closest(".person");
  const hide = !card.classList.contains("is-hidden");
  try {
    await api("PATCH", `/people/${card.dataset.id}`, { hidden: hide });
    card.classList.toggle("is-hidden", hide);
    e.target.textContent = hide ? "Unhide" : "Hide";
    card.hidden = hide && !showHidden.checked;
  } catch (err) { toast(err.message, "error"); }
});

showHidden.addEventListener("change", () => {
  for (const c of list.querySelectorAll(".person.is-hidden")) c.hidden = !showHidden.checked;
});

mergeBtn.addEventListener("click", async () => {
  const [target, ...sources] = picked;
  if (!confirm(`Merge ${sources.length} into the first selected person?`)) return;
  try {
    await api("POST", `/people/${target}/merge`, { source_ids: sources });
    location.href = `/people/${target}`;  // the merged person's page, where the merge can be undone
  } catch (err) { toast(err.message, "error"); }
});
