// The map page: every drone the identity may watch, at its position with its heading, its
// track and its camera's ground footprint, live from one event stream (/api/map/events).
// Plain DOM + SVG on Web Mercator (web/geo.js): no map library, nothing from the internet;
// the background is the configured tiles, or a grid with coordinates and a scale bar.
// The operators' marks that know their ground position are pins on it (web/map_marks.js).
//
// Test hook: #map carries data-zoom and data-origin-x/-y (the world pixel, at that zoom, of
// the map's top-left corner): a position's screen point is project(lat, lon, zoom) - origin.

import { initUser, loggedOut } from "/static/auth.js";
import { footprint, project, TILE, unproject } from "/static/geo.js";
import { initLang, num, onLangChange, t } from "/static/i18n.js";
import { drawGrid, drawScale, drawTiles, SVG, svg } from "/static/map_background.js";
import { wireControls } from "/static/map_controls.js";
import { MapMarks } from "/static/map_marks.js";

const TRACK_S = 300; // the track of the last five minutes (the relay keeps the last minute)
const TRACK_MAX = 3000; // points per drone: bounded memory for a page left open all day
const FIT_PAD = 80; // px kept free around the drones when the view fits them
const FIT_MAX_ZOOM = 17; // one drone alone: a few hundred metres around it

const $ = (id) => document.getElementById(id);
const mapEl = $("map");
const tilesEl = $("map-tiles");
const overlay = $("map-overlay");
const markersEl = $("map-markers");
const noteEl = $("map-note");

const view = { zoom: 3, cx: 0, cy: 0, auto: true, minZoom: 0, maxZoom: 19 };
let tiles = null; // {url, min_zoom, max_zoom, attribution}
const drones = new Map(); // name -> {sample, track: [[lat, lon, time]], marker}
let noTelemetry = [];
let frame = 0;
const marks = new MapMarks(() => schedule());

function size() {
  return { w: mapEl.clientWidth, h: mapEl.clientHeight };
}

/** The world pixel of the map's top-left corner at the current zoom. */
function origin() {
  const { w, h } = size();
  return { x: Math.round(view.cx - w / 2), y: Math.round(view.cy - h / 2) };
}

function toScreen(lat, lon) {
  const p = project(lat, lon, view.zoom);
  const o = origin();
  return { x: p.x - o.x, y: p.y - o.y };
}

function setZoom(zoom, anchor) {
  const z = Math.max(view.minZoom, Math.min(view.maxZoom, zoom));
  if (z === view.zoom) return;
  const { w, h } = size();
  const at = anchor ?? { x: w / 2, y: h / 2 };
  const o = origin();
  const ll = unproject(o.x + at.x, o.y + at.y, view.zoom); // stays under the finger
  const p = project(ll.lat, ll.lon, z);
  view.zoom = z;
  view.cx = p.x - at.x + w / 2;
  view.cy = p.y - at.y + h / 2;
  schedule();
}

function positioned() {
  return [...drones.values()].filter((d) => d.sample?.lat != null && d.sample?.lon != null);
}

/** Zoom and centre so that every drone with a position is in view. */
function fit() {
  const shown = positioned();
  if (!shown.length) return;
  const { w, h } = size();
  let zoom = Math.min(FIT_MAX_ZOOM, view.maxZoom);
  for (; zoom > view.minZoom; zoom--) {
    const pts = shown.map((d) => project(d.sample.lat, d.sample.lon, zoom));
    const xs = pts.map((p) => p.x);
    const ys = pts.map((p) => p.y);
    const spanX = Math.max(...xs) - Math.min(...xs);
    const spanY = Math.max(...ys) - Math.min(...ys);
    if (spanX <= w - 2 * FIT_PAD && spanY <= h - 2 * FIT_PAD) break;
  }
  const pts = shown.map((d) => project(d.sample.lat, d.sample.lon, zoom));
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  view.zoom = zoom;
  view.cx = (Math.min(...xs) + Math.max(...xs)) / 2;
  view.cy = (Math.min(...ys) + Math.max(...ys)) / 2;
}

function altitude(s) {
  if (s.alt_rel_m != null) return `${num(s.alt_rel_m, 0)} m`;
  if (s.alt_msl_m != null) return t("map.msl", { m: num(s.alt_msl_m, 0) });
  return "";
}

function markerFor(name, d) {
  if (d.marker) return d.marker;
  const a = document.createElement("a");
  a.className = "marker";
  a.href = `/play/${encodeURIComponent(name)}`;
  a.dataset.stream = name;
  const icon = document.createElementNS(SVG, "svg");
  icon.setAttribute("class", "marker-arrow");
  icon.setAttribute("viewBox", "-24 -24 48 48");
  const label = document.createElement("span");
  label.className = "marker-label";
  const title = document.createElement("span");
  title.className = "marker-name";
  title.textContent = name;
  const info = document.createElement("span");
  const age = document.createElement("span");
  age.className = "marker-age";
  label.append(title, " ", info, age);
  a.append(icon, label);
  markersEl.append(a);
  d.marker = { a, icon, info, age, heading: undefined };
  return d.marker;
}

