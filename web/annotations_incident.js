// The incidents page's list of the marks an incident kept (docs/annotations.md).

import { el } from "/static/annotations_overlay.js";
import "/static/annotations_i18n.js";
import { t } from "/static/i18n.js";

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
