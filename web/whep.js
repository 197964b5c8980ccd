// Minimal WHEP (WebRTC-HTTP Egress Protocol) client for one receive-only video session.
// The relay does not do trickle ICE, so we send the offer only once local candidates are
// gathered and expect every server candidate inside the answer. Requests from a logged-in
// browser echo the session's CSRF token (the relay refuses cookie-borne state changes
// without it).

import { csrfHeaders } from "/static/auth.js";

const CLIENT_KEY = "drone-relay.client";
const GATHER_TIMEOUT_MS = 1000; // LAN host candidates arrive within ms; never wait longer
const TURN_GATHER_TIMEOUT_MS = 3000; // a relay candidate needs a TURN allocation's round trips
const OPTIONS_TIMEOUT_MS = 2000; // the ICE servers' question must not hold the join up long
const POST_TIMEOUT_MS = 8000; // a hanging relay must not stall the reconnect loop forever

/** This browser's id, kept across sessions and reloads (sent as ?client=), so the relay can
 * start a returning tablet where its link carried it last time; null if storage is off. */
export function clientId() {
  try {
    let id = localStorage.getItem(CLIENT_KEY);
    if (!id) {
      // getRandomValues works on plain http (randomUUID needs a secure context).
      const bytes = crypto.getRandomValues(new Uint8Array(12));
      id = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(CLIENT_KEY, id);
    }
    return id;
  } catch {
    return null; // private modes may refuse storage: the relay then treats us as new
  }
}

/** A failed WHEP request; status 0 means the network/relay was unreachable. */
export class WhepError extends Error {
  constructor(status, error, reason) {
    super(reason || error || `HTTP ${status}`);
    this.name = "WhepError";
    this.status = status;
    this.error = error || "";
    this.reason = reason || "";
  }
}

/** H.264 first (hardware decode on tablets, no transcode on the relay), everything else after. */
function preferH264(transceiver) {
  if (typeof RTCRtpReceiver.getCapabilities !== "function") return;
  if (typeof transceiver.setCodecPreferences !== "function") return;
  const codecs = RTCRtpReceiver.getCapabilities("video")?.codecs ?? [];
  const isH264 = (c) => c.mimeType.toLowerCase() === "video/h264";
  // packetization-mode=1 is what practically every sender uses; put it at the very top.
  const rank = (c) => (/packetization-mode=1/.test(c.sdpFmtpLine || "") ? 0 : 1);
  const h264 = codecs.filter(isH264).sort((a, b) => rank(a) - rank(b));
  if (!h264.length) return;
  try {
    transceiver.setCodecPreferences([...h264, ...codecs.filter((c) => !isH264(c))]);
  } catch (err) {
    console.warn("setCodecPreferences failed, using browser default order", err);
  }
}

function waitForIceGathering(pc, timeoutMs) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onState);
      resolve();
    };
    const onState = () => pc.iceGatheringState === "complete" && done();
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onState);
  });
}

/** The ICE servers the relay offers this viewer (STUN, TURN with a credential minted for
 * it), from the Link headers (rel="ice-server") of an OPTIONS on the WHEP endpoint, as WHEP
 * prescribes; [] when it names none (the offline LAN) or does not answer in time. */
export async function iceServersFrom(endpoint) {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), OPTIONS_TIMEOUT_MS);
  try {
    const resp = await fetch(endpoint, { method: "OPTIONS", signal: abort.signal, cache: "no-store" });
    return parseIceLinks(resp.headers.get("Link") || "");
  } catch {
    return [];
  } finally {
    clearTimeout(timer);
  }
}

/** `<turn:h:3478?transport=udp>; rel="ice-server"; username="u"; credential="c", <...>` */
export function parseIceLinks(header) {
  const servers = [];
  for (const link of header.split(/,\s*(?=<)/)) {
    const url = /^\s*<([^>]*)>/.exec(link);
    if (!url) continue;
    const params = {};
    for (const m of link.matchAll(/;\s*([\w-]+)="((?:[^"\\]|\\.)*)"/g)) {
      params[m[1].toLowerCase()] = m[2].replace(/\\(.)/g, "$1");
    }
    if (params.rel !== "ice-server") continue;
    const server = { urls: url[1] };
    if (params.username) {
      server.username = params.username;
      server.credential = params.credential || "";
    }
    servers.push(server);
  }
  return servers;
}

async function readError(resp) {
  try {
    const body = await resp.json();
    return new WhepError(resp.status, body.error, body.reason);
  } catch {
    return new WhepError(resp.status, "", resp.statusText);
  }
}

export class WhepSession {
  /** @param {string} endpoint e.g. "/whep/demo?rendition=720p"
   * @param {{relayOnly?: boolean}} options relayOnly: TURN's relay candidates only */
  constructor(endpoint, { relayOnly = false } = {}) {
    this.endpoint = new URL(endpoint, location.href).href;
    // Offline LAN: host candidates only, until the relay names STUN/TURN servers (start()).
    this.pc = new RTCPeerConnection({
      iceServers: [],
      iceTransportPolicy: relayOnly ? "relay" : "all",
    });
    this.resourceUrl = null; // absolute URL of the session, from the Location header
    this.closed = false;
  }

  /** Negotiate; resolves once the answer is applied. Throws WhepError on any failure. */
  async start() {
    const pc = this.pc;
    const iceServers = await iceServersFrom(this.endpoint);
    if (iceServers.length) pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
    this.iceServers = iceServers.map((s) => s.urls);
    preferH264(pc.addTransceiver("video", { direction: "recvonly" }));
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc, iceServers.length ? TURN_GATHER_TIMEOUT_MS : GATHER_TIMEOUT_MS);
    if (this.closed) throw new WhepError(0, "closed", "closed before offer was sent");

    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), POST_TIMEOUT_MS);
    let resp;
    try {
      resp = await fetch(this.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/sdp", ...csrfHeaders() },
        body: pc.localDescription.sdp,
        signal: abort.signal,
        cache: "no-store",
      });
    } catch (err) {
      throw new WhepError(0, "network", err.name === "AbortError" ? "timeout" : err.message);
    } finally {
      clearTimeout(timer);
    }
    if (!resp.ok) throw await readError(resp);

    const loc = resp.headers.get("Location");
    if (loc) this.resourceUrl = new URL(loc, resp.url || this.endpoint).href;
    const answer = await resp.text();
    // Closed while the POST was in flight: the server now holds a session nobody will use.
    if (this.closed) {
      this.#deleteResource();
      throw new WhepError(0, "closed", "closed during negotiation");
    }
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: answer });
    } catch (err) {
      throw new WhepError(resp.status, "bad_answer", err.message);
    }
  }

  /** Tear down locally and DELETE the server session (best effort; survives page unload). */
  close() {
    if (this.closed) return;
    this.closed = true;
    this.pc.close();
    this.#deleteResource();
  }

  #deleteResource() {
    if (!this.resourceUrl) return;
    const url = this.resourceUrl;
    this.resourceUrl = null;
    // keepalive lets the request outlive the page; the relay times out orphans anyway.
    fetch(url, { method: "DELETE", keepalive: true, headers: csrfHeaders() }).catch(() => {});
  }
}