function drawDrone(name, d, g) {
  const s = d.sample;
  if (s?.lat == null || s?.lon == null) {
    d.marker?.a.remove();
    d.marker = null;
    return;
  }
  const stale = Boolean(s.stale);
  const cls = stale ? " stale" : "";
  const pts = d.track.map(([lat, lon]) => toScreen(lat, lon));
  if (pts.length > 1) {
    svg("polyline", { class: `track${cls}`, points: pts.map((p) => `${p.x},${p.y}`).join(" ") }, g);
  }
  const corners = footprint(s);
  if (corners) {
    const poly = corners.map((c) => toScreen(c.lat, c.lon));
    svg("polygon", { class: `footprint${cls}`, points: poly.map((p) => `${p.x},${p.y}`).join(" ") }, g);
  }
  const m = markerFor(name, d);
  const p = toScreen(s.lat, s.lon);
  m.a.style.transform = `translate(${p.x}px, ${p.y}px)`;
  m.a.classList.toggle("stale", stale);
  m.a.dataset.x = String(p.x);
  m.a.dataset.y = String(p.y);
  m.a.dataset.stale = String(stale);
  m.a.setAttribute("aria-label", `${name}: ${t("map.open")}`);
  const heading = s.heading_deg ?? null;
  if (heading !== m.heading) {
    // An arrow pointing along the heading; a dot when the drone says none.
    m.icon.replaceChildren();
    if (heading == null) svg("circle", { r: 10 }, m.icon);
    else svg("path", { d: "M0,-20 L13,15 L0,7 L-13,15 Z", transform: `rotate(${heading})` }, m.icon);
    m.heading = heading;
  }
  m.info.textContent = altitude(s);
  m.age.textContent = stale ? t("tele.stale", { s: num(s.age_s, 0) }) : "";
}

function render() {
  frame = 0;
  if (view.auto) fit();
  const { w, h } = size();
  const o = origin();
  mapEl.dataset.zoom = String(view.zoom);
  mapEl.dataset.originX = String(o.x);
  mapEl.dataset.originY = String(o.y);
  overlay.setAttribute("viewBox", `0 0 ${w} ${h}`);
  overlay.replaceChildren();
  drawTiles(tilesEl, tiles?.url, view.zoom, o, w, h);
  if (!tiles?.url) drawGrid(overlay, view.zoom, o, w, h);
  drawScale($("map-scale"), $("map-scale-label"), view.zoom, o, h);
  const g = svg("g", {}, overlay);
  for (const [name, d] of drones) drawDrone(name, d, g);
  marks.draw(svg("g", { class: "map-marks" }, overlay), toScreen);
  const waiting = [...drones.keys()].filter((n) => drones.get(n).sample?.lat == null);
  const notes = [];
  if (!drones.size && !noTelemetry.length) notes.push(t("map.none"));
  if (waiting.length) notes.push(t("map.waiting", { names: waiting.join(", ") }));
  if (noTelemetry.length) notes.push(t("map.noTelemetry", { names: noTelemetry.join(", ") }));
  noteEl.textContent = notes.join(" · ");
  document.body.dataset.state = "ready";
}

function schedule() {
  if (!frame) frame = requestAnimationFrame(render);
}

function addSample(name, sample) {
  const d = drones.get(name);
  if (!d) return;
  d.sample = sample;
  if (sample?.lat == null || sample?.lon == null) return schedule();
  const last = d.track[d.track.length - 1];
  if (!last || last[2] < sample.time) d.track.push([sample.lat, sample.lon, sample.time]);
  const cut = sample.time - TRACK_S;
  while (d.track.length > TRACK_MAX || (d.track.length && d.track[0][2] < cut)) d.track.shift();
  schedule();
}

function follow(names) {
  const query = names.map((n) => `stream=${encodeURIComponent(n)}`).join("&");
  const events = new EventSource(`/api/map/events?${query}`);
  events.onmessage = (e) => {
    const { stream, telemetry } = JSON.parse(e.data);
    addSample(stream, telemetry);
  };
  events.onerror = async () => {
    // EventSource retries by itself; a session that ended shows the login form instead.
    const me = await fetch("/api/me", { cache: "no-store" }).catch(() => null);
    if (me?.status === 401) loggedOut();
  };
}

async function load() {
  let resp;
  try {
    resp = await fetch("/api/map", { cache: "no-store" });
  } catch {
    resp = null;
  }
  if (resp?.status === 401) return loggedOut();
  $("error-banner").hidden = Boolean(resp?.ok);
  if (!resp?.ok) return setTimeout(load, 3000);
  const data = await resp.json();
  tiles = data.tiles;
  view.minZoom = tiles.min_zoom;
  view.maxZoom = tiles.max_zoom;
  view.zoom = Math.max(view.minZoom, Math.min(view.maxZoom, view.zoom));
  view.cx = view.cy = (TILE * 2 ** view.zoom) / 2; // the whole world until a drone is known
  const attribution = $("map-attribution");
  attribution.textContent = tiles.attribution;
  attribution.hidden = !tiles.attribution;
  noTelemetry = data.drones.filter((d) => !d.has_telemetry).map((d) => d.name);
  const followed = data.drones.filter((d) => d.has_telemetry);
  for (const d of followed) drones.set(d.name, { sample: d.telemetry, track: d.track, marker: null });
  if (followed.length) follow(followed.map((d) => d.name));
  marks.follow(followed.map((d) => d.name));
  schedule();
}

initLang($("lang-toggle"));
onLangChange(schedule);
wireControls(mapEl, view, setZoom, schedule);
initUser();
load();
