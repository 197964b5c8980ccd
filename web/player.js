// Player for one stream. Made for tablets at an incident on LTE: it never gives up, and it
// does not give a session up too early either. A link that drops for seconds keeps its
// session (the relay sends a keyframe when the link returns, which is faster than a new
// session); the badge says "interrupted" meanwhile. Only a failed ICE, a session the relay no
// longer holds, a relay that refuses us, or 15 s without a picture tear the session down and
// retry with backoff. The big badge says at a glance whether the picture is live, weak
// (low frame rate or high delay: still live, but say so) or interrupted.
// A network that lets no WebRTC through (UDP blocked, no TURN) gets the same rung over a
// WebSocket into Media Source Extensions (web/mse.js): when the peer has not connected
// within WEBRTC_CONNECT_MS, or ICE failed before it ever connected. WebRTC is tried again
// every WEBRTC_RETRY_MS beside the running fallback, and taken over once it connects.

import { showAnnotations } from "/static/annotations.js";
import { csrfHeaders, initUser, loggedOut } from "/static/auth.js";
import { browserSample, estimateMs, GlassDelay } from "/static/delay.js";
import { allowMaskDrawing } from "/static/mask_draw.js";
import { getLang, initLang, num, onLangChange, t } from "/static/i18n.js";
import { showTelemetry } from "/static/telemetry.js";
import { MseSession, mseSupported } from "/static/mse.js";
import { clientId, WhepError, WhepSession } from "/static/whep.js";

const STATS_MS = 500; // stats poll; also drives the freeze watchdog
const INTERRUPTED_MS = 1000; // no newly decoded frame for this long -> "interrupted"
const OUTAGE_MS = 15000; // ...for this long -> give the session up and reconnect
const FIRST_FRAME_MS = 8000; // grace for ICE + DTLS + first keyframe on a fresh session
const PROBE_MS = 2000; // while interrupted: ask the relay this often if it still holds us
const WEAK_WINDOW_MS = 2000; // frame rate judged over this window
const WEAK_FPS = 10; // below this the picture is "weak" (the sim and drones send 25-30)
const WEAK_DELAY_MS = 1000; // as is a picture this late
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 5000;
const INFO_TIMEOUT_MS = 1500;
const WEBRTC_CONNECT_MS = 4000; // a peer not connected by then: the WebSocket/MSE fallback
const WEBRTC_RETRY_MS = 30000; // while on the fallback: try WebRTC again this often

const $ = (id) => document.getElementById(id);
const video = $("video");
const stage = $("stage");
const badge = $("status-badge");
const detail = $("status-detail");
const select = $("rendition-select");
const fsButton = $("fullscreen-button");
const out = { delay: $("delay-value"), fps: $("fps-value"), res: $("resolution-value") };
const transportOut = $("transport-value");
const delayLabel = $("delay-label");
const glassDelay = new GlassDelay(video); // measures when the picture carries frame marks

// /play/{stream}: the stream name is the last path segment.
const stream = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop() || "");

// Test hook and debugging aid; always mirrors the live state.
const pageQuery = new URLSearchParams(location.search);
const player = {
  state: "connecting", // "live" | "interrupted" | "connecting" | "lost", as <body data-state>
  quality: null, // while live: "good" | "weak" (low frame rate, late), as <body data-quality>
  pc: null, // current RTCPeerConnection or null between sessions (and on the fallback)
  transport: null, // "webrtc" | "mse" (WebSocket into Media Source Extensions), as <body data-transport>
  fallbacks: 0, // times WebRTC did not connect and the player went to the fallback
  reconnects: 0, // retries scheduled after a loss (rendition switches don't count)
  rendition: pageQuery.get("rendition"),
  currentRung: null, // the rung the relay sends right now (what "auto" resolved to)
  relayDelayMs: null, // the relay's own share of the delay (drone packet in -> sent to us)
  dropped: null, // packets the relay dropped for this viewer (it was too slow)
  stream,
  lastError: null, // code ("stalled", "failed", …) or server reason of the last loss
  stalledMs: 0, // how long no new frame was decoded (drives "interrupted")
  // delayKind: "measured" (frame marks, capture -> presented) | "estimate" | null
  stats: { delayMs: null, delayKind: null, fps: null, width: null, height: null, framesDecoded: 0 },
};
window.__player = player;

