// The page's one store. It opens /ws/command (ready=1) first and keeps what arrives, loads the snapshot (incidents,
// units, situation), then applies the kept events and every later one by id: an event at or below the last id is
// ignored (a replay overlapping what was seen), an entity older than the one held (by its version) does not replace
// it. The socket reconnects by itself with backoff and resumes with ?since=<last id>, so nothing is missed or seen
// twice. Views subscribe and are told, at most once per frame, what changed; none of them polls.
import { api, onToken, renew, token } from "./auth.js";

const CLOSED = new Set(["closed", "cancelled"]);
const TRACK_POINTS = 20;

export const store = {
  incidents: new Map(),
  units: new Map(),
  dispatches: new Map(), // by id: those the page has seen (events, or the selected incident's list)
  escalations: new Map(), // key -> {kind, at, ...}: stays until handled
  tracks: new Map(), // unit id -> [[lon, lat], ...] of this session
  situation: null,
  lastId: null,
  lastEventAt: null,
  conn: "connecting",
  ready: false,
  stats: { applied: 0, ignored: 0, fetched: 0, reconnects: 0 },
};

const listeners = new Set();
let changes = fresh();
let scheduled = false;
let socket = null;
let backoff = 500;
let held = null; // events that arrived before the snapshot was in

function fresh() {
  return { incidents: new Set(), units: new Set(), dispatches: new Set(), situation: false, conn: false,
    escalations: false, warnings: false, all: false, events: [] };
}

export function subscribe(listener) { listeners.add(listener); }

function flush() {
  scheduled = false;
  const done = changes;
  changes = fresh();
  for (const listener of listeners) {
    try { listener(done); } catch (error) { console.error(error); }
  }
}

function schedule() {
  if (scheduled) return;
  scheduled = true;
  // A frame when the page is drawn; a timer when it is hidden (a wall screen behind another window still keeps up).
  let fired = false;
  const once = () => { if (!fired) { fired = true; flush(); } };
  requestAnimationFrame(once);
  setTimeout(once, 200);
}

function setConn(state) {
  if (store.conn === state) return;
  store.conn = state;
  changes.conn = true;
  schedule();
}

export function isOpen(incident) { return !CLOSED.has(incident.status); }

function newer(held, incoming) {
  return !held || held.version === undefined || incoming.version === undefined || incoming.version >= held.version;
}

export function putIncident(incident) {
  const held = store.incidents.get(incident.id);
  if (!newer(held, incident)) return false;
  const { change, note, ...kept } = incident; // an incident.note event carries its note beside the incident
  // The same incident again (a view's own re-read, a note: the version stays) changes nothing; telling the views
  // would make the panel read it again, and again (it re-reads on every change of its incident).
  if (held && JSON.stringify(held) === JSON.stringify(kept)) return false;
  store.incidents.set(incident.id, kept);
  changes.incidents.add(incident.id);
  schedule();
  return true;
}

function putUnit(unit) {
  const held = store.units.get(unit.id);
  if (!newer(held, unit)) return;
  const merged = held ? { ...held, ...unit } : unit;
  store.units.set(unit.id, merged);
  if (held && unit.location && held.location &&
      (held.location.coordinates[0] !== unit.location.coordinates[0] || held.location.coordinates[1] !== unit.location.coordinates[1])) {
    const track = store.tracks.get(unit.id) || [held.location.coordinates];
    track.push(unit.location.coordinates);
    if (track.length > TRACK_POINTS) track.splice(0, track.length - TRACK_POINTS);
    store.tracks.set(unit.id, track);
  }
  changes.units.add(unit.id);
}

export function putDispatch(dispatch) {
  const held = store.dispatches.get(dispatch.id);
  store.dispatches.set(dispatch.id, held ? { ...held, ...dispatch } : dispatch);
  changes.dispatches.add(dispatch.id);
  schedule();
}

function escalate(key, item) {
  store.escalations.set(key, item);
  changes.escalations = true;
}

export function handled(key) {
  if (store.escalations.delete(key)) { changes.escalations = true; schedule(); }
}

// An event about an incident the store does not hold (it opened before the snapshot's page, or a dispatch's
// incident): fetched, not dropped.
const fetching = new Set();
function ensureIncident(id) {
  if (id == null || store.incidents.has(id) || fetching.has(id)) return;
  fetching.add(id);
  store.stats.fetched += 1;
  api(`/api/v1/incidents/${id}`).then(putIncident).catch(() => {}).finally(() => fetching.delete(id));
}

function apply(event) {
  if (store.lastId !== null && event.id <= store.lastId) { store.stats.ignored += 1; return; }
  store.lastId = event.id;
  store.lastEventAt = event.at || new Date().toISOString();
  store.stats.applied += 1;
  const data = event.data || {};
  const type = event.type;
  if (type.startsWith("incident.")) {
    putIncident(data);
  } else if (type === "unit.left_view") {
    // this page watches the whole city (no bbox): nothing leaves its view
  } else if (type.startsWith("unit.") || type.startsWith("resource.")) {
    if (data.id !== undefined && data.type !== undefined) putUnit(data);
    if (type === "unit.overdue" || type === "unit.stale") {
      escalate(`${type}:${data.unit_id ?? data.id}`, { kind: type, at: event.at, data });
    }
  } else if (type.startsWith("dispatch.")) {
    putDispatch(data);
    if (data.incident) putIncident(data.incident); else ensureIncident(data.incident_id);
    if (type === "dispatch.escalated") escalate(`dispatch:${data.id}`, { kind: "dispatch", at: event.at, data });
    if (type === "dispatch.escalation_handled" || type === "dispatch.acknowledged" || type === "dispatch.closed") {
      handled(`dispatch:${data.id}`);
    }
  } else if (type === "task.overdue") {
    escalate(`task:${data.id ?? data.task_id}`, { kind: "task", at: event.at, data });
    ensureIncident(data.incident_id);
  } else if (type === "task.updated") {
    if (data.status === "done") handled(`task:${data.id}`);
  } else if (type === "delivery.dead") {
    // a message given up on (or with nobody to send it to): someone must reach them another way
    escalate(`delivery:${data.id}`, { kind: "delivery", at: event.at, data });
  } else if (type === "delivery.handled") {
    handled(`delivery:${data.id}`);
  } else if (type.startsWith("warning.")) {
    changes.warnings = true;
  } else if (type === "situation.updated") {
    store.situation = data;
    changes.situation = true;
  } else if (type === "plan.activated" || type === "plan.escalated" || type === "plan.lowered") {
    ensureIncident(data.incident_id);
  }
  changes.events.push(event);
  schedule();
}

