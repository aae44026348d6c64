// A public album link (/s/<token>): the password prompt, and a simple viewer over the album's items.  No login
// and no API: only this link's own URLs.
const unlock = document.getElementById("unlock-form");
if (unlock) {
  const err = document.getElementById("unlock-error");
  unlock.addEventListener("submit", async (e) => {
    e.preventDefault();
    err.textContent = "";
    const token = unlock.dataset.token;
    const r = await fetch(`/s/${encodeURIComponent(token)}/unlock`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ password: document.getElementById("link-password").value }),
    });
    if (r.ok) { location.reload(); return; }
    let msg = `${r.status}`;
    try { msg = (await r.json()).message || msg; } catch { /* not JSON */ }
    err.textContent = r.status === 400 ? "Wrong password. Try again." : msg;
    document.getElementById("link-password").select();
  });
}

const dataEl = document.getElementById("public-data");
const dialog = document.getElementById("public-viewer");
if (dataEl && dialog) {
  const data = JSON.parse(dataEl.textContent);
  const base = `/s/${encodeURIComponent(data.token)}/media/`;
  const img = document.getElementById("pv-img");
  const video = document.getElementById("pv-video");
  let at = 0;
  let opener = null;
  const show = (i) => {
    at = (i + data.media.length) % data.media.length;
    const m = data.media[at];
    const isVideo = m.kind === "video";
    video.hidden = !isVideo;
    img.hidden = isVideo;
    if (isVideo) { video.src = base + m.id + "/playback"; img.removeAttribute("src"); }
    else { video.pause(); video.removeAttribute("src"); img.src = base + m.id + "/preview"; img.alt = m.filename || ""; }
    dialog.setAttribute("aria-label", `${m.filename || "Item"} (${at + 1} of ${data.media.length})`);
  };
  document.getElementById("public-grid").addEventListener("click", (e) => {
    const a = e.target.closest("a[data-id]");
    if (!a) return;
    e.preventDefault();
    opener = a;
    show(data.media.findIndex((m) => m.id === a.dataset.id));
    dialog.showModal();
  });
  document.getElementById("pv-prev").addEventListener("click", () => show(at - 1));
  document.getElementById("pv-next").addEventListener("click", () => show(at + 1));
  document.getElementById("pv-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft") show(at - 1);
    else if (e.key === "ArrowRight") show(at + 1);
  });
  dialog.addEventListener("close", () => { video.pause(); if (opener) opener.focus(); });
}
