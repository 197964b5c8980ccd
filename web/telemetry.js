// The drone's telemetry under the picture: position, altitude, heading, speed. Live from the
// relay's event stream (server-sent events: same login and TLS as the page; EventSource
// reconnects by itself). A sample older than 5 s is shown as stale, never as current.
//
// Aligned to the frame on screen (docs/telemetry.md): the frame was captured `delay` ago
// (web/delay.js: measured from frame marks, or the labelled estimate). The relay is asked
// for views a little ahead of that frame (delay_ms = delay - LEAD_MS: interpolated between
// measurements, or estimated after the newest, and marked so); they wait here until their
// time comes, and the one within 100 ms of the frame's capture time is shown (views come at
// 10 Hz), or, across a gap the relay left, one bridged between the two around it, marked.

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

const LEAD_MS = 500; // views are asked for this far ahead of the frame: they wait here (a loaded
// relay's event loop stalls for a few hundred ms)
const REASK_MS = 150; // asked afresh when the picture's delay moved by more than this
const KEEP_MS = 5000; // views kept for the frames still to come
const SHOW_EVERY_MS = 50;
const MIN_DELAY_MS = -LEAD_MS; // views ahead of now (a picture less late than LEAD_MS)
const MAX_DELAY_MS = 10000; // the relay's bound for delay_ms

/** The delay_ms to ask the relay for, for a picture `delayMs` late (null: not known yet). */
export function askMs(delayMs) {
  if (delayMs == null) return 0;
  return Math.round(Math.min(MAX_DELAY_MS, Math.max(MIN_DELAY_MS, delayMs - LEAD_MS)));
}

/** Of `views` (the relay's, oldest first), the one for the frame captured at `atMs` (Unix
 * ms): the nearest in time, never one later than the frame by more than the spacing. */
export function pick(views, atMs) {
  let best = null;
  for (const v of views) {
    if (v == null) continue;
    if (best == null || Math.abs(v.time * 1000 - atMs) <= Math.abs(best.time * 1000 - atMs)) {
      best = v;
    }
  }
  return best;
}

const EXACT_MS = 100; // a view this close to the frame is shown as it is
const BRIDGE_S = 1; // two views further apart are not bridged (the relay sent none between)
// Bridged between two views (a relay's event loop that stalled for a few hundred ms leaves a
// gap): as relay/telemetry/interpolate.py does between measurements.
const LINEAR = ["lat", "lon", "alt_msl_m", "alt_rel_m", "target_lat", "target_lon",
  "ground_speed_mps", "gimbal_pitch_deg", "gimbal_yaw_deg", "hfov_deg", "battery_pct"];

/** The view for the frame captured at `atMs` (Unix ms) from `views` (time order): the
 * nearest within EXACT_MS as it is, else bridged between the two around it and marked (an
 * estimate if either is one), else the nearest. */
export function viewFor(views, atMs) {
  const near = pick(views, atMs);
  if (near == null || Math.abs(near.time * 1000 - atMs) <= EXACT_MS) return near;
  const at = atMs / 1000;
  const after = views.findIndex((v) => v.time > at);
  if (after < 1 || views[after].time - views[after - 1].time > BRIDGE_S) {
    return offFrame(near, atMs);
  }
  const a = views[after - 1];
  const b = views[after];
  const f = (at - a.time) / (b.time - a.time);
  const out = { ...(f < 0.5 ? a : b), time: at };
  for (const k of LINEAR) {
    if (a[k] != null && b[k] != null) out[k] = a[k] + (b[k] - a[k]) * f;
  }
  if (a.heading_deg != null && b.heading_deg != null) {
    const turn = ((b.heading_deg - a.heading_deg + 540) % 360) - 180; // the shorter arc
    out.heading_deg = (a.heading_deg + turn * f + 360) % 360;
  }
  out.estimated = Boolean(a.estimated || b.estimated);
  out.interpolated = !out.estimated;
  return out;
}

/** `view`, the nearest to the frame captured at `atMs` but more than EXACT_MS from it with
 * nothing to bridge: as it is when the relay held it (a measurement it had nothing better
 * than for the moment asked: a drone gone quiet says so by its age once stale), else marked
 * with how far it is from the frame (`off_s`, positive: newer). The relay made that view for
 * another moment and the one for this frame is late (a re-ask connecting, a relay's stalled
 * event loop): a value of another moment must not pass for this frame's. */
