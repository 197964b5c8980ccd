// Privacy masks that an operator draws over the picture (docs/privacy.md): tap the polygon's
// corners on the video, finish, and the relay blacks that area out on the stream's privacy
// rungs (the public screen, share links) from the next frame on. Not web/annotations.js:
// those marks are drawn for the viewers to see; a mask hides.
//
// Points are in picture coordinates (0..1 of the picture, not of the element): the layer
// lies over the picture's displayed rect (fitLayer, as the annotations' layer) and
// follows it on every resize and rung change. Taps, not drags: a finger on a tablet in a
// moving vehicle places a corner more surely than it traces a line. Big targets: the
// corners are drawn 14 px wide, and a tap near the first corner closes the polygon.

import { fitLayer } from "/static/annotations_overlay.js";
import { csrfHeaders } from "/static/auth.js";
import { addStrings, getLang, onLangChange, t } from "/static/i18n.js";

addStrings({
  de: {
    "mask.draw": "Maske zeichnen",
    "mask.finish": "Fertig",
    "mask.undo": "Punkt zurück",
    "mask.cancel": "Abbrechen",
    "mask.delete": "Löschen",
    "mask.allRungs": "Alle Privatsphäre-Stufen",
    "mask.rung": "Stufe",
    "mask.hint": "Ecken der Maske auf das Bild tippen ({count} gesetzt, mindestens 3)",
    "mask.full": "Höchstens {max} Ecken",
    "mask.saved": "Maske aktiv",
    "mask.failed": "Maske nicht gespeichert (HTTP {status}): {reason}",
    "mask.item": "Maske · {author} · {time}",
  },
  en: {
    "mask.draw": "Draw mask",
    "mask.finish": "Done",
    "mask.undo": "Undo point",
    "mask.cancel": "Cancel",
    "mask.delete": "Delete",
    "mask.allRungs": "All privacy rungs",
    "mask.rung": "Rung",
    "mask.hint": "Tap the mask's corners on the picture ({count} set, at least 3)",
    "mask.full": "At most {max} corners",
    "mask.saved": "Mask active",
    "mask.failed": "Mask not saved (HTTP {status}): {reason}",
    "mask.item": "Mask · {author} · {time}",
  },
});

const SVG = "http://www.w3.org/2000/svg";
const CORNER = 14; // px: a corner a finger can see under itself
const CLOSE = 28; // px: a tap this near the first corner closes the polygon
const REFRESH_MS = 10000; // other operators' masks

