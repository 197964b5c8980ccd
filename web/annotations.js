// Live annotations over the picture: circles, arrows and text pins that an operator draws and
// every viewer of the stream sees (docs/annotations.md). Not web/marks.js: those are frame
// marks for measuring the delay.
//
// Marks are in picture coordinates (0..1 of the picture, not of the element): the layer is
// laid over the picture's displayed rect, which object-fit: contain letterboxes inside the
// <video>, and follows it on every resize, rotation, fullscreen and rung change. The marks
// come as server-sent events (each event the whole set): the same login as the page, and
// EventSource reconnects by itself. Operators draw with a tap or a drag (pointer events: a
// finger on a tablet, a pen or a mouse alike).

import { csrfHeaders } from "/static/auth.js";
import { addStrings, onLangChange, t } from "/static/i18n.js";

addStrings({
  de: {
    "ann.title": "Markieren",
    "ann.circle": "Kreis",
    "ann.arrow": "Pfeil",
    "ann.pin": "Text",
    "ann.label": "Beschriftung",
    "ann.public": "Auch für geteilte Links",
    "ann.clear": "Alle löschen",
    "ann.delete": "Löschen",
    "ann.needLabel": "Für einen Text erst eine Beschriftung wählen",
    "ann.failed": "Markierung nicht gespeichert (HTTP {status}): {reason}",
    "ann.hint": "Auf das Bild tippen oder ziehen",
    "ann.red": "Rot",
    "ann.yellow": "Gelb",
    "ann.blue": "Blau",
    "ann.green": "Grün",
    "ann.white": "Weiß",
    "ann.q.fire": "Brandherd",
    "ann.q.person": "Person",
    "ann.q.access": "Zufahrt",
    "ann.kept": "Markierungen",
    "ann.action.create": "gesetzt",
    "ann.action.delete": "gelöscht",
    "ann.action.clear": "alle gelöscht",
  },
  en: {
    "ann.title": "Mark",
    "ann.circle": "Circle",
    "ann.arrow": "Arrow",
    "ann.pin": "Text",
    "ann.label": "Label",
    "ann.public": "Also for shared links",
    "ann.clear": "Clear all",
    "ann.delete": "Delete",
    "ann.needLabel": "Choose a label first for a text pin",
    "ann.failed": "Mark not saved (HTTP {status}): {reason}",
    "ann.hint": "Tap or drag on the picture",
    "ann.red": "Red",
    "ann.yellow": "Yellow",
    "ann.blue": "Blue",
    "ann.green": "Green",
    "ann.white": "White",
    "ann.q.fire": "Fire seat",
    "ann.q.person": "Person",
    "ann.q.access": "Access route",
    "ann.kept": "Marks",
    "ann.action.create": "made",
    "ann.action.delete": "deleted",
    "ann.action.clear": "all cleared",
  },
});

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["red", "yellow", "blue", "green", "white"]; // the relay's fixed set
const QUICK = ["ann.q.fire", "ann.q.person", "ann.q.access"];
const TAP = 0.01; // a drag shorter than this (picture widths) is a tap
const TAP_RADIUS = 0.05;
const STROKE = 4; // px: readable on a tablet at arm's length

/** The picture's displayed rect inside `video` (object-fit: contain), in the offset
 * parent's pixels; null before the first frame. */
export function pictureRect(video) {
  const w = video.clientWidth;
  const h = video.clientHeight;
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!w || !h || !vw || !vh) return null;
  const scale = Math.min(w / vw, h / vh);
  const width = vw * scale;
  const height = vh * scale;
  return {
    left: video.offsetLeft + (w - width) / 2,
    top: video.offsetTop + (h - height) / 2,
    width,
    height,
  };
}

