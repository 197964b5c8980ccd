// The audit log for admins: newest first, filterable by event, refreshed on demand.

import { initUser, loggedOut } from "/static/auth.js";
import { initLang, t } from "/static/i18n.js";

const rows = document.getElementById("audit-rows");
const note = document.getElementById("audit-note");
const filter = document.getElementById("audit-filter");

const BASE_KEYS = new Set(["time", "event", "who", "from"]);

function cell(text) {
  const td = document.createElement("td");
  td.textContent = text; // textContent: audit fields come from clients, never HTML
  return td;
}

async function load() {
  const query = new URLSearchParams({ limit: "1000" });
  if (filter.value) query.set("event", filter.value);
  const resp = await fetch(`/api/audit?${query}`, { cache: "no-store" });
  if (resp.status === 401) return loggedOut();
  if (!resp.ok) {
    note.hidden = false;
    note.textContent = `HTTP ${resp.status}`;
    return;
  }
  const events = (await resp.json()).events.reverse();
  rows.replaceChildren(
    ...events.map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.event = e.event;
      const details = Object.entries(e)
        .filter(([k]) => !BASE_KEYS.has(k))
        .map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`)
        .join(" ");
      const time = String(e.time ?? "").replace("T", " ").replace("+00:00", "");
      tr.append(cell(time), cell(e.event), cell(e.who), cell(e.from), cell(details));
      return tr;
    }),
  );
  note.hidden = events.length > 0;
  note.textContent = t("audit.empty");
}

filter.addEventListener("change", load);
document.getElementById("audit-refresh").addEventListener("click", load);
initLang(document.getElementById("lang-toggle"));
document.title = `${t("audit.title")} – ${t("list.title")}`;
initUser();
load();
