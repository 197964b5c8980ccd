// Injected into the player page by scripts/bench_lte.py: reads the sim's frame marks from
// every frame the browser presents (relay/media/frame_marks.py's reader, ported) and keeps
// [counter, capture Unix ms, presented Unix ms, width] per frame in window.__glass.frames.
// A frame whose marks do not read (a picture pieced together, or scaled too small) is kept
// with counter -1: it was presented, but its delay is unknown.
(() => {
  const SLOTS = 80, COUNTER_BITS = 32, TIME_BITS = 42, CHECK_BITS = 4, LOWER_AT = 5 / 8;
  const MAX_W = 640; // read a scaled copy: 8 px per slot is plenty, and cheaper to draw
  const glass = { frames: [], states: [], unread: 0 };
  window.__glass = glass;
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });

  // Rows of the band in the source frame (frame_marks.band_height).
  const bandHeight = (vw) => Math.max(2, Math.round(vw / SLOTS) + 1) & ~1;

  function readBand(img, w, h, row) {
    const step = w / SLOTS;
    const bits = [];
    for (let i = 0; i < SLOTS; i++) {
      const x = Math.floor(i * step + step / 2);
      let sum = 0, n = 0;
      for (let dy = -1; dy <= 1; dy++) {
        const y = row + dy;
        if (y < 0 || y >= h) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const xx = Math.min(w - 1, Math.max(0, x + dx));
          const p = (y * w + xx) * 4;
          sum += 0.299 * img[p] + 0.587 * img[p + 1] + 0.114 * img[p + 2];
          n++;
        }
      }
      bits.push(sum / n > 128 ? 1 : 0);
    }
    if (bits[0] !== 1 || bits[1] !== 0) return null;
    const payload = bits.slice(2, 2 + COUNTER_BITS + TIME_BITS);
    const ones = payload.reduce((a, b) => a + b, 0);
    const check = bits.slice(SLOTS - CHECK_BITS).reduce((a, b) => a * 2 + b, 0);
    if (ones % 16 !== check) return null;
    const num = (bs) => bs.reduce((a, b) => a * 2 + b, 0); // 42 bits fit a double exactly
    return [num(payload.slice(0, COUNTER_BITS)), num(payload.slice(COUNTER_BITS))];
  }

  function onFrame(video, now) {
    const vw = video.videoWidth, vh = video.videoHeight;
    const presented = performance.timeOrigin + now;
    let marks = null;
    if (vw && vh) {
      // Copy only the two bands (scaled to at most MAX_W wide) one above the other: reading
      // back the whole picture 30 times a second would cost the browser what it needs to play.
      const w = Math.min(MAX_W, vw), band = bandHeight(vw);
      const rows = Math.max(3, Math.round((band * w) / vw));
      if (canvas.width !== w || canvas.height !== 2 * rows) [canvas.width, canvas.height] = [w, 2 * rows];
      ctx.drawImage(video, 0, 0, vw, band, 0, 0, w, rows);
      ctx.drawImage(video, 0, Math.round(vh * LOWER_AT), vw, band, 0, rows, w, rows);
      const img = ctx.getImageData(0, 0, w, 2 * rows).data;
      const mid = Math.floor(rows / 2);
      const top = readBand(img, w, 2 * rows, mid);
      const low = top && readBand(img, w, 2 * rows, rows + mid);
      if (top && low && top[0] === low[0] && top[1] === low[1]) marks = top;
    }
    if (!marks) glass.unread++;
    glass.frames.push([marks ? marks[0] : -1, marks ? marks[1] : 0, presented, vw]);
  }

  function attach() {
    const video = document.getElementById("video");
    if (!video || !video.requestVideoFrameCallback) return setTimeout(attach, 50);
    const loop = (now) => {
      try {
        onFrame(video, now);
      } finally {
        video.requestVideoFrameCallback(loop);
      }
    };
    video.requestVideoFrameCallback(loop);
    // The player's own verdict (live, live/weak, interrupted, lost ...), when it changed.
    const note = () => {
      const { state = "", quality = "" } = document.body.dataset;
      const now = quality === "weak" ? `${state}/weak` : state;
      if (glass.states.at(-1)?.[1] !== now) glass.states.push([Date.now(), now]);
    };
    new MutationObserver(note).observe(document.body, {
      attributeFilter: ["data-state", "data-quality"],
    });
    note();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", attach);
  else attach();
})();
