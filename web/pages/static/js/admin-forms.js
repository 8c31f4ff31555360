// The admin page's dialogs: add a user, change a role or unit, reset a password (typed, or generated and shown once),
// confirm a deactivation. What they change goes through the users API; the page's table is reloaded afterwards.
import { api } from "./auth.js";
import { name as placeName, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
export const ROLES = ["admin", "duty_officer", "commander", "field_unit", "observer", "gateway"];
// Fields that a change to the users API in progress adds (TOTP two-factor sign-in, a duty officer's jurisdictions).
// Their column and controls appear only when the listed users carry the field, so the page works before and after
// that change; should its names differ, these are the lines to align.
export const EXTENSIONS = {
  twofa: { field: "totp_enabled", reset: (id) => ({ path: `/api/v1/users/${id}/totp`, method: "DELETE" }) },
  // the users API shows [{id, name, name_en, code}] and takes ids (or names)
  jurisdictions: { field: "jurisdictions", ids: (user) => (user.jurisdictions || []).map((j) => j.id) },
};

// No look-alike characters (0/O, 1/l/I), so a password read out over a radio is typed right the first time.
const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
const GENERATED_LENGTH = 16;

export function generatePassword(length = GENERATED_LENGTH) {
  const out = [];
  const bytes = new Uint8Array(1);
  const limit = 256 - (256 % ALPHABET.length); // rejection sampling: every character equally likely
  while (out.length < length) {
    crypto.getRandomValues(bytes);
    if (bytes[0] < limit) out.push(ALPHABET[bytes[0] % ALPHABET.length]);
  }
  return out.join("");
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function fillRoleSelect(select, withAll) {
  const options = withAll ? [["", t("admin.all_roles")]] : [];
  for (const role of ROLES) options.push([role, t(`role.${role}`)]);
  const keep = select.value;
  select.replaceChildren(...options.map(([value, label]) => { const o = el("option", "", label); o.value = value; return o; }));
  select.value = keep || (withAll ? "" : "duty_officer");
}

// The page's state and callbacks the dialogs use: { S, unitLabel, refresh, notice, problem, pageError }.
let ctx = null;

export function createForms(context) {
  ctx = context;
  $("user-form").addEventListener("submit", submitForm);
  $("uf-role").addEventListener("change", syncForm);
  for (const radio of document.querySelectorAll("input[name=pw-mode]")) {
    radio.addEventListener("change", () => { syncForm(); if (!$("uf-password").hidden) $("uf-password").focus(); });
  }
  $("uf-cancel").addEventListener("click", () => $("user-dialog").close());
  $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close());
  // Closing (the button, or Escape) forgets the password: it is then in no element, variable or storage of the page.
  const forget = () => { $("secret-value").replaceChildren(); $("secret-copy").onclick = null; };
  $("secret-done").addEventListener("click", () => { forget(); $("secret-dialog").close(); });
  $("secret-dialog").addEventListener("close", forget);
  return { openForm, confirmDeactivate, setActive, resetTwoFactor };
}

const form = { mode: null, user: null };

function fillUnitSelect(selected) {
  const select = $("uf-unit");
  const first = el("option", "", ctx.S.units.size ? t("admin.form.pick_unit") : t("admin.form.no_units"));
  first.value = "";
  const options = [...ctx.S.units.values()].map((u) => { const o = el("option", "", ctx.unitLabel(u.id)); o.value = String(u.id); return o; });
  select.replaceChildren(first, ...options);
  select.value = selected ? String(selected) : "";
}

function fillJurisdictionSelect(selected) {
  const select = $("uf-jurisdictions");
  select.replaceChildren(...[...ctx.S.jurisdictions.values()].map((j) => {
    const o = el("option", "", placeName(j) || `#${j.id}`);
    o.value = String(j.id);
    o.selected = selected.includes(j.id);
    return o;
  }));
}

function syncForm() {
  const role = $("uf-role").value;
  $("uf-unit-row").hidden = form.mode === "reset" || role !== "field_unit";
  $("uf-role-note").hidden = !(form.mode === "edit" && form.user && role !== form.user.role);
  const typed = document.querySelector("input[name=pw-mode]:checked").value === "type";
  $("uf-password").hidden = !typed;
}

function openForm(mode, user = null) {
  form.mode = mode;
  form.user = user;
  const title = { add: t("admin.form.add_title"), edit: t("admin.form.edit_title", { user: user?.username }),
    reset: t("admin.form.reset_title", { user: user?.username }) }[mode];
  $("uf-title").textContent = title;
  $("uf-submit").textContent = t({ add: "admin.form.create", edit: "admin.form.save", reset: "admin.form.reset_do" }[mode]);
  $("uf-username-row").hidden = mode !== "add";
  $("uf-role-row").hidden = mode === "reset";
  $("uf-password-row").hidden = mode === "edit";
  $("uf-jurisdictions-row").hidden = mode === "reset" || !ctx.S.has.jurisdictions;
  $("uf-note").hidden = mode !== "reset";
  $("uf-note").textContent = t("admin.form.reset_note");
  $("uf-error").hidden = true;
  $("uf-username").value = "";
  $("uf-password").value = "";
  document.querySelector("input[name=pw-mode][value=generate]").checked = true;
  fillRoleSelect($("uf-role"), false);
  $("uf-role").value = user ? user.role : "duty_officer";
  fillUnitSelect(user ? user.unit_id : null);
  if (ctx.S.has.jurisdictions) fillJurisdictionSelect(user ? EXTENSIONS.jurisdictions.ids(user) : []);
  syncForm();
  $("user-dialog").showModal();
  (mode === "add" ? $("uf-username") : mode === "edit" ? $("uf-role") : document.querySelector("input[name=pw-mode]:checked")).focus();
}

function formError(text) {
  $("uf-error").textContent = text;
  $("uf-error").hidden = false;
}

// The password the form asks for: typed (checked here for length first) or generated; null when it is too short.
function chosenPassword() {
  const typed = document.querySelector("input[name=pw-mode]:checked").value === "type";
  if (!typed) return { password: generatePassword(), generated: true };
  const password = $("uf-password").value;
  if (password.length < 8) { formError(t("admin.err.password")); $("uf-password").focus(); return null; }
  return { password, generated: false };
}

function bodyOfRoleAndUnit() {
  const role = $("uf-role").value;
  const body = { role };
  if (role === "field_unit") {
    if (!$("uf-unit").value) { formError(t("admin.err.unit")); $("uf-unit").focus(); return null; }
    body.unit_id = Number($("uf-unit").value);
  }
  if (ctx.S.has.jurisdictions) {
    body[EXTENSIONS.jurisdictions.field] = [...$("uf-jurisdictions").selectedOptions].map((o) => Number(o.value));
  }
  return body;
}

async function submitForm(event) {
  event.preventDefault();
  $("uf-error").hidden = true;
  const submit = $("uf-submit");
  submit.disabled = true;
  try {
    if (form.mode === "add") await addUser();
    else if (form.mode === "edit") await editUser();
    else await resetPassword();
  } catch (error) {
    formError(ctx.problem(error));
  } finally {
    submit.disabled = false;
  }
}

async function addUser() {
  const username = $("uf-username").value.trim();
  if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(username)) { formError(t("admin.err.username")); $("uf-username").focus(); return; }
  const fields = bodyOfRoleAndUnit();
  if (!fields) return;
  const secret = chosenPassword();
  if (!secret) return;
  const made = await api("/api/v1/users", { method: "POST", body: { username, ...fields, password: secret.password } });
  $("user-dialog").close();
  ctx.notice("admin.done.created", { user: made.username });
  await ctx.refresh();
  if (secret.generated) showSecret(made.username, secret.password);
}

