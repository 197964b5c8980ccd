// The player's "Verzögerung": what the viewer sees, never a number that means something else.
// - Measured: the picture carries frame marks (sim, fake drone): capture time (in the marks)
//   -> the moment this browser presents the frame (requestVideoFrameCallback), read a few
//   times a second from a small canvas (web/marks.js). That is glass to glass, all of it.
// - Estimated otherwise, from every stage the relay and the browser can see: the relay's own
//   delay including its send queue (the viewer's status), half the round trip, and per frame
//   the browser's jitter buffer and decode (getStats). The drone's own link before the relay
//   and the display after decoding are not seen by anyone and not included (docs/delay.md).

import { marksReader } from "/static/marks.js";

const READ_EVERY_MS = 250; // marks read at most 4 times a second
const KEEP = 8; // the figure: the median of the last 8 readings (2 s)
const FRESH_MS = 2000; // readings older than this no longer count (the picture lost its marks)
// A reading outside these bounds is not this picture's delay: marks from a recording played
// back (old capture times), or clocks that are far apart.
const MIN_MS = -50;
const MAX_MS = 10000;
// Nor are readings that wander by more than this within FRESH_MS: the marks do not run with
// the clock (a clip rendered faster or slower than real time, played back in a loop).
const MAX_SPREAD_MS = 1000;

export class GlassDelay {
  constructor(video) {
    this.video = video;
    this.read = null; // made on the first frame (a canvas per player)
    this.readings = []; // [performance.now(), delay ms]
    this.lastRead = -Infinity;
    this.reading = false;
  }

  /** Reads the marks of presented frames from now on (requestVideoFrameCallback). */
  start() {
    const v = this.video;
    if (this.reading || !v.requestVideoFrameCallback) return;
    this.reading = true;
    const loop = (now, meta) => {
      if (now - this.lastRead >= READ_EVERY_MS) {
        this.lastRead = now;
        // The glass is when the frame is expected on screen. The callback's `now` is the
        // start of the compositor's frame, which can precede the picture's arrival by up to
        // a display frame: with a sim a few ms from the glass it read -1 and -2 ms.
        this.take(meta?.expectedDisplayTime ?? meta?.presentationTime ?? now);
      }
      v.requestVideoFrameCallback(loop);
    };
    v.requestVideoFrameCallback(loop);
  }

  /** One reading: the marks of the picture shown now against `shownAt` (performance.now()
   * time base). */
  take(shownAt) {
    this.read ??= marksReader();
    let marks = null;
    try {
      marks = this.read(this.video);
    } catch {
      return; // a canvas that cannot be read (tainted, no size yet): no reading
    }
    if (!marks) return;
    // Wall clock at presentation (the marks carry the drone's wall clock): performance.now()
    // is monotonic, Date.now() follows NTP; their offset is taken afresh each time.
    const delay = Date.now() - (performance.now() - shownAt) - marks[1];
    if (delay < MIN_MS || delay > MAX_MS) return;
    // A picture far fresher than those before it (a cold start's still, labelled on the
    // picture, then the live one; a backlog drained): the older readings are of pictures no
    // longer shown, and would hide the figure as "wandering" for FRESH_MS.
    const best = Math.min(...this.readings.map(([, d]) => d));
    if (delay < best - MAX_SPREAD_MS / 2) this.readings = [];
    this.readings.push([performance.now(), delay]);
    if (this.readings.length > KEEP) this.readings.shift();
  }

  /** The measured delay (ms), or null without fresh readings. */
  measuredMs() {
    const fresh = this.readings.filter(([at]) => performance.now() - at <= FRESH_MS);
    if (!fresh.length) return null;
    const sorted = fresh.map(([, d]) => d).sort((a, b) => a - b);
    if (sorted[sorted.length - 1] - sorted[0] > MAX_SPREAD_MS) return null;
    return sorted[Math.floor(sorted.length / 2)];
  }

  reset() {
    this.readings = [];
  }
}

/** The counters one estimate needs, from an inbound-rtp report. */
export function browserSample(r) {
  return {
    jbDelay: r.jitterBufferDelay ?? 0,
    jbCount: r.jitterBufferEmittedCount ?? 0,
    decode: r.totalDecodeTime ?? 0,
    processing: r.totalProcessingDelay ?? null, // first packet in -> decoded, per frame
    frames: r.framesDecoded ?? 0,
  };
}

/** Per frame over the last interval (the session's average right after (re)connecting):
 * first packet in -> decoded, in ms (totalProcessingDelay, or jitter buffer + decode where
 * Chromium lacks it); null before the first frame. */
function browserMs(cur, prev) {
  const base = prev && cur.frames > prev.frames && cur.jbCount > prev.jbCount ? prev : null;
  const frames = cur.frames - (base?.frames ?? 0);
  if (frames <= 0) return null;
  if (cur.processing != null && (base == null || base.processing != null)) {
    return ((cur.processing - (base?.processing ?? 0)) / frames) * 1000;
  }
  const emitted = cur.jbCount - (base?.jbCount ?? 0);
  if (emitted <= 0) return null;
  const buffered = (cur.jbDelay - (base?.jbDelay ?? 0)) / emitted;
  return (buffered + (cur.decode - (base?.decode ?? 0)) / frames) * 1000;
}

/** The estimate (ms): relay incl. its send queue + RTT/2 + the browser's part; null while
 * a part is unknown (an estimate that leaves a stage out would look better than it is). */
export function estimateMs(cur, prev, relayDelayMs, rttS) {
  const browser = browserMs(cur, prev);
  if (browser == null || relayDelayMs == null || rttS == null) return null;
  return relayDelayMs + (rttS * 1000) / 2 + browser;
}
