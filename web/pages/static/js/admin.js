// The admin page: the people who sign in (add, change role or unit, deactivate and reactivate, reset a password) and
// the audit log (admin-audit.js). It loads for anyone; the API answers only admins, and for anyone else the page
// says so plainly instead of showing empty tables. A generated password is shown once, in a dialog, and kept nowhere.
import { api, ApiError, logout, start as signIn } from "./auth.js";
import "./admin-labels.js";
import { createAudit } from "./admin-audit.js";
import { applyStatic, bindToggle, dateTime, name as placeName, onLang, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const ROLES = ["admin", "duty_officer", "commander", "field_unit", "observer", "gateway"];
// Fields that a change to the users API in progress adds (TOTP two-factor sign-in, a duty officer's jurisdictions).
// Their column and controls appear only when the listed users carry the field, so the page works before and after
// that change; should its names differ, these are the lines to align.
const EXTENSIONS = {
  twofa: { field: "totp_enabled", reset: (id) => ({ path: `/api/v1/users/${id}/totp`, method: "DELETE" }) },
  jurisdictions: { field: "jurisdiction_ids" },
};
// No look-alike characters (0/O, 1/l/I), so a password read out over a radio is typed right the first time.
const ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789";
const GENERATED_LENGTH = 16;

const S = { me: null, users: [], units: new Map(), jurisdictions: new Map(), lastSignIn: new Map(), has: {} };
let audit = null;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function button(label, onClick, className) {
  const b = el("button", className, label);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

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

function notice(text) {
  const box = $("notice");
  box.textContent = text;
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(() => { box.hidden = true; }, 8000);
}

// What went wrong, in the reader's language where the API's answer says which field or conflict it was.
function problem(error) {
  if (!(error instanceof ApiError)) return t("admin.err.generic", { detail: error.message });
  const body = error.body || {};
  const detail = String(body.detail || error.status);
  if (error.status === 409 && detail.includes("already exists")) return t("admin.err.taken");
  if (error.status === 409 && detail.includes("your own")) return t("admin.err.self");
  if (error.status === 422) {
    const field = body.field || (Array.isArray(body.errors) && body.errors[0] && body.errors[0].loc?.at(-1));
    if (field === "username") return t("admin.err.username");
    if (field === "password") return t("admin.err.password");
    if (field === "unit_id") return t("admin.err.unit");
  }
  return t("admin.err.generic", { detail });
}

// ------------------------------------------------------------------------------------------------------ loading

async function loadAll(path) {
  const items = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api(`${path}${path.includes("?") ? "&" : "?"}limit=1000&offset=${offset}`);
    items.push(...page.items);
    if (page.total === undefined || items.length >= page.total || page.items.length === 0) return items;
  }
}

async function loadUsers() {
  const params = new URLSearchParams();
  if ($("f-role").value) params.set("role", $("f-role").value);
  if ($("f-active").value) params.set("active", $("f-active").value);
  S.users = await loadAll(`/api/v1/users?${params}`);
  for (const [key, ext] of Object.entries(EXTENSIONS)) S.has[key] = S.users.some((u) => ext.field in u);
  renderUsers();
}

// Units a field unit's phone may be bound to: resources with a status (facilities have none).
async function loadUnits() {
  const all = await loadAll("/api/v1/resources");
  S.units = new Map(all.filter((r) => r.status).sort((a, b) => a.name.localeCompare(b.name)).map((r) => [r.id, r]));
}

// The last password sign-in of each user, from the newest 1,000 sign-in rows of the audit log (one request; an
// older sign-in shows as "—" with a hint saying why).
async function loadLastSignIns() {
  const rows = (await api("/api/v1/audit?action=auth.token&outcome=ok&limit=1000")).items;
  S.lastSignIn = new Map();
  for (const row of rows) if (row.actor && !S.lastSignIn.has(row.actor)) S.lastSignIn.set(row.actor, row.at);
}

async function loadJurisdictions() {
  if (!S.has.jurisdictions || S.jurisdictions.size) return;
  const all = await loadAll("/api/v1/jurisdictions");
  S.jurisdictions = new Map(all.map((j) => [j.id, j]));
}

// ------------------------------------------------------------------------------------------------------ the table

function unitLabel(id) {
  if (id === null || id === undefined) return "";
  const unit = S.units.get(id);
  return unit ? `${placeName(unit) || unit.name} (#${id})` : `#${id}`;
}

function renderUsers() {
  for (const th of document.querySelectorAll("th[data-ext]")) th.hidden = !S.has[th.dataset.ext];
  $("user-count").textContent = t("admin.count", { n: S.users.length });
  const body = $("users-body");
  if (!S.users.length) {
    const row = el("tr");
    const cell = el("td", "empty", t("admin.empty"));
    cell.colSpan = 9;
    row.append(cell);
    body.replaceChildren(row);
    return;
  }
  body.replaceChildren(...S.users.map(userRow));
}

function userRow(user) {
  const self = user.username === S.me.username;
  const row = el("tr", user.active ? "" : "inactive");
  row.dataset.username = user.username;
  const nameCell = el("td", "username", user.username);
  if (self) nameCell.append(" ", el("span", "tag", t("admin.you")));
  const role = el("td");
  role.append(el("span", `role role-${user.role}`, t(`role.${user.role}`)));
  row.append(nameCell, role, el("td", "unit", unitLabel(user.unit_id)));
  if (S.has.jurisdictions) {
    const ids = user[EXTENSIONS.jurisdictions.field] || [];
    const names = ids.map((id) => placeName(S.jurisdictions.get(id)) || `#${id}`);
    row.append(el("td", "jurisdictions", names.join("、") || "—"));
  }
  if (S.has.twofa) {
    const on = Boolean(user[EXTENSIONS.twofa.field]);
    row.append(el("td", "twofa", t(on ? "admin.twofa.on" : "admin.twofa.off")));
  }
  const state = el("td");
  state.append(el("span", `state ${user.active ? "on" : "off"}`, t(user.active ? "admin.active" : "admin.inactive")));
  const last = S.lastSignIn.get(user.username);
  const lastCell = el("td", "when", last ? dateTime(last) : t("admin.never"));
  if (!last) lastCell.title = t("admin.last_hint");
  row.append(state, lastCell, el("td", "when", dateTime(user.created_at)));
  row.append(actions(user, self));
  return row;
}

function actions(user, self) {
  const cell = el("td", "row-actions");
  const edit = button(t("admin.edit"), () => openForm("edit", user));
  const reset = button(t("admin.reset"), () => openForm("reset", user));
  const toggle = user.active
    ? button(t("admin.deactivate"), () => confirmDeactivate(user), "danger-outline")
    : button(t("admin.reactivate"), () => setActive(user, true));
  edit.dataset.action = "edit";
  reset.dataset.action = "reset";
  toggle.dataset.action = user.active ? "deactivate" : "reactivate";
  if (self) {
    // The API refuses these (409): say why before anyone tries.
    toggle.disabled = true;
    toggle.title = t("admin.self_locked");
  }
  cell.append(edit, reset, toggle);
  if (S.has.twofa && user[EXTENSIONS.twofa.field]) {
    const off = button(t("admin.twofa.reset"), () => resetTwoFactor(user));
    off.dataset.action = "reset-2fa";
    cell.append(off);
  }
  return cell;
}

// ------------------------------------------------------------------------------------------------------ the forms

const form = { mode: null, user: null };

function fillRoleSelect(select, withAll) {
  const options = withAll ? [["", t("admin.all_roles")]] : [];
  for (const role of ROLES) options.push([role, t(`role.${role}`)]);
  const keep = select.value;
  select.replaceChildren(...options.map(([value, label]) => { const o = el("option", "", label); o.value = value; return o; }));
  select.value = keep || (withAll ? "" : "duty_officer");
}

function fillUnitSelect(selected) {
  const select = $("uf-unit");
  const first = el("option", "", S.units.size ? t("admin.form.pick_unit") : t("admin.form.no_units"));
  first.value = "";
  const options = [...S.units.values()].map((u) => { const o = el("option", "", unitLabel(u.id)); o.value = String(u.id); return o; });
  select.replaceChildren(first, ...options);
  select.value = selected ? String(selected) : "";
}

function fillJurisdictionSelect(selected) {
  const select = $("uf-jurisdictions");
  select.replaceChildren(...[...S.jurisdictions.values()].map((j) => {
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
  $("uf-jurisdictions-row").hidden = mode === "reset" || !S.has.jurisdictions;
  $("uf-note").hidden = mode !== "reset";
  $("uf-note").textContent = t("admin.form.reset_note");
  $("uf-error").hidden = true;
  $("uf-username").value = "";
  $("uf-password").value = "";
  document.querySelector("input[name=pw-mode][value=generate]").checked = true;
  fillRoleSelect($("uf-role"), false);
  $("uf-role").value = user ? user.role : "duty_officer";
  fillUnitSelect(user ? user.unit_id : null);
  if (S.has.jurisdictions) fillJurisdictionSelect(user ? user[EXTENSIONS.jurisdictions.field] || [] : []);
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
  if (S.has.jurisdictions) {
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
    formError(problem(error));
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
  notice(t("admin.done.created", { user: made.username }));
  await refresh();
  if (secret.generated) showSecret(made.username, secret.password);
}

async function editUser() {
  const fields = bodyOfRoleAndUnit();
  if (!fields) return;
  const changed = await api(`/api/v1/users/${form.user.id}`, { method: "PATCH", body: fields });
  $("user-dialog").close();
  notice(t("admin.done.edited", { user: changed.username }));
  await refresh();
}

async function resetPassword() {
  const secret = chosenPassword();
  if (!secret) return;
  await api(`/api/v1/users/${form.user.id}/password`, { method: "POST", body: { password: secret.password } });
  $("user-dialog").close();
  notice(t("admin.done.reset", { user: form.user.username }));
  if (secret.generated) showSecret(form.user.username, secret.password);
}

async function setActive(user, active) {
  try {
    await api(`/api/v1/users/${user.id}`, { method: "PATCH", body: { active } });
    notice(t(active ? "admin.done.reactivated" : "admin.done.deactivated", { user: user.username }));
    await refresh();
    return true;
  } catch (error) {
    pageError(problem(error));
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
      notice(t("admin.done.deactivated", { user: user.username }));
      await refresh();
    } catch (error) {
      $("confirm-error").textContent = problem(error);
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
    await refresh();
  } catch (error) {
    pageError(problem(error));
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

function pageError(text) {
  $("page-error").textContent = text;
  $("page-error").hidden = false;
  setTimeout(() => { $("page-error").hidden = true; }, 10000);
}

async function refresh() {
  await loadLastSignIns().catch(() => {});
  await loadUsers();
  audit.knownActors(S.users.map((u) => u.username));
  if (!$("audit").hidden) await audit.reload();
}

// ------------------------------------------------------------------------------------------------------ start

function selectTab(which) {
  for (const name of ["users", "audit"]) {
    const tab = $(`tab-${name}`);
    tab.setAttribute("aria-selected", String(name === which));
    tab.tabIndex = name === which ? 0 : -1;
    $(name).hidden = name !== which;
  }
  history.replaceState(null, "", which === "audit" ? "#audit" : location.pathname + location.search);
  if (which === "audit") audit.reload().catch((error) => pageError(problem(error)));
}

function refuse(me) {
  $("refused-body").textContent = t("admin.refused.body", { user: me.username, role: t(`role.${me.role}`) });
  $("refused").hidden = false;
  $("loading").hidden = true;
  document.body.dataset.refused = "1";
}

function fillFilters() {
  fillRoleSelect($("f-role"), true);
  const keep = $("f-active").value;
  $("f-active").replaceChildren(...[["", "admin.all_states"], ["true", "admin.only_active"], ["false", "admin.only_inactive"]]
    .map(([value, key]) => { const o = el("option", "", t(key)); o.value = value; return o; }));
  $("f-active").value = keep;
}

async function main() {
  applyStatic(document);
  bindToggle($("lang-toggle"));
  let me;
  try {
    me = await signIn();
  } catch {
    return; // on the way to /login
  }
  S.me = me;
  $("who").textContent = `${me.username} (${me.role})`;
  $("logout").addEventListener("click", () => logout());
  $("switch-user").addEventListener("click", () => logout("/login?next=" + encodeURIComponent("/admin")));
  onLang(() => { if (document.body.dataset.refused) refuse(me); });
  // The server decides: the page asks, and a refusal is shown as what it is.
  try {
    await loadLastSignIns();
  } catch (error) {
    if (error instanceof ApiError && error.status === 403) { refuse(me); return; }
    $("loading").hidden = true;
    pageError(t("admin.err.load", { detail: error.message }));
    return;
  }
  audit = createAudit({ pageError: (error) => pageError(problem(error)) });
  fillFilters();
  await Promise.all([loadUnits().catch(() => {}), loadUsers()]);
  await loadJurisdictions().catch(() => {});
  renderUsers();
  audit.knownActors(S.users.map((u) => u.username));
  $("loading").hidden = true;
  $("tabs").hidden = false;

  $("f-role").addEventListener("change", () => loadUsers().catch((e) => pageError(problem(e))));
  $("f-active").addEventListener("change", () => loadUsers().catch((e) => pageError(problem(e))));
  $("add-user").addEventListener("click", () => openForm("add"));
  $("user-form").addEventListener("submit", submitForm);
  $("uf-role").addEventListener("change", syncForm);
  for (const radio of document.querySelectorAll("input[name=pw-mode]")) {
    radio.addEventListener("change", () => { syncForm(); if (!$("uf-password").hidden) $("uf-password").focus(); });
  }
  $("uf-cancel").addEventListener("click", () => $("user-dialog").close());
  $("confirm-cancel").addEventListener("click", () => $("confirm-dialog").close());
  // Closing forgets the password: it is in no field, no variable of the page, no storage.
  $("secret-done").addEventListener("click", () => $("secret-dialog").close());
  $("secret-dialog").addEventListener("close", () => { $("secret-value").replaceChildren(); $("secret-copy").onclick = null; });
  $("tab-users").addEventListener("click", () => selectTab("users"));
  $("tab-audit").addEventListener("click", () => selectTab("audit"));
  $("tabs").addEventListener("keydown", (e) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const next = $("users").hidden ? "users" : "audit";
    selectTab(next);
    $(`tab-${next}`).focus();
  });
  onLang(() => { fillFilters(); renderUsers(); audit.render(); });
  selectTab(location.hash === "#audit" ? "audit" : "users");
  window.__commandpost = { reload: refresh };
}

main();
