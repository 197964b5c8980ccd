// The operator's drawing tools over the picture (docs/annotations.md): a toolbar (kinds,
// colours, quick labels, public, clear, the list of live marks) and drawing with a tap or a
// drag (pointer events: a finger on a tablet, a pen or a mouse alike) on the mark layer.

import { csrfHeaders } from "/static/auth.js";
import { el } from "/static/annotations_overlay.js";
import "/static/annotations_i18n.js";
import { onLangChange, t } from "/static/i18n.js";

const COLOURS = ["red", "yellow", "blue", "green", "white"]; // the relay's fixed set
const QUICK = ["ann.q.fire", "ann.q.person", "ann.q.access"];
const TAP = 0.01; // a drag shorter than this (picture widths) is a tap
const TAP_RADIUS = 0.05;

/** The mark a gesture from `from` to `to` (picture points) makes with `tool`. */
function shapeOf(tool, from, to, label, colour, rect) {
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

/** Lets an operator draw on `overlay` (web/annotations_overlay.js) of the stream whose marks
 * live at `base`, with the toolbar in `box`; `state.madeAt` records when each mark was made
 * here (a test hook). */
export function enableMarking(box, base, overlay, state) {
  const { layer } = overlay;
  const tools = buildTools(box, base, layer, () => overlay.render());
  overlay.onRender((live) => tools.list(live));
  box.hidden = false;
  let start = null;

  /** The picture point (0..1) under a pointer event, clamped to the picture. */
  function point(e) {
    const box = layer.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    return { x: clamp((e.clientX - box.left) / box.width), y: clamp((e.clientY - box.top) / box.height) };
  }
  const shape = (e) => shapeOf(tools.tool, start, point(e), tools.label(), tools.colour, overlay.rect());

  layer.addEventListener("pointerdown", (e) => {
    if (!tools.tool || !overlay.rect()) return;
    e.preventDefault();
    layer.setPointerCapture(e.pointerId);
    start = point(e);
  });
  layer.addEventListener("pointermove", (e) => {
    if (start) overlay.render([{ ...shape(e), rgb: tools.rgb() }]);
  });
  layer.addEventListener("pointerup", async (e) => {
    if (!start) return;
    const body = shape(e);
    start = null;
    overlay.render([]);
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
  });
  layer.addEventListener("pointercancel", () => {
    start = null;
    overlay.render([]);
  });
  overlay.render();
}

/** The operator's toolbar in `box`: tools, colours, labels, public, clear, the list. */
function buildTools(box, base, layer, rerender) {
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
  const clear = button("ann.clear", () => fetch(base, { method: "DELETE", headers: csrfHeaders() }).catch(() => null));
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
    rerender();
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
            fetch(`${base}/${encodeURIComponent(m.id)}`, { method: "DELETE", headers: csrfHeaders() }).catch(() => null),
          );
          li.append(text, del);
          return li;
        }),
      );
    },
  });
}
