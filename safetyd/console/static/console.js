// The console's live updates: server-sent events from /stream. DOM is built with
// textContent only (never innerHTML), so a name from a zone file stays text.
"use strict";

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text;
  row.appendChild(td);
  return td;
}

function fill(tbody, items, columns, empty) {
  tbody.replaceChildren();
  if (!items.length) {
    const tr = document.createElement("tr");
    cell(tr, empty).colSpan = columns;
    tbody.appendChild(tr);
  }
  return items.map(() => {
    const tr = document.createElement("tr");
    tbody.appendChild(tr);
    return tr;
  });
}

function render(state, meta) {
  const banner = document.getElementById("banner");
  if (banner) {
    if (state.danger.length) {
      banner.textContent = "DANGER: " + state.danger.map(
        d => `${d.zone} (camera ${d.camera}) since ${d.since}`).join("; ");
      banner.hidden = false;
    } else {
      banner.hidden = true;
      banner.textContent = "";
    }
  }
  const health = document.getElementById("health");
  if (!health) return;  // only the live page has the tables
  health.textContent = state.healthy ? "healthy" : "UNHEALTHY: " + state.reasons.join("; ");
  health.className = state.healthy ? "up" : "down";
  const cams = document.querySelector("#cameras tbody");
  fill(cams, state.cameras, 5, "none").forEach((tr, i) => {
    const c = state.cameras[i];
    tr.dataset.camera = c.id;
    tr.className = c.state === "up" ? "up" : "down";
    [c.id, c.state, String(c.fps), c.armed.join(", ") || "none",
     c.reason + (c.since ? " since " + c.since : "")].forEach(t => cell(tr, t));
  });
  const inc = document.querySelector("#incidents tbody");
  fill(inc, state.incidents, 5, "none").forEach((tr, i) => {
    const x = state.incidents[i];
    tr.className = x.level;
    [x.camera, x.zone, x.level, x.body_part, x.since].forEach(t => cell(tr, t));
  });
  const ans = document.querySelector("#answers tbody");
  fill(ans, state.answers, 7, "none").forEach((tr, i) => {
    const a = state.answers[i];
    tr.dataset.incident = a.incident;
    [a.code, a.camera, a.zone, a.level, a.opened,
     a.acknowledged ? `${a.acknowledged} by ${a.by}` : "NOT YET"].forEach(t => cell(tr, t));
    const last = cell(tr, "");
    if (!a.acknowledged && meta.operator) {
      const form = document.createElement("form");
      form.method = "post";
      form.action = "/ack";
      form.className = "inline ack";
      for (const [k, v] of [["csrf", meta.csrf], ["incident", a.incident]]) {
        const input = document.createElement("input");
        input.type = "hidden"; input.name = k; input.value = v;
        form.appendChild(input);
      }
      const button = document.createElement("button");
      button.type = "submit"; button.className = "ack-button";
      button.textContent = "Acknowledge";
      form.appendChild(button);
      last.appendChild(form);
    }
    const link = document.createElement("a");
    link.href = "/incident/" + encodeURIComponent(a.incident);
    link.textContent = "details";
    last.appendChild(link);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  if (!document.getElementById("logout")) return;  // not logged in
  const data = document.getElementById("live-data");
  const meta = data ? {operator: data.dataset.operator === "yes", csrf: data.dataset.csrf}
                    : {operator: false, csrf: ""};
  if (data) render(JSON.parse(data.dataset.state), meta);
  const events = new EventSource("/stream");
  events.onmessage = e => {
    const state = JSON.parse(e.data);
    render(state, meta);
    document.body.dataset.updates = String(Number(document.body.dataset.updates || 0) + 1);
  };
  events.addEventListener("logout", () => { window.location = "/login"; });
  setInterval(() => {
    document.querySelectorAll("img.frame").forEach(img => {
      img.src = "/camera/" + encodeURIComponent(img.dataset.camera) + ".jpg?t=" + Date.now();
    });
  }, 1000);
});
