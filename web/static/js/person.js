// A person's page: rename, take a face out ("not this person": it becomes unassigned), move a face to another
// person or to a new one, undo a merge into this person.  The page is the owner's only (404 for anyone else).
import { api, toast } from "./api.js";

const rename = document.getElementById("rename");
const title = document.getElementById("person-title");
const personId = rename.dataset.id;

rename.addEventListener("submit", async (e) => {
  e.preventDefault();
  const name = rename.elements.name.value.trim();
  try {
    const p = await api("PATCH", `/people/${personId}`, { name });
    title.textContent = p.name || "unnamed";
    document.title = title.textContent + document.title.slice(Math.max(0, document.title.indexOf(" · ")));
    toast(p.name ? `Named ${p.name}` : "Name removed");
  } catch (err) { toast(err.message, "error"); }
});

// the card is gone: focus the next card's first control (or the previous one's), so the keyboard stays in place
function dropCard(card) {
  const next = card.nextElementSibling || card.previousElementSibling;
  card.remove();
  const target = next && next.querySelector("select, button");
  if (target) target.focus();
  const n = document.querySelectorAll("#faces .face-card").length;
  const h = document.querySelector("#faces").previousElementSibling;
  if (h && h.tagName === "H2") h.textContent = `${n} face${n === 1 ? "" : "s"}`;
}

document.getElementById("faces").addEventListener("click", async (e) => {
  const card = e.target.closest(".face-card");
  if (!card) return;
  const faceId = card.dataset.id;
  try {
    if (e.target.classList.contains("remove-face")) {
      await api("PUT", `/faces/${faceId}/person`, { person_id: null });
      dropCard(card);
      toast("The face is no longer this person's");
    } else if (e.target.classList.contains("move-face")) {
      const select = card.querySelector(".move-to");
      if (!select.value) { select.focus(); toast("Choose a person to move the face to", "error"); return; }
      if (select.value === "new") {
        await api("POST", `/faces/${faceId}/move-out`);
        dropCard(card);
        toast("Moved to a new person");
      } else {
        const label = select.options[select.selectedIndex].textContent;
        await api("PUT", `/faces/${faceId}/person`, { person_id: select.value });
        dropCard(card);
        toast(`Moved to ${label.replace(/ \(\d+ faces?\)$/, "")}`);
      }
    }
  } catch (err) { toast(err.message, "error"); }
});

const merges = document.getElementById("merges");
if (merges) {
  merges.addEventListener("click", async (e) => {
    if (!e.target.classList.contains("undo-merge")) return;
    const li = e.target.closest("li");
    try {
      await api("POST", `/people/merges/${li.dataset.merge}/undo`);
      location.reload();  // this person's faces and the people to move to changed
    } catch (err) { toast(err.message, "error"); }
  });
}
