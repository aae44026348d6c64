// Upload: drop files or folders (or choose them); one request per file for per-file progress and result;
// added items are shown in "New items" once their analysis jobs have finished.
import { API, api, csrfToken, el, mediaCard } from "./api.js";

const zone = document.getElementById("dropzone");
const list = document.getElementById("upload-list");
const summary = document.getElementById("upload-summary");
const newItems = document.getElementById("new-items");
const CONCURRENCY = 2;
const queue = [];
const counts = { added: 0, duplicate: 0, rejected: 0, failed: 0 };
let active = 0;
const watching = new Map(); // media_id -> row

function updateSummary() {
  const pending = queue.length + active;
  const parts = Object.entries(counts).filter(([, n]) => n).map(([k, n]) => `${n} ${k}`);
  summary.textContent = (pending ? `${pending} to go. ` : "") + parts.join(", ");
}

function addFiles(entries) {
  for (const { file, path } of entries) {
    const bar = el("progress", { max: 100, value: 0, "aria-label": `upload progress of ${path}` });
    const status = el("span", { class: "up-status" }, "waiting");
    const row = el("li", { class: "up-row", dataset: { state: "waiting" } },
      el("span", { class: "up-name" }, path), bar, status);
    list.prepend(row);
    queue.push({ file, path, row, bar, status });
  }
  updateSummary();
  pump();
}

function pump() {
  while (active < CONCURRENCY && queue.length) {
    const job = queue.shift();
    active += 1;
    send(job).finally(() => { active -= 1; updateSummary(); pump(); });
  }
}

function send({ file, path, row, bar, status }) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    const fd = new FormData();
    fd.append("files", file, path);
    xhr.open("POST", API + "/media/upload");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("Accept", "application/json");
    xhr.responseType = "json";
    row.dataset.state = "uploading";
    status.textContent = "uploading";
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100);
    });
    const finish = (state, text) => {
      row.dataset.state = state;
      status.textContent = text;
      bar.value = 100;
      counts[state] = (counts[state] || 0) + 1;
      resolve();
    };
    xhr.addEventListener("load", () => {
      const body = xhr.response || {};
      // 415 carries the per-file result too: the file was refused from its first bytes (not a photo or video)
      if (xhr.status !== 200 && !(xhr.status === 415 && body.results)) {
        return finish("failed", body.message || `error ${xhr.status}`);
      }
      const r = (body.results || [])[0] || {};
      if (r.status === "added") {
        finish("added", "added — analysing…");
        row.dataset.mediaId = r.media_id;
        watching.set(r.media_id, { row, status });
        schedulePoll();
      } else if (r.status === "duplicate") {
        finish("duplicate", "already in your library");
        status.append(" ", el("a", { href: `/media/${r.media_id}` }, "open"));
      } else if (r.status === "rejected") {
        finish("rejected", "rejected: " + (r.reason || "not a photo or video"));
      } else {
        finish("failed", r.reason || "failed; retry later");
      }
    });
    xhr.addEventListener("error", () => finish("failed", "network error; retry"));
    xhr.send(fd);
  });
}

let pollTimer = null;
function schedulePoll() {
  if (!pollTimer) pollTimer = setTimeout(poll, 1000);
}

async function poll() {
  pollTimer = null;
  for (const [id, w] of [...watching]) {
    try {
      const m = await api("GET", `/media/${id}`);
      const jobs = m.jobs || [];
      const pending = jobs.filter((j) => j.status === "queued" || j.status === "running");
      if (pending.length) {
        w.status.textContent = `added — analysing (${jobs.length - pending.length}/${jobs.length} done)`;
        continue;
      }
      watching.delete(id);
      const failed = jobs.filter((j) => j.status === "failed").map((j) => j.kind);
      const labels = [...new Set((m.detections || []).map((d) => d.label))];
      w.status.textContent = "added and analysed" + (failed.length ? ` (failed: ${failed.join(", ")})` : "");
      w.row.dataset.state = "analysed";
      const caption = el("span", { class: "caption" }, labels.length ? labels.join(", ") : m.filename);
      newItems.prepend(mediaCard(m, caption));
    } catch (e) {
      if (e.status === 404) watching.delete(id);
    }
  }
  if (watching.size) schedulePoll();
}

// Folder drops: walk FileSystemEntry trees, keeping relative paths.
function readEntries(reader) {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}
async function walk(entry, prefix, out) {
  if (entry.isFile) {
    const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
    out.push({ file, path: prefix + file.name });
  } else if (entry.isDirectory) {
    const reader = entry.createReader();
    for (;;) {
      const batch = await readEntries(reader);
      if (!batch.length) break;
      for (const child of batch) await walk(child, prefix + entry.name + "/", out);
    }
  }
}

async function filesFromDrop(dt) {
  const out = [];
  const items = dt.items ? [...dt.items] : [];
  const entries = items.map((i) => (i.kind === "file" && i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (entries.length && entries.every(Boolean)) {
    for (const e of entries) await walk(e, "", out);
  } else {
    for (const f of dt.files) out.push({ file: f, path: f.webkitRelativePath || f.name });
  }
  return out;
}

for (const ev of ["dragenter", "dragover"]) {
  zone.addEventListener(ev, (e) => { e.preventDefault(); zone.classList.add("over"); });
}
zone.addEventListener("dragleave", () => zone.classList.remove("over"));
zone.addEventListener("drop", async (e) => {
  e.preventDefault();
  zone.classList.remove("over");
  addFiles(await filesFromDrop(e.dataTransfer));
});
// dropping next to the zone should not navigate away to the file
document.addEventListener("dragover", (e) => e.preventDefault());
document.addEventListener("drop", (e) => e.preventDefault());

zone.addEventListener("keydown", (e) => {
  if (e.target === zone && (e.key === "Enter" || e.key === " ")) {
    e.preventDefault();
    document.getElementById("file-input").click();
  }
});
for (const id of ["file-input", "folder-input"]) {
  const input = document.getElementById(id);
  input.addEventListener("change", () => {
    addFiles([...input.files].map((f) => ({ file: f, path: f.webkitRelativePath || f.name })));
    input.value = "";
  });
}
