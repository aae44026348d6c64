// Every page: log out, the small-screen menu, keyboard-visible focus.
import { api } from "./api.js";

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    try { await api("POST", "/auth/logout"); } catch { /* already logged out */ }
    location.href = "/login";
  });
}
const toggle = document.querySelector(".nav-toggle");
if (toggle) {
  toggle.addEventListener("click", () => {
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    document.getElementById("mainnav").classList.toggle("open", open);
  });
}
