// Labels for the UI. German is the default because the crews work in German; English is
// one tap away for visiting units. Every visible string goes through t() so nothing is
// left half-translated after a switch.

const STORAGE_KEY = "drone-relay.lang";

const DICT = {
  de: {
    "list.title": "Drohnen-Lagebild",
    "list.loading": "Lade Streams…",
    "list.empty": "Keine Streams konfiguriert.",
    "list.unreachable": "Relay nicht erreichbar – neuer Versuch läuft …",
    "list.viewers": "Zuschauer",
    "list.fpsIn": "Eingang",
    "list.resolution": "Auflösung",
    "list.bitrate": "Datenrate",
    "list.renditions": "Qualitäten",
    "list.rungRunning": "läuft",
    "list.rungIdle": "ruht",
    "state.live": "LIVE",
    "state.connecting": "Verbinde…",
    "state.offline": "Offline",
    "state.lost": "Verbindung verloren – verbinde neu",
    "state.weak": "Verbindung schwach",
    "state.interrupted": "Verbindung unterbrochen",
    "tele.position": "Position",
    "tele.altitude": "Höhe",
    "tele.altRel": "{m} m über Start",
    "tele.altMsl": "{m} m ü. NN",
    "tele.heading": "Kurs",
    "tele.speed": "Geschwindigkeit",
    "tele.stale": "veraltet ({s} s alt)",
    "tele.interpolated": "interpoliert (gemessen vor {s} s)",
    "tele.estimated": "geschätzt (gemessen vor {s} s)",
    "tele.older": "{s} s älter als das Bild",
    "tele.newer": "{s} s jünger als das Bild",
    "player.back": "← Übersicht",
    "player.delay": "Verzögerung",
    "player.delay.measured": "Verzögerung (gemessen)",
    "player.delay.measured.covers":
      "Gemessen: Aufnahme in der Kamera → Bild auf diesem Gerät, aus den Bildmarken im Video",
    "player.delay.estimate": "Verzögerung ≈ (Schätzung)",
    "player.delay.estimate.covers":
      "Schätzung: Relais (mit Sendewarteschlange) + Netz (halbe Umlaufzeit) + Puffer und " +
      "Dekodieren im Browser; ohne die Funkstrecke der Drohne und die Anzeige",
    "player.fps": "Bildrate",
    "player.resolution": "Auflösung",
    "player.transport": "Übertragung",
    "player.transport.webrtc": "WebRTC",
    "player.transport.mse": "WebSocket (MSE)",
    "player.transport.mse.covers":
      "WebRTC kommt durch dieses Netz nicht durch (UDP gesperrt); das Bild kommt über " +
      "die Web-Verbindung. WebRTC wird alle 30 s wieder versucht.",
    "player.rendition": "Qualität",
    "player.fullscreen": "Vollbild",
    "player.exitFullscreen": "Vollbild beenden",
    "player.attempt": "Versuch {n}",
    "player.noPictureFor": "Kein neues Bild seit {s} s – warte auf das Netz",
    "inc.title": "Einsätze und Aufzeichnungen",
    "inc.new": "Neuer Einsatz",
    "inc.fieldTitle": "Titel",
    "inc.fieldStreams": "Streams",
    "inc.fieldNote": "Notiz",
    "inc.start": "Aufzeichnung starten",
    "inc.stop": "Aufzeichnung beenden",
    "inc.snapshot": "Standbild speichern",
    "inc.list": "Einsätze",
    "inc.loading": "Lade…",
    "inc.empty": "Noch keine Einsätze.",
    "inc.segments": "Aufzeichnung",
    "track.none": "Keine Telemetrie zu dieser Zeit",
    "inc.files": "Ausschnitte und Standbilder",
    "inc.manifest": "Manifest SHA-256",
    "inc.audit": "Protokoll",
    "inc.auditTime": "Zeit (UTC)",
    "inc.auditEvent": "Ereignis",
    "inc.auditWho": "Wer",
    "inc.auditDetail": "Details",
    "inc.clipFrom": "von s",
    "inc.clipTo": "bis s",
    "inc.clip": "Ausschnitt exportieren",
    "inc.clipDone": "Ausschnitt {from}–{to} s gespeichert (an Schlüsselbildern geschnitten)",
    "inc.play": "▶ Abspielen",
    "inc.playing": "Wiedergabe",
    "inc.open": "wird geschrieben",
    "inc.recovered": "nach Absturz wiederhergestellt",
    "inc.notSealed": "noch offen",
    "inc.created": "Beginn",
    "inc.stopped": "Ende",
    "inc.hold": "gesperrt gegen Löschung",
    "inc.failed": "Aufzeichnung gestoppt",
    "inc.withheld": "(verborgen: betrifft Streams ohne Freigabe)",
    "inc.unreachable": "Relay nicht erreichbar",
    "inc.loggedOut": "Abgemeldet – bitte neu anmelden",
    "inc.status.recording": "AUFNAHME",
    "inc.status.stopping": "Beende…",
    "inc.status.stopped": "Beendet",
    "inc.status.failed": "FEHLER",
    "inc.status.interrupted": "Unterbrochen",
    "inc.rec.recording": "nimmt auf",
    "inc.rec.stopping": "beendet",
    "inc.rec.stopped": "beendet",
    "inc.rec.failed": "FEHLER",
    "reason.unreachable": "Relay nicht erreichbar",
    "reason.stalled": "Kein neues Bild seit 15 s",
    "reason.closed": "Sitzung vom Relay beendet",
    "reason.no_video": "Kein Bild empfangen",
    "reason.failed": "Verbindungsaufbau fehlgeschlagen",
    "reason.no_mse": "Dieser Browser kann kein Media Source Extensions (kein Ersatzweg)",
    "lang.toggle": "EN",
    "lang.toggleLabel": "Switch to English",
    "login.title": "Anmelden",
    "login.name": "Name",
    "login.password": "Passwort",
    "login.submit": "Anmelden",
    "login.hint": "Mit Token: die Adresse öffnen, die das Relay beim Start ausgibt (…/login?token=…).",
    "login.wrong": "Name oder Passwort falsch.",
    "login.tooMany": "Zu viele Versuche – bitte in {s} s erneut.",
    "login.failed": "Anmeldung fehlgeschlagen (HTTP {status}).",
    "user.logout": "Abmelden",
    "user.audit": "Protokoll",
    "user.shared": "Geteilter Link",
    "share.validFor": "Link gültig",
    "share.1h": "1 Stunde",
    "share.8h": "8 Stunden",
    "share.24h": "24 Stunden",
    "share.7d": "7 Tage",
    "share.create": "Link teilen",
    "share.failed": "Link nicht erstellt (HTTP {status})",
    "share.until": "Link bis {until} ({by})",
    "share.revoke": "Widerrufen",
    "audit.title": "Protokoll",
    "audit.time": "Zeit (UTC)",
    "audit.event": "Ereignis",
    "audit.who": "Wer",
    "audit.from": "Von",
    "audit.details": "Details",
    "audit.all": "Alle Ereignisse",
    "audit.refresh": "Aktualisieren",
    "audit.empty": "Keine Einträge.",
    "map.title": "Lagekarte",
    "map.link": "Karte",
    "map.fit": "Alle",
    "map.loading": "Lade Karte…",
    "map.none": "Keine Drohne mit Position freigegeben.",
    "map.waiting": "Warte auf Position: {names}",
    "map.noTelemetry": "Ohne Telemetrie: {names}",
    "map.open": "Bild öffnen",
    "map.msl": "{m} m ü. NN",
  },
  en: {
    "list.title": "Drone live view",
    "list.loading": "Loading streams…",
    "list.empty": "No streams configured.",
    "list.unreachable": "Relay unreachable – retrying …",
    "list.viewers": "Viewers",
    "list.fpsIn": "Input",
    "list.resolution": "Resolution",
    "list.bitrate": "Bitrate",
    "list.renditions": "Renditions",
    "list.rungRunning": "running",
    "list.rungIdle": "idle",
    "state.live": "LIVE",
    "state.connecting": "Connecting…",
    "state.offline": "Offline",
    "state.lost": "Connection lost – reconnecting",
    "state.weak": "Weak connection",
    "state.interrupted": "Connection interrupted",
    "tele.position": "Position",
    "tele.altitude": "Altitude",
    "tele.altRel": "{m} m above take-off",
    "tele.altMsl": "{m} m above sea level",
    "tele.heading": "Heading",
    "tele.speed": "Speed",
    "tele.stale": "stale ({s} s old)",
    "tele.interpolated": "interpolated (measured {s} s ago)",
    "tele.estimated": "estimated (measured {s} s ago)",
    "tele.older": "{s} s older than the picture",
    "tele.newer": "{s} s newer than the picture",
    "player.back": "← Overview",
    "player.delay": "Delay",
    "player.delay.measured": "Delay (measured)",
    "player.delay.measured.covers":
      "Measured: capture in the camera → picture on this device, from the frame marks in the video",
    "player.delay.estimate": "Delay ≈ (estimate)",
    "player.delay.estimate.covers":
      "Estimate: relay (with its send queue) + network (half the round trip) + buffer and " +
      "decoding in the browser; without the drone's own link and the display",
    "player.fps": "Frame rate",
    "player.resolution": "Resolution",
    "player.transport": "Transport",
    "player.transport.webrtc": "WebRTC",
    "player.transport.mse": "WebSocket (MSE)",
    "player.transport.mse.covers":
      "WebRTC does not get through this network (UDP blocked); the picture comes over the " +
      "web connection. WebRTC is tried again every 30 s.",
    "player.rendition": "Quality",
    "player.fullscreen": "Fullscreen",
    "player.exitFullscreen": "Exit fullscreen",
    "player.attempt": "Attempt {n}",
    "player.noPictureFor": "No new picture for {s} s – waiting for the network",
    "inc.title": "Incidents and recordings",
    "inc.new": "New incident",
    "inc.fieldTitle": "Title",
    "inc.fieldStreams": "Streams",
    "inc.fieldNote": "Note",
    "inc.start": "Start recording",
    "inc.stop": "Stop recording",
    "inc.snapshot": "Save snapshot",
    "inc.list": "Incidents",
    "inc.loading": "Loading…",
    "inc.empty": "No incidents yet.",
    "inc.segments": "Recording",
    "track.none": "No telemetry at this time",
    "inc.files": "Clips and snapshots",
    "inc.manifest": "Manifest SHA-256",
    "inc.audit": "Audit trail",
    "inc.auditTime": "Time (UTC)",
    "inc.auditEvent": "Event",
    "inc.auditWho": "Who",
    "inc.auditDetail": "Details",
    "inc.clipFrom": "from s",
    "inc.clipTo": "to s",
    "inc.clip": "Export clip",
    "inc.clipDone": "Clip {from}–{to} s saved (cut at keyframes)",
    "inc.play": "▶ Play",
    "inc.playing": "Playing",
    "inc.open": "being written",
    "inc.recovered": "recovered after a crash",
    "inc.notSealed": "still open",
    "inc.created": "Start",
    "inc.stopped": "End",
    "inc.hold": "on hold (not deleted)",
    "inc.failed": "Recording stopped",
    "inc.withheld": "(withheld: concerns streams you may not watch)",
    "inc.unreachable": "Relay unreachable",
    "inc.loggedOut": "Logged out – please log in again",
    "inc.status.recording": "RECORDING",
    "inc.status.stopping": "Stopping…",
    "inc.status.stopped": "Stopped",
    "inc.status.failed": "ERROR",
    "inc.status.interrupted": "Interrupted",
    "inc.rec.recording": "recording",
    "inc.rec.stopping": "stopped",
    "inc.rec.stopped": "stopped",
    "inc.rec.failed": "ERROR",
    "reason.unreachable": "Relay unreachable",
    "reason.stalled": "No new picture for 15 s",
    "reason.closed": "Session ended by the relay",
    "reason.no_video": "No picture received",
    "reason.failed": "Connection setup failed",
    "reason.no_mse": "This browser has no Media Source Extensions (no fallback)",
    "lang.toggle": "DE",
    "lang.toggleLabel": "Auf Deutsch umschalten",
    "login.title": "Log in",
    "login.name": "Name",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.hint": "With a token: open the address the relay prints at start (…/login?token=…).",
    "login.wrong": "Wrong name or password.",
    "login.tooMany": "Too many attempts – try again in {s} s.",
    "login.failed": "Login failed (HTTP {status}).",
    "user.logout": "Log out",
    "user.audit": "Audit log",
    "user.shared": "Shared link",
    "share.validFor": "Link valid for",
    "share.1h": "1 hour",
    "share.8h": "8 hours",
    "share.24h": "24 hours",
    "share.7d": "7 days",
    "share.create": "Share link",
    "share.failed": "Link not created (HTTP {status})",
    "share.until": "Link until {until} ({by})",
    "share.revoke": "Revoke",
    "audit.title": "Audit log",
    "audit.time": "Time (UTC)",
    "audit.event": "Event",
    "audit.who": "Who",
    "audit.from": "From",
    "audit.details": "Details",
    "audit.all": "All events",
    "audit.refresh": "Refresh",
    "audit.empty": "No entries.",
    "map.title": "Situation map",
    "map.link": "Map",
    "map.fit": "All",
    "map.loading": "Loading map…",
    "map.none": "No drone with a position you may watch.",
    "map.waiting": "Waiting for a position: {names}",
    "map.noTelemetry": "No telemetry: {names}",
    "map.open": "open the picture",
    "map.msl": "{m} m above sea level",
  },
};

