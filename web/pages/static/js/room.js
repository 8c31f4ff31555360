// The command room: wires the store to the map, the board, the panel, the escalations and the connection line.
import { logout, renew, start as signIn, user } from "./auth.js";
import { applyStatic, bindToggle, clock, lang, onLang, t } from "./i18n.js";
import { createBoard } from "./board.js";
import { createMap } from "./map.js";
import { createPanel } from "./panel.js";
import { createWarnings } from "./warnings.js";
import { handled, start as live, store, subscribe } from "./store.js";
import { api } from "./auth.js";

const $ = (id) => document.getElementById(id);

function toast(text, kind = "info") {
  const box = document.createElement("div");
  box.className = `toast ${kind}`;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
  box.textContent = text;
  $("toasts").append(box);
  setTimeout(() => box.remove(), 8000);
}

function connection() {
  const el = $("conn");
  el.dataset.state = store.conn;
  const last = clock(store.lastEventAt || new Date());
  el.textContent = store.conn === "live" ? t("conn.live") : store.conn === "connecting" ? t("conn.connecting")
    : t("conn.reconnecting", { time: last });
}

function escalationText(item) {
  const d = item.data || {};
  if (item.kind === "dispatch") {
    const known = store.units.get(d.unit_id);
    const unit = d.unit ? d.unit.name : known ? known.name : `#${d.unit_id}`;
    return t("esc.dispatch", { unit, incident: d.incident_id });
  }
  if (item.kind === "task") {
    const title = (lang() === "en" && d.title_en) || d.title || d.task_id || d.id;
    return t("esc.task", { task: title, incident: d.incident_id });
  }
  if (item.kind === "delivery") {
    const why = (d.last_error || d.channel || "").replace(/^undeliverable: /, "").slice(0, 120);
    const key = d.incident_id ? "esc.delivery_incident" : "esc.delivery";
    return t(key, { subject: d.subject || `#${d.id}`, why, incident: d.incident_id });
  }
  return `${item.kind} · ${(d.unit && d.unit.name) || d.name || d.unit_id || ""}`;
}

