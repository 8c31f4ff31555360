// The admin page's audit log: read-only, newest first, filtered by actor, action, outcome and time (the API's own
// filters, GET /api/v1/audit), paged back with ``before_id``. Each row says who did what to what, and for a change
// what it was before and after.
import { api } from "./auth.js";
import { dateTime, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
const PAGE = 100;
// Offered in the action box; any other action name may be typed (the API matches it exactly).
const ACTIONS = ["users.create", "users.edit", "users.reset_password", "auth.token", "auth.refresh", "auth.logout",
  "auth.lockout", "incidents.create", "incidents.edit"];
// The outcomes the audit rows carry: "ok", or the error code of API.md's error shape.
const OUTCOMES = ["ok", "forbidden", "unauthenticated", "not_found", "conflict", "invalid", "too_many_requests"];

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function label(key, fallback) {
  const text = t(key);
  return text === key ? fallback : text;
}

let unitName = (id) => `#${id}`;

function shown(field, value) {
  if (value === null || value === undefined) return "—";
  if (field === "unit_id") return unitName(value);
  if (field === "role") return label(`role.${value}`, String(value));
  if (typeof value === "boolean") return t(value ? "yes" : "no");
  if (typeof value === "object") return JSON.stringify(value).slice(0, 120);
  return String(value);
}

// "role: Observer → Commander · user: ops.kim" from a row's target.
export function describeTarget(target) {
  const parts = [];
  for (const [field, pair] of Object.entries(target.changes || {})) {
    const [before, after] = Array.isArray(pair) ? pair : [undefined, pair];
    parts.push(`${label(`field.${field}`, field)}: ${shown(field, before)} → ${shown(field, after)}`);
  }
  for (const [field, value] of Object.entries(target)) {
    if (field === "changes" || value === null || value === undefined) continue;
    if (field === "user_id" && target.username) continue; // said with the name
    const text = field === "username" && target.user_id ? `${value} (#${target.user_id})` : shown(field, value);
    parts.push(`${label(`field.${field}`, field)}: ${text}`);
  }
  return parts.join(" · ");
}

// The time choices: a window back from now, or a typed period.
const RANGES = { any: null, "1h": 3600, "24h": 86400, "7d": 7 * 86400, custom: null };

// "2026-12-08 02:00" (or with seconds, or a "T"), read in the browser's own zone, as RFC 3339 with its zone (what
// the API wants); "" is no bound; anything else is undefined (the form says how to write it).
export function instant(text) {
  const value = text.trim();
  if (!value) return null;
  const m = /^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour = 0, minute = 0, second = 0] = m.slice(1).map((part) => Number(part || 0));
  const at = new Date(year, month - 1, day, hour, minute, second);
  if (at.getFullYear() !== year || at.getMonth() !== month - 1 || at.getDate() !== day || hour > 23 || second > 59) {
    return undefined;
  }
  return at.toISOString();
}