function el(name, attrs = {}, ns = SVG) {
  const node = ns ? document.createElementNS(ns, name) : document.createElement(name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  return node;
}

/** Gives an operator (`me`) of `stream` the mask tools in #mask-tools and the drawing layer
 * over `video`; nothing for viewers, share links, or a stream without a privacy rung. */
export async function allowMaskDrawing(stream, video, me) {
  const box = document.getElementById("mask-tools");
  if (!box || !me || !["operator", "admin"].includes(me.role) || me.kind === "share") return;
  const base = `/api/streams/${encodeURIComponent(stream)}/privacy/masks`;
  const state = { masks: [], rungs: {}, maxPoints: 64, points: null, posted: 0 };
  window.__masks = state; // test hook
  if (!(await load())) return;
  if (!Object.keys(state.rungs).length) return; // no privacy rung: nothing to mask
  const layer = el("svg", { class: "mask-layer", "aria-hidden": "true" });
  video.parentElement.append(layer);
  const tools = buildTools();
  box.hidden = false;

  async function load() {
    const resp = await fetch(base, { cache: "no-store" }).catch(() => null);
    if (!resp?.ok) return false;
    const body = await resp.json();
    Object.assign(state, { masks: body.masks, rungs: body.rungs, maxPoints: body.max_points });
    return true;
  }

  function render() {
    const rect = fitLayer(layer, video);
    tools.update();
    if (rect == null) return;
    const at = ([x, y]) => `${x * rect.width},${y * rect.height}`;
    const shapes = state.masks.map((m) =>
      el("polygon", { class: "mask-shape", "data-id": m.id, points: m.points.map(at).join(" ") }),
    );
    if (state.points) {
      const open = el("polyline", { class: "mask-open", points: state.points.map(at).join(" ") });
      const corners = state.points.map(([x, y], i) =>
        el("circle", {
          class: i === 0 ? "mask-corner mask-first" : "mask-corner",
          cx: x * rect.width,
          cy: y * rect.height,
          r: CORNER,
        }),
      );
      shapes.push(open, ...corners);
    }
    layer.replaceChildren(...shapes);
  }

  layer.addEventListener("pointerdown", (e) => {
    if (!state.points) return;
    e.preventDefault(); // no scrolling, no zoom, no click on the video below
  });
  layer.addEventListener("pointerup", (e) => {
    const rect = layer.getBoundingClientRect();
    if (!state.points || !rect.width || !rect.height) return;
    const px = Math.min(rect.width, Math.max(0, e.clientX - rect.left));
    const py = Math.min(rect.height, Math.max(0, e.clientY - rect.top));
    const first = state.points[0];
    if (
      first &&
      state.points.length >= 3 &&
      Math.hypot(first[0] * rect.width - px, first[1] * rect.height - py) <= CLOSE
    ) {
      finish();
      return;
    }
    if (state.points.length >= state.maxPoints) {
      tools.say(t("mask.full", { max: state.maxPoints }));
      return;
    }
    state.points.push([px / rect.width, py / rect.height]);
    render();
  });

  // While corners are tapped the picture stays where it is: the status bar below it grows
  // and shrinks on its own (a badge saying the link is weak, a line saying the picture
  // stopped), and the video, which takes the height left, would move the picture under the
  // finger between the operator's aim and the tap. Laid afresh when the window changes.
  const wrap = video.parentElement;
  function pinPicture() {
    wrap.style.flex = "";
    wrap.style.flex = `0 0 ${wrap.getBoundingClientRect().height}px`;
  }

  function begin() {
    state.points = [];
    layer.classList.add("drawing");
    render(); // the tools for drawing first: they are part of the layout pinned
    pinPicture();
  }

  function stop() {
    state.points = null;
    layer.classList.remove("drawing");
    wrap.style.flex = "";
    render();
  }

  async function finish() {
    if (!state.points || state.points.length < 3) return;
    const body = { points: state.points.map(([x, y]) => [+x.toFixed(4), +y.toFixed(4)]) };
    if (tools.rung()) body.rung = tools.rung();
    stop();
    const resp = await fetch(base, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...csrfHeaders() },
      body: JSON.stringify(body),
      cache: "no-store",
    }).catch(() => null);
    const answer = resp ? await resp.json().catch(() => ({})) : {};
    if (resp?.status === 201) {
      state.posted += 1;
      tools.say(t("mask.saved"));
    } else {
      tools.say(t("mask.failed", { status: resp ? resp.status : 0, reason: answer.reason ?? "" }));
    }
    await refresh();
  }

  async function remove(id) {
    await fetch(`${base}/${encodeURIComponent(id)}`, {
      method: "DELETE",
      headers: csrfHeaders(),
    }).catch(() => null);
    await refresh();
  }

  async function refresh() {
    if (await load()) render();
  }

  function buildTools() {
    const button = (key, onClick, cls = "btn") => {
      const b = el("button", { type: "button", class: cls, "data-i18n": key }, null);
      b.textContent = t(key);
      b.addEventListener("click", onClick);
      return b;
    };
    const draw = button("mask.draw", begin, "btn mask-draw");
    const done = button("mask.finish", finish);
    const undo = button("mask.undo", () => {
      state.points?.pop();
      render();
    });
    const cancel = button("mask.cancel", stop);
    // Which rungs: all privacy rungs (the default), or one of them when there are several.
    const select = el("select", { class: "mask-rung" }, null);
    select.setAttribute("aria-label", t("mask.rung"));
    const rungs = Object.keys(state.rungs);
    select.hidden = rungs.length < 2;
    const hint = el("p", { class: "mask-hint", "aria-live": "polite" }, null);
    const list = el("ul", { class: "mask-list" }, null);
    const row = el("div", { class: "mask-row" }, null);
    row.append(draw, done, undo, cancel, select);
    box.replaceChildren(row, hint, list);
    let said = "";
    function fillRungs() {
      const all = el("option", { value: "" }, null);
      all.textContent = t("mask.allRungs");
      const each = rungs.map((r) => {
        const o = el("option", { value: r }, null);
        o.textContent = r;
        return o;
      });
      const chosen = select.value;
      select.replaceChildren(all, ...each);
      select.value = chosen;
    }
    fillRungs();
    onLangChange(() => {
      fillRungs();
      render();
    });
    return {
      rung: () => select.value,
      say(text) {
        said = text;
        render();
      },
      update() {
        const drawing = state.points != null;
        draw.hidden = drawing;
        done.hidden = undo.hidden = cancel.hidden = !drawing;
        done.disabled = !drawing || state.points.length < 3;
        undo.disabled = !drawing || !state.points.length;
        hint.textContent = drawing ? t("mask.hint", { count: state.points.length }) : said;
        list.replaceChildren(
          ...state.masks.map((m) => {
            const li = el("li", { "data-id": m.id }, null);
            const text = el("span", {}, null);
            const locale = getLang() === "de" ? "de-DE" : "en-GB";
            const time = new Date(m.created).toLocaleTimeString(locale);
            text.textContent = t("mask.item", { author: m.author, time });
            if (m.rung) text.textContent += ` · ${m.rung}`;
            li.append(text, button("mask.delete", () => remove(m.id)));
            return li;
          }),
        );
      },
    };
  }

  new ResizeObserver(render).observe(video);
  video.addEventListener("resize", render); // a new rung: another picture size
  video.addEventListener("loadedmetadata", render);
  window.addEventListener("resize", () => {
    if (state.points) pinPicture();
    render();
  });
  setInterval(() => !document.hidden && !state.points && refresh(), REFRESH_MS);
  render();
}
