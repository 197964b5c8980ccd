// The marks as server-sent events (docs/annotations.md): each event the whole set of a
// stream's marks visible to this login (share links: the public ones), on every change.
// EventSource reconnects by itself. One stream (the player, the kiosk) or several on one
// connection (the wall, the map: a browser opens at most six HTTP/1.1 connections to a host).

/** The marks of an event, each with `until`: its expiry on this clock (the relay's may
 * differ), from the seconds it has left. */
function received(marks) {
  const now = Date.now();
  return marks.map((m) => ({ ...m, until: now + m.expires_in_s * 1000 }));
}

/** Follows one stream's marks: `onMarks(marks)` on every change. Returns the EventSource. */
export function followMarks(stream, onMarks) {
  const events = new EventSource(`/api/streams/${encodeURIComponent(stream)}/annotations/events`);
  events.onmessage = (e) => onMarks(received(JSON.parse(e.data).annotations));
  return events;
}

/** Follows several streams' marks on one connection: `onMarks(stream, marks)`. */
export function followMarksOf(streams, onMarks) {
  const query = streams.map((n) => `stream=${encodeURIComponent(n)}`).join("&");
  const events = new EventSource(`/api/annotations/events?${query}`);
  events.onmessage = (e) => {
    const { stream, annotations } = JSON.parse(e.data);
    onMarks(stream, received(annotations));
  };
  return events;
}