function el(name, attrs = {}, ns = SVG) {
  const node = ns ? document.createElementNS(ns, name) : document.createElement(name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** One mark as SVG in a picture of `w` x `h` px: the shape twice (a dark outline under the
 * colour: readable over smoke, sky and snow alike) and its label. */
function drawMark(m, w, h) {
  const g = el("g", { class: "ann-mark", "data-id": m.id || "" });
  const x = m.x * w;
  const y = m.y * h;
  const shapes = [];
  if (m.kind === "circle") {
    shapes.push(["circle", { cx: x, cy: y, r: m.r * w, fill: "none" }]);
  } else if (m.kind === "arrow") {
    const x2 = m.x2 * w;
    const y2 = m.y2 * h;
    const angle = Math.atan2(y2 - y, x2 - x);
    const head = (a) => `${x2 - 18 * Math.cos(angle + a)},${y2 - 18 * Math.sin(angle + a)}`;
    shapes.push(["line", { x1: x, y1: y, x2, y2 }]);
    shapes.push(["polyline", { points: `${head(0.5)} ${x2},${y2} ${head(-0.5)}`, fill: "none" }]);
  } else {
    shapes.push(["circle", { cx: x, cy: y, r: 7, fill: m.rgb }]);
  }
  for (const [outline, colour, width] of [
    [true, "#000", STROKE + 3],
    [false, m.rgb, STROKE],
  ]) {
    for (const [name, attrs] of shapes) {
      const shape = el(name, { ...attrs, stroke: colour, "stroke-width": width });
      if (outline) shape.setAttribute("stroke-opacity", "0.6");
      g.append(shape);
    }
  }
  if (m.label) {
    const below = m.kind === "circle" ? y + m.r * w + 18 : y + 24;
    const text = el("text", { x, y: Math.min(below, h - 4), class: "ann-label", fill: m.rgb });
    text.textContent = m.label; // text, never markup
    g.append(text);
  }
  return g;
}

/** Shows `stream`'s marks over `video`; returns {allowMarking(me)} for the operator's tools. */
export function showAnnotations(stream, video) {
  const base = `/api/streams/${encodeURIComponent(stream)}/annotations`;
  const wrap = video.parentElement;
  const layer = el("svg", { class: "annotation-layer", "aria-hidden": "true" });
  wrap.append(layer);
  // Test hook: the marks as received, when each was first drawn, when each was made here.
  const state = { marks: [], drawnAt: {}, madeAt: {}, events: 0 };
  window.__annotations = state;
  let preview = null; // the shape being drawn, not yet sent
  let rect = null;
  let tools = null; // the operator's toolbar, once allowed

  function render() {
    rect = pictureRect(video);
    layer.hidden = rect == null;
    if (rect == null) return;
    Object.assign(layer.style, {
      left: `${rect.left}px`,
      top: `${rect.top}px`,
      width: `${rect.width}px`,
      height: `${rect.height}px`,
    });
    const now = Date.now();
    const live = state.marks.filter((m) => m.until > now);
    const shown = preview ? [...live, preview] : live;
    layer.replaceChildren(...shown.map((m) => drawMark(m, rect.width, rect.height)));
    const fresh = live.filter((m) => !(m.id in state.drawnAt));
    if (fresh.length) {
      // The frame that paints them: when a viewer sees the mark.
      requestAnimationFrame(() => {
        for (const m of fresh) state.drawnAt[m.id] ??= Date.now();
      });
    }
    tools?.list(live);
  }

  const events = new EventSource(`${base}/events`);
  events.onmessage = (e) => {
    const now = Date.now();
    // Expiry on this clock (the relay's may differ): its seconds left from now.
    state.marks = JSON.parse(e.data).annotations.map((m) => ({
      ...m,
      until: now + m.expires_in_s * 1000,
    }));
    state.events += 1;
    render();
  };
  new ResizeObserver(render).observe(video);
  video.addEventListener("resize", render); // a new rung: another picture size
  video.addEventListener("loadedmetadata", render);
  window.addEventListener("resize", render);
  // Expiry without an event (the connection may be out): a mark never outlives its time.
  setInterval(() => state.marks.some((m) => m.until <= Date.now()) && render(), 1000);

  /** The picture point (0..1) under a pointer event, clamped to the picture. */
  function point(e) {
    const box = layer.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return { x: clamp((e.clientX - box.left) / box.width), y: clamp((e.clientY - box.top) / box.height) };
  }

  function shapeOf(tool, from, to, label, colour) {
    const far = Math.hypot(to.x - from.x, to.y - from.y) >= TAP;
    const mark = { kind: tool, colour, x: from.x, y: from.y, label };
    if (tool === "circle") {
      const aspect = rect ? rect.height / rect.width : 1; // r is in picture widths
      const r = Math.hypot(to.x - from.x, (to.y - from.y) * aspect);
      mark.r = Math.min(0.5, Math.max(0.01, far ? r : TAP_RADIUS));
    } else if (tool === "arrow") {
      // A tap points at the spot from up-left; a drag goes from where it started.
      Object.assign(mark, far ? { x2: to.x, y2: to.y } : { x2: to.x, y2: to.y, x: to.x - 0.08, y: to.y - 0.08 });
      mark.x = Math.max(0, mark.x);
      mark.y = Math.max(0, mark.y);
    } else {
      Object.assign(mark, to);
    }
    return mark;
  }

  function allowMarking(me) {
    const box = document.getElementById("annotation-tools");
    if (!box || !me || !["operator", "admin"].includes(me.role) || me.kind === "share") return;
    tools = buildTools(box);
    box.hidden = false;
    let start = null;
    layer.addEventListener("pointerdown", (e) => {
      if (!tools.tool || !rect) return;
      e.preventDefault();
      layer.setPointerCapture(e.pointerId);
      start = point(e);
    });
    layer.addEventListener("pointermove", (e) => {
      if (!start) return;
      preview = { ...shapeOf(tools.tool, start, point(e), tools.label(), tools.colour), rgb: tools.rgb() };
      render();
    });
    const finish = async (e) => {
      if (!start) return;
      const body = shapeOf(tools.tool, start, point(e), tools.label(), tools.colour);
      start = null;
      preview = null;
      render();
      if (body.kind === "pin" && !body.label) return tools.say(t("ann.needLabel"));
      const madeAt = Date.now();
      const resp = await fetch(base, {
        method: "POST",
        headers: { "Content-Type": "application/json", ...csrfHeaders() },
        body: JSON.stringify({ ...body, public: tools.isPublic() }),
        cache: "no-store",
      }).catch(() => null);
      const answer = resp ? await resp.json().catch(() => ({})) : {};
      if (resp?.status === 201) {
        state.madeAt[answer.id] = madeAt;
        tools.say("");
      } else {
        tools.say(t("ann.failed", { status: resp ? resp.status : 0, reason: answer.reason ?? "" }));
      }
    };
    layer.addEventListener("pointerup", finish);
    layer.addEventListener("pointercancel", () => {
      start = preview = null;
      render();
    });
  }

  /** The operator's toolbar in `box`: tools, colours, labels, public, clear, the list. */
  function buildTools(box) {
    const api = { tool: null, colour: "red" };
    const button = (key, onClick, cls = "btn") => {
      const b = el("button", { type: "button", class: cls, "data-i18n": key }, null);
      b.textContent = t(key);
      b.addEventListener("click", onClick);
      return b;
    };
    const toolButtons = ["circle", "arrow", "pin"].map((tool) => {
      const b = button(`ann.${tool}`, () => pick(api.tool === tool ? null : tool));
      b.dataset.tool = tool;
      return b;
    });
    function pick(tool) {
      api.tool = tool;
      for (const b of toolButtons) b.setAttribute("aria-pressed", String(b.dataset.tool === tool));
      layer.classList.toggle("drawing", tool != null);
      say(tool ? t("ann.hint") : "");
    }
    const swatches = COLOURS.map((colour) => {
      const b = el("button", { type: "button", class: "btn ann-swatch", "data-colour": colour }, null);
      b.setAttribute("aria-label", t(`ann.${colour}`));
      b.addEventListener("click", () => {
        api.colour = colour;
        for (const s of swatches) s.setAttribute("aria-pressed", String(s === b));
      });
      return b;
    });
    swatches[0].setAttribute("aria-pressed", "true");
    const label = el("input", { type: "text", maxlength: 40, class: "ann-text" }, null);
    label.setAttribute("aria-label", t("ann.label"));
    label.placeholder = t("ann.label");
    const quick = QUICK.map((key) =>
      button(key, () => {
        label.value = t(key);
        if (!api.tool) pick("pin");
      }),
    );
    const pub = el("input", { type: "checkbox", id: "ann-public" }, null);
    const pubLabel = el("label", { class: "ann-public" }, null);
    const pubText = el("span", { "data-i18n": "ann.public" }, null);
    pubText.textContent = t("ann.public");
    pubLabel.append(pub, pubText);
    const clear = button("ann.clear", () =>
      fetch(base, { method: "DELETE", headers: csrfHeaders() }).catch(() => null),
    );
    const hint = el("p", { class: "ann-hint", "aria-live": "polite" }, null);
    const list = el("ul", { class: "ann-list" }, null);
    const row = (...kids) => {
      const div = el("div", { class: "ann-row" }, null);
      div.append(...kids);
      return div;
    };
    box.replaceChildren(row(...toolButtons, ...swatches), row(...quick, label, pubLabel, clear), hint, list);
    function say(text) {
      hint.textContent = text;
    }
    onLangChange(() => {
      for (const s of swatches) s.setAttribute("aria-label", t(`ann.${s.dataset.colour}`));
      label.placeholder = t("ann.label");
      render();
    });
    return Object.assign(api, {
      label: () => label.value.trim().slice(0, 40),
      rgb: () => getComputedStyle(swatches[COLOURS.indexOf(api.colour)]).backgroundColor,
      isPublic: () => pub.checked,
      say,
      list(marks) {
        list.replaceChildren(
          ...marks.map((m) => {
            const li = el("li", { "data-id": m.id }, null);
            const text = el("span", {}, null);
            const what = m.label || t(`ann.${m.kind}`);
            text.textContent = `${what} · ${m.author}${m.public ? " · ⇗" : ""}`;
            const del = button("ann.delete", () =>
              fetch(`${base}/${encodeURIComponent(m.id)}`, {
                method: "DELETE",
                headers: csrfHeaders(),
              }).catch(() => null),
            );
            li.append(text, del);
            return li;
          }),
        );
      },
    });
  }

  return { allowMarking };
}

function describe(mark) {
  const what = mark.label || t(`ann.${mark.kind}`);
  const where = `(${mark.x.toFixed(2)}, ${mark.y.toFixed(2)})`;
  const ground = mark.ground ? ` → ${mark.ground[0].toFixed(5)}, ${mark.ground[1].toFixed(5)}` : "";
  return `${what} ${mark.colour} ${where}${ground}`;
}

/** The incidents page: the marks kept with incident `id` (create, delete, clear; who, when,
 * what), as a list placed after `anchor` (made once). */
export async function listIncidentMarks(anchor, id) {
  let list = document.getElementById("incident-marks");
  if (!list) {
    const heading = el("h3", { "data-i18n": "ann.kept" }, null);
    heading.textContent = t("ann.kept");
    list = el("ul", { id: "incident-marks", class: "hash-list" }, null);
    anchor.after(heading, list);
  }
  const resp = await fetch(`/api/incidents/${encodeURIComponent(id)}/annotations`, {
    cache: "no-store",
  }).catch(() => null);
  if (!resp?.ok) return;
  const kept = (await resp.json()).annotations;
  list.dataset.incident = id;
  list.replaceChildren(
    ...kept.map((e) => {
      const li = el("li", { "data-action": e.action }, null);
      const marks = e.marks.map(describe).join("; ");
      li.textContent = `${e.time} · ${t(`ann.action.${e.action}`)} · ${e.by} · ${e.stream}: ${marks}`;
      return li;
    }),
  );
}