function offFrame(view, atMs) {
  if (view.held) return view;
  return { ...view, off_s: (view.time * 1000 - atMs) / 1000 };
}

/** Whether `view`, sent for the moment `delayMs` before the relay's now, is a measurement
 * the relay held (further than EXACT_MS from that moment: it had nothing nearer), not one of
 * that moment. By the relay's clock alone: its age is counted from its own now. */
export function held(view, delayMs) {
  if (view.estimated || view.interpolated) return false;
  return Math.abs(view.age_s * 1000 - delayMs) > EXACT_MS;
}

/** Shows `stream`'s telemetry in the #telemetry box (hidden while there is none), aligned to
 * the picture `delayMs()` late (ms, or null while unknown). */
export function showTelemetry(stream, delayMs = () => null) {
  const box = $("telemetry");
  const out = {
    pos: $("tele-position"),
    alt: $("tele-altitude"),
    hdg: $("tele-heading"),
    spd: $("tele-speed"),
    age: $("tele-age"),
  };
  // Test hook: the view shown (off_s: how far from the frame, when marked so), the frame time
  // it was chosen for, the delay asked for.
  const state = { sample: null, frameMs: null, askedMs: null, views: [] };
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
    // Never an estimate shown as measured: between measurements, or carried on after one.
    box.dataset.kind = s.interpolated ? "interpolated" : s.estimated ? "estimated" : "measured";
    const age = { s: num(s.age_s, 0) };
    const kind = s.stale
      ? t("tele.stale", age)
      : s.interpolated
        ? t("tele.interpolated", age)
        : s.estimated
          ? t("tele.estimated", age)
          : "";
    // A view for another moment than the frame's says by how much, in words too.
    box.dataset.aligned = String(s.off_s == null);
    const off = { s: num(Math.abs(s.off_s ?? 0), 1) };
    const apart = s.off_s == null ? "" : t(s.off_s < 0 ? "tele.older" : "tele.newer", off);
    out.age.textContent = [kind, apart].filter(Boolean).join(" · ");
  }

  let events = null; // the stream whose views are coming in
  let asking = null; // a stream asked for since, until its first view
  function ask(ms) {
    state.askedMs = ms;
    // The stream asked before goes on until this one's first view: connecting takes a few
    // hundred ms on a loaded machine, and without views the frames on screen would outrun
    // the last one held. The views held stay too: the frames on screen still need them.
    const url = `/api/streams/${encodeURIComponent(stream)}/telemetry/events?delay_ms=${ms}`;
    const next = new EventSource(url);
    asking?.close();
    asking = next;
    next.onmessage = (e) => {
      if (next !== events) {
        events?.close();
        events = next;
        asking = null;
      }
      const view = JSON.parse(e.data);
      if (view != null) view.held = held(view, ms);
      receive(view);
    };
  }

  function receive(view) {
    if (view == null) {
      state.views = [];
    } else {
      // A newer view replaces those it overtakes (a sender's clock set back, a re-ask).
      state.views = state.views.filter((v) => v.time < view.time);
      state.views.push(view);
    }
    show();
  }

  function show() {
    const delay = delayMs();
    const now = Date.now();
    // Old views go, but never the newest: a drone gone quiet stays shown, going stale.
    const oldest = now - (delay ?? 0) - KEEP_MS;
    state.views = state.views.filter((v, i, all) => i === all.length - 1 || v.time * 1000 >= oldest);
    // Without a known delay: the newest view (asked for the present).
    state.frameMs = delay == null ? null : now - delay;
    const shown = delay == null ? state.views.at(-1) ?? null : viewFor(state.views, now - delay);
    if (shown !== state.sample) {
      state.sample = shown;
      render();
    }
  }

  ask(askMs(delayMs()));
  setInterval(() => {
    const want = askMs(delayMs());
    if (Math.abs(want - state.askedMs) > REASK_MS) ask(want);
    show();
  }, SHOW_EVERY_MS);
  onLangChange(render);
}
