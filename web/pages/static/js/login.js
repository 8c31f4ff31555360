// The sign-in form: posts the form as the token endpoint wants it, keeps nothing but the HttpOnly cookie the answer
// sets, then goes back where the person came from (a path of ours only) or to their role's page. A user with TOTP is
// asked for the code when the server says it is needed; a user whose role must use TOTP and has not enrolled is
// shown a new key to add to an authenticator app by hand, and the first code confirms it (then the next signs in).
import { applyStatic, bindToggle, t } from "./i18n.js";

applyStatic(document);
bindToggle(document.getElementById("lang-toggle"));

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");
const totpBox = document.getElementById("totp-box");
const totpInput = document.getElementById("totp");
let enrolling = false; // a key was offered: the next code confirms it

function say(key) {
  error.textContent = t(key);
  error.hidden = false;
}

function askForCode(key) {
  totpBox.hidden = false;
  totpInput.value = "";
  totpInput.focus();
  say(key);
}

async function post(path, fields) {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) body.set(name, value);
  return fetch(path, { method: "POST", body, credentials: "same-origin" });
}

async function enrol(username, password) {
  const response = await post("/api/v1/auth/totp/enrol", { username, password });
  if (!response.ok) return say(response.status === 429 ? "login.limited" : "login.error");
  const offer = await response.json();
  document.getElementById("totp-secret").textContent = offer.secret.replace(/(.{4})/g, "$1 ").trim();
  document.getElementById("totp-setup").hidden = false;
  enrolling = true;
  askForCode("login.totp_enrol");
}

async function confirm(username, password, code) {
  const response = await post("/api/v1/auth/totp/confirm", { username, password, code });
  if (!response.ok) return askForCode(response.status === 429 ? "login.limited" : "login.totp_invalid");
  enrolling = false;
  document.getElementById("totp-setup").hidden = true;
  askForCode("login.totp_on");
}

function destination(role) {
  const next = new URLSearchParams(location.search).get("next") || "";
  if (role === "field_unit") return "/field";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const fields = new FormData(form);
  const [username, password] = [fields.get("username"), fields.get("password")];
  if (enrolling) return confirm(username, password, totpInput.value.trim());
  if (!totpInput.value.trim()) fields.delete("totp");
  const response = await fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(fields),
    credentials: "same-origin",
  });
  if (response.ok) {
    const body = await response.json();
    location.assign(destination(body.role));
    return;
  }
  const code = response.status === 401 ? (await response.json().catch(() => ({}))).error : null;
  if (code === "totp_required") return askForCode("login.totp_needed");
  if (code === "totp_invalid") return askForCode("login.totp_invalid");
  if (code === "totp_enrolment_required") return enrol(username, password);
  say(response.status === 401 ? "login.failed" : response.status === 429 ? "login.limited" : "login.error");
});
