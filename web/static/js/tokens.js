// API tokens: list, create (shown once), revoke.
import { api, el, toast } from "./api.js";

const tbody = document.querySelector("#token-table tbody");
const form = document.getElementById("token-form");
const fmt = (v) => (v ? new Date(v).toLocaleString() : "—");

async function refresh() {
  const tokens = await api("GET", "/tokens");
  tbody.replaceChildren(...tokens.map((t) => el("tr", { class: t.revoked_at ? "revoked" : "" },
    el("td", {}, t.name || "—"), el("td", {}, el("code", {}, t.prefix)), el("td", {}, t.scopes.join(", ")),
    el("td", {}, fmt(t.created_at)), el("td", {}, fmt(t.last_used_at)),
    el("td", {}, t.revoked_at ? "revoked" : fmt(t.expires_at)),
    el("td", {}, t.revoked_at ? "" : el("button", { type: "button", class: "btn-link danger", onclick: () => revoke(t) }, "Revoke")))));
}

async function revoke(t) {
  if (!confirm(`Revoke the token “${t.name || t.prefix}”? Programs using it stop working.`)) return;
  try { await api("DELETE", `/tokens/${t.id}`); toast("Revoked"); refresh(); } catch (e) { toast(e.message, "error"); }
}

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const scopes = [...form.querySelectorAll("input[name=scope]:checked")].map((c) => c.value);
  const days = document.getElementById("tok-days").value;
  try {
    const t = await api("POST", "/tokens", { name: document.getElementById("tok-name").value.trim(), scopes,
                                              expires_days: days ? Number(days) : null });
    document.getElementById("token-value").textContent = t.token;
    document.getElementById("token-created").hidden = false;
    form.reset();
    refresh();
  } catch (err) { toast(err.message, "error"); }
});
refresh().catch((e) => toast(e.message, "error"));