function readStored() {
  // localStorage throws in some locked-down/private browser modes; fall back to German.
  try {
    return localStorage.getItem(STORAGE_KEY) === "en" ? "en" : "de";
  } catch {
    return "de";
  }
}

let current = readStored();
const listeners = new Set();

export function getLang() {
  return current;
}

/** Translate key; "{name}" placeholders are filled from vars. Unknown keys show the key. */
export function t(key, vars = {}) {
  const text = DICT[current][key] ?? DICT.de[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** Locale-aware number (German uses a decimal comma). */
export function num(value, digits = 0) {
  return new Intl.NumberFormat(current === "de" ? "de-DE" : "en-GB", {
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(value);
}

/** Fill static markup: data-i18n sets the text, data-i18n-label the aria-label. */
export function applyStatic(root = document) {
  document.documentElement.lang = current;
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
}

export function setLang(lang) {
  current = lang === "en" ? "en" : "de";
  try {
    localStorage.setItem(STORAGE_KEY, current);
  } catch {
    /* not persisted; the switch still applies to this page */
  }
  applyStatic();
  for (const fn of listeners) fn(current);
}

/** A module's own labels ({de: {...}, en: {...}}), kept beside the module that shows them. */
export function addStrings(dicts) {
  for (const [lang, entries] of Object.entries(dicts)) Object.assign(DICT[lang], entries);
}

/** Register a re-render callback for the dynamic parts of a page. */
export function onLangChange(fn) {
  listeners.add(fn);
}

/** Wire the EN/DE button (it names the language you switch *to*) and translate the page. */
export function initLang(button) {
  button.dataset.i18n = "lang.toggle";
  button.dataset.i18nLabel = "lang.toggleLabel";
  button.addEventListener("click", () => setLang(current === "de" ? "en" : "de"));
  applyStatic();
}