export function createAudit({ pageError, unitName: named }) {
  if (named) unitName = named;
  let rows = [];
  let done = false;

  function fillOptions() {
    const keep = $("a-outcome").value;
    const options = [["", t("audit.any")], ...OUTCOMES.map((o) => [o, label(`audit.outcome.${o}`, o)])];
    $("a-outcome").replaceChildren(...options.map(([value, text]) => { const o = el("option", "", text); o.value = value; return o; }));
    $("a-outcome").value = keep;
    const range = $("a-range").value || "any";
    $("a-range").replaceChildren(...Object.keys(RANGES).map((key) => {
      const o = el("option", "", t(`audit.range.${key}`));
      o.value = key;
      return o;
    }));
    $("a-range").value = range;
    $("a-custom").hidden = range !== "custom";
    $("action-names").replaceChildren(...ACTIONS.map((a) => {
      const o = el("option", "", label(`action.${a}`, a));
      o.value = a;
      return o;
    }));
  }

  // The period asked for: [since, until] as the API takes them, or null when a typed time cannot be read.
  function period() {
    const range = $("a-range").value || "any";
    if (range !== "custom") {
      const back = RANGES[range];
      return [back ? new Date(Date.now() - back * 1000).toISOString() : null, null];
    }
    const since = instant($("a-since").value);
    const until = instant($("a-until").value);
    return since === undefined || until === undefined ? null : [since, until];
  }

  function query(beforeId) {
    const params = new URLSearchParams({ limit: String(PAGE) });
    const actor = $("a-actor").value.trim();
    const action = $("a-action").value.trim();
    if (actor) params.set("actor", actor);
    if (action) params.set("action", action);
    if ($("a-outcome").value) params.set("outcome", $("a-outcome").value);
    const [since, until] = bounds;
    if (since) params.set("since", since);
    if (until) params.set("until", until);
    if (beforeId) params.set("before_id", String(beforeId));
    return `/api/v1/audit?${params}`;
  }

  let bounds = [null, null]; // the period of the rows shown (paging back keeps it, even for "last hour")

  async function reload() {
    const asked = period();
    $("a-error").hidden = asked !== null;
    if (asked === null) {
      $("a-error").textContent = t("audit.bad_time");
      return;
    }
    bounds = asked;
    const page = await api(query(null));
    rows = page.items;
    done = rows.length < PAGE;
    render();
  }

  async function older() {
    const last = rows.at(-1);
    if (!last) return;
    const page = await api(query(last.id));
    rows = rows.concat(page.items);
    done = page.items.length < PAGE;
    render();
  }

  function row(entry) {
    const tr = el("tr", entry.outcome === "ok" ? "" : "failed");
    tr.dataset.id = String(entry.id);
    tr.dataset.action = entry.action;
    const when = el("td", "when", dateTime(entry.at));
    when.title = entry.at;
    const actor = el("td", "actor", entry.actor || "—");
    if (entry.role) actor.append(" ", el("small", "muted", `(${label(`role.${entry.role}`, entry.role)})`));
    const named = label(`action.${entry.action}`, null);
    const action = el("td", "action", named || "");
    action.append(el("code", named ? "code" : "code only", entry.action)); // the name as the API filters by it
    const target = el("td", "target", describeTarget(entry.target || {}));
    if (entry.target && entry.target.count > 1) target.append(" ", el("b", "", t("audit.count", { n: entry.target.count })));
    const outcome = el("td");
    const status = entry.status_code ? ` ${entry.status_code}` : "";
    outcome.append(el("span", `outcome ${entry.outcome === "ok" ? "ok" : "bad"}`, label(`audit.outcome.${entry.outcome}`, entry.outcome) + status));
    const ip = el("td", "muted", entry.client_ip || "");
    const request = el("td", "request muted", (entry.request_id || "").slice(0, 12));
    request.title = entry.request_id || "";
    tr.append(when, actor, action, target, outcome, ip, request);
    return tr;
  }

  function render() {
    fillOptions();
    const body = $("audit-body");
    if (!rows.length) {
      const tr = el("tr");
      const td = el("td", "empty", t("audit.empty"));
      td.colSpan = 7;
      tr.append(td);
      body.replaceChildren(tr);
    } else {
      body.replaceChildren(...rows.map(row));
    }
    $("audit-count").textContent = rows.length ? t("audit.shown", { n: rows.length }) : "";
    $("audit-more").hidden = done || !rows.length;
    $("audit-end").hidden = !done || !rows.length;
  }

  $("audit-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    reload().catch(pageError);
  });
  $("a-clear").addEventListener("click", () => {
    for (const id of ["a-actor", "a-action", "a-since", "a-until", "a-outcome"]) $(id).value = "";
    $("a-range").value = "any";
    $("a-custom").hidden = true;
    reload().catch(pageError);
  });
  $("audit-more").addEventListener("click", () => older().catch(pageError));
  $("a-range").addEventListener("change", () => {
    $("a-custom").hidden = $("a-range").value !== "custom";
    if ($("a-range").value === "custom") $("a-since").focus();
    else reload().catch(pageError);
  });
  fillOptions();

  return {
    reload,
    render,
    knownActors(names) {
      $("actor-names").replaceChildren(...names.map((n) => { const o = el("option"); o.value = n; return o; }));
    },
  };
}
