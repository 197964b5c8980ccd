// The drone's telemetry under the picture: position, altitude, heading, speed. Live from the
// relay's event stream (server-sent events: same login and TLS as the page; EventSource
// reconnects by itself). A sample older than 5 s is shown as stale, never as current.

import { num, onLangChange, t } from "/static/i18n.js";

const $ = (id) => document.getElementById(id);

export function position(s) {
  if (s.lat == null || s.lon == null) return "–";
  const ns = s.lat >= 0 ? "N" : "S";
  const ew = s.lon >= 0 ? "E" : "W";
  return `${num(Math.abs(s.lat), 5)}° ${ns}  ${num(Math.abs(s.lon), 5)}° ${ew}`;
}

export function altitude(s) {
  if (s.alt_rel_m != null) return t("tele.altRel", { m: num(s.alt_rel_m, 1) });
  if (s.alt_msl_m != null) return t("tele.altMsl", { m: num(s.alt_msl_m, 1) });
  return "–";
}

/** Shows `stream`'s telemetry in the #telemetry box (hidden while there is none). */
export function showTelemetry(stream) {
  const box = $("telemetry");
  const out = {
    pos: $("tele-position"),
    alt: $("tele-altitude"),
    hdg: $("tele-heading"),
    spd: $("tele-speed"),
    age: $("tele-age"),
  };
  const state = { sample: null }; // test hook: the last event as the relay sent it
  window.__telemetry = state;

  function render() {
    const s = state.sample;
    box.hidden = s == null;
    if (s == null) return;
    box.dataset.stale = String(Boolean(s.stale));
    out.pos.textContent = position(s);
    out.alt.textContent = altitude(s);
    out.hdg.textContent = s.heading_deg == null ? "–" : `${num(s.heading_deg, 0)}°`;
    // km/h: what a crew reads off a vehicle; m/s stays in the API.
    out.spd.textContent =
      s.ground_speed_mps == null ? "–" : `${num(s.ground_speed_mps * 3.6, 0)} km/h`;
    out.age.textContent = s.stale ? t("tele.stale", { s: num(s.age_s, 0) }) : "";
  }

  const events = new EventSource(`/api/streams/${encodeURIComponent(stream)}/telemetry/events`);
  events.onmessage = (e) => {
    state.sample = JSON.parse(e.data);
    render();
  };
  onLangChange(render);
}