let session = null;
let backoff = BACKOFF_MIN_MS;
let retryTimer = null;
let statsTimer = null;
let lastErr = null; // the object/code behind player.lastError, for the detail line
let fallback = false; // on the WebSocket/MSE fallback until a WebRTC trial connects
let connectTimer = null; // WEBRTC_CONNECT_MS after the answer: connected yet?
let trialTimer = null; // the next WebRTC trial while on the fallback

function setState(state, quality = null) {
  if (player.state !== state || player.quality !== quality) {
    player.state = state;
    player.quality = quality;
    document.body.dataset.state = state;
    document.body.dataset.quality = quality ?? "";
    // A weak picture is still live, but the badge says it is weak, not "LIVE".
    const key = quality === "weak" ? "state.weak" : `state.${state}`;
    badge.dataset.i18n = key; // data-i18n keeps it right across language switches
    badge.textContent = t(key);
  }
  renderDetail();
}

function describe(err) {
  if (typeof err === "string") return t(`reason.${err}`); // our own codes, see lose()
  if (!(err instanceof WhepError)) return String(err?.message ?? err ?? "");
  return err.status ? `HTTP ${err.status}: ${err.reason || err.error}` : t("reason.unreachable");
}

function renderDetail() {
  if (player.state === "lost") {
    detail.textContent = `${t("player.attempt", { n: player.reconnects })} – ${describe(lastErr)}`;
  } else if (player.state === "interrupted") {
    detail.textContent = t("player.noPictureFor", { s: Math.round(player.stalledMs / 1000) });
  } else {
    detail.textContent = "";
  }
}

function renderStats() {
  const s = player.stats;
  out.delay.textContent = s.delayMs == null ? "–" : `${num(s.delayMs)} ms`;
  out.delay.dataset.ms = s.delayMs == null ? "" : String(Math.round(s.delayMs));
  out.delay.dataset.kind = s.delayKind ?? "";
  // The label says what the number covers (its tooltip: which stages).
  const key = s.delayKind ? `player.delay.${s.delayKind}` : "player.delay";
  delayLabel.dataset.i18n = key;
  delayLabel.textContent = t(key);
  delayLabel.title = s.delayKind ? t(`${key}.covers`) : "";
  out.fps.textContent = s.fps == null ? "–" : num(s.fps, 0);
  out.res.textContent = s.width && s.height ? `${s.width}×${s.height}` : "–";
}

/** Which way the picture comes; the tooltip says why when it is the fallback. */
function setTransport(transport) {
  player.transport = transport;
  document.body.dataset.transport = transport ?? "";
  renderTransport();
}

function renderTransport() {
  const key = player.transport ? `player.transport.${player.transport}` : null;
  transportOut.textContent = key ? t(key) : "–";
  transportOut.title = player.transport === "mse" ? t("player.transport.mse.covers") : "";
}

function fillRenditions(names) {
  // "auto": the relay picks the rung from this viewer's link and moves it as the link
  // changes; the option shows the rung the relay has chosen right now.
  player.rendition ??= "auto";
  const all = [...new Set(["auto", ...names, player.rendition].filter(Boolean))];
  if ([...select.options].map((o) => o.value).join("\n") !== all.join("\n")) {
    select.replaceChildren(...all.map((n) => new Option(n, n)));
  }
  const auto = select.options[0];
  auto.textContent = player.currentRung ? `Auto (${player.currentRung})` : "Auto";
  select.value = player.rendition ?? "auto";
  select.disabled = all.length < 3;
}

/** The relay's view of this very session (GET on its WHEP resource): the rung "auto" is on
 * now, the relay's own share of the delay, the packets dropped for this viewer. */
async function loadOwnState() {
  const s = session;
  if (s instanceof MseSession) {
    player.currentRung = s.rendition; // the fallback stays on its start rung
    player.dropped = s.dropped;
    return fillRenditions([]);
  }
  if (!s?.resourceUrl) return;
  try {
    const signal = AbortSignal.timeout(INFO_TIMEOUT_MS);
    const resp = await fetch(s.resourceUrl, { cache: "no-store", signal });
    if (resp.status === 401) return loggedOut();
    if (resp.status === 404 && session === s) return lose("closed"); // the relay ended it
    if (!resp.ok || session !== s) return; // best effort: the stats watchdog drives recovery
    const own = await resp.json();
    player.currentRung = own.rendition ?? null;
    player.relayDelayMs = own.relay_delay_ms ?? null;
    player.dropped = own.dropped ?? null;
    fillRenditions(own.renditions ?? []);
  } catch {
    /* see above */
  }
}

