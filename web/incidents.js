// Control room: start and stop incidents, play their recordings (seekable), export clips,
// save snapshots, and show every file's SHA-256 and the incident's audit trail.

import { listIncidentMarks } from "/static/annotations.js";
import { csrfHeaders, loggedOut } from "/static/auth.js";
import { initLang, num, onLangChange, t } from "/static/i18n.js";
import { loadTrack, showTrackAt } from "/static/track.js";

const POLL_MS = 2000;
const $ = (id) => document.getElementById(id);
const video = $("rec-video");
const view = { selected: decodeURIComponent(location.hash.slice(1)), detail: null,
  incidents: [], playing: null, queue: [], track: null, tracks: new Map() };
window.__incidents = view; // test hook and debugging aid

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString(document.documentElement.lang) : "–";
}

function showError(text) {
  $("error-banner").hidden = !text;
  $("error-banner").textContent = text || "";
}

async function api(method, path, body) {
  // One place for every request: a state change from the logged-in page carries the
  // session's CSRF token.
  const init = { method, cache: "no-store", headers: method === "GET" ? {} : csrfHeaders() };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const resp = await fetch(path, init);
  // Logged out (here or elsewhere) or the login expired: the reload shows the login form,
  // which brings the operator back to this page; polling on would only say "unreachable".
  if (resp.status === 401) {
    loggedOut();
    throw new Error(t("inc.loggedOut"));
  }
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) throw new Error(data.reason || `HTTP ${resp.status}`);
  return data;
}

function statusBadge(node, status) {
  node.className = `badge badge-inc-${status}`;
  node.dataset.status = status;
  node.textContent = t(`inc.status.${status}`);
}

// Free text about streams this login may not watch comes back empty and named in
// `withheld`: say so instead of showing a blank.
function text(item, key) {
  return item.withheld?.includes(key) ? t("inc.withheld") : item[key];
}

function renderList() {
  const list = $("incident-list");
  list.replaceChildren();
  for (const inc of view.incidents) {
    const li = el("li");
    const button = el("button", "inc-item");
    button.type = "button";
    button.dataset.incident = inc.id;
    button.classList.toggle("selected", inc.id === view.selected);
    const badge = el("span");
    statusBadge(badge, inc.status);
    button.append(el("strong", "inc-item-title", text(inc, "title")), badge,
      el("span", "inc-item-meta", `${when(inc.created)} · ${inc.streams.join(", ")}`));
    if (inc.error) button.append(el("span", "inc-error", inc.error));
    button.addEventListener("click", () => select(inc.id));
    li.append(button);
    list.append(li);
  }
  $("list-note").hidden = view.incidents.length > 0;
  $("list-note").textContent = t("inc.empty");
}

function segmentRow(rec, seg, index) {
  const tr = el("tr");
  tr.dataset.file = seg.file;
  const play = el("button", "btn btn-small", t("inc.play"));
  play.type = "button";
  play.dataset.play = seg.url;
  play.addEventListener("click", () => playFrom(rec, index));
  const flags = [seg.open ? t("inc.open") : "", seg.recovered ? t("inc.recovered") : ""];
  tr.append(
    el("td", "", "").appendChild(play).parentNode,
    el("td", "", when(seg.start)),
    el("td", "num", seg.duration_s != null ? `${num(seg.duration_s, 1)} s` : "…"),
    el("td", "num", `${num((seg.bytes || 0) / 1e6, 1)} MB`),
    el("td", "flag", flags.filter(Boolean).join(" ")),
    el("td", "hash", seg.sha256 || t("inc.notSealed")),
  );
  if (view.playing === seg.url) tr.classList.add("playing");
  return tr;
}

function renderRecordings(detail) {
  const wrap = $("recordings");
  wrap.replaceChildren();
  for (const rec of detail.recordings) {
    const head = el("h4", "", `${rec.stream} – ${t(`inc.rec.${rec.state}`)} – ` +
      `${num(rec.duration_s, 1)} s`);
    wrap.append(head);
    if (rec.error) wrap.append(el("p", "inc-error", rec.error));
    const table = el("table", "segments");
    table.dataset.stream = rec.stream;
    for (const [i, seg] of rec.segments.entries()) {
      table.append(segmentRow(rec, seg, i));
    }
    wrap.append(table);
  }
}

function renderFiles(detail) {
  const files = $("files");
  files.replaceChildren();
  for (const f of [...detail.clips, ...detail.snapshots]) {
    const li = el("li");
    const a = el("a", "", f.file);
    a.href = f.url;
    a.target = "_blank";
    a.rel = "noopener";
    li.append(a, el("code", "hash", f.sha256));
    files.append(li);
  }
  $("manifest-hash").textContent = detail.manifest_sha256 || "–";
}

function renderAudit(detail) {
  const rows = $("audit-rows");
  rows.replaceChildren();
  for (const e of detail.audit) {
    const tr = el("tr");
    tr.dataset.event = e.event;
    const extra = Object.entries(e)
      .filter(([k]) => !["time", "event", "who", "from", "incident"].includes(k))
      .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(" ");
    tr.append(el("td", "", e.time), el("td", "", e.event), el("td", "", e.who),
      el("td", "hash", extra));
    rows.append(tr);
  }
}

