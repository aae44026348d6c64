// Jobs: queue depths per analysis with their pace and when each backlog is done, failures with their errors,
// retry one or all; refreshes every 5 s.
import { api, el, toast } from "./api.js";

const tbody = document.querySelector("#job-counts tbody");
const failures = document.getElementById("failures");
const none = document.getElementById("no-failures");
const KINDS = ["detect", "faces", "ocr", "transcribe", "transcode"];
const running = document.getElementById("running");
const noneRunning = document.getElementById("no-running");

function left(s) {  // seconds left, in words
  if (s == null) return "estimating…";
  if (s < 60) return `about ${s} s left`;
  const m = Math.round(s / 60);
  return m < 60 ? `about ${m} min left` : `about ${Math.floor(m / 60)} h ${m % 60} min left`;
}

function doneIn(b) {  // a backlog's ETA: nothing waiting, not known yet (nothing finished lately), or a duration
  if (!b.pending) return "–";
  if (b.eta_seconds == null) return "waiting";
  return left(b.eta_seconds).replace(" left", "");
}

function showRunning(jobs) {  // long jobs (a transcode, a transcription) with their progress
  noneRunning.hidden = jobs.length > 0;
  running.replaceChildren(...jobs.map((j) => {
    const pct = Math.round((j.progress || 0) * 100);
    return el("li", { class: "running-job" },
      el("a", { href: `/media/${j.media_id}` }, j.filename || j.media_id), " ",
      el("span", { class: "chip" }, j.kind), " ",
      el("progress", { max: "100", value: String(pct), "aria-label": `${j.kind} of ${j.filename || j.media_id}` }),
      " ", el("span", { class: "muted small" }, `${pct}% · ${left(j.eta_seconds)}`));
  }));
}

async function refresh() {
  try {
    const [counts, failed] = await Promise.all([api("GET", "/jobs"), api("GET", "/jobs/failed?limit=200")]);
    const kinds = [...new Set([...KINDS, ...Object.keys(counts.kinds)])];
    tbody.replaceChildren(...kinds.map((k) => {
      const c = counts.kinds[k] || {};
      const b = (counts.backlog || {})[k] || {};
      return el("tr", {}, el("th", { scope: "row" }, k),
        ...["queued", "running", "done", "failed"].map((s) => el("td", { class: `num s-${s}` }, String(c[s] || 0))),
        el("td", { class: "num rate" }, b.per_minute ? `${b.per_minute}/min` : "–"),
        el("td", { class: "num eta" }, doneIn(b)));
    }));
    showRunning(counts.running || []);
    none.hidden = failed.length > 0;
    failures.replaceChildren(...failed.map((j) => el("li", { class: "failure" },
      el("a", { href: `/media/${j.media_id}` }, j.filename || j.media_id), " ",
      el("span", { class: "chip" }, j.kind), " ",
      el("span", { class: "muted small" }, `attempt ${j.attempts ?? j.attempt ?? "?"}`),
      el("p", { class: "error" }, j.error || "no error recorded"),
      el("button", { type: "button", class: "btn", onclick: () => retry({ media_id: j.media_id, kind: j.kind }) }, "Retry"))));
  } catch (e) { toast(e.message, "error"); }
}

async function retry(body) {
  try {
    const r = await api("POST", "/jobs/retry", body);
    toast(`${r.requeued} job(s) queued again`);
    refresh();
  } catch (e) { toast(e.message, "error"); }
}

document.getElementById("retry-all").addEventListener("click", () => retry({}));
refresh();
setInterval(() => { if (!document.hidden) refresh(); }, 5000);
