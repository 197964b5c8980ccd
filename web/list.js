// Stream overview: one card per stream, polled every 2 s. Cards are updated in place (keyed
// by name) rather than rebuilt, so a tap that lands during a refresh still hits its card.

import { initUser, loggedOut } from "/static/auth.js";
import { initLang, num, onLangChange, t } from "/static/i18n.js";

const POLL_MS = 2000;
const FETCH_TIMEOUT_MS = 1500; // shorter than the poll interval so requests never pile up

const listEl = document.getElementById("stream-list");
const noteEl = document.getElementById("list-note");
const bannerEl = document.getElementById("error-banner");
const cards = new Map(); // stream name -> {li, refs}
let lastStreams = null;

const STATE_CLASS = {
  live: "badge-live",
  connecting: "badge-connecting",
  offline: "badge-offline",
};

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function metric(labelKey) {
  const wrap = el("div", "metric");
  const dt = el("dt");
  dt.dataset.i18n = labelKey; // re-translated by applyStatic() on language switch
  dt.textContent = t(labelKey);
  const dd = el("dd", "", "–");
  wrap.append(dt, dd);
  return { wrap, dd };
}

function createCard(name) {
  const li = el("li");
  const a = el("a", "card");
  a.href = `/play/${encodeURIComponent(name)}`;
  a.dataset.stream = name;
  const head = el("div", "card-head");
  const title = el("h2", "card-name", name);
  const badge = el("span", "badge");
  head.append(title, badge);
  const dl = el("dl", "metrics");
  const refs = { badge };
  for (const [key, label] of [
    ["viewers", "list.viewers"],
    ["fps", "list.fpsIn"],
    ["resolution", "list.resolution"],
    ["bitrate", "list.bitrate"],
    ["renditions", "list.renditions"],
  ]) {
    const m = metric(label);
    if (key === "renditions") m.wrap.classList.add("metric-wide");
    dl.append(m.wrap);
    refs[key] = m.dd;
  }
  a.append(head, dl);
  li.append(a);
  return { li, refs };
}

// Lazy rungs: a rung encodes only while somebody watches it, so each says whether it runs
// ("720p ▶ läuft · 360p ◦ ruht"); the renditions list alone for an older relay.
function rungsText(s) {
  const rungs = s.rungs ?? {};
  return (s.renditions ?? [])
    .map((name) => {
      if (!(name in rungs)) return name;
      return rungs[name].running
        ? `${name} ▶ ${t("list.rungRunning")}`
        : `${name} ◦ ${t("list.rungIdle")}`;
    })
    .join(" · ");
}

function fillCard({ refs }, s) {
  const state = s.state in STATE_CLASS ? s.state : "offline";
  refs.badge.className = `badge ${STATE_CLASS[state]}`;
  refs.badge.dataset.state = s.state;
  refs.badge.textContent = t(`state.${state}`);
  refs.viewers.textContent = num(s.viewers ?? 0);
  refs.fps.textContent = s.fps_in ? `${num(s.fps_in, 1)} fps` : "–";
  refs.resolution.textContent = s.width && s.height ? `${s.width}×${s.height}` : "–";
  refs.bitrate.textContent = s.bitrate_in ? `${num(s.bitrate_in / 1e6, 1)} Mbit/s` : "–";
  refs.renditions.textContent = rungsText(s) || "–";
}

function render(streams) {
  const seen = new Set();
  for (const s of streams) {
    seen.add(s.name);
    let card = cards.get(s.name);
    if (!card) {
      card = createCard(s.name);
      cards.set(s.name, card);
    }
    fillCard(card, s);
    listEl.append(card.li); // append moves existing nodes: keeps the server's order
  }
  for (const [name, card] of cards) {
    if (!seen.has(name)) {
      card.li.remove();
      cards.delete(name);
    }
  }
  noteEl.hidden = streams.length > 0;
  noteEl.dataset.i18n = "list.empty";
  noteEl.textContent = t("list.empty");
}

function setReachable(ok) {
  bannerEl.hidden = ok;
  // Stale cards stay visible (dimmed) so the crew still sees what was there.
  listEl.classList.toggle("stale", !ok);
  document.body.dataset.state = ok ? "ok" : "error";
}

async function poll() {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), FETCH_TIMEOUT_MS);
  try {
    const resp = await fetch("/api/streams", { cache: "no-store", signal: abort.signal });
    if (resp.status === 401) return loggedOut();
    if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
    const data = await resp.json();
    lastStreams = Array.isArray(data.streams) ? data.streams : [];
    render(lastStreams);
    setReachable(true);
  } catch (err) {
    console.warn("stream list refresh failed", err);
    setReachable(false);
  } finally {
    clearTimeout(timer);
    // Chain instead of setInterval: a slow relay never gets overlapping requests.
    setTimeout(poll, POLL_MS);
  }
}

initLang(document.getElementById("lang-toggle"));
onLangChange(() => {
  document.title = t("list.title");
  if (lastStreams) render(lastStreams);
});
document.title = t("list.title");
initUser();
poll();
