// Shared helpers: API calls with the session's CSRF token, DOM building without innerHTML, toasts.
export const API = "/api/v1";

export function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)pva_csrf=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

// api("POST", "/albums", {name}) -> parsed JSON (null for 204); throws ApiError with the server's message.
export async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (method !== "GET" && method !== "HEAD") opts.headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(path.startsWith("/api/") ? path : API + path, opts);
  if (r.status === 401 && !path.startsWith("/auth/login")) {
    location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, "logged out");
  }
  if (r.status === 204) return null;
  let data = null;
  try { data = await r.json(); } catch { data = null; }
  if (!r.ok) throw new ApiError(r.status, (data && data.message) || `${r.status} ${r.statusText}`);
  return data;
}

// el("a", {href: "/x", class: "c", dataset: {id: 1}, onclick: fn}, "text", child) -> Element.
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

let toastTimer = null;
export function toast(message, kind = "info") {
  const t = document.getElementById("toast");
  if (!t) return;
  t.textContent = message;
  t.className = "show " + kind;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.className = ""; }, 4000);
}

export function jsonData(id) {
  const node = document.getElementById(id);
  return node ? JSON.parse(node.textContent) : null;
}

export function fmtDuration(s) {
  if (!s && s !== 0) return "";
  s = Math.round(s);
  const m = Math.floor(s / 60), sec = s % 60;
  return `${m}:${String(sec).padStart(2, "0")}`;
}

// A grid card for a media item from GET /media.
// context: the query of the list the card is in (a search, an album), so the detail page's previous/next follow it
export function mediaCard(item, extra, context) {
  const img = item.thumbnail_url
    ? el("img", { src: item.thumbnail_url, alt: item.filename || "", loading: "lazy", width: 256, height: 256 })
    : el("span", { class: "no-thumb", "aria-hidden": "true" }, item.kind === "video" ? "▶" : "□");
  const badges = [];
  if (item.kind === "video") badges.push(el("span", { class: "badge video" }, "▶ " + fmtDuration(item.duration)));
  const live = (item.companions || []).includes("motion");  // a live/motion photo (issue 22; live.js plays it)
  if (live) badges.push(el("span", { class: "badge live", title: "Live photo" }, "◉ LIVE"));
  if (item.status && item.status !== "ready" && item.status !== "stored") badges.push(el("span", { class: "badge" }, item.status));
  const href = `/media/${item.id}` + (context ? `?in=${encodeURIComponent(context)}` : "");
  return el("a", { class: "tile-media", href, title: item.filename || "",
                   dataset: { id: item.id, kind: item.kind, ...(live ? { live: "1" } : {}) } }, img, badges,
                   extra || null);
}

// Maps and their base layers live in basemap.js; re-exported here for the pages that import it from api.js.
export { baseMap } from "./basemap.js";
