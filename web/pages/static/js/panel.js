// The incident panel: everything about the selected incident, and (for a commander) the actions on it. Its parts
// come from the incident's endpoints when it opens, and again when the store reports a change to this incident,
// its dispatches, its plans or its tasks (debounced): the socket says when, nothing polls.
import { api, user } from "./auth.js";
import { clock, dateTime, name, number, onLang, t, lang } from "./i18n.js";
import { iconUrl } from "./board.js";
import { putDispatch, putIncident, store, subscribe } from "./store.js";

const WRITERS = new Set(["admin", "commander"]);
const TASK_KEEPERS = new Set(["admin", "commander", "duty_officer"]);
const NEXT = {
  reported: ["verified", "responding", "cancelled"], verified: ["responding", "contained", "closed", "cancelled"],
  responding: ["contained"], contained: ["responding", "closed"], closed: [], cancelled: [],
};
const FACTS = ["deaths", "missing", "injuries", "serious_injuries", "poisoned", "affected", "evacuated",
  "economic_loss_cny", "magnitude"];

function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function section(title, ...children) {
  return el("section", "panel-part", el("h3", null, title), ...children);
}

function button(label, onClick, cls = "") {
  const b = el("button", `act ${cls}`.trim(), label);
  b.type = "button";
  b.dataset.write = "1";
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await onClick(); } catch (error) { toastError(error); } finally { b.disabled = false; }
  });
  return b;
}

let toastError = (error) => console.error(error);

const thumbnails = new Map();
function thumbnail(photoId) {
  if (!thumbnails.has(photoId)) {
    thumbnails.set(photoId, api(`/api/v1/photos/${photoId}`, { raw: true })
      .then((r) => (r.ok ? r.blob() : Promise.reject(new Error(String(r.status)))))
      .then((blob) => URL.createObjectURL(blob)));
  }
  return thumbnails.get(photoId);
}

