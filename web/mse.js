// The fallback when WebRTC cannot connect (UDP blocked, no TURN): the rung as fragmented MP4
// over a WebSocket (GET /api/streams/{name}/mse, the session cookie authenticates it) into
// Media Source Extensions. The relay sends a JSON "init" message (codec, size, rendition),
// the init segment, then one fragment (moof + mdat) per frame from a keyframe on.
// Latest beats complete: the playhead jumps to the newest picture when it falls behind, and
// a tab that cannot append as fast as fragments arrive drops to the next keyframe.

const LIVE_EDGE_S = 0.5; // further behind the newest buffered picture than this: jump
const JUMP_TO_S = 0.05; // ...to this far before it (one or two frames of margin)
const CATCH_UP_S = 0.15; // behind by more than this (but not LIVE_EDGE_S): play faster
const CATCH_UP_RATE = 1.1;
const KEEP_S = 10; // buffered pictures kept behind the playhead (MSE's quota is finite)
const MAX_PENDING = 60; // fragments waiting to be appended (2 s at 30 fps): then drop
const MOOF_SIZE = 100; // the relay's moof for one sample (relay/mse/fmp4.py)
const KEY_FLAGS = 0x02000000; // trun sample flags of a keyframe (a sync sample)

/** A failed fallback session (before it delivered anything). */
export class MseError extends Error {
  constructor(error, reason) {
    super(reason || error);
    this.name = "MseError";
    this.error = error;
    this.reason = reason || "";
    this.status = 0;
  }
}

/** Whether this browser can play the fallback at all. */
export function mseSupported() {
  return typeof window.MediaSource === "function" && typeof WebSocket === "function";
}

function isKeyframe(fragment) {
  if (fragment.byteLength < MOOF_SIZE) return false;
  const view = new DataView(fragment);
  return view.getUint32(MOOF_SIZE - 4) === KEY_FLAGS;
}