function endpoint(base = `/whep/${encodeURIComponent(stream)}`) {
  const query = new URLSearchParams();
  if (player.rendition && player.rendition !== "auto") query.set("rendition", player.rendition);
  // The relay may remember what this tablet's link carried last time (where to start).
  const client = clientId();
  if (client) query.set("client", client);
  const search = query.toString();
  return search ? `${base}?${search}` : base;
}

/** The fallback's WebSocket: the same rung choice (and client id) as the WHEP offer. */
function mseEndpoint() {
  return endpoint(`/api/streams/${encodeURIComponent(stream)}/mse`);
}

function teardown() {
  clearTimeout(retryTimer);
  clearInterval(statsTimer);
  clearTimeout(connectTimer);
  retryTimer = statsTimer = connectTimer = null;
  if (session) session.close(); // DELETEs the WHEP resource with keepalive
  session = null;
  player.pc = null;
  // Drop the last frame: a frozen picture must never pass for the live situation.
  video.srcObject = null;
  glassDelay.reset();
  player.relayDelayMs = null;
  player.stats = { delayMs: null, delayKind: null, fps: null, width: null, height: null, framesDecoded: 0 };
  renderStats();
}

/** A WHEP session whose picture goes to the video once it is the player's session. */
function newWhep() {
  // ?ice=relay: only TURN's relay candidates, to check a TURN set-up from a tablet (as a
  // network that blocks direct UDP would force).
  const s = new WhepSession(endpoint(), { relayOnly: pageQuery.get("ice") === "relay" });
  s.media = null;
  s.everConnected = false;
  s.pc.addEventListener("track", (ev) => {
    s.media = ev.streams[0] ?? new MediaStream([ev.track]);
    if (session === s) showWhep(s);
  });
  s.pc.addEventListener("connectionstatechange", () => onConnectionState(s));
  return s;
}

function showWhep(s) {
  video.srcObject = s.media;
  video.play().catch(() => {}); // muted autoplay is allowed; play() is just a nudge
}

async function connect() {
  teardown();
  if (fallback) return connectMse();
  const s = newWhep();
  session = s;
  player.pc = s.pc;
  setTransport("webrtc");
  try {
    await s.start();
  } catch (err) {
    if (session === s) lose(err);
    return;
  }
  if (session !== s) return;
  // The relay answered, so HTTP gets through; a peer whose ICE checks got no answer at all
  // by now will not connect (UDP blocked, no TURN): don't wait for the no-picture timeout,
  // fall back. A slow link (a cell's edge: ICE and DTLS took up to 4.4 s) has answers.
  connectTimer = setTimeout(async () => {
    if (session === s && (await webrtcBlocked(s)) && session === s) fallBack("timeout");
  }, WEBRTC_CONNECT_MS);
  watch(s);
  loadOwnState();
}

/** Not connected, and not one ICE check answered: nothing gets through to the relay. */
async function webrtcBlocked(s) {
  if (s.everConnected || ["connected", "completed"].includes(s.pc.iceConnectionState)) {
    return false; // ICE works (DTLS may still be under way)
  }
  const report = await s.pc.getStats().catch(() => null);
  let answered = false;
  report?.forEach((r) => {
    if (r.type === "candidate-pair" && r.responsesReceived > 0) answered = true;
  });
  return !answered;
}

/** WebRTC did not connect: the same rung over the WebSocket, and WebRTC again later. */
function fallBack(why) {
  if (!mseSupported()) return lose(why === "timeout" ? "no_video" : "failed");
  console.warn(`WebRTC did not connect (${why}): WebSocket/MSE fallback`);
  fallback = true;
  player.fallbacks += 1;
  teardown();
  connectMse();
}

