// The map's controls (web/map.js): zoom buttons, "all" (fit and follow), the mouse wheel,
// panning with a finger or the mouse, and zooming by pinching with two fingers.

/** Buttons, wheel, drag and pinch on `mapEl`; every gesture leaves follow mode (view.auto). */
export function wireControls(mapEl, view, setZoom, schedule) {
  const $ = (id) => document.getElementById(id);
  $("zoom-in").addEventListener("click", () => ((view.auto = false), setZoom(view.zoom + 1)));
  $("zoom-out").addEventListener("click", () => ((view.auto = false), setZoom(view.zoom - 1)));
  $("zoom-fit").addEventListener("click", () => ((view.auto = true), schedule()));
  mapEl.addEventListener(
    "wheel",
    (e) => {
      e.preventDefault();
      view.auto = false;
      const r = mapEl.getBoundingClientRect();
      setZoom(view.zoom + (e.deltaY < 0 ? 1 : -1), { x: e.clientX - r.left, y: e.clientY - r.top });
    },
    { passive: false },
  );
  // Pan with one finger or the mouse, zoom by pinching with two.
  const pointers = new Map();
  let pinch = null;
  mapEl.addEventListener("pointerdown", (e) => {
    if (e.target.closest(".marker, .btn")) return; // a tap on a drone opens its player
    mapEl.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    pinch = null;
  });
  mapEl.addEventListener("pointermove", (e) => {
    const last = pointers.get(e.pointerId);
    if (!last) return;
    if (pointers.size === 2) {
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      const [a, b] = [...pointers.values()];
      const dist = Math.hypot(a.x - b.x, a.y - b.y);
      pinch ??= dist;
      if (dist / pinch > 1.6 || dist / pinch < 0.6) {
        const r = mapEl.getBoundingClientRect();
        const mid = { x: (a.x + b.x) / 2 - r.left, y: (a.y + b.y) / 2 - r.top };
        view.auto = false;
        setZoom(view.zoom + (dist > pinch ? 1 : -1), mid);
        pinch = dist;
      }
      return;
    }
    view.auto = false;
    view.cx -= e.clientX - last.x;
    view.cy -= e.clientY - last.y;
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    schedule();
  });
  const up = (e) => pointers.delete(e.pointerId);
  mapEl.addEventListener("pointerup", up);
  mapEl.addEventListener("pointercancel", up);
  window.addEventListener("resize", schedule);
}
