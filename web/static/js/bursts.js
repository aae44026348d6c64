// Bursts in the library grid (issue 21): a grid whose container has data-stack="bursts" asks GET /media for
// stacked pages (a burst is its first photo, with burst_size); such a tile looks stacked and carries a count button.
// The button expands the burst: its other photos (GET /media/{id}/burst) are put right after it as ordinary tiles,
// so the viewer steps through them; pressed again, it folds them away.
import { api, el, mediaCard, toast } from "./api.js";

// The tile of an item as the grid appends it: the card itself, or for a stacked burst the card with its button.
export function stackTile(grid, item, card) {
  if (grid.container.dataset.stack !== "bursts" || !(item.burst_size > 1)) return card;
  const n = item.burst_size;
  const button = el("button", { type: "button", class: "burst-toggle", "aria-expanded": "false",
                                "aria-label": `Show the ${n} photos of this burst`, title: `Burst of ${n} photos`,
                                dataset: { burst: item.id, count: String(n) } },
    el("span", { class: "burst-icon", "aria-hidden": "true" }, "❐"), el("span", { class: "burst-count" }, String(n)));
  button.addEventListener("click", () => toggle(grid, item.id, button));
  card.classList.add("burst-lead");
  return el("div", { class: "burst-stack", dataset: { burst: item.id } }, card, button);
}

function members(grid, id) {
  return [...grid.container.querySelectorAll(`.tile-media.burst-member[data-burst="${CSS.escape(id)}"]`)];
}

async function toggle(grid, id, button) {
  const shown = members(grid, id);
  const stack = button.closest(".burst-stack");
  if (shown.length) {
    for (const t of shown) (t.closest(".sel-tile") || t).remove();
    button.setAttribute("aria-expanded", "false");
    button.setAttribute("aria-label", `Show the ${button.dataset.count} photos of this burst`);
    stack.classList.remove("expanded");
    return;
  }
  button.disabled = true;
  try {
    const burst = await api("GET", `/media/${id}/burst`);
    let after = stack;
    for (const it of burst.items) {
      if (it.id === id) continue;
      const card = mediaCard(it, null, grid.query);
      card.classList.add("burst-member");
      card.dataset.burst = id;
      after.after(card);
      after = card;
    }
    button.setAttribute("aria-expanded", "true");
    button.setAttribute("aria-label", `Fold the ${burst.items.length} photos of this burst`);
    stack.classList.add("expanded");
    if (grid.selection) grid.selection.decorate();  // the new tiles get their checkboxes
  } catch (e) {
    toast(`Could not show the burst: ${e.message}`, "error");
  } finally {
    button.disabled = false;
  }
}
