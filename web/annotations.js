// Live annotations in the player: circles, arrows and text pins that an operator draws and
// every viewer of the stream sees (docs/annotations.md). Not web/marks.js: those are frame
// marks for measuring the delay. The parts, each a module of its own, so that the wall, the
// kiosk and the map take only what they need: the layer over the picture and its rect maths
// (annotations_overlay.js), the event stream (annotations_feed.js), the operator's tools
// (annotations_tools.js), the incidents page's list (annotations_incident.js).

import { followMarks } from "/static/annotations_feed.js";
import { markLayer } from "/static/annotations_overlay.js";
import { enableMarking } from "/static/annotations_tools.js";

export { listIncidentMarks } from "/static/annotations_incident.js";
export { pictureRect } from "/static/annotations_overlay.js";

/** Shows `stream`'s marks over `video`; returns {allowMarking(me)} for the operator's tools. */
export function showAnnotations(stream, video) {
  // Test hook: the marks as received, when each was first drawn, when each was made here.
  const state = { marks: [], drawnAt: {}, madeAt: {}, events: 0 };
  window.__annotations = state;
  const overlay = markLayer(video, state);
  followMarks(stream, (marks) => {
    state.marks = marks;
    state.events += 1;
    overlay.render();
  });

  function allowMarking(me) {
    const box = document.getElementById("annotation-tools");
    if (!box || !me || !["operator", "admin"].includes(me.role) || me.kind === "share") return;
    enableMarking(box, `/api/streams/${encodeURIComponent(stream)}/annotations`, overlay, state);
  }

  return { allowMarking };
}