function renderDetail() {
  const d = view.detail;
  $("detail").hidden = !d;
  if (!d) return;
  $("detail-title").textContent = text(d, "title");
  statusBadge($("detail-status"), d.status);
  $("detail-meta").textContent = `${t("inc.created")} ${when(d.created)} · ` +
    `${t("inc.stopped")} ${when(d.stopped)}${d.hold ? ` · ${t("inc.hold")}` : ""}` +
    `${d.note ? ` · ${d.note}` : ""}`;
  $("detail-error").hidden = !d.error;
  $("detail-error").textContent = d.error ? `${t("inc.failed")}: ${d.error}` : "";
  $("stop-button").hidden = d.status !== "recording";
  $("snapshot-button").hidden = d.status !== "recording";
  renderRecordings(d);
  renderFiles(d);
  listIncidentMarks($("files"), d.id);
  renderAudit(d);
}

function playFrom(rec, index) {
  // Segments of a stream play one after the other; within one, the <video> seeks freely
  // (the relay answers Range requests, also on the segment still being written).
  const segments = rec.segments;
  view.queue = segments.slice(index + 1);
  view.playing = segments[index].url;
  video.src = view.playing;
  playTrack(rec, segments[index]);
  $("now-playing").textContent = `${t("inc.playing")}: ${segments[index].file}`;
  video.play().catch(() => {}); // autoplay may be refused; the controls still work
  if (view.detail) renderRecordings(view.detail);
}

video.addEventListener("ended", () => {
  const next = view.queue.shift();
  if (!next) return;
  view.playing = next.url;
  video.src = next.url;
  if (view.track) view.track.start = Date.parse(next.start) / 1000;
  video.play().catch(() => {});
});

// The recorded telemetry of the stream played, at the moment on screen: the segment's
// start (UTC, from the manifest) plus the video's position.
async function playTrack(rec, seg) {
  view.track = null;
  showTrackAt(null, 0);
  if (!rec.telemetry) return;
  const url = rec.telemetry.url;
  try {
    if (!view.tracks.has(url) || rec.telemetry.open) view.tracks.set(url, await loadTrack(url));
  } catch (err) {
    showError(`${t("inc.unreachable")}: ${err.message}`);
    return;
  }
  view.track = { samples: view.tracks.get(url), start: Date.parse(seg.start) / 1000 };
  showTrackAt(view.track.samples, view.track.start + video.currentTime);
}

for (const event of ["timeupdate", "seeked"]) {
  video.addEventListener(event, () => {
    if (view.track) showTrackAt(view.track.samples, view.track.start + video.currentTime);
  });
}

async function refresh() {
  try {
    view.incidents = (await api("GET", "/api/incidents")).incidents;
    renderList();
    if (view.selected) {
      view.detail = await api("GET", `/api/incidents/${encodeURIComponent(view.selected)}`);
      renderDetail();
    }
    document.body.dataset.state = "ok";
    showError("");
  } catch (err) {
    document.body.dataset.state = "error";
    showError(`${t("inc.unreachable")}: ${err.message}`);
  }
}

async function poll() {
  await refresh();
  setTimeout(poll, POLL_MS);
}

function select(id) {
  view.selected = id;
  view.detail = null;
  location.hash = encodeURIComponent(id);
  refresh();
}

async function loadStreams() {
  const box = $("new-streams");
  try {
    const { streams } = await api("GET", "/api/streams");
    for (const s of streams) {
      const label = el("label", "check");
      const input = el("input");
      input.type = "checkbox";
      input.value = s.name;
      input.checked = streams.length === 1;
      label.append(input, el("span", "", s.name));
      box.append(label);
    }
  } catch (err) {
    showError(err.message);
  }
}

async function act(fn) {
  try {
    await fn();
    showError("");
  } catch (err) {
    showError(err.message);
  }
  refresh();
}

$("new-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const streams = [...$("new-streams").querySelectorAll("input:checked")].map((i) => i.value);
  act(async () => {
    const { id } = await api("POST", "/api/incidents", {
      title: $("new-title").value, streams, note: $("new-note").value });
    $("new-title").value = "";
    $("new-note").value = "";
    select(id);
  });
});
$("stop-button").addEventListener("click", () =>
  act(() => api("POST", `/api/incidents/${encodeURIComponent(view.selected)}/stop`)));
$("snapshot-button").addEventListener("click", () => act(async () => {
  for (const stream of view.detail.streams) {
    await api("POST", `/api/incidents/${encodeURIComponent(view.selected)}/snapshots`,
      { stream });
  }
}));
$("clip-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  act(async () => {
    const clip = await api("POST", `/api/incidents/${encodeURIComponent(view.selected)}/clips`,
      { stream: view.detail.streams[0], from_s: Number($("clip-from").value),
        to_s: Number($("clip-to").value) });
    $("clip-result").textContent = t("inc.clipDone", {
      from: num(clip.from_s, 1), to: num(clip.to_s, 1) });
  });
});

initLang($("lang-toggle"));
onLangChange(() => {
  document.title = t("inc.title");
  renderList();
  renderDetail();
});
document.title = t("inc.title");
loadStreams();
poll();
