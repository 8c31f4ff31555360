// The sign-in form: posts the form as the token endpoint wants it, keeps nothing but the HttpOnly cookie the answer
// sets, then goes back where the person came from (a path of ours only) or to their role's page.
import { applyStatic, bindToggle, t } from "./i18n.js";

applyStatic(document);
bindToggle(document.getElementById("lang-toggle"));

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

function destination(role) {
  const next = new URLSearchParams(location.search).get("next") || "";
  if (role === "field_unit") return "/field";
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const response = await fetch(form.action, {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    credentials: "same-origin",
  });
  if (response.ok) {
    const body = await response.json();
    location.assign(destination(body.role));
    return;
  }
  error.textContent = t(response.status === 401 ? "login.failed" : response.status === 429 ? "login.limited" : "login.error");
  error.hidden = false;
});