async function connectMse() {
  teardown();
  if (!mseSupported()) return lose("no_mse");
  const s = new MseSession(mseEndpoint(), video);
  session = s;
  player.pc = null;
  setTransport("mse");
  // Reconnects by itself: a closed socket is a loss like any other (backoff, retry).
  s.onclose = (why) => session === s && lose(why === "closed" ? "closed" : why);
  try {
    await s.start();
  } catch (err) {
    if (session === s) lose(err);
    return;
  }
  if (session !== s) return;
  watch(s);
  scheduleTrial();
}

function scheduleTrial() {
  // ?webrtc_retry_s=N: sooner (tests, and checking a network from a tablet); at least 1 s.
  const asked = Number(pageQuery.get("webrtc_retry_s"));
  const ms = asked >= 1 ? asked * 1000 : WEBRTC_RETRY_MS;
  if (!trialTimer) trialTimer = setTimeout(tryWebrtc, ms);
}

/** While on the fallback: a WebRTC session beside it; once its peer connects it takes over
 * (the fallback's picture runs until then), otherwise it is closed and tried again later. */
async function tryWebrtc() {
  trialTimer = null;
  if (!fallback) return;
  const trial = newWhep();
  let connected = false;
  try {
    await trial.start();
    connected = await connectedWithin(trial, WEBRTC_CONNECT_MS);
  } catch {
    /* the relay refused or is away: the fallback's own watchdog deals with that */
  }
  if (!connected || !fallback || !(session instanceof MseSession)) {
    trial.close();
    if (fallback) scheduleTrial();
    return;
  }
  console.info("WebRTC connects again: leaving the WebSocket/MSE fallback");
  fallback = false;
  teardown(); // the fallback's socket and buffer
  session = trial;
  player.pc = trial.pc;
  setTransport("webrtc");
  if (trial.media) showWhep(trial);
  watch(trial);
  loadOwnState();
}

function connectedWithin(s, ms) {
  if (s.everConnected) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(s.everConnected), ms);
    s.pc.addEventListener("connectionstatechange", () => {
      if (s.pc.connectionState === "connected") {
        clearTimeout(timer);
        resolve(true);
      }
    });
  });
}

/** A refused WebSocket does not say why: a login that ended shows on /api/me (401). */
async function checkLogin() {
  const resp = await fetch("/api/me", { cache: "no-store" }).catch(() => null);
  if (resp?.status === 401) loggedOut();
}

/** Tear down and schedule the next attempt; backoff doubles up to 5 s, forever. */
function lose(err) {
  if (!session) return; // already lost (several triggers can fire for one failure)
  // The login ended (expired, logged out elsewhere, share link revoked): retrying cannot
  // help; the reload shows the login form.
  if (err instanceof WhepError && err.status === 401) return loggedOut();
  if (session instanceof MseSession) checkLogin(); // a refused socket does not say why
  console.warn("stream lost:", err);
  teardown();
  if (typeof err === "string") player.lastError = err;
  else if (!(err instanceof WhepError)) player.lastError = String(err?.message ?? err);
  else player.lastError = err.status ? err.reason || err.error : "unreachable";
  lastErr = err;
  player.reconnects += 1;
  setState("lost");
  retryTimer = setTimeout(connect, backoff);
  backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
}

// "disconnected" is what a link outage looks like: ICE heals it when the link returns, so
// only "failed" (ICE gave up) ends the session; the frame watchdog covers the rest. Failed
// before it ever connected: this network lets no WebRTC through, fall back.
function onConnectionState(s) {
  if (s.pc.connectionState === "connected") s.everConnected = true;
  if (session !== s || s.pc.connectionState !== "failed") return;
  if (s.everConnected) lose("failed");
  else fallBack("failed");
}

/** While interrupted: is the session still there? A 404 (the relay ended it, or restarted)
 * or a refusal at once (the relay's host answered, nothing listens) means no picture will
 * come back on it. No answer at all is the link itself being down: keep waiting. */
async function probeSession(s) {
  if (s instanceof MseSession) return; // its socket closing is the relay's word
  if (!s.resourceUrl) return;
  try {
    const signal = AbortSignal.timeout(INFO_TIMEOUT_MS);
    const resp = await fetch(s.resourceUrl, { cache: "no-store", signal });
    if (session !== s) return;
    if (resp.status === 401) return loggedOut();
    if (resp.status === 404) lose("closed");
  } catch (err) {
    const noAnswer = err?.name === "TimeoutError" || err?.name === "AbortError";
    if (session === s && !noAnswer) lose("unreachable");
  }
}