async function editUser() {
  const fields = bodyOfRoleAndUnit();
  if (!fields) return;
  const changed = await api(`/api/v1/users/${form.user.id}`, { method: "PATCH", body: fields });
  $("user-dialog").close();
  ctx.notice("admin.done.edited", { user: changed.username });
  await ctx.refresh();
}

async function resetPassword() {
  const secret = chosenPassword();
  if (!secret) return;
  await api(`/api/v1/users/${form.user.id}/password`, { method: "POST", body: { password: secret.password } });
  $("user-dialog").close();
  ctx.notice("admin.done.reset", { user: form.user.username });
  if (secret.generated) showSecret(form.user.username, secret.password);
}

async function setActive(user, active) {
  try {
    await api(`/api/v1/users/${user.id}`, { method: "PATCH", body: { active } });
    ctx.notice(active ? "admin.done.reactivated" : "admin.done.deactivated", { user: user.username });
    await ctx.refresh();
    return true;
  } catch (error) {
    ctx.pageError(ctx.problem(error));
    return false;
  }
}

function confirmDeactivate(user) {
  $("confirm-title").textContent = t("admin.confirm.title", { user: user.username });
  $("confirm-error").hidden = true;
  $("confirm-do").onclick = async () => {
    $("confirm-do").disabled = true;
    try {
      await api(`/api/v1/users/${user.id}`, { method: "PATCH", body: { active: false } });
      $("confirm-dialog").close();
      ctx.notice("admin.done.deactivated", { user: user.username });
      await ctx.refresh();
    } catch (error) {
      $("confirm-error").textContent = ctx.problem(error);
      $("confirm-error").hidden = false;
    } finally {
      $("confirm-do").disabled = false;
    }
  };
  $("confirm-dialog").showModal();
  $("confirm-cancel").focus(); // the safe choice has the focus: Enter at 3 a.m. deactivates no one
}

async function resetTwoFactor(user) {
  const { path, method } = EXTENSIONS.twofa.reset(user.id);
  try {
    await api(path, { method });
    await ctx.refresh();
  } catch (error) {
    ctx.pageError(ctx.problem(error));
  }
}

// The generated password, once: shown in a dialog until the admin closes it, then gone from the page.
function showSecret(username, password) {
  $("secret-title").textContent = t("admin.secret.title", { user: username });
  const value = $("secret-value");
  // In groups of four for reading out (the groups are spans: a copy or a selection takes the password alone).
  value.replaceChildren(...password.match(/.{1,4}/g).map((part) => el("span", "", part)));
  $("secret-copy").textContent = t("admin.secret.copy");
  $("secret-copy").onclick = async () => {
    try {
      await navigator.clipboard.writeText(password);
      $("secret-copy").textContent = t("admin.secret.copied");
    } catch {
      getSelection().selectAllChildren(value); // no clipboard on plain http: selected, for Ctrl+C
    }
  };
  $("secret-dialog").showModal();
}