async function loadAll(path) {
  const items = [];
  for (let offset = 0; ; offset += 1000) {
    const page = await api(`${path}${path.includes("?") ? "&" : "?"}limit=1000&offset=${offset}`);
    items.push(...page.items);
    if (items.length >= page.total || page.items.length === 0) return items;
  }
}

async function snapshot() {
  const statuses = ["reported", "verified", "responding", "contained"].map((s) => `status=${s}`).join("&");
  // Everything on the escalation list survives a reload: unanswered dispatches, overdue tasks, dead deliveries
  // nobody has handled (an observer may not list deliveries: it sees those that die while it watches).
  const none = () => ({ items: [] });
  const [incidents, units, situation, escalated, tasks, dead] = await Promise.all([
    loadAll(`/api/v1/incidents?${statuses}`),
    loadAll("/api/v1/resources"),
    api("/api/v1/situation").catch(() => null),
    api("/api/v1/escalations?limit=1000").catch(none),
    api("/api/v1/tasks/overdue?limit=1000").catch(none),
    api("/api/v1/deliveries?state=dead&handled=false&limit=1000").catch(none),
  ]);
  for (const d of escalated.items) escalate(`dispatch:${d.id}`, { kind: "dispatch", at: d.escalated_at, data: d });
  for (const task of tasks.items) escalate(`task:${task.id}`, { kind: "task", at: task.overdue_at, data: task });
  for (const d of dead.items) escalate(`delivery:${d.id}`, { kind: "delivery", at: d.created_at, data: d });
  for (const incident of incidents) putIncident(incident);
  for (const unit of units) if (unit.status) putUnit(unit);
  store.situation = situation;
  changes.all = true;
  changes.situation = true;
  void loadTracks(); // after the first render: the tracks follow in the background
}

// The trail of each unit out on a job, from its stored fixes (GET /units/{id}/track), so a reload keeps where the
// units came from; a few at a time. A fix that came live meanwhile stays last.
const ON_A_JOB = new Set(["dispatched", "en_route", "on_scene", "transporting", "at_hospital"]);
async function loadTracks() {
  const since = new Date(Date.now() - 3600 * 1000).toISOString();
  const out = [...store.units.values()].filter((u) => ON_A_JOB.has(u.status)).slice(0, 200);
  const next = async () => {
    for (let unit = out.shift(); unit; unit = out.shift()) {
      const page = await api(`/api/v1/units/${unit.id}/track?since=${encodeURIComponent(since)}&limit=${TRACK_POINTS}`)
        .catch(() => null);
      if (!page || !page.items.length) continue;
      const stored = page.items.filter((f) => f.trusted !== false).reverse().map((f) => f.location.coordinates);
      const live = store.tracks.get(unit.id) || [];
      const track = [...stored, ...live.filter((p) => !stored.some((q) => q[0] === p[0] && q[1] === p[1]))];
      store.tracks.set(unit.id, track.slice(-TRACK_POINTS));
      changes.units.add(unit.id);
      schedule();
    }
  };
  await Promise.all([next(), next(), next(), next()]);
}

function socketUrl() {
  const url = new URL("/ws/command", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("ready", "1");
  if (store.lastId !== null) url.searchParams.set("since", String(store.lastId));
  return url;
}

function connect() {
  const ws = new WebSocket(socketUrl(), ["commandpost.bearer", token()]);
  socket = ws;
  ws.onmessage = async (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "ready") {
      backoff = 500;
      if (!store.ready) {
        // First connection: live from ``last_id``; the snapshot comes next, the events meanwhile wait in ``held``.
        held = [];
        store.lastId = null;
        try {
          await snapshot();
        } catch (error) {
          console.error(error);
          ws.close();
          return;
        }
        store.lastId = event.last_id;
        store.ready = true;
        const waiting = held;
        held = null;
        for (const e of waiting) apply(e);
        if (store.lastEventAt === null) store.lastEventAt = new Date().toISOString();
      }
      setConn("live");
      schedule();
      return;
    }
    if (held !== null) held.push(event); else apply(event);
  };
  ws.onclose = (close) => {
    if (socket !== ws) return;
    socket = null;
    store.stats.reconnects += 1;
    setConn("reconnecting");
    const wait = backoff;
    backoff = Math.min(backoff * 2, 15_000);
    const again = async () => {
      try {
        if (close.code === 4401 || close.code === 1008) await renew(); // the token ran out: a new one first
        connect();
      } catch {
        setTimeout(again, backoff);
      }
    };
    setTimeout(again, wait * (0.75 + Math.random() * 0.5));
  };
}

export function start() {
  connect();
  // A renewed token does not disturb the open socket; the server closes it (4401) when the old one expires.
  onToken(() => {});
  window.addEventListener("online", () => { if (socket === null) connect(); });
}

// Tests and the wall screen's diagnostics.
window.__commandpost = { store, dropSocket: () => socket && socket.close() };
