// The logged-in side of every page: who is logged in, logout, the admin's audit link, and
// the CSRF token that state changes (WHEP POST/DELETE, logout, share links) must echo.

import { t } from "/static/i18n.js";

const CSRF_COOKIE = "relay_csrf";

/** Headers for a state-changing request from this browser session. */
export function csrfHeaders() {
  const match = document.cookie.split("; ").find((c) => c.startsWith(`${CSRF_COOKIE}=`));
  return match ? { "X-CSRF-Token": decodeURIComponent(match.slice(CSRF_COOKIE.length + 1)) } : {};
}

/** The session ended (logout elsewhere, expiry, revoked share link): show the login form. */
export function loggedOut() {
  location.reload();
}

let me = null;

/** Who is logged in ({name, role, kind, streams, …}) or null; fills the top bar. */
export async function initUser() {
  const nameEl = document.getElementById("user-name");
  const logoutBtn = document.getElementById("logout-button");
  const auditLink = document.getElementById("audit-link");
  try {
    const resp = await fetch("/api/me", { cache: "no-store" });
    if (resp.status === 401) return loggedOut();
    if (!resp.ok) return null;
    me = await resp.json();
  } catch {
    return null;
  }
  if (nameEl) {
    nameEl.textContent = me.kind === "share" ? t("user.shared") : `${me.name} (${me.role})`;
    nameEl.hidden = false;
  }
  if (auditLink) auditLink.hidden = me.role !== "admin";
  if (logoutBtn) {
    logoutBtn.hidden = false;
    logoutBtn.addEventListener("click", logout);
  }
  return me;
}

export function currentUser() {
  return me;
}

async function logout() {
  try {
    await fetch("/api/logout", { method: "POST", headers: csrfHeaders(), cache: "no-store" });
  } finally {
    location.replace("/");
  }
}
