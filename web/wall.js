// The control room's wall: every stream this login may watch (up to 9), tiled to fill the
// screen, each on its SMALLEST rung (nine pictures must not cost the browser nine full
// decodes); a tap enlarges one tile onto the best rung and pauses the others, a second tap
// (or the browser's Back) returns. Per tile: the state, viewers, the telemetry summary and
// whether an incident records it. Operators start and stop an incident for the shown streams.
// Status comes from polling /api/streams (telemetry included) and /api/incidents: one request
// each every few seconds, where an event stream per tile would hold six of the browser's
// connections to the relay. The streams' live marks (docs/annotations.md) come over one event
// stream for all tiles and are drawn over each tile's picture as in the player.

import { followMarksOf } from "/static/annotations_feed.js";
import { markLayer } from "/static/annotations_overlay.js";
import { csrfHeaders, initUser, loggedOut } from "/static/auth.js";
import { getLang, initLang, num, onLangChange } from "/static/i18n.js";
import { Tile } from "/static/tile.js";

const MAX_TILES = 9;
const POLL_MS = 2000;
const TEXT = {
  de: {
    title: "Lagewand",
    live: "LIVE",
    stalled: "Signal verloren",
    lost: "Keine Verbindung",
    connecting: "Verbinde…",
    viewers: "{n} Zuschauer",
    rec: "● AUFNAHME",
    start: "Einsatz starten",
    stop: "Einsatz beenden",
    incident: "Lagewand {t}",
    none: "Keine Streams freigegeben",
    more: "{n} weitere Streams nicht gezeigt",
    failed: "Fehler: {r}",
  },
  en: {
    title: "Control-room wall",
    live: "LIVE",
    stalled: "Signal lost",
    lost: "No connection",
    connecting: "Connecting…",
    viewers: "{n} viewers",
    rec: "● REC",
    start: "Start incident",
    stop: "Stop incident",
    incident: "Wall {t}",
    none: "No streams shared with you",
    more: "{n} more streams not shown",
    failed: "Error: {r}",
  },
};
const $ = (id) => document.getElementById(id);
const grid = $("grid");
const wall = {
  tiles: {}, // stream name -> Tile (test hook: presented frames, rendition, state)
  enlarged: null,
  status: {}, // stream name -> the relay's status
  recording: [], // incidents that record now: [{id, title, streams}]
  operator: false,
  lastError: null,
  marksFeed: null, // one EventSource for every tile's marks
};
window.__wall = wall;

function text(key, vars = {}) {
  const s = (TEXT[getLang()] ?? TEXT.de)[key];
  return s.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
}

/** Columns x rows for n tiles on a 16:9 screen: 1x1, 2x1, 2x2, 3x2, 3x3. */
export function layout(n) {
  if (n <= 1) return [1, 1];
  if (n === 2) return [2, 1];
  if (n <= 4) return [2, 2];
  if (n <= 6) return [3, 2];
  return [3, 3];
}

/** The rungs by picture height ("source" counts as the tallest). */
function height(name) {
  if (name === "source") return Infinity;
  const m = /^(\d+)p/.exec(name);
  return m ? Number(m[1]) : 0;
}

function rungs(status) {
  return [...(status?.renditions ?? [])].sort((a, b) => height(a) - height(b));
}

// ?rung=NAME puts every tile on that rung (scripts/bench_wall.py compares the browser's cost).
const FORCED = new URLSearchParams(location.search).get("rung");

function smallest(status) {
  if (FORCED && rungs(status).includes(FORCED)) return FORCED;
  return rungs(status)[0] ?? "auto";
}

/** The best rung a browser can play: the tallest transcoded one (passthrough of a drone that
 * sends B-frames is not playable), else whatever the relay picks. */
function best(status) {
  const r = rungs(status).filter((x) => x !== "source");
  return r[r.length - 1] ?? "auto";
}

function altitude(s) {
  if (s.alt_rel_m != null) return `${num(s.alt_rel_m, 0)} m`;
  if (s.alt_msl_m != null) return `${num(s.alt_msl_m, 0)} m NN`;
  return null;
}

function telemetry(s) {
  if (!s) return "";
  const parts = [altitude(s)];
  if (s.lat != null && s.lon != null) parts.push(`${num(s.lat, 4)}°, ${num(s.lon, 4)}°`);
  return parts.filter(Boolean).join(" · ");
}

function makeTile(name) {
  const el = document.createElement("div");
  el.className = "wall-tile";
  el.dataset.stream = name;
  el.innerHTML = `<video muted autoplay playsinline></video>
    <div class="tile-head"><span class="tile-name"></span><span class="tile-rec" hidden></span>
    <span class="badge"></span></div>
    <div class="tile-foot"><span class="tile-viewers"></span><span class="tile-tele"></span>
    <span class="tile-rung"></span></div>`;
  el.querySelector(".tile-name").textContent = name;
  grid.append(el);
  const tile = new Tile(el.querySelector("video"), name, smallest(wall.status[name]), {
    onState: () => renderTile(name),
    onUnauthorized: loggedOut,
  });
  tile.el = el;
  // Test hook: the marks as received, when each was first drawn (web/annotations_overlay.js).
  tile.marks = { marks: [], drawnAt: {} };
  tile.overlay = markLayer(tile.video, tile.marks);
  el.addEventListener("click", () => (wall.enlarged === name ? history.back() : enlarge(name)));
  wall.tiles[name] = tile;
  tile.start();
  return tile;
}

