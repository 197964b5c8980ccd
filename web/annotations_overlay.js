// The marks over a picture (docs/annotations.md): an SVG layer laid over the picture's
// displayed rect inside a <video> and the drawing of each mark. The player, the wall's tiles
// and the kiosk use it; the rect maths is shared with other layers over the picture.
//
// Marks are in picture coordinates (0..1 of the picture, not of the element): object-fit:
// contain letterboxes the picture inside the <video>, so the layer follows the picture, laid
// again on every resize, rotation, fullscreen and rung change.

export const SVG = "http://www.w3.org/2000/svg";
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

/** Lays `layer` over the picture's displayed rect inside `video` and hides it before the
 * first frame; returns the rect (null then). */
export function fitLayer(layer, video) {
  const rect = pictureRect(video);
  layer.hidden = rect == null;
  if (rect == null) return null;
  Object.assign(layer.style, {
    left: `${rect.left}px`,
    top: `${rect.top}px`,
    width: `${rect.width}px`,
    height: `${rect.height}px`,
  });
  return rect;
}

/** An element (SVG unless `ns` is null) with its attributes. */
export function el(name, attrs = {}, ns = SVG) {
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

/** A layer over `video`'s picture (appended to its parent, which must be positioned) that
 * draws `state.marks` (each with `until`, ms on this clock) and records in `state.drawnAt`
 * when each mark was first painted (a test hook: when a viewer sees it).
 * Returns {layer, rect(), render(extra)}: `extra` marks (the one being drawn) go on top. */
export function markLayer(video, state) {
  const layer = el("svg", { class: "annotation-layer", "aria-hidden": "true" });
  video.parentElement.append(layer);
  let rect = null;
  let extra = [];
  let onRender = null;

  function render(more = extra) {
    extra = more;
    rect = fitLayer(layer, video);
    if (rect == null) return;
    const now = Date.now();
    const live = state.marks.filter((m) => m.until > now);
    layer.replaceChildren(...[...live, ...extra].map((m) => drawMark(m, rect.width, rect.height)));
    const fresh = live.filter((m) => !(m.id in state.drawnAt));
    if (fresh.length) {
      // The frame that paints them: when a viewer sees the mark.
      requestAnimationFrame(() => {
        for (const m of fresh) state.drawnAt[m.id] ??= Date.now();
      });
    }
    onRender?.(live);
  }

  new ResizeObserver(() => render()).observe(video);
  video.addEventListener("resize", () => render()); // a new rung: another picture size
  video.addEventListener("loadedmetadata", () => render());
  window.addEventListener("resize", () => render());
  // Expiry without an event (the connection may be out): a mark never outlives its time.
  setInterval(() => state.marks.some((m) => m.until <= Date.now()) && render(), 1000);
  return {
    layer,
    rect: () => rect,
    render,
    /** `fn(liveMarks)` after every render (the operator's list of marks). */
    onRender(fn) {
      onRender = fn;
    },
  };
}
