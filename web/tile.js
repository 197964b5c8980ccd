// One live picture without controls, for the screens (kiosk, wall): a WHEP session on a
// given rung that never gives up. Frames decoded -> "live"; none for STALL_MS -> "stalled"
// (the relay answers, the drone's picture does not come); none for RETRY_MS, an ICE failure
// or a refused offer -> a new session after a backoff. A relay restart is one of those: the
// old session's frames stop, the retries fail (status 0) until the relay answers again.
// Presented frames are counted (requestVideoFrameCallback) for the tests and the badges.

import { WhepError, WhepSession } from "/static/whep.js";

const WATCH_MS = 500;
const STALL_MS = 1500;
const RETRY_MS = 8000; // no frame for this long (first frame included): a new session
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 4000;

export class Tile {
  /** @param {HTMLVideoElement} video
   * @param {{onState?: (tile: Tile) => void, onUnauthorized?: () => void}} hooks */
  constructor(video, stream, rendition, hooks = {}) {
    this.video = video;
    this.stream = stream;
    this.rendition = rendition;
    this.hooks = hooks;
    this.state = "connecting"; // "connecting" | "live" | "stalled" | "lost"
    this.lastError = null; // WhepError.status of the last failure (0: relay unreachable)
    this.presented = 0; // frames the browser presented, over every session
    this.sessions = 0; // sessions started (a reconnect makes one more)
    this.session = null;
    this.timer = null;
    this.backoff = BACKOFF_MIN_MS;
    this.stopped = true;
    const count = () => {
      this.presented += 1;
      video.requestVideoFrameCallback(count);
    };
    if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(count);
  }

  start() {
    this.stopped = false;
    this.#connect();
  }

  stop() {
    this.stopped = true;
    this.#teardown();
    this.#set("connecting");
  }

  /** Another stream (the kiosk's cycle): a new session on it. */
  show(stream, rendition) {
    this.stream = stream;
    this.rendition = rendition;
    this.state = "connecting";
    this.start();
  }

  /** Another rung (the wall's enlarged tile): a new session on it. */
  switchTo(rendition) {
    if (rendition === this.rendition && !this.stopped) return;
    this.rendition = rendition;
    this.start();
  }

  /** The picture's height as decoded (0 before the first frame). */
  height() {
    return this.video.videoHeight || 0;
  }

  #set(state) {
    if (this.state === state) return;
    this.state = state;
    this.hooks.onState?.(this);
  }

  #teardown() {
    clearTimeout(this.timer);
    clearInterval(this.watchTimer);
    this.timer = this.watchTimer = null;
    if (this.session) this.session.close();
    this.session = null;
    this.video.srcObject = null; // a frozen picture must never pass for the live one
  }

  async #connect() {
    this.#teardown();
    if (this.stopped) return;
    const query = this.rendition && this.rendition !== "auto" ? `?rendition=${encodeURIComponent(this.rendition)}` : "";
    const s = new WhepSession(`/whep/${encodeURIComponent(this.stream)}${query}`);
    this.session = s;
    this.sessions += 1;
    s.pc.addEventListener("track", (ev) => {
      if (this.session !== s) return;
      this.video.srcObject = ev.streams[0] ?? new MediaStream([ev.track]);
      this.video.play().catch(() => {});
    });
    s.pc.addEventListener("connectionstatechange", () => {
      if (this.session === s && s.pc.connectionState === "failed") this.#lose(new WhepError(0, "failed"));
    });
    try {
      await s.start();
    } catch (err) {
      if (this.session === s) this.#lose(err);
      return;
    }
    if (this.session === s) this.#watch(s);
  }

  #lose(err) {
    if (this.stopped) return;
    this.#teardown();
    this.lastError = err instanceof WhepError ? err.status : 0;
    if (err instanceof WhepError && err.status === 401) {
      this.#set("lost");
      this.hooks.onUnauthorized?.();
      return; // the owner decides (the kiosk asks whether its link still holds)
    }
    this.#set(this.state === "live" ? "stalled" : "lost");
    this.timer = setTimeout(() => this.#connect(), this.backoff);
    this.backoff = Math.min(this.backoff * 2, BACKOFF_MAX_MS);
  }

  #watch(s) {
    let frames = 0;
    let progress = performance.now();
    this.watchTimer = setInterval(async () => {
      const report = await s.pc.getStats().catch(() => null);
      if (this.session !== s || !report) return;
      let decoded = 0;
      report.forEach((r) => {
        if (r.type === "inbound-rtp" && r.kind === "video") decoded = r.framesDecoded ?? 0;
      });
      const now = performance.now();
      if (decoded > frames) {
        frames = decoded;
        progress = now;
        this.backoff = BACKOFF_MIN_MS;
        this.lastError = null;
        this.#set("live");
      } else if (now - progress > RETRY_MS) {
        this.#lose(new WhepError(0, "stalled"));
      } else if (now - progress > STALL_MS && this.state === "live") {
        this.#set("stalled");
      }
    }, WATCH_MS);
  }
}