function renderEscalations(canWrite, openIncident) {
  const list = $("escalations");
  const items = [...store.escalations.entries()].sort((a, b) => String(a[1].at).localeCompare(String(b[1].at)));
  $("esc-toggle").textContent = t("esc.count", { n: items.length });
  $("esc-toggle").dataset.count = String(items.length);
  const rows = items.map(([key, item]) => {
    const li = document.createElement("li");
    li.className = "escalation";
    const when = document.createElement("time");
    when.textContent = clock(item.at);
    const text = document.createElement("span");
    text.textContent = ` ${escalationText(item)} `;
    li.append(when, text);
    const incident = (item.data || {}).incident_id;
    if (incident) li.addEventListener("click", (e) => { if (e.target.tagName !== "BUTTON") openIncident(incident); });
    const handle = { dispatch: `/api/v1/dispatches/${item.data.id}/escalation/ack`,
      delivery: `/api/v1/deliveries/${item.data.id}/handled` }[item.kind];
    if (canWrite && handle) {
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.write = "1";
      b.textContent = t("esc.handle");
      b.addEventListener("click", async () => {
        await api(handle, { method: "POST" });
        handled(key);
      });
      li.append(b);
    }
    li.dataset.kind = item.kind;
    if (incident) li.dataset.incident = String(incident);
    return li;
  });
  const title = document.createElement("h2");
  title.textContent = t("esc.title");
  const ul = document.createElement("ul");
  ul.append(...rows);
  if (!rows.length) { const p = document.createElement("li"); p.className = "muted"; p.textContent = t("esc.empty"); ul.append(p); }
  list.replaceChildren(title, ul);
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
  if (me.role === "field_unit") { location.replace("/field"); return; }
  if (me.role === "gateway") { location.replace("/login"); return; }
  const canWrite = ["admin", "commander"].includes(me.role);
  document.body.dataset.role = me.role;
  $("who").textContent = `${me.username} (${me.role})`;
  $("admin-link").hidden = me.role !== "admin"; // only admins may use the people page: only they see it linked
  $("logout").addEventListener("click", logout);

  let board;
  let map;
  const panel = createPanel({
    root: $("panel"),
    toast,
    onClose: () => { board.select(null); map.select(null, null); board.focusSelected(); },
    onImpact: (impact) => map && map.select(panel.id, impact),
  });
  const open = (id) => { board.select(id); panel.open(id); map.select(id, null); };
  board = createBoard({
    list: $("board-list"),
    counters: $("counters"),
    filters: { category: $("f-category"), grade: $("f-grade"), status: $("f-status"), jurisdiction: $("f-jurisdiction") },
    onOpen: open,
  });
  map = createMap({ container: $("map"), onSelect: open, boardFilter: () => board.matches });
  board.onFilter = () => map.redrawIncidents();
  const warnings = createWarnings({ root: $("warnings"), onPick: (w) => map.showWarning(w.id) });
  subscribe((changes) => { if (changes.warnings || changes.all) warnings.refresh(); });
  warnings.refresh();
  window.__commandpost.warnings = warnings;

  // Layer switches.
  const layers = $("layers");
  const hidden = new Set(JSON.parse(localStorage.getItem("commandpost.hidden-layers") || "[]"));
  function renderLayers() {
    layers.replaceChildren(...map.layerNames.map((name) => {
      const label = document.createElement("label");
      const box = document.createElement("input");
      box.type = "checkbox";
      box.checked = !hidden.has(name);
      box.dataset.layer = name;
      box.addEventListener("change", () => {
        if (box.checked) hidden.delete(name); else hidden.add(name);
        localStorage.setItem("commandpost.hidden-layers", JSON.stringify([...hidden]));
        map.toggle(name, box.checked);
      });
      label.append(box, " ", map.label(name));
      return label;
    }));
  }
  renderLayers();
  map.map.on("load", () => { for (const name of hidden) map.toggle(name, false); });

  // Escalations: a toast when one arrives, and the list until it is handled.
  let known = new Set();
  subscribe((changes) => {
    if (changes.conn) connection();
    if (changes.escalations || changes.all) {
      // Those already open at load are listed, not announced; new ones get a toast too.
      if (!changes.all) for (const [key, item] of store.escalations) if (!known.has(key)) toast(escalationText(item), "warn");
      known = new Set(store.escalations.keys());
      renderEscalations(canWrite, open);
    }
  });
  $("esc-toggle").addEventListener("click", () => { $("escalations").hidden = !$("escalations").hidden; });
  renderEscalations(canWrite, open);

  // Wall screen: map and board only, large type; remembered per browser.
  const wall = new URLSearchParams(location.search).has("wall") || localStorage.getItem("commandpost.wall") === "1";
  function setWall(on) {
    document.body.classList.toggle("wall", on);
    localStorage.setItem("commandpost.wall", on ? "1" : "0");
    $("wall-toggle").textContent = t(on ? "wall.leave" : "wall.toggle");
    if (on) panel.close();
    setTimeout(() => map.map.resize(), 50);
  }
  $("wall-toggle").addEventListener("click", () => setWall(!document.body.classList.contains("wall")));
  setWall(wall);

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && panel.id !== null) { e.preventDefault(); panel.close(); board.select(null); map.select(null, null); }
  });
  onLang(() => { connection(); renderLayers(); warnings.render(); renderEscalations(canWrite, open); setWall(document.body.classList.contains("wall")); });
  // The connection line ticks too (its "last update" must not look frozen when nothing happens).
  setInterval(connection, 1000);
  connection();
  live();
  // /?incident=ID (the intake page links an incident this way): that incident's panel, open.
  const wanted = Number(new URLSearchParams(location.search).get("incident"));
  if (Number.isInteger(wanted) && wanted > 0) open(wanted);
  window.__commandpost.renew = renew; // the tests' way to make the session renew now
  void user;
}

main();