/** Weak: fewer than WEAK_FPS frames a second over the last window, or a late picture. */
function isWeak(samples, now) {
  while (samples.length > 1 && now - samples[1][0] >= WEAK_WINDOW_MS) samples.shift();
  const [at, frames] = samples[0];
  const [, latest] = samples[samples.length - 1];
  if (now - at < WEAK_WINDOW_MS * 0.75) return false; // not enough history yet
  const fps = ((latest - frames) * 1000) / (now - at);
  return fps < WEAK_FPS || (player.stats.delayMs ?? 0) > WEAK_DELAY_MS;
}

/** Poll getStats: feeds the figures, judges live / weak / interrupted from the decoded
 * frames, and gives the session up after OUTAGE_MS without a picture. */
function watch(s) {
  let lastProgress = performance.now();
  let seenFrame = false;
  let prev = null;
  let busy = false;
  let lastProbe = 0;
  const samples = []; // [time, framesDecoded] over the last WEAK_WINDOW_MS
  statsTimer = setInterval(async () => {
    if (busy || session !== s) return;
    busy = true;
    const mse = s instanceof MseSession;
    const report = mse ? null : await s.pc.getStats().catch(() => null); // null: pc closed
    busy = false;
    if (session !== s) return;
    let inbound = mse ? s.stats() : null;
    player.mse = mse ? s.debug() : null;
    let rttS = null;
    report?.forEach((r) => {
      if (r.type === "inbound-rtp" && (r.kind ?? r.mediaType) === "video") inbound = r;
      if (r.type === "candidate-pair" && r.nominated && r.currentRoundTripTime != null) {
        rttS = r.currentRoundTripTime;
      }
    });
    const now = performance.now();
    const frames = inbound?.framesDecoded ?? 0;
    // Background tabs may legitimately stop decoding; don't count that as a freeze.
    if (document.hidden) lastProgress = now;
    if (frames > player.stats.framesDecoded) {
      lastProgress = now;
      seenFrame = true;
    }
    player.stalledMs = now - lastProgress;
    if (player.stalledMs > (seenFrame ? OUTAGE_MS : FIRST_FRAME_MS)) {
      lose(seenFrame ? "stalled" : "no_video");
      return;
    }
    if (inbound) prev = updateStats(inbound, prev, now, mse ? null : rttS);
    if (!seenFrame) return;
    samples.push([now, frames]);
    if (player.stalledMs > INTERRUPTED_MS) {
      setState("interrupted");
      if (now - lastProbe >= PROBE_MS) {
        lastProbe = now;
        probeSession(s);
      }
      return;
    }
    backoff = BACKOFF_MIN_MS; // healthy again: next loss retries quickly
    setState("live", isWeak(samples, now) ? "weak" : "good");
  }, STATS_MS);
}

/** Update the figures from one inbound-rtp report; returns the sample for the next delta. */
function updateStats(r, prev, now, rttS) {
  const st = player.stats;
  const cur = { ...browserSample(r), at: now };
  // Measured at the glass when the picture carries frame marks; else the estimate from
  // every stage the relay and this browser see (web/delay.js), over the last poll interval.
  const measured = glassDelay.measuredMs();
  st.delayMs = measured ?? estimateMs(cur, prev, player.relayDelayMs, rttS);
  st.delayKind = st.delayMs == null ? null : measured != null ? "measured" : "estimate";
  if (r.framesPerSecond != null) st.fps = r.framesPerSecond;
  else if (prev && now > prev.at) st.fps = ((cur.frames - prev.frames) * 1000) / (now - prev.at);
  st.width = r.frameWidth || video.videoWidth || null;
  st.height = r.frameHeight || video.videoHeight || null;
  st.framesDecoded = cur.frames;
  renderStats();
  return cur;
}

/** Fresh session right now (first load, rendition switch): amber, no backoff. */
function restart() {
  teardown();
  backoff = BACKOFF_MIN_MS;
  setState("connecting");
  connect();
}

