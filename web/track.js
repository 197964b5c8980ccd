// An incident's recorded telemetry played with its video: the sample the drone sent at the
// moment on screen (segment start + the video's position), and the whole track drawn with
// that moment marked. The file is the evidence as recorded (JSON lines, hashed in the
// manifest); nothing is interpolated here.

import { num, t } from "/static/i18n.js";
import { altitude, position } from "/static/telemetry.js";

const STALE_S = 5; // as live: a sample older than this is not shown as the current one
const SVG = "http://www.w3.org/2000/svg";

/** The recorded samples of `url`, oldest first (bad lines are skipped, not fatal). */
export async function loadTrack(url) {
  const resp = await fetch(url, { cache: "no-store" });
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  const samples = [];
  for (const line of (await resp.text()).split("\n")) {
    if (!line) continue;
    try {
      samples.push(JSON.parse(line));
    } catch {
      // A torn last line can only be in a file still written; the next load has it whole.
    }
  }
  return samples.sort((a, b) => a.time - b.time);
}

/** The newest sample measured at or before `unixS`, or null (none yet, or stale). */
export function sampleAt(samples, unixS) {
  let lo = 0;
  let hi = samples.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (samples[mid].time <= unixS) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0 || unixS - samples[found].time > STALE_S) return null;
  return samples[found];
}

function drawTrack(svg, samples, current) {
  svg.replaceChildren();
  const points = samples.filter((s) => s.lat != null && s.lon != null);
  if (!points.length) return;
  const lats = points.map((s) => s.lat);
  const lons = points.map((s) => s.lon);
  const [minLat, maxLat] = [Math.min(...lats), Math.max(...lats)];
  const [minLon, maxLon] = [Math.min(...lons), Math.max(...lons)];
  // Equal metres per pixel both ways (a degree of longitude shrinks with the latitude).
  const kx = Math.cos(((minLat + maxLat) / 2) * (Math.PI / 180));
  const span = Math.max((maxLon - minLon) * kx, maxLat - minLat, 1e-6);
  const xy = (s) => [10 + (180 * (s.lon - minLon) * kx) / span, 110 - (100 * (s.lat - minLat)) / span];
  const line = document.createElementNS(SVG, "polyline");
  line.setAttribute("points", points.map((s) => xy(s).join(",")).join(" "));
  line.setAttribute("class", "track-line");
  svg.append(line);
  if (current?.lat != null && current?.lon != null) {
    const [x, y] = xy(current);
    const dot = document.createElementNS(SVG, "circle");
    dot.setAttribute("cx", String(x));
    dot.setAttribute("cy", String(y));
    dot.setAttribute("r", "4");
    dot.setAttribute("class", "track-now");
    svg.append(dot);
  }
}

/** Shows the sample at `unixS` of `samples` in the #track box (hidden with no samples). */
export function showTrackAt(samples, unixS) {
  const box = document.getElementById("track");
  box.hidden = !samples?.length;
  if (box.hidden) return;
  const s = sampleAt(samples, unixS);
  const set = (id, text) => { document.getElementById(id).textContent = text; };
  box.dataset.time = s ? String(s.time) : "";
  set("track-position", s ? position(s) : "–");
  set("track-altitude", s ? altitude(s) : "–");
  set("track-heading", s?.heading_deg == null ? "–" : `${num(s.heading_deg, 0)}°`);
  set("track-speed", s?.ground_speed_mps == null ? "–" : `${num(s.ground_speed_mps * 3.6, 0)} km/h`);
  set("track-note", s ? "" : t("track.none"));
  drawTrack(document.getElementById("track-svg"), samples, s);
}
