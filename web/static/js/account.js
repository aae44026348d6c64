// The account page: change one's password (the current one first), and API tokens: list, create (shown once),
// revoke (the former tokens page; /tokens redirects here).
import { api, el, toast } from "./api.js";

// ---- password
const pwForm = document.getElementById("password-form");
const pwError = document.getElementById("pw-error");
const pwDone = document.getElementById("pw-done");

pwForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const current = document.getElementById("pw-current");
  const fresh = document.getElementById("pw-new");
  const again = document.getElementById("pw-confirm");
  pwError.textContent = "";
  pwDone.hidden = true;
  for (const f of [current, fresh, again]) f.removeAttribute("aria-invalid");
  const refuse = (field, message) => {
    pwError.textContent = message.charAt(0).toUpperCase() + message.slice(1);  // the API's start in lower case
    field.setAttribute("aria-invalid", "true");
    field.focus();
  };
  if (!current.value) return refuse(current, "Enter your current password.");
  if (fresh.value.length < 8) return refuse(fresh, "The new password needs at least 8 characters.");
  if (fresh.value !== again.value) return refuse(again, "The two new passwords are not the same.");
  const button = pwForm.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    await api("POST", "/auth/password", { current_password: current.value, new_password: fresh.value });
    pwForm.reset();
    pwDone.hidden = false;
    toast("Password changed");
  } catch (err) {
    refuse(err.status === 400 && /current/.test(err.message) ? current : fresh, err.message);
  } finally { button.disabled = false; }
});

// ---- API tokens
const tbody = document.querySelector("#token-table tbody");
const none = document.getElementById("token-none");
const form = document.getElementById("token-form");
const fmt = (v) => (v ? new Date(v).toLocaleString() : "—");

async function refresh() {
  const tokens = await api("GET", "/tokens");
  none.hidden = tokens.length > 0;
  tbody.replaceChildren(...tokens.map((t) => el("tr", { class: t.revoked_at ? "revoked" : "", dataset: { id: t.id } },
    el("td", {}, t.name || "—"), el("td", {}, el("code", {}, t.prefix)), el("td", {}, t.scopes.join(", ")),
    el("td", {}, fmt(t.created_at)), el("td", {}, fmt(t.last_used_at)),
    el("td", {}, t.revoked_at ? "revoked" : fmt(t.expires_at)),
    el("td", {}, t.revoked_at ? "" : el("button", { type: "button", class: "btn-link danger",
                                                    "aria-label": `Revoke: ${t.name || t.prefix}`,
                                                    onclick: () => revoke(t) }, "Revoke")))));
}

async function revoke(t) {
  if (!confirm(`Revoke the token “${t.name || t.prefix}”? Programs using it stop working.`)) return;
  try { await api("DELETE", `/tokens/${t.id}`); toast("Revoked"); await refresh(); } catch (e) { toast(e.message, "error"); }
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
