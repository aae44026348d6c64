import { api } from "./api.js";

const form = document.getElementById("login-form");
const err = document.getElementById("login-error");
form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  err.textContent = "";
  const btn = form.querySelector("button");
  btn.disabled = true;
  try {
    await api("POST", "/auth/login", { username: form.username.value, password: form.password.value });
    const next = form.dataset.next || "/";
    location.href = next.startsWith("/") && !next.startsWith("//") ? next : "/";
  } catch (e) {
    err.textContent = e.message;
    form.password.select();
  } finally {
    btn.disabled = false;
  }
});
