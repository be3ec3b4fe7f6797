// The zone editor: polygons on the camera's frame (pixel coordinates of the frame),
// properties from the form the server generated from the zone JSON Schema. The
// server checks, previews and saves; nothing here decides what is valid.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const ed = {doc: null, zones: [], selected: -1, drawing: null, drag: null, file: 0};

function $(id) { return document.getElementById(id); }

function scale() {
  const img = $("frame");
  return img.naturalWidth ? img.naturalWidth / img.clientWidth : 1;
}

function point(evt) {
  const box = $("overlay").getBoundingClientRect();
  const k = scale();
  return [Math.round((evt.clientX - box.left) * k), Math.round((evt.clientY - box.top) * k)];
}

function ring(zone) { return zone.geometry.coordinates[0]; }

function draw() {
  const svg = $("overlay");
  const img = $("frame");
  svg.setAttribute("viewBox", `0 0 ${img.naturalWidth || 640} ${img.naturalHeight || 360}`);
  svg.replaceChildren();
  const shapes = ed.zones.map((z, i) => [ring(z).slice(0, -1), i]);
  if (ed.drawing) shapes.push([ed.drawing, -2]);
  for (const [pts, i] of shapes) {
    const poly = document.createElementNS(SVG, i === -2 ? "polyline" : "polygon");
    poly.setAttribute("points", pts.map(p => p.join(",")).join(" "));
    if (i === ed.selected) poly.classList.add("selected");
    if (i === -2) poly.classList.add("drawing");
    svg.appendChild(poly);
    if (i === ed.selected || i === -2) {
      pts.forEach((p, j) => {
        const c = document.createElementNS(SVG, "circle");
        c.setAttribute("cx", p[0]); c.setAttribute("cy", p[1]);
        c.setAttribute("r", String(6 * scale()));
        c.dataset.vertex = String(j);
        svg.appendChild(c);
      });
    }
  }
  const list = $("zone-list");
  list.replaceChildren();
  ed.zones.forEach((z, i) => {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = String(z.properties.id ?? "(no id)");
    b.dataset.zone = String(z.properties.id ?? "");
    if (i === ed.selected) b.classList.add("selected");
    b.addEventListener("click", () => select(i));
    li.appendChild(b);
    list.appendChild(li);
  });
  $("delete-zone").disabled = ed.selected < 0;
  $("finish").disabled = !ed.drawing;
}

function select(i) {
  ed.selected = i;
  const props = i >= 0 ? ed.zones[i].properties : {};
  document.querySelectorAll("#props [data-prop]").forEach(el => {
    const v = props[el.dataset.prop];
    if (v === undefined || v === null) el.value = "";
    else if (el.dataset.kind === "json") el.value = JSON.stringify(v);
    else el.value = String(v);
  });
  draw();
}

function readForm() {
  if (ed.selected < 0) return;
  const props = {};
  for (const el of document.querySelectorAll("#props [data-prop]")) {
    const raw = el.value.trim();
    if (raw === "") continue;
    const kind = el.dataset.kind;
    if (kind === "number") props[el.dataset.prop] = Number(raw);
    else if (kind === "boolean") props[el.dataset.prop] = raw === "true";
    else if (kind === "json") {
      try { props[el.dataset.prop] = JSON.parse(raw); }
      catch (e) { props[el.dataset.prop] = raw; }  // the server says what is wrong
    } else props[el.dataset.prop] = raw;
  }
  ed.zones[ed.selected].properties = props;
  draw();
}

function geojson() {
  readForm();
  return JSON.stringify({...ed.doc, features: ed.zones}, null, 1);
}

function say(text, problems) {
  $("status").textContent = text;
  const list = $("messages");
  list.replaceChildren();
  for (const p of problems || []) {
    const li = document.createElement("li");
    li.textContent = p;
    list.appendChild(li);
  }
}

async function post(action) {
  const editor = $("editor");
  // A save names the version of the file this editor loaded: the server refuses it if
  // somebody saved another one in between, instead of losing their change.
  return fetch(`/zones/${encodeURIComponent(editor.dataset.camera)}/${ed.file}/${action}`, {
    method: "POST", body: geojson(),
    headers: {"X-CSRF-Token": editor.dataset.csrf, "Content-Type": "application/geo+json",
              "If-Match": ed.version || ""},
  });
}

