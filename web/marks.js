// Reads the frame marks that the sim and scripts/fake_drone.py burn into every picture
// (README "Reading the frame marks"; relay/media/frame_marks.py is the reference reader):
// 80 slots across the width, a sync pattern, a 32-bit counter, the 42-bit capture time in
// Unix ms and a checksum, drawn twice (at the top and from 5/8 of the height). The player
// reads them to show the delay it measured; the benchmark's scripts/lte/glass.js uses the
// same reader (window.frameMarks) on every frame.

const SLOTS = 80;
const COUNTER_BITS = 32;
const TIME_BITS = 42;
const CHECK_BITS = 4;
const LOWER_AT = 5 / 8;
const MAX_W = 640; // a scaled copy: 8 px per slot is plenty, and cheaper to draw

// Rows of the band in the source frame (frame_marks.band_height).
const bandHeight = (vw) => Math.max(2, Math.round(vw / SLOTS) + 1) & ~1;

function readBand(img, w, h, row) {
  const step = w / SLOTS;
  const bits = [];
  for (let i = 0; i < SLOTS; i++) {
    const x = Math.floor(i * step + step / 2);
    let sum = 0;
    let n = 0;
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

/** A reader with its own small canvas: read(video) -> [counter, capture Unix ms] of the
 * picture the video shows now, or null (no marks, a damaged band, bands that disagree). Only
 * the two bands are copied, scaled to at most MAX_W wide, one above the other: reading back
 * the whole picture would cost the browser what it needs to play. */
export function marksReader() {
  const canvas = document.createElement("canvas");
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  return (video) => {
    const vw = video.videoWidth;
    const vh = video.videoHeight;
    if (!vw || !vh) return null;
    const w = Math.min(MAX_W, vw);
    const band = bandHeight(vw);
    const rows = Math.max(3, Math.round((band * w) / vw));
    if (canvas.width !== w || canvas.height !== 2 * rows) {
      [canvas.width, canvas.height] = [w, 2 * rows];
    }
    ctx.drawImage(video, 0, 0, vw, band, 0, 0, w, rows);
    ctx.drawImage(video, 0, Math.round(vh * LOWER_AT), vw, band, 0, rows, w, rows);
    const img = ctx.getImageData(0, 0, w, 2 * rows).data;
    const mid = Math.floor(rows / 2);
    const top = readBand(img, w, 2 * rows, mid);
    const low = top && readBand(img, w, 2 * rows, rows + mid);
    return top && low && top[0] === low[0] && top[1] === low[1] ? top : null;
  };
}

window.frameMarks = { marksReader }; // for scripts/lte/glass.js (an injected classic script)
