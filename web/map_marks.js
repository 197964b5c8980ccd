// The operators' marks on the map (docs/annotations.md): a mark made on a drone's picture
// while its telemetry was fresh stores the ground position it points at, and the map puts a
// pin there in the mark's colour with its label, live from one event stream for every drone,
// gone when the mark expires, is deleted or cleared. Marks without a ground position (no
// telemetry, above the horizon) stay in the pictures only.

import { followMarksOf } from "/static/annotations_feed.js";
import { svg } from "/static/map_background.js";

// A pin whose tip (0, 0) is the ground point: readable at a glance, never hiding the point.
const PIN = "M0,0 C-4,-10 -11,-14 -11,-22 A11,11 0 1 1 11,-22 C11,-14 4,-10 0,0 Z";

export class MapMarks {
  /** @param {() => void} changed called when the map must be drawn again */
  constructor(changed) {
    this.changed = changed;
    this.byStream = {}; // stream -> marks as received (each with `until`)
    this.events = null;
    // Expiry without an event (the connection may be out): a pin never outlives its mark.
    setInterval(() => this.live().length !== this.all().length && this.changed(), 1000);
  }

  /** Follows the marks of `streams` (one connection for all of them). */
  follow(streams) {
    this.events?.close();
    if (!streams.length) return;
    this.events = followMarksOf(streams, (stream, marks) => {
      this.byStream[stream] = marks;
      this.changed();
    });
  }

  all() {
    return Object.values(this.byStream).flat();
  }

  /** The marks with a ground position that have not expired. */
  live() {
    const now = Date.now();
    return this.all().filter((m) => m.ground && m.until > now);
  }

  /** Pins into the SVG group `g`; `toScreen(lat, lon)` gives the map's pixel. */
  draw(g, toScreen) {
    for (const m of this.live()) {
      const p = toScreen(m.ground[0], m.ground[1]);
      const pin = svg(
        "g",
        { class: "map-mark", transform: `translate(${p.x} ${p.y})`, "data-id": m.id, "data-stream": m.stream },
        g,
      );
      pin.dataset.x = String(p.x);
      pin.dataset.y = String(p.y);
      svg("path", { d: PIN, fill: m.rgb, stroke: "#000", "stroke-width": 2 }, pin);
      svg("circle", { cy: -22, r: 4, fill: "#000" }, pin);
      const label = svg(
        "text",
        {
          y: -38,
          "text-anchor": "middle",
          "font-size": 16,
          "font-weight": 700,
          fill: "#000",
          stroke: "#fff",
          "stroke-width": 4,
          "paint-order": "stroke",
        },
        pin,
      );
      label.textContent = m.label || `${m.stream}`; // text, never markup
    }
  }
}