// The preview follows every edit (half a second after the last one), as long as the
// draft has no errors; the Preview button also says what the errors are.
let previewTimer = null;
function schedulePreview() {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(() => refreshPreview(true), 500);
}

async function refreshPreview(quiet) {
  const r = await post("preview");
  if (r.status !== 200) {
    if (!quiet) { const a = await r.json(); say("errors:", a.problems); }
    return;
  }
  const img = $("preview-img");
  if (img.src) URL.revokeObjectURL(img.src);
  img.src = URL.createObjectURL(await r.blob());
  img.hidden = false;
  if (!quiet) say("preview drawn");
}

async function load() {
  const camera = $("editor").dataset.camera;
  const r = await fetch(`/zones/${encodeURIComponent(camera)}/file/${ed.file}`);
  ed.version = r.headers.get("ETag");
  ed.doc = await r.json();
  ed.zones = (ed.doc.features || []).filter(f => f.geometry && f.geometry.type === "Polygon");
  const metres = ed.doc.safetyd && ed.doc.safetyd.units === "metres";
  if (metres) say("This file's zones are in metres on the floor: it is shown, not edited here.");
  $("save").disabled = !!metres;
  select(-1);
  schedulePreview();
  $("editor").dataset.ready = "yes";
}

document.addEventListener("DOMContentLoaded", () => {
  const svg = $("overlay");
  $("frame").addEventListener("load", draw);
  $("file").addEventListener("change", e => { ed.file = Number(e.target.value); load(); });
  $("new-zone").addEventListener("click", () => { ed.drawing = []; ed.selected = -1; draw(); });
  $("finish").addEventListener("click", () => {
    if (!ed.drawing || ed.drawing.length < 3) { say("a zone needs at least 3 corners"); return; }
    const pts = ed.drawing;
    ed.zones.push({type: "Feature", properties: {},
                   geometry: {type: "Polygon", coordinates: [[...pts, pts[0]]]}});
    ed.drawing = null;
    select(ed.zones.length - 1);
    schedulePreview();
  });
  $("delete-zone").addEventListener("click", () => {
    if (ed.selected >= 0) { ed.zones.splice(ed.selected, 1); select(-1); schedulePreview(); }
  });
  $("props").addEventListener("change", () => { readForm(); schedulePreview(); });
  svg.addEventListener("mousedown", e => {
    const v = e.target.dataset && e.target.dataset.vertex;
    if (v !== undefined && ed.selected >= 0) { ed.drag = Number(v); e.preventDefault(); }
  });
  svg.addEventListener("mousemove", e => {
    if (ed.drag === null) return;
    const r = ring(ed.zones[ed.selected]);
    r[ed.drag] = point(e);
    if (ed.drag === 0) r[r.length - 1] = r[0];
    draw();
  });
  svg.addEventListener("mouseup", () => {
    if (ed.drag !== null) schedulePreview();
    ed.drag = null;
  });
  svg.addEventListener("click", e => {
    if (ed.drawing) { ed.drawing.push(point(e)); draw(); }
  });
  $("check").addEventListener("click", async () => {
    const r = await post("check");
    const a = await r.json();
    say(a.ok ? "no errors" + (a.problems.length ? " (warnings below)" : "") : "errors:",
        a.problems);
  });
  $("preview").addEventListener("click", () => refreshPreview(false));
  $("save").addEventListener("click", async () => {
    say("saving…");
    const r = await post("save");
    const a = await r.json();
    say(a.message, a.problems);
    if (a.ok) {
      // What is on disk now is this draft: the next save starts from it.
      const again = await fetch(`/zones/${encodeURIComponent($("editor").dataset.camera)}/file/${ed.file}`);
      ed.version = again.headers.get("ETag");
      $("editor").dataset.saved = String(Number($("editor").dataset.saved || 0) + 1);
    }
  });
  load();
});
