// The map's background (web/map.js): tiles from the configured source, or a grid of round
// degrees with labels; and the scale bar. Screen positions are world pixels at `zoom` less
// the origin `o` (the world pixel of the map's top-left corner).

import { metresPerPixel, project, TILE, unproject } from "/static/geo.js";
import { num } from "/static/i18n.js";

export const SVG = "http://www.w3.org/2000/svg";
const GRID_PX = 110; // about this far apart, grid lines at a round number of degrees
const STEPS = [10, 5, 2, 1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.005, 0.002, 0.001, 0.0005, 0.0002];

export function svg(tag, attrs, parent) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  parent.append(node);
  return node;
}

const shownTiles = new Map(); // "z/x/y" -> <img>: kept while in view, so no reload

export function drawTiles(tilesEl, url, zoom, o, w, h) {
  const wanted = new Set();
  if (url) {
    const n = 2 ** zoom;
    for (let ty = Math.floor(o.y / TILE); ty * TILE < o.y + h; ty++) {
      if (ty < 0 || ty >= n) continue;
      for (let tx = Math.floor(o.x / TILE); tx * TILE < o.x + w; tx++) {
        const key = `${zoom}/${tx}/${ty}`;
        wanted.add(key);
        let img = shownTiles.get(key);
        if (!img) {
          img = document.createElement("img");
          img.alt = "";
          img.onerror = () => (img.hidden = true); // no tile there: the background shows
          img.src = url
            .replace("{z}", zoom)
            .replace("{x}", ((tx % n) + n) % n)
            .replace("{y}", ty);
          shownTiles.set(key, img);
          tilesEl.append(img);
        }
        img.style.left = `${tx * TILE - o.x}px`;
        img.style.top = `${ty * TILE - o.y}px`;
      }
    }
  }
  for (const [key, img] of shownTiles) {
    if (!wanted.has(key)) {
      img.remove();
      shownTiles.delete(key);
    }
  }
}

function degrees(value, step) {
  const digits = Math.max(0, Math.ceil(-Math.log10(step) - 1e-9));
  return `${num(value, digits)}°`;
}

export function drawGrid(overlay, zoom, o, w, h) {
  const perPx = 360 / (TILE * 2 ** zoom); // degrees of longitude per pixel
  const step = [...STEPS].reverse().find((s) => s / perPx >= GRID_PX) ?? STEPS[0];
  const nw = unproject(o.x, o.y, zoom);
  const se = unproject(o.x + w, o.y + h, zoom);
  const g = svg("g", { class: "grid" }, overlay);
  for (let lon = Math.ceil(nw.lon / step) * step; lon <= se.lon; lon += step) {
    const x = project(0, lon, zoom).x - o.x;
    svg("line", { class: "grid-line", x1: x, y1: 0, x2: x, y2: h }, g);
    const label = svg("text", { class: "grid-label", x: x + 4, y: h - 40 }, g);
    label.textContent = `${degrees(Math.abs(lon), step)} ${lon >= 0 ? "E" : "W"}`;
  }
  for (let lat = Math.ceil(se.lat / step) * step; lat <= nw.lat; lat += step) {
    const y = project(lat, 0, zoom).y - o.y;
    svg("line", { class: "grid-line", x1: 0, y1: y, x2: w, y2: y }, g);
    const label = svg("text", { class: "grid-label", x: 6, y: y - 4 }, g);
    label.textContent = `${degrees(Math.abs(lat), step)} ${lat >= 0 ? "N" : "S"}`;
  }
}

export function drawScale(bar, label, zoom, o, h) {
  const lat = unproject(o.x, o.y + h / 2, zoom).lat;
  const mpp = metresPerPixel(lat, zoom);
  const max = 150 * mpp;
  const p = 10 ** Math.floor(Math.log10(max));
  const metres = [5, 2, 1].map((f) => f * p).find((m) => m <= max);
  bar.style.width = `${metres / mpp}px`;
  label.textContent =
    metres >= 1000 ? `${num(metres / 1000, metres >= 10000 ? 0 : 1)} km` : `${num(metres)} m`;
}
