// The calibration page: marks clicked on the frame (pixels), their floor positions
// typed in (metres). The server fits, judges and saves; this only collects and draws.
"use strict";

const NS = "http://www.w3.org/2000/svg";
const cal = {marks: [], plan: [], errors: []};

function el(id) { return document.getElementById(id); }

function svgEl(name, attrs, parent) {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  parent.appendChild(e);
  return e;
}

function k() {
  const img = el("frame");
  return img.naturalWidth ? img.naturalWidth / img.clientWidth : 1;
}

function drawMarks() {
  drawOverlay();
  drawTable();
  drawPlan();
}

function drawOverlay() {
  const svg = el("overlay");
  const img = el("frame");
  svg.setAttribute("viewBox", `0 0 ${img.naturalWidth || 640} ${img.naturalHeight || 360}`);
  svg.replaceChildren();
  cal.marks.forEach((m, i) => {
    svgEl("circle", {cx: m.x, cy: m.y, r: 6 * k(), class: "mark"}, svg);
    svgEl("text", {x: m.x + 8 * k(), y: m.y - 8 * k()}, svg).textContent = String(i + 1);
  });
}

function drawTable() {
  const body = document.querySelector("#marks tbody");
  body.replaceChildren();
  cal.marks.forEach((m, i) => {
    const tr = document.createElement("tr");
    const td = t => { const c = document.createElement("td"); c.textContent = t; tr.appendChild(c); return c; };
    td(String(i + 1));
    for (const key of ["x", "y", "fx", "fy"]) {
      const input = document.createElement("input");
      input.dataset.key = key;
      input.dataset.mark = String(i);
      input.value = m[key] === null || m[key] === undefined ? "" : String(m[key]);
      input.addEventListener("change", e => {
        const v = e.target.value.trim();
        cal.marks[i][key] = v === "" ? null : Number(v);
        drawOverlay();  // the table stays as it is: the person is typing in it
        drawPlan();
      });
      td("").appendChild(input);
    }
    td(cal.errors[i] === undefined ? "" : cal.errors[i].toFixed(3));
    const remove = document.createElement("button");
    remove.type = "button"; remove.textContent = "remove";
    remove.addEventListener("click", () => { cal.marks.splice(i, 1); cal.errors = []; drawMarks(); });
    td("").appendChild(remove);
    body.appendChild(tr);
  });
}

function drawPlan() {
  const svg = el("plan");
  svg.replaceChildren();
  const pts = [...cal.plan.flatMap(z => z.points),
               ...cal.marks.filter(m => m.fx !== null && m.fy !== null).map(m => [m.fx, m.fy])];
  if (!pts.length) return;
  const xs = pts.map(p => p[0]), ys = pts.map(p => p[1]);
  const x0 = Math.min(...xs) - 1, x1 = Math.max(...xs) + 1;
  const y0 = Math.min(...ys) - 1, y1 = Math.max(...ys) + 1;
  const s = 300 / Math.max(x1 - x0, y1 - y0);
  const at = p => [10 + (p[0] - x0) * s, 310 - (p[1] - y0) * s];  // y up, as on a plan
  for (const z of cal.plan) {
    svgEl("polygon", {points: z.points.map(p => at(p).join(",")).join(" ")}, svg);
    const c = at(z.points[0]);
    svgEl("text", {x: c[0] + 3, y: c[1] - 3}, svg).textContent = z.id;
  }
  cal.marks.forEach((m, i) => {
    if (m.fx === null || m.fy === null) return;
    const c = at([m.fx, m.fy]);
    svgEl("circle", {cx: c[0], cy: c[1], r: 4}, svg);
    svgEl("text", {x: c[0] + 5, y: c[1] - 5}, svg).textContent = String(i + 1);
  });
}

function say(text, problems) {
  el("status").textContent = text;
  const list = el("messages");
  list.replaceChildren();
  for (const p of problems || []) {
    const li = document.createElement("li");
    li.textContent = p;
    list.appendChild(li);
  }
}

async function send(action) {
  const box = el("calibration");
  const body = JSON.stringify({
    image_points: cal.marks.map(m => [m.x, m.y]),
    floor_points: cal.marks.map(m => [m.fx, m.fy]),
  });
  return fetch(`/calibration/${encodeURIComponent(box.dataset.camera)}/${action}`, {
    method: "POST", body, headers: {"X-CSRF-Token": box.dataset.csrf,
                                    "Content-Type": "application/json"},
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const box = el("calibration");
  cal.marks = JSON.parse(box.dataset.marks);
  cal.plan = JSON.parse(box.dataset.plan);
  el("frame").addEventListener("load", drawMarks);
  el("overlay").addEventListener("click", e => {
    const r = el("overlay").getBoundingClientRect();
    cal.marks.push({x: Math.round((e.clientX - r.left) * k()),
                    y: Math.round((e.clientY - r.top) * k()), fx: null, fy: null});
    cal.errors = [];
    drawMarks();
  });
  el("compute").addEventListener("click", async () => {
    const r = await send("check");
    const a = await r.json();
    if (!a.ok) { cal.errors = []; drawMarks(); say("the marks do not define the floor:", a.errors); return; }
    cal.errors = a.per_point_m;
    drawMarks();
    say(`reprojection error ${a.rms_m.toFixed(3)} m (RMS)`);
    const p = await send("preview");
    if (p.status === 200) {
      const img = el("preview-img");
      img.src = URL.createObjectURL(await p.blob());
      img.hidden = false;
    }
  });
  el("save-calibration").addEventListener("click", async () => {
    say("saving…");
    const r = await send("save");
    const a = await r.json();
    say(a.message, a.errors);
  });
  drawMarks();
  box.dataset.ready = "yes";
});
