// The kiosk screen (relay/api/routes_kiosk.py): the public rendition of the link's streams,
// one at a time (cycling), a large state, the measured delay, a clock, the brigade's name.
// It recovers by itself: the relay's status is polled, a lost picture is retried forever
// (web/tile.js), and a 401 (the browser session ran out) asks the kiosk's own address for a
// new session; only a link that no longer holds (revoked, expired) makes the screen go dark.
// The shown stream's marks are drawn over the picture as in the player: the relay sends a
// kiosk (a share link) only the marks an operator made public (docs/annotations.md).

import { followMarksOf } from "/static/annotations_feed.js";
import { markLayer } from "/static/annotations_overlay.js";
import { GlassDelay } from "/static/delay.js";
import { getLang, num } from "/static/i18n.js";
import { Tile } from "/static/tile.js";

const POLL_MS = 2000;
const TEXT = {
  de: {
    live: "LIVE",
    lost: "Signal verloren",
    noconn: "Keine Verbindung",
    connecting: "Verbinde…",
    gone: "Dieser Link gilt nicht mehr",
    delay: "Verzögerung {v} s",
  },
  en: {
    live: "LIVE",
    lost: "Signal lost",
    noconn: "No connection",
    connecting: "Connecting…",
    gone: "This link is no longer valid",
    delay: "Delay {v} s",
  },
};
const $ = (id) => document.getElementById(id);
const video = $("video");
const glass = new GlassDelay(video);
const kiosk = {
  state: "connecting", // "live" | "lost" | "noconn" | "connecting" | "gone", as <body data-state>
  reachable: true, // the relay answered the last status poll
  streams: [], // [{name, rendition}] from /api/kiosk
  index: 0,
  cycles: 0,
  tile: null,
  glass, // the delay's readings
  // The marks shown now (test hook: when each was first drawn), and every stream's.
  marks: { marks: [], drawnAt: {} },
  marksOf: {},
  marksFeed: null,
};
const overlay = markLayer(video, kiosk.marks);
window.__kiosk = kiosk; // test hook

function text(key, vars = {}) {
  const s = (TEXT[getLang()] ?? TEXT.de)[key];
  return s.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? "");
}

function render() {
  let state = "connecting";
  if (kiosk.state === "gone") state = "gone";
  else if (!kiosk.reachable) state = "noconn";
  else if (kiosk.tile?.state === "live") state = "live";
  else if (kiosk.tile && kiosk.tile.state !== "connecting") state = "lost";
  kiosk.state = state;
  document.body.dataset.state = state;
  $("state").textContent = text(state);
  const current = kiosk.streams[kiosk.index];
  $("stream").textContent = current ? current.name : "";
  const ms = state === "live" ? glass.measuredMs() : null;
  $("delay").textContent = ms == null ? "" : text("delay", { v: num(ms / 1000, 1) });
  overlay.layer.style.visibility = state === "gone" || state === "noconn" ? "hidden" : "";
}

/** The marks of the stream shown now, drawn again. */
function showMarks() {
  kiosk.marks.marks = kiosk.marksOf[kiosk.streams[kiosk.index]?.name] ?? [];
  overlay.render();
}

/** Every stream's marks on one event stream; opened again after the relay refused it (a
 * session that ran out: EventSource retries a lost connection by itself, not a 401). */
function followMarks() {
  const open = kiosk.marksFeed && kiosk.marksFeed.readyState !== EventSource.CLOSED;
  if (open || kiosk.state === "gone" || !kiosk.streams.length) return;
  kiosk.marksFeed = followMarksOf(
    kiosk.streams.map((s) => s.name),
    (stream, marks) => {
      kiosk.marksOf[stream] = marks;
      showMarks();
    },
  );
}

function tick() {
  const now = new Date();
  $("clock").textContent = now.toLocaleTimeString(getLang() === "en" ? "en-GB" : "de-DE");
  render();
}

/** A 401 somewhere: does the link still hold? Its own address mints a new session if so
 * (the fetch stores the cookie); if not, the screen goes dark and asks again later. */
async function relogin() {
  try {
    const resp = await fetch(location.pathname, { cache: "no-store" });
    if (resp.ok) return true;
    if (resp.status === 401 || resp.status === 404) goDark();
  } catch {
    kiosk.reachable = false;
  }
  return false;
}

function goDark() {
  kiosk.state = "gone";
  kiosk.tile?.stop();
  kiosk.marksFeed?.close();
  render();
}

async function load() {
  const resp = await fetch("/api/kiosk", { cache: "no-store" });
  if (resp.status === 401 && (await relogin())) return load();
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  return resp.json();
}

async function poll() {
  try {
    const resp = await fetch("/api/streams", { cache: "no-store" });
    kiosk.reachable = true;
    if (resp.status === 401) {
      if (kiosk.state !== "gone" && (await relogin()) && kiosk.tile?.state !== "live") {
        kiosk.tile?.start();
      }
    } else if (kiosk.state === "gone" && resp.ok) {
      location.reload(); // only after a re-issued link landed here: start afresh
    }
    followMarks();
  } catch {
    kiosk.reachable = false;
  }
  render();
}

function next() {
  if (kiosk.streams.length < 2 || kiosk.state === "gone") return;
  kiosk.index = (kiosk.index + 1) % kiosk.streams.length;
  kiosk.cycles += 1;
  const s = kiosk.streams[kiosk.index];
  glass.reset();
  kiosk.tile.show(s.name, s.rendition);
  showMarks();
  render();
}

async function main() {
  setInterval(tick, 1000);
  tick();
  let config = null;
  while (config == null && kiosk.state !== "gone") {
    try {
      config = await load();
    } catch {
      kiosk.reachable = false; // the relay restarts, or the network is down: try again
      render();
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
  if (!config) return;
  kiosk.reachable = true;
  kiosk.streams = config.streams;
  $("brigade").textContent = config.title || config.brigade || "";
  const first = kiosk.streams[0];
  kiosk.tile = new Tile(video, first.name, first.rendition, {
    onState: render,
    onUnauthorized: async () => {
      if (await relogin()) kiosk.tile.start();
    },
  });
  kiosk.tile.start();
  glass.start();
  followMarks();
  setInterval(poll, POLL_MS);
  setInterval(next, Math.max(5, config.cycle_s) * 1000);
  render();
}

main();
