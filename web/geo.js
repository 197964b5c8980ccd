// Pure geometry for the map page (no DOM): Web Mercator (the projection of XYZ map tiles)
// and the camera's ground footprint. Unit-tested under Node (tests/test_map_geo.py).

export const TILE = 256; // px of one tile: the world is TILE * 2^zoom px wide
export const EARTH_M = 6378137; // WGS 84 equatorial radius, as Web Mercator uses it
export const MAX_LAT = 85.05112878; // Web Mercator's square world ends here
// A ray at or above the horizon never meets the ground, and one just below it meets it
// kilometres away: the footprint is cut there (further is no use to a crew, and a tilted
// gimbal's far edge would otherwise cover the whole map).
export const FOOTPRINT_MAX_M = 1500;
export const ASPECT = 16 / 9; // the picture's width/height when the sender says no vertical FOV

const rad = (deg) => (deg * Math.PI) / 180;
const deg = (r) => (r * 180) / Math.PI;

/** World pixel (x east, y south) of a WGS 84 position at a (fractional) zoom. */
export function project(lat, lon, zoom) {
  const size = TILE * 2 ** zoom;
  const phi = rad(Math.max(-MAX_LAT, Math.min(MAX_LAT, lat)));
  const x = ((lon + 180) / 360) * size;
  const y = ((1 - Math.log(Math.tan(phi) + 1 / Math.cos(phi)) / Math.PI) / 2) * size;
  return { x, y };
}

/** The inverse of project(). */
export function unproject(x, y, zoom) {
  const size = TILE * 2 ** zoom;
  const lon = (x / size) * 360 - 180;
  const lat = deg(Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / size))));
  return { lat, lon };
}

/** Metres on the ground per screen pixel at a latitude and zoom. */
export function metresPerPixel(lat, zoom) {
  return (2 * Math.PI * EARTH_M * Math.cos(rad(lat))) / (TILE * 2 ** zoom);
}

/** A position `north`, `east` metres from lat/lon (flat earth: fine within a few km). */
export function offset(lat, lon, north, east) {
  return {
    lat: lat + deg(north / EARTH_M),
    lon: lon + deg(east / (EARTH_M * Math.cos(rad(lat)))),
  };
}

/** Where the ray through picture point (x, y) (0..1 from the picture's top-left corner)
 * runs: {north, east} metres over the ground per unit and the distance over the ground at
 * which it meets flat ground (Infinity at or above the horizon); null unless the sample says
 * the position, the height above ground (alt_rel_m > 0), the heading, the gimbal's pitch and
 * the horizontal FOV. The gimbal's yaw is relative to the aircraft (0 when absent: a fixed
 * camera looks ahead); the gimbal holds the picture level (no roll). relay/telemetry/
 * footprint.py is the same maths in Python (tests/telemetry/test_footprint.py compares). */
function ray(s, x, y, aspect) {
  const known = ["lat", "lon", "alt_rel_m", "heading_deg", "gimbal_pitch_deg", "hfov_deg"];
  if (known.some((k) => s[k] == null) || !(s.alt_rel_m > 0)) return null;
  const az = rad(s.heading_deg + (s.gimbal_yaw_deg ?? 0)); // from north, clockwise
  const pitch = rad(s.gimbal_pitch_deg); // 0 level, -90 straight down
  const tx = Math.tan(rad(s.hfov_deg) / 2);
  const ty = tx / aspect;
  const a = (2 * x - 1) * tx; // right of the centre line
  const b = (1 - 2 * y) * ty; // above it
  // The camera's axes in north/east/up: forward, right, and the picture's up.
  const fwd = [Math.cos(pitch) * Math.cos(az), Math.cos(pitch) * Math.sin(az), Math.sin(pitch)];
  const right = [-Math.sin(az), Math.cos(az), 0];
  const up = [-Math.sin(pitch) * Math.cos(az), -Math.sin(pitch) * Math.sin(az), Math.cos(pitch)];
  const d = [0, 1, 2].map((i) => fwd[i] + a * right[i] + b * up[i]);
  const ground = Math.hypot(d[0], d[1]);
  const dist = d[2] < 0 ? (s.alt_rel_m * ground) / -d[2] : Infinity;
  const [north, east] = ground > 0 ? [d[0] / ground, d[1] / ground] : [0, 0];
  return { north, east, dist };
}

/**
 * Where the picture's four corners meet flat ground, as [{lat, lon}] in the order top-left,
 * top-right, bottom-right, bottom-left of the picture; null when the sample lacks what ray()
 * needs. A corner ray above the horizon, or meeting the ground further than maxM away, is
 * cut at maxM along its direction over the ground.
 */
export function footprint(s, maxM = FOOTPRINT_MAX_M, aspect = ASPECT) {
  const corners = [
    [0, 0],
    [1, 0],
    [1, 1],
    [0, 1],
  ].map(([x, y]) => ray(s, x, y, aspect));
  if (corners[0] == null) return null;
  return corners.map((r) => {
    const dist = Math.min(r.dist, maxM);
    return offset(s.lat, s.lon, r.north * dist, r.east * dist);
  });
}

/** Where picture point (x, y) meets flat ground, {lat, lon}; null above the horizon, further
 * than maxM away (flat ground is no guess there), or when the sample lacks what ray() needs. */
export function groundPoint(s, x, y, maxM = FOOTPRINT_MAX_M, aspect = ASPECT) {
  const r = ray(s, x, y, aspect);
  if (r == null || !(r.dist <= maxM)) return null;
  return offset(s.lat, s.lon, r.north * r.dist, r.east * r.dist);
}