function renderTile(name) {
  const tile = wall.tiles[name];
  if (!tile) return;
  const el = tile.el;
  const status = wall.status[name] ?? {};
  el.dataset.state = tile.state;
  const badge = el.querySelector(".badge");
  badge.dataset.state = tile.state;
  badge.textContent = text(tile.state);
  el.querySelector(".tile-viewers").textContent = text("viewers", { n: status.viewers ?? 0 });
  el.querySelector(".tile-tele").textContent = telemetry(status.telemetry);
  el.querySelector(".tile-rung").textContent = tile.rendition;
  const rec = el.querySelector(".tile-rec");
  rec.hidden = !wall.recording.some((i) => i.streams.includes(name));
  rec.textContent = text("rec");
}

function render() {
  $("wall-title").textContent = text("title");
  document.title = text("title");
  const names = Object.keys(wall.tiles);
  const [cols, rows] = layout(names.length);
  grid.style.setProperty("--cols", cols);
  grid.style.setProperty("--rows", rows);
  const hidden = Object.keys(wall.status).length - names.length;
  $("wall-note").textContent = hidden > 0 ? text("more", { n: hidden }) : wall.lastError ?? "";
  for (const name of names) renderTile(name);
  const button = $("incident-button");
  button.hidden = !wall.operator || !names.length;
  button.dataset.recording = String(shownIncident() != null);
  button.textContent = text(shownIncident() ? "stop" : "start");
}

/** The running incident that records any of the shown streams (the one the wall stops). */
function shownIncident() {
  const shown = Object.keys(wall.tiles);
  return wall.recording.find((i) => i.streams.some((s) => shown.includes(s))) ?? null;
}

function enlarge(name) {
  if (wall.enlarged) return;
  wall.enlarged = name;
  history.pushState({ enlarged: name }, "");
  grid.dataset.enlarged = name;
  for (const [other, tile] of Object.entries(wall.tiles)) {
    tile.el.classList.toggle("big", other === name);
    if (other === name) tile.switchTo(best(wall.status[name]));
    else tile.stop(); // hidden: no decode for a picture nobody sees
  }
  render();
}

function shrink() {
  if (!wall.enlarged) return;
  wall.enlarged = null;
  delete grid.dataset.enlarged;
  for (const [name, tile] of Object.entries(wall.tiles)) {
    tile.el.classList.remove("big");
    tile.switchTo(smallest(wall.status[name]));
  }
  render();
}

/** The tiles' marks: one event stream for all, opened again when the tiles change or it was
 * refused (EventSource retries a lost connection by itself, but not an HTTP error). */
function followMarks() {
  const names = Object.keys(wall.tiles);
  const feed = wall.marksFeed;
  const same = feed?.names.join("\n") === names.join("\n");
  if (!names.length || (same && feed.events.readyState !== EventSource.CLOSED)) return;
  feed?.events.close();
  const events = followMarksOf(names, (stream, marks) => {
    const tile = wall.tiles[stream];
    if (!tile) return;
    tile.marks.marks = marks;
    tile.overlay.render();
  });
  wall.marksFeed = { names, events };
}

async function api(method, path, body) {
  const init = { method, cache: "no-store", headers: method === "GET" ? {} : csrfHeaders() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  if (resp.status === 401) loggedOut();
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.reason || `HTTP ${resp.status}`);
  return data;
}

async function poll() {
  try {
    const { streams } = await api("GET", "/api/streams");
    wall.status = Object.fromEntries(streams.map((s) => [s.name, s]));
    for (const s of streams.slice(0, MAX_TILES)) if (!wall.tiles[s.name]) makeTile(s.name);
    followMarks();
    if (wall.operator) {
      const { incidents } = await api("GET", "/api/incidents");
      wall.recording = incidents.filter((i) => i.status === "recording");
    }
    wall.lastError = null;
    document.body.dataset.state = "ok";
  } catch (err) {
    document.body.dataset.state = "unreachable";
    wall.lastError = text("failed", { r: err.message });
  }
  if (!Object.keys(wall.status).length && !grid.querySelector(".wall-empty")) {
    grid.innerHTML = `<div class="wall-empty"></div>`;
    grid.firstChild.textContent = text("none");
  } else if (Object.keys(wall.tiles).length) {
    grid.querySelector(".wall-empty")?.remove();
  }
  render();
}

async function toggleIncident() {
  const button = $("incident-button");
  button.disabled = true;
  try {
    const running = shownIncident();
    if (running) {
      await api("POST", `/api/incidents/${encodeURIComponent(running.id)}/stop`);
    } else {
      const when = new Date().toLocaleString(getLang() === "en" ? "en-GB" : "de-DE");
      await api("POST", "/api/incidents", {
        title: text("incident", { t: when }),
        streams: Object.keys(wall.tiles),
      });
    }
  } catch (err) {
    wall.lastError = text("failed", { r: err.message });
  } finally {
    button.disabled = false;
  }
  await poll();
}

async function main() {
  initLang($("lang-toggle"));
  onLangChange(render);
  window.addEventListener("popstate", shrink);
  $("incident-button").addEventListener("click", toggleIncident);
  const me = await initUser();
  wall.operator = me != null && ["operator", "admin"].includes(me.role);
  await poll();
  setInterval(poll, POLL_MS);
}

main();
