// The login form. On success the relay has set the session cookie: the page the person
// opened loads (this form is served in its place with status 401), or "/" from /login.

import { initLang, t } from "/static/i18n.js";

const form = document.getElementById("login-form");
const errorEl = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

function showError(key, vars) {
  errorEl.dataset.i18n = "";
  errorEl.textContent = t(key, vars);
  errorEl.hidden = false;
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  submit.disabled = true;
  errorEl.hidden = true;
  try {
    const resp = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        name: document.getElementById("login-name").value,
        password: document.getElementById("login-password").value,
      }),
      cache: "no-store",
    });
    if (resp.ok) {
      if (location.pathname === "/login") location.replace("/");
      else location.reload();
      return;
    }
    if (resp.status === 429) {
      showError("login.tooMany", { s: resp.headers.get("Retry-After") || "60" });
    } else if (resp.status === 401) {
      showError("login.wrong");
    } else {
      showError("login.failed", { status: resp.status });
    }
  } catch {
    showError("reason.unreachable");
  } finally {
    submit.disabled = false;
  }
});

initLang(document.getElementById("lang-toggle"));
document.title = `${t("login.title")} – ${t("list.title")}`;
document.getElementById("login-name").focus();
