// Stats: items per month as a bar chart (Chart.js from /vendor).
import { el, jsonData } from "./api.js";

const data = jsonData("stats-data");
const canvas = document.getElementById("timeline-chart");
const Chart = window.Chart;

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

if (!Chart) {
  canvas.replaceWith(el("p", { class: "muted" }, "The chart library is not installed (run make install)."));
} else {
  const { labels, values } = months(data.timeline);
  const chart = new Chart(canvas, {
    type: "bar",
    data: { labels, datasets: [{ label: "items", data: values, backgroundColor: "#3b82f6", borderRadius: 3 }] },
    options: {
      responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { display: false } },
      scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      onClick: (_e, els) => {
        if (!els.length) return;
        const [y, m] = labels[els[0].index].split("-").map(Number);
        const last = new Date(Date.UTC(y, m, 0)).getUTCDate();
        location.href = `/search?from=${labels[els[0].index]}-01&to=${labels[els[0].index]}-${String(last).padStart(2, "0")}`;
      },
    },
  });
  canvas.dataset.rendered = String(chart.data.labels.length);
}
