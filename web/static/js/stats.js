// Stats: items per month as a bar chart (Chart.js from /vendor); per year when there are too many months for
// bars one can read or click.
import { el, jsonData } from "./api.js";

const data = jsonData("stats-data");
const canvas = document.getElementById("timeline-chart");
const Chart = window.Chart;

const MAX_MONTHS = 48;  // more months than this are drawn as years

// Every month between the first and the last, so gaps show as zero bars.
function months(rows) {
  if (!rows.length) return { labels: [], values: [] };
  const byMonth = new Map(rows.map((r) => [r.month, r.n]));
  let [y, m] = rows[0].month.split("-").map(Number);
  const [ey, em] = rows[rows.length - 1].month.split("-").map(Number);
  const labels = [], values = [];
  while (y < ey || (y === ey && m <= em)) {
    const key = `${y}-${String(m).padStart(2, "0")}`;
    labels.push(key); values.push(byMonth.get(key) || 0);
    m += 1; if (m > 12) { m = 1; y += 1; }
    if (labels.length > 1200) break;
  }
  return { labels, values };
}

// The same as years: every year between the first and the last.
function years(rows) {
  const byYear = new Map();
  for (const r of rows) { const y = r.month.slice(0, 4); byYear.set(y, (byYear.get(y) || 0) + r.n); }
  const first = Number(rows[0].month.slice(0, 4)), last = Number(rows[rows.length - 1].month.slice(0, 4));
  const labels = [], values = [];
  for (let y = first; y <= last && labels.length <= 1000; y += 1) { labels.push(String(y)); values.push(byYear.get(String(y)) || 0); }
  return { labels, values };
}

// The search for one bar: a month (2024-05) or a year (2024).
function searchFor(label) {
  if (label.length === 4) return `/search?from=${label}-01-01&to=${label}-12-31`;
  const [y, m] = label.split("-").map(Number);
  const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
  return `/search?from=${label}-01&to=${label}-${String(last).padStart(2, "0")}`;
}

if (!Chart) {
  canvas.replaceWith(el("p", { class: "muted" }, "The chart library is not installed (run make install)."));
} else {
  let { labels, values } = months(data.timeline);
  const byYear = labels.length > MAX_MONTHS;
  if (byYear) {
    ({ labels, values } = years(data.timeline));
    document.getElementById("tl-h").textContent = "Per year";
    canvas.setAttribute("aria-label", "Number of items taken per year");
    const note = document.getElementById("timeline-note");
    note.textContent = `Per year: ${data.timeline.length} months have items, from ${data.timeline[0].month} to `
      + `${data.timeline[data.timeline.length - 1].month}, too many for a bar each.`;
    // the bars as links too, for the keyboard and screen readers
    note.after(el("ul", { class: "year-links", "aria-label": "Items per year" },
      labels.map((y, i) => (values[i] ? el("li", {}, el("a", { href: searchFor(y) }, y), ` (${values[i]})`) : null))));
  }
  canvas.dataset.grain = byYear ? "year" : "month";
  const chart = new Chart(canvas, {
    type: "bar",
    data: { labels, datasets: [{ label: "items", data: values, backgroundColor: "#3b82f6", borderRadius: 3 }] },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      onClick: (_e, els) => { if (els.length) location.href = searchFor(labels[els[0].index]); },
    },
  });
  canvas.dataset.rendered = String(chart.data.labels.length);
}