export function createPanel({ root, onClose, onImpact, toast }) {
  toastError = (error) => toast(`${t("error.generic")}: ${error.message}`, "error");
  let id = null;
  let details = null;
  let refetch = null;

  const canWrite = () => WRITERS.has((user() || {}).role);

  async function load(which) {
    const base = `/api/v1/incidents/${which}`;
    const settled = await Promise.allSettled([
      api(base), api(`${base}/timeline?limit=200`), api(`${base}/activations`), api(`${base}/dispatches`),
      api(`${base}/recommendations`), api(`${base}/impact`), api(`${base}/photos`),
    ]);
    const [incident, timeline, activations, dispatches, recommendations, impact, photos] =
      settled.map((s) => (s.status === "fulfilled" ? s.value : null));
    if (which !== id) return;
    if (incident) putIncident(incident);
    for (const d of (dispatches && dispatches.items) || []) putDispatch(d);
    details = { timeline, activations, recommendations, photos };
    onImpact(impact);
    render();
  }

  function schedule() {
    clearTimeout(refetch);
    refetch = setTimeout(() => id !== null && load(id), 300);
  }

  function header(i) {
    const grade = i.grade && i.grade.level;
    const close = el("button", "close", "×");
    close.type = "button";
    close.setAttribute("aria-label", t("panel.close"));
    close.addEventListener("click", onClose);
    const img = el("img", "icon");
    img.src = iconUrl(grade || null, i.category || "none");
    img.alt = t(`grade.${grade || "none"}`);
    const h = el("h2", null, `#${i.id} ${i.title}`);
    h.id = "panel-title";
    return el("header", "panel-head", img, h, close);
  }

  function report(i) {
    const facts = el("dl", "kv",
      el("dt", null, t("panel.reported_at")), el("dd", null, dateTime(i.reported_at)),
      el("dt", null, t("panel.status")), el("dd", "panel-status", t(`status.${i.status}`)),
      el("dt", null, t("panel.jurisdiction")), el("dd", null, i.jurisdiction ? name(i.jurisdiction) : "—"),
      el("dt", null, t("panel.location")), el("dd", null, i.location.coordinates.map((c) => c.toFixed(5)).join(", ")),
      el("dt", null, t("panel.address")), el("dd", "panel-address", i.address_text || "—"));
    if (i.callback_requested) facts.append(el("dt", null, ""), el("dd", "callback", t("panel.callback")));
    const dup = i.possible_duplicate_of && i.duplicate_status !== "dismissed"
      ? el("p", "dup", t("duplicate.of", { id: i.possible_duplicate_of })) : null;
    return section(t("panel.report"), el("p", "description", i.description), dup, facts);
  }

  function classification(i) {
    const cat = `${t(`cat.${i.category || "none"}`)}${i.subtype ? " / " + i.subtype : ""}`;
    const terms = el("ul", "chips", ...(i.matched || []).map((m) => el("li", null, m)));
    const factRows = FACTS.filter((f) => i.facts && i.facts[f] !== undefined && i.facts[f] !== null)
      .flatMap((f) => [el("dt", null, t(`fact.${f}`)),
        el("dd", null, number(i.facts[f]), i.fact_sources && i.fact_sources[f] ? el("small", null, ` (${i.fact_sources[f]})`) : null)]);
    return section(t("panel.classification"),
      el("p", "panel-category", cat, el("small", null, ` · ${t("panel.confidence")} ${number(Math.round(i.confidence * 100))}%`)),
      el("h4", null, t("panel.reasons")), terms,
      el("h4", null, t("panel.facts")), factRows.length ? el("dl", "kv", ...factRows) : el("p", "muted", t("panel.none")));
  }

  function grade(i) {
    const g = i.grade || {};
    const part = section(t("panel.grade"),
      el("p", "panel-grade", el("b", null, g.level ? t(`grade.${g.level}`) : t("grade.none"))),
      el("dl", "kv", el("dt", null, t("panel.rule")), el("dd", "panel-rule", `${g.rule_id || "—"} v${g.rule_version || "—"}`)),
      el("h4", null, t("panel.basis")), el("ul", "basis", ...(g.basis || []).map((b) => el("li", null, typeof b === "string" ? b : b.text || JSON.stringify(b)))));
    if (g.override) part.append(el("p", "muted", `${t("panel.override")}: ${g.override.reason || ""} (${g.override.by || ""})`));
    if (canWrite()) {
      const select = el("select", null, ...["I", "II", "III", "IV"].map((l) => { const o = el("option", null, l); o.value = l; return o; }));
      select.value = g.level || "IV";
      select.setAttribute("aria-label", t("panel.override"));
      const reason = el("input");
      reason.placeholder = t("panel.override_reason");
      reason.maxLength = 500;
      reason.setAttribute("aria-label", t("panel.override_reason"));
      part.append(el("div", "row-form", select, reason, button(t("panel.override"), async () => {
        putIncident(await api(`/api/v1/incidents/${i.id}/grade`, { method: "POST", body: { level: select.value, reason: reason.value || "commander's judgement" } }));
      })));
    }
    return part;
  }

  function status(i) {
    const part = section(t("panel.transition"));
    if (canWrite()) {
      part.append(el("div", "buttons", ...(NEXT[i.status] || []).map((to) => button(t(`status.${to}`), async () => {
        putIncident(await api(`/api/v1/incidents/${i.id}/transition`, { method: "POST", body: { to } }));
      }, `to-${to}`))));
    } else {
      part.append(el("p", null, t(`status.${i.status}`)));
    }
    return part;
  }

  function plans(i) {
    const activated = new Set(((details && details.activations && details.activations.items) || []).map((a) => a.plan_id));
    const items = (i.plan_matches || []).map((m) => {
      const li = el("li", "plan",
        el("div", null, el("b", null, lang() === "en" && m.name_en ? m.name_en : m.name),
          el("small", null, ` · ${t("panel.score")} ${number(Math.round(m.score * 100) / 100)} · ${t("panel.level")} ${m.level}`)),
        el("ul", "reasons", ...(m.reasons || []).map((r) => el("li", null, r))));
      if (activated.has(m.plan_id)) li.append(el("span", "badge", t("panel.activated")));
      else if (canWrite()) {
        li.append(button(t("panel.activate"), async () => {
          await api(`/api/v1/incidents/${i.id}/activations`, { method: "POST", body: { plan_id: m.plan_id } });
          await load(i.id);
        }, "activate"));
      }
      return li;
    });
    return section(t("panel.plans"), items.length ? el("ul", "plans", ...items) : el("p", "muted", t("panel.none")));
  }

  function tasks() {
    const all = ((details && details.activations && details.activations.items) || []).flatMap((a) => a.tasks || []);
    if (!all.length) return null;
    const now = Date.now();
    return section(t("panel.tasks"), el("ul", "tasks", ...all.sort((a, b) => new Date(a.due_at) - new Date(b.due_at)).map((task) => {
      const overdue = task.status !== "done" && (task.overdue || new Date(task.due_at).getTime() < now);
      const li = el("li", overdue ? "task overdue" : "task",
        el("span", null, lang() === "en" ? task.title_en : task.title),
        el("small", null, ` · ${lang() === "en" ? task.role_name_en : task.role_name} · ${t("panel.due")} ${clock(task.due_at)}${overdue ? " · " + t("panel.overdue") : ""} · ${task.status}`));
      if (TASK_KEEPERS.has((user() || {}).role) && task.status !== "done") {
        li.append(" ", button(t("panel.task_done"), async () => {
          await api(`/api/v1/tasks/${task.id}/complete`, { method: "POST", body: {} });
          await load(task.incident_id);
        }, "task-done"));
      }
      return li;
    })));
  }

  function recommendations(i) {
    const rec = details && details.recommendations;
    if (!rec || !rec.requirements || !rec.requirements.length) return null;
    const part = section(t("panel.recommendations"));
    const write = canWrite() && ["reported", "verified", "responding"].includes(i.status);
    const allIds = [];
    for (const need of rec.requirements) {
      const units = need.units.slice(0, Math.max(need.missing, 0) || 0);
      allIds.push(...units.map((u) => u.unit_id));
      const list = el("ul", "recs", ...need.units.map((u) => el("li", "rec",
        el("span", null, el("b", null, u.name), ` · ${u.type}`),
        el("small", null, ` · ${t("panel.eta")} ${number(Math.round(u.eta_s / 60))} ${t("panel.min")} · ${number(Math.round(u.distance_m / 100) / 10)} km · ${u.reason}`),
        write ? button(t("panel.dispatch"), () => send(i.id, [u.unit_id]), "dispatch-one") : null)));
      part.append(el("h4", null, `${t("panel.need")}: ${need.resource_type} ×${need.count} (${t("panel.filled")} ${need.filled})`), list);
      if (need.unmet) part.append(el("p", "unmet", `${t("panel.unmet")}: ${need.unmet} · ${need.cause || ""}`));
    }
    for (const s of rec.unmet || []) if (!rec.requirements.some((n) => n.resource_type === s.resource_type)) {
      part.append(el("p", "unmet", `${t("panel.unmet")}: ${s.resource_type} ×${s.missing} · ${s.cause} · ${s.detail}`));
    }
    if (write && allIds.length) part.append(button(t("panel.dispatch_all"), () => send(i.id, allIds), "dispatch-all"));
    return part;
  }

  async function send(incidentId, unitIds) {
    const out = await api(`/api/v1/incidents/${incidentId}/dispatches`, { method: "POST", body: { unit_ids: unitIds } });
    for (const d of out.items || []) putDispatch(d);
    await load(incidentId);
  }

  function dispatches(i) {
    const mine = [...store.dispatches.values()].filter((d) => d.incident_id === i.id).sort((a, b) => a.id - b.id);
    if (!mine.length) return null;
    return section(t("panel.dispatches"), el("ul", "dispatches", ...mine.map((d) => {
      const unit = store.units.get(d.unit_id);
      const acked = d.acknowledged_at ? `${t("panel.acked")} ${clock(d.acknowledged_at)}` : `${t("panel.not_acked")} · ${t("panel.ack_due")} ${clock(d.ack_due_at)}`;
      return el("li", d.acknowledged_at ? "dispatch acked" : "dispatch",
        el("b", null, unit ? name(unit) : `#${d.unit_id}`), ` · ${t(`unit.${d.status}`)} · `, el("span", "ack", acked));
    })));
  }

  // Scene photos (from the crews' phones): their bytes need the token, so each is fetched once and shown from a
  // blob: URL (kept for the page's life: a photo never changes).
  function photos() {
    const items = (details && details.photos && details.photos.items) || [];
    if (!items.length) return null;
    return section(t("panel.photos"), el("div", "photos", ...items.map((p) => {
      const img = el("img", "photo-thumb");
      img.alt = `#${p.id} ${p.created_by || ""} ${clock(p.created_at)}`;
      img.dataset.photo = String(p.id);
      thumbnail(p.id).then((url) => { img.src = url; }).catch(() => {});
      return img;
    })));
  }

  function timeline() {
    const items = (details && details.timeline && details.timeline.items) || [];
    if (!items.length) return null;
    return section(t("panel.timeline"), el("ol", "timeline", ...items.slice(-50).reverse().map((e) =>
      el("li", e.kind === "note" ? "note" : null, el("time", null, clock(e.at)), ` ${e.kind === "note" ? t("panel.note") : e.kind}`,
        e.actor ? el("small", null, ` · ${e.actor}`) : null,
        e.kind === "note" ? el("div", "note-text", e.data.text || "") : null))));
  }

  function render() {
    const i = store.incidents.get(id);
    if (!i) return;
    const parts = [header(i), report(i), classification(i), grade(i), status(i), plans(i), tasks(i), recommendations(i),
      dispatches(i), photos(), timeline()].filter(Boolean);
    const scroll = root.scrollTop;
    root.replaceChildren(...parts);
    root.scrollTop = scroll;
  }

  subscribe((changes) => {
    if (id === null) return;
    let touched = changes.all || changes.incidents.has(id);
    for (const e of changes.events) {
      const d = e.data || {};
      if (d.incident_id === id || (e.type.startsWith("incident.") && d.id === id)) touched = true;
    }
    if (touched) schedule();
    else if ([...changes.dispatches].some((d) => (store.dispatches.get(d) || {}).incident_id === id)) render();
    else if (changes.units.size) {
      const sent = [...store.dispatches.values()].filter((d) => d.incident_id === id).map((d) => d.unit_id);
      if (sent.some((u) => changes.units.has(u))) render();
    }
  });
  onLang(() => render());

  return {
    open(which) {
      id = which;
      details = null;
      root.hidden = false;
      root.replaceChildren(el("p", "muted", t("panel.loading")));
      if (store.incidents.has(which)) render();
      load(which);
    },
    close() {
      id = null;
      root.hidden = true;
      root.replaceChildren();
      onImpact(null);
    },
    get id() { return id; },
  };
}
