// Albums page (create) and album page (rename, delete).
import { api, toast } from "./api.js";

const create = document.getElementById("album-create");
if (create) {
  create.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const a = await api("POST", "/albums", { name: create.elements.name.value.trim() });
      location.href = `/albums/${a.id}`;
    } catch (err) { toast(err.message, "error"); }
  });
}

const edit = document.getElementById("album-edit");
if (edit) {
  const id = edit.dataset.album;
  edit.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const a = await api("PATCH", `/albums/${id}`, { name: edit.elements.name.value.trim() });
      document.getElementById("album-name").textContent = a.name;
      document.title = `${a.name} · PhotoAndVideoAnalysis`;
      toast("Renamed");
    } catch (err) { toast(err.message, "error"); }
  });
  document.getElementById("album-delete").addEventListener("click", async () => {
    if (!confirm("Delete this album? Its photos and videos stay in the library.")) return;
    try {
      await api("DELETE", `/albums/${id}`);
      location.href = "/albums";
    } catch (err) { toast(err.message, "error"); }
  });
}
