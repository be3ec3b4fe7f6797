// The ergonomics charts (Chart.js, vendored beside this file): per measure, one
// stacked bar per area and shift, minutes in each band. The figures come from the
// server as JSON; the table beside them shows them for readers without JavaScript.
(function () {
  "use strict";
  const node = document.getElementById("ergonomics-data");
  if (!node || typeof Chart === "undefined") return;
  const e = JSON.parse(node.textContent);
  const TITLES = { trunk: "Trunk lean (°)", upper_arm: "Upper arm raised (°)",
                   knee: "Knee bent (°)", hands: "Hands" };
  // From safe to risky: green, amber, red.
  const COLOURS = ["#2e7d32", "#e0a800", "#c62828"];
  window.safetydCharts = [];
  const labels = e.rows.map(function (r) { return r.name + " · " + r.shift; });
  Object.keys(e.bands).forEach(function (measure) {
    const canvas = document.getElementById("chart-" + measure);
    if (!canvas || !e.rows.length) return;
    const datasets = e.bands[measure].map(function (band, i) {
      return {
        label: band.replace(/_/g, " "),
        backgroundColor: COLOURS[i] || "#777",
        data: e.rows.map(function (r) {
          const s = (r.seconds[measure] || {})[band] || 0;
          return Math.round(s / 6) / 10;  // minutes, one decimal
        }),
      };
    });
    window.safetydCharts.push(new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        animation: false, responsive: true,
        plugins: { title: { display: true, text: TITLES[measure] + ": minutes per band" } },
        scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } },
      },
    }));
  });
})();
