// The admin page: the people who sign in (add, change role or unit, deactivate and reactivate, reset a password) and
// the audit log (admin-audit.js). It loads for anyone; the API answers only admins, and for anyone else the page
// says so plainly instead of showing empty tables. A generated password is shown once, in a dialog, and kept nowhere.
import { api, ApiError, logout, start as signIn } from "./auth.js";
import "./admin-labels.js";
import { createAudit } from "./admin-audit.js";
import { createForms, EXTENSIONS, fillRoleSelect } from "./admin-forms.js";
import { applyStatic, bindToggle, dateTime, name as placeName, onLang, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const S = { me: null, users: [], units: new Map(), jurisdictions: new Map(), lastSignIn: new Map(), has: {} };
let audit = null;
let forms = null; // the dialogs (admin-forms.js)

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

// What was just done, for a few seconds (kept as a label and its values, so a language switch rewrites it).
let lastNotice = null;
function notice(key, values) {
  lastNotice = [key, values];
  const box = $("notice");
  box.textContent = t(key, values);
  box.hidden = false;
  clearTimeout(notice.timer);
  notice.timer = setTimeout(hideNotice, 8000);
}

function hideNotice() {
  lastNotice = null;
  $("notice").hidden = true;
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
    const ids = EXTENSIONS.jurisdictions.ids(user);
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
  const cell = el("td");
  const box = el("div", "row-actions");
  cell.append(box);
  const edit = button(t("admin.edit"), () => forms.openForm("edit", user));
  const reset = button(t("admin.reset"), () => forms.openForm("reset", user));
  const toggle = user.active
    ? button(t("admin.deactivate"), () => forms.confirmDeactivate(user), "danger-outline")
    : button(t("admin.reactivate"), () => forms.setActive(user, true));
  edit.dataset.action = "edit";
  reset.dataset.action = "reset";
  toggle.dataset.action = user.active ? "deactivate" : "reactivate";
  if (self) {
    // The API refuses these (409): say why before anyone tries.
    toggle.disabled = true;
    toggle.title = t("admin.self_locked");
  }
  box.append(edit, reset, toggle);
  if (S.has.twofa && user[EXTENSIONS.twofa.field]) {
    const off = button(t("admin.twofa.reset"), () => forms.resetTwoFactor(user));
    off.dataset.action = "reset-2fa";
    box.append(off);
  }
  return cell;
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
  hideNotice();
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
  forms = createForms({ S, unitLabel, refresh, notice, problem, pageError });
  audit = createAudit({ pageError: (error) => pageError(problem(error)), unitName: unitLabel });
  fillFilters();
  await Promise.all([loadUnits().catch(() => {}), loadUsers()]);
  await loadJurisdictions().catch(() => {});
  renderUsers();
  audit.knownActors(S.users.map((u) => u.username));
  $("loading").hidden = true;
  $("tabs").hidden = false;

  $("f-role").addEventListener("change", () => loadUsers().catch((e) => pageError(problem(e))));
  $("f-active").addEventListener("change", () => loadUsers().catch((e) => pageError(problem(e))));
  $("add-user").addEventListener("click", () => forms.openForm("add"));
  $("tab-users").addEventListener("click", () => selectTab("users"));
  $("tab-audit").addEventListener("click", () => selectTab("audit"));
  $("tabs").addEventListener("keydown", (e) => {
    if (e.key !== "ArrowLeft" && e.key !== "ArrowRight") return;
    const next = $("users").hidden ? "users" : "audit";
    selectTab(next);
    $(`tab-${next}`).focus();
  });
  onLang(() => { fillFilters(); renderUsers(); audit.render(); if (lastNotice) notice(...lastNotice); });
  selectTab(location.hash === "#audit" ? "audit" : "users");
  window.__commandpost = { reload: refresh };
}

main();