export class MseSession {
  /** @param {string} path e.g. "/api/streams/demo/mse?rendition=360p" */
  constructor(path, video) {
    const url = new URL(path, location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    this.url = url.href;
    this.video = video;
    this.closed = false;
    this.onclose = null; // (reason) => void: the relay or the network ended the session
    this.rendition = null; // the rung the relay sends (what "auto" resolved to)
    this.appended = 0; // fragments appended
    this.dropped = 0; // fragments dropped because this tab could not keep up
    this.jumps = 0; // times the playhead jumped to the live edge
    this.pending = [];
    this.waitKey = false; // dropping fragments until the next keyframe
    this.sb = null;
    this.codec = null;
    this.ms = new MediaSource();
    this.objectUrl = URL.createObjectURL(this.ms);
  }

  /** Resolves once the socket is open; throws MseError when it cannot open. */
  async start() {
    const opened = new Promise((resolve) =>
      this.ms.addEventListener("sourceopen", resolve, { once: true }),
    );
    this.video.srcObject = null;
    this.video.src = this.objectUrl;
    await opened;
    if (this.closed) throw new MseError("closed", "closed before the socket opened");
    const ws = new WebSocket(this.url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.addEventListener("message", (ev) => this.#message(ev.data));
    await new Promise((resolve, reject) => {
      ws.addEventListener("open", resolve, { once: true });
      // A refused upgrade (401, 403, 404, 503) shows as an error and a close without a
      // status: the browser does not tell the page which one.
      ws.addEventListener("error", () => reject(new MseError("refused", "WebSocket refused")), {
        once: true,
      });
    });
    ws.addEventListener("close", (ev) => {
      if (!this.closed) this.onclose?.(ev.reason || "closed");
    });
  }

  /** For the test hook and debugging: what the fallback did so far. */
  debug() {
    const b = this.sb?.buffered;
    const ranges = [];
    for (let i = 0; b && i < b.length; i++) ranges.push([b.start(i), b.end(i)]);
    return {
      appended: this.appended,
      dropped: this.dropped,
      jumps: this.jumps,
      pending: this.pending.length,
      buffered: ranges,
      readyState: this.video.readyState,
      error: this.video.error?.message ?? null,
    };
  }

  /** What the player's figures need, in the shape of WebRTC's inbound-rtp report. */
  stats() {
    const q = this.video.getVideoPlaybackQuality?.();
    return {
      framesDecoded: q ? q.totalVideoFrames - q.droppedVideoFrames : this.appended,
      frameWidth: this.video.videoWidth || null,
      frameHeight: this.video.videoHeight || null,
    };
  }

  #message(data) {
    if (this.closed) return;
    if (typeof data === "string") return this.#init(JSON.parse(data));
    if (this.pending.length >= MAX_PENDING) {
      // This tab cannot append as fast as the pictures come: skip to the next keyframe.
      this.dropped += this.pending.length;
      this.pending = this.pending.filter((f) => !(f.byteLength >= 8 && isInit(f)));
      this.waitKey = true;
    }
    if (this.waitKey) {
      if (!isInit(data) && !isKeyframe(data)) return void (this.dropped += 1);
      if (!isInit(data)) this.waitKey = false;
    }
    this.pending.push(data);
    this.#pump();
  }

  #init(message) {
    if (message.type !== "init") return;
    this.rendition = message.rendition ?? null;
    const type = `video/mp4; codecs="${message.codec}"`;
    if (!this.sb) {
      if (!MediaSource.isTypeSupported(type)) {
        this.onclose?.("no_mse"); // this browser cannot decode the rung: nothing to append to
        return;
      }
      this.sb = this.ms.addSourceBuffer(type);
      this.sb.mode = "segments"; // the relay's decode times place every picture
      this.sb.addEventListener("updateend", () => this.#pump());
    } else if (message.codec !== this.codec && this.sb.changeType) {
      this.sb.changeType(type); // another profile or level: the init segment follows
    }
    this.codec = message.codec;
  }

  #pump() {
    const sb = this.sb;
    if (this.closed || !sb || sb.updating) return;
    this.#followLiveEdge();
    if (!this.pending.length) return this.#trim();
    try {
      sb.appendBuffer(this.pending.shift());
      this.appended += 1;
    } catch (err) {
      // QuotaExceededError: too much kept; free the past and go on from the next keyframe.
      console.warn("MSE append failed", err);
      this.waitKey = true;
      this.pending = this.pending.filter(isInit); // pictures that refer to the lost one
      this.#trim(true);
    }
  }

  /** Plays the newest picture: jumps forward when behind by more than LIVE_EDGE_S, or when
   * the playhead sits before the buffered pictures (the start, a gap after a skip). */
  #followLiveEdge() {
    const v = this.video;
    const b = this.sb.buffered;
    if (!b.length) return;
    const start = b.start(b.length - 1);
    const end = b.end(b.length - 1);
    const behind = end - v.currentTime;
    if (v.currentTime < start || behind > LIVE_EDGE_S) {
      v.currentTime = Math.max(start, end - JUMP_TO_S);
      this.jumps += 1;
    } else {
      // A little behind: play a little faster until caught up (no jump, no visible skip).
      const rate = behind > CATCH_UP_S ? CATCH_UP_RATE : 1;
      if (v.playbackRate !== rate) v.playbackRate = rate;
    }
    if (v.paused) v.play().catch(() => {}); // muted autoplay is allowed; a nudge
  }

  #trim(all = false) {
    const sb = this.sb;
    const b = sb.buffered;
    if (sb.updating || !b.length) return;
    const upTo = this.video.currentTime - (all ? 1 : KEEP_S);
    if (b.start(0) < upTo - (all ? 0 : KEEP_S)) sb.remove(b.start(0), upTo);
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.pending = [];
    try {
      this.ws?.close();
    } catch {
      /* already closing */
    }
    if (this.ms.readyState === "open") {
      try {
        this.ms.endOfStream();
      } catch {
        /* a buffer still updating: it goes with the source */
      }
    }
    this.video.removeAttribute("src");
    this.video.load(); // a frozen last picture must never pass for the live situation
    URL.revokeObjectURL(this.objectUrl);
  }
}

function isInit(buffer) {
  if (buffer.byteLength < 8) return false;
  return new DataView(buffer).getUint32(4) === 0x66747970; // "ftyp"
}
