// User administration (administrators): create users, reset a password, make or unmake administrators,
// disable or enable.  An administrator's own row has no demote/disable buttons (the API refuses them too).
import { api, el, toast } from "./api.js";

const me = document.getElementById("admin-users").dataset.me;
const tbody = document.querySelector("#user-table tbody");
const form = document.getElementById("user-form");
const formError = document.getElementById("nu-error");
const dialog = document.getElementById("reset-dialog");
const resetForm = document.getElementById("reset-form");
const resetInput = document.getElementById("reset-password");
const resetError = document.getElementById("reset-error");
let resetting = null;  // the user whose password the dialog sets
let opener = null;     // the button that opened it, focused again when it closes

const sentence = (m) => m.charAt(0).toUpperCase() + m.slice(1);  // the API's messages start in lower case
const fmt = (v) => (v ? new Date(v).toLocaleDateString() : "—");

function roles(u) {
  const out = [el("span", { class: "role" + (u.is_admin ? " admin" : "") }, u.is_admin ? "Administrator" : "User")];
  if (u.disabled) out.push(" ", el("span", { class: "role off" }, "Disabled"));
  return out;
}

// the accessible name starts with the visible label (voice control) and says whose row it is
function button(label, u, onclick, cls = "btn") {
  return el("button", { type: "button", class: cls, "aria-label": `${label}: ${u.username}`, onclick }, label);
}

function row(u) {
  const self = u.id === me;
  const actions = [button("Reset password", u, (e) => openReset(u, e.currentTarget))];
  if (!self) {
    actions.push(u.is_admin
      ? button("Remove admin", u, () => patch(u, { is_admin: false }))
      : button("Make admin", u, () => patch(u, { is_admin: true })));
    actions.push(u.disabled
      ? button("Enable", u, () => patch(u, { disabled: false }))
      : button("Disable", u, () => patch(u, { disabled: true }), "btn danger"));
  }
  return el("tr", { class: u.disabled ? "disabled" : "", dataset: { id: u.id, username: u.username } },
    el("th", { scope: "row" }, u.username, self ? el("span", { class: "muted small" }, " (you)") : null),
    el("td", {}, u.display_name || "—"), el("td", {}, roles(u)), el("td", {}, fmt(u.created_at)),
    el("td", { class: "row-actions" }, actions));
}

async function refresh(focusId, focusLabel) {
  const users = await api("GET", "/users");
  tbody.replaceChildren(...users.map(row));
  if (focusId) {  // keep the keyboard where it was: the row's button that replaced the one pressed
    const tr = tbody.querySelector(`tr[data-id="${CSS.escape(focusId)}"]`);
    const again = tr && ([...tr.querySelectorAll("button")].find((b) => b.textContent === focusLabel)
                         || tr.querySelector("button"));
    if (again) again.focus();
  }
}

const OPPOSITE = { "Make admin": "Remove admin", "Remove admin": "Make admin", Disable: "Enable", Enable: "Disable" };

async function patch(u, change) {
  if (change.disabled && !confirm(`Disable ${u.username}? They cannot log in and their API tokens stop working until you enable them again.`)) return;
  const pressed = document.activeElement && document.activeElement.textContent;
  try {
    const updated = await api("PATCH", `/users/${u.id}`, change);
    toast(change.disabled === true ? `Disabled ${updated.username}`
      : change.disabled === false ? `Enabled ${updated.username}`
      : updated.is_admin ? `${updated.username} is an administrator` : `${updated.username} is no longer an administrator`);
    await refresh(u.id, OPPOSITE[pressed] || pressed);
  } catch (e) { toast(e.message, "error"); }
}

function openReset(u, btn) {
  resetting = u;
  opener = btn;
  document.getElementById("reset-who").textContent = u.username;
  resetForm.reset();
  resetError.textContent = "";
  dialog.showModal();
  resetInput.focus();
}

function closeReset() {
  dialog.close();
}

dialog.addEventListener("close", () => { if (opener) opener.focus(); });
resetInput.addEventListener("input", () => { resetError.textContent = ""; });
document.getElementById("reset-cancel").addEventListener("click", closeReset);
resetForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  resetError.textContent = "";
  if (resetInput.value.length < 8) {
    resetError.textContent = "The password needs at least 8 characters.";
    resetInput.focus();
    return;
  }
  const save = document.getElementById("reset-save");
  save.disabled = true;
  try {
    await api("POST", `/users/${resetting.id}/password`, { password: resetInput.value });
    closeReset();
    toast(`New password set for ${resetting.username}`);
  } catch (err) {
    resetError.textContent = sentence(err.message);
    resetInput.focus();
  } finally { save.disabled = false; }
});

form.addEventListener("submit", async (e) => {
  e.preventDefault();
  formError.textContent = "";
  const name = document.getElementById("nu-name");
  const password = document.getElementById("nu-password");
  if (!name.value.trim()) { formError.textContent = "Give a user name."; name.focus(); return; }
  if (password.value.length < 8) {
    formError.textContent = "The password needs at least 8 characters.";
    password.focus();
    return;
  }
  try {
    const u = await api("POST", "/users", { username: name.value.trim(), password: password.value,
                                            display_name: document.getElementById("nu-display").value.trim(),
                                            is_admin: document.getElementById("nu-admin").checked });
    form.reset();
    toast(`Created ${u.username}`);
    await refresh();
    name.focus();
  } catch (err) { formError.textContent = sentence(err.message); }
});

refresh().catch((e) => toast(e.message, "error"));
