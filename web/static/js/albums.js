// Albums page (create) and album page (rename, delete, cover, sharing with users and by public link).
import { api, el, toast } from "./api.js";

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

// The album's cover: the chosen one, else its first photo (the page shows it); the owner picks another in a dialog.
const cover = document.getElementById("album-cover");
if (cover) {
  const id = cover.dataset.album;
  const img = document.getElementById("cover-img");
  const showCover = (mediaId) => {
    if (!mediaId) return;
    img.src = `/api/v1/media/${mediaId}/thumbnail`;
    img.hidden = false;
    document.getElementById("cover-empty")?.remove();
  };
  let firstPage = null;
  const loadPage = async () => firstPage || (firstPage = await api("GET", `/media?album=${id}&limit=200`));
  const dlg = document.getElementById("cover-dialog");
  const choose = document.getElementById("cover-choose");
  if (dlg && choose) {
    choose.addEventListener("click", async () => {
      const list = document.getElementById("cover-pick");
      list.replaceChildren();
      try {
        const p = await loadPage();
        for (const m of p.items) {
          const b = el("button", { type: "button", "aria-label": `Set ${m.filename || "this item"} as cover`,
            "aria-pressed": String(m.id === cover.dataset.cover) }, el("img", { src: `/api/v1/media/${m.id}/thumbnail`, alt: "" }));
          b.addEventListener("click", async () => {
            try {
              await api("PUT", `/albums/${id}/cover`, { media_id: m.id });
              cover.dataset.cover = m.id;
              showCover(m.id);
              dlg.close();
              toast("Cover set");
            } catch (err) { toast(err.message, "error"); }
          });
          list.append(el("li", {}, b));
        }
        if (!p.items.length) list.append(el("li", { class: "muted" }, "This album is empty."));
      } catch (err) { toast(err.message, "error"); }
      dlg.showModal();
      list.querySelector("button")?.focus();
    });
    document.getElementById("cover-close").addEventListener("click", () => dlg.close());
    dlg.addEventListener("close", () => choose.focus());
  }
}

// Share dialog: users by name (read-only), and public links (optional expiry and password; the token is shown
// once), each revoked at once.
const share = document.getElementById("share-dialog");
const shareBtn = document.getElementById("album-share");
if (share && shareBtn) {
  const id = document.getElementById("album-edit").dataset.album;
  const people = document.getElementById("share-list");
  const linksEl = document.getElementById("link-list");
  const shareErr = document.getElementById("share-error");
  const fmtDate = (s) => new Date(s).toLocaleString();

  const renderShares = (rows) => {
    people.replaceChildren(...rows.map((s) => el("li", {},
      el("span", { class: "who" }, s.username),
      el("button", { type: "button", class: "btn danger", "aria-label": `Stop sharing with ${s.username}`,
        onclick: async () => {
          try { await api("DELETE", `/albums/${id}/shares/${s.user_id}`); toast(`No longer shared with ${s.username}`); await load(); }
          catch (err) { toast(err.message, "error"); }
        } }, "Revoke"))));
    if (!rows.length) people.append(el("li", { class: "muted" }, "Only you can see this album."));
  };
  const renderLinks = (rows) => {
    linksEl.replaceChildren(...rows.map((l, i) => el("li", {},
      el("span", {}, `Link ${rows.length - i} · made ${fmtDate(l.created_at)}`
        + (l.expires_at ? ` · expires ${fmtDate(l.expires_at)}` : " · never expires")
        + (l.has_password ? " · password" : "")),
      el("button", { type: "button", class: "btn danger", "aria-label": `Revoke link ${rows.length - i}`,
        onclick: async () => {
          try { await api("DELETE", `/albums/${id}/links/${l.id}`); toast("Link revoked"); await load(); }
          catch (err) { toast(err.message, "error"); }
        } }, "Revoke"))));
    if (!rows.length) linksEl.append(el("li", { class: "muted" }, "No public links."));
  };
  async function load() {
    const [s, l] = await Promise.all([api("GET", `/albums/${id}/shares`), api("GET", `/albums/${id}/links`)]);
    renderShares(s);
    renderLinks(l);
  }
  shareBtn.addEventListener("click", async () => {
    shareErr.textContent = "";
    document.getElementById("new-link").hidden = true;
    try { await load(); } catch (err) { toast(err.message, "error"); }
    share.showModal();
    document.getElementById("share-user").focus();
  });
  document.getElementById("share-close").addEventListener("click", () => share.close());
  share.addEventListener("close", () => shareBtn.focus());
  const form = document.getElementById("share-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    shareErr.textContent = "";
    const name = form.elements.username.value.trim();
    try {
      await api("POST", `/albums/${id}/shares`, { username: name });
      form.reset();
      toast(`Shared with ${name}`);
      await load();
    } catch (err) { shareErr.textContent = err.message; }
  });
  const linkForm = document.getElementById("link-form");
  linkForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const days = document.getElementById("link-days").value;
    const password = document.getElementById("link-password").value;
    const body = {};
    if (days) body.expires_in_days = Number(days);
    if (password) body.password = password;
    try {
      const l = await api("POST", `/albums/${id}/links`, body);
      linkForm.reset();
      const box = document.getElementById("new-link");
      const url = document.getElementById("new-link-url");
      url.value = location.origin + l.url;
      box.hidden = false;
      url.focus();
      url.select();
      await load();
    } catch (err) { toast(err.message, "error"); }
  });
  document.getElementById("new-link-copy").addEventListener("click", async () => {
    const url = document.getElementById("new-link-url");
    try { await navigator.clipboard.writeText(url.value); toast("Link copied"); }
    catch { url.select(); document.execCommand("copy"); toast("Link copied"); }
  });
}