select.addEventListener("change", () => {
  if (!select.value || select.value === player.rendition) return;
  player.rendition = select.value;
  // Keep the choice in the URL so a reload (or a shared link) opens the same quality.
  const url = new URL(location.href);
  url.searchParams.set("rendition", player.rendition);
  history.replaceState(null, "", url);
  restart();
});

// The whole stage (video + badge + figures) goes fullscreen, so the status stays visible.
fsButton.addEventListener("click", () => {
  if (document.fullscreenElement) document.exitFullscreen();
  else if (stage.requestFullscreen) stage.requestFullscreen().catch((e) => console.warn(e));
  else video.webkitEnterFullscreen?.(); // iPhone Safari: only a <video> can go fullscreen
});
document.addEventListener("fullscreenchange", () => {
  const key = document.fullscreenElement ? "player.exitFullscreen" : "player.fullscreen";
  fsButton.dataset.i18n = key;
  fsButton.textContent = t(key);
});

// Keep the tablet screen on while watching (only available in secure contexts).
function keepAwake() {
  if (navigator.wakeLock && !document.hidden) navigator.wakeLock.request("screen").catch(() => {});
}
document.addEventListener("visibilitychange", keepAwake); // the lock drops when hidden

// The network came back: don't sit out the rest of a 5 s backoff.
window.addEventListener("online", () => retryTimer && connect());

// Leaving the page: free the relay's session now instead of waiting for its timeout.
window.addEventListener("pagehide", () => teardown());
window.addEventListener("pageshow", (ev) => ev.persisted && restart()); // back/forward cache

// Operators share this stream with a link that expires (e.g. for the city-hall screen).
async function createShareLink() {
  const out = $("share-url");
  const resp = await fetch("/api/share", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...csrfHeaders() },
    body: JSON.stringify({ stream, expires_in_s: Number($("share-expiry").value) }),
    cache: "no-store",
  }).catch(() => null);
  out.hidden = false;
  if (resp?.status === 201) {
    out.value = (await resp.json()).url;
    out.select();
  } else {
    out.value = t("share.failed", { status: resp ? resp.status : 0 });
  }
  listShareLinks();
}
$("share-button").addEventListener("click", createShareLink);

/** This stream's links that still work, each with its end and a revoke button. */
async function listShareLinks() {
  const resp = await fetch("/api/share", { cache: "no-store" }).catch(() => null);
  if (!resp?.ok) return;
  const links = (await resp.json()).links.filter((l) => l.stream === stream && !l.revoked);
  $("share-list").replaceChildren(
    ...links.map((l) => {
      const li = document.createElement("li");
      li.dataset.share = l.id;
      const until = new Date(l.expires * 1000).toLocaleString(getLang() === "de" ? "de-DE" : "en-GB");
      const text = document.createElement("span");
      text.textContent = t("share.until", { until, by: l.created_by });
      const revoke = document.createElement("button");
      revoke.className = "btn";
      revoke.type = "button";
      revoke.textContent = t("share.revoke");
      revoke.addEventListener("click", async () => {
        await fetch(`/api/share/${encodeURIComponent(l.id)}`, {
          method: "DELETE",
          headers: csrfHeaders(),
        }).catch(() => null);
        listShareLinks();
      });
      li.append(text, revoke);
      return li;
    }),
  );
}

initLang(document.getElementById("lang-toggle"));
showTelemetry(stream, () => player.stats.delayMs);
const annotations = showAnnotations(stream, video);
initUser().then((me) => {
  annotations.allowMarking(me);
  allowMaskDrawing(stream, video, me); // operators of a stream with a privacy rung
  const mayShare = !!me && ["operator", "admin"].includes(me.role) && me.kind !== "share";
  $("share-box").hidden = !mayShare;
  if (mayShare) listShareLinks();
});
onLangChange(() => {
  document.title = `${stream} – ${t("list.title")}`;
  renderDetail();
  renderStats();
  renderTransport();
});
document.title = `${stream} – ${t("list.title")}`;
$("stream-name").textContent = stream;
if (player.rendition) fillRenditions([]);
// The relay may move an automatic viewer along the ladder: show where it is now.
setInterval(() => session && !document.hidden && loadOwnState(), 3000);
keepAwake();
glassDelay.start();
restart();
