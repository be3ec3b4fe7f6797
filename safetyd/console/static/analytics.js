// The analytics charts (Chart.js, vendored beside this file). The figures are
// computed by the server and embedded in the page as JSON; the tables beside the
// charts show the same numbers for readers without JavaScript.
(function () {
  "use strict";
  const node = document.getElementById("figures-data");
  if (!node || typeof Chart === "undefined") return;
  const f = JSON.parse(node.textContent);
  const WARN = "#e0a800";
  const DANGER = "#c62828";
  window.safetydCharts = [];

  function bars(id, labels, series, options) {
    const canvas = document.getElementById(id);
    if (!canvas) return;
    const chart = new Chart(canvas, {
      type: "bar",
      data: {
        labels: labels,
        datasets: series.map(function (s) {
          return { label: s.label, data: s.data, backgroundColor: s.colour };
        }),
      },
      options: Object.assign({
        animation: false,
        responsive: true,
        plugins: { title: { display: true, text: options.title } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      }, options.extra || {}),
    });
    window.safetydCharts.push(chart);
  }

  function pair(rows, title, id, labels) {
    bars(id, labels, [
      { label: "warnings", data: rows.map(function (r) { return r.warnings; }), colour: WARN },
      { label: "dangers", data: rows.map(function (r) { return r.dangers; }), colour: DANGER },
    ], { title: title });
  }

  pair(f.zones, "By zone", "chart-zones", f.zones.map(function (z) { return z.zone_name; }));
  pair(f.hours, "By hour of day", "chart-hours", f.hours.map(function (_, h) { return String(h); }));
  const shifts = Object.keys(f.shifts);
  pair(shifts.map(function (k) { return f.shifts[k]; }), "By shift", "chart-shifts", shifts);
  const edges = f.ttc.bins;
  bars("chart-ttc", edges.map(function (e, i) {
    return i + 1 < edges.length ? e + "–" + edges[i + 1] + " s" : "≥ " + e + " s";
  }), [{ label: "warnings", data: f.ttc.counts, colour: WARN }],
  { title: "Time to contact when the warning fired" });
})();
