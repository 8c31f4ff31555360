// The field page: a crew's phone in a moving vehicle. Its unit's current dispatch (the incident, the address as the
// caller gave it, distance and ETA by road, the route on a small map), an alert that does not stop until it is
// acknowledged, one-tap status, notes and a scene photo, the location shared while on duty — and a connection that
// comes and goes: actions wait in the outbox (outbox.js) and the socket resumes from the last event it saw
// (``/ws/field?since=``), listing what arrived while the page was away.
import { api, logout, renew, start as signIn, token, user } from "./auth.js";
import { alarmState, start as alarmOn, stop as alarmOff, unlock } from "./alarm.js";
import { applyStatic, bindToggle, clock, lang, number, onLang, t } from "./i18n.js";
import { style as baseStyle } from "./map.js";
import { drain, enqueue, onOutbox, queued } from "./outbox.js";

/* global maplibregl */
const STATUSES = ["en_route", "on_scene", "transporting", "at_hospital", "available", "out_of_service"];
// DOMAIN.md's workflow (command/workflow.py): what a unit may report from each status; the server decides anyway.
const NEXT = {
  available: ["out_of_service"], dispatched: ["en_route", "on_scene", "available", "out_of_service"],
  en_route: ["on_scene", "available", "out_of_service"], on_scene: ["transporting", "available", "out_of_service"],
  transporting: ["at_hospital", "available", "out_of_service"], at_hospital: ["available", "out_of_service"],
  out_of_service: ["available"],
};
const OPEN_STATUSES = ["reported", "verified", "responding", "contained"];
const MOVING_MS = 5_000; // a fix every 5 s while moving, every minute while still
const STILL_MS = 60_000;
const MOVED_M = 25;
const KEYS = { state: "commandpost.field.state", last: "commandpost.field.last", duty: "commandpost.field.duty",
  missed: "commandpost.field.missed" };

const $ = (id) => document.getElementById(id);
const S = {
  unitId: null, unit: null, status: null, dispatch: null, incident: null, route: null, position: null,
  lastId: numberOr(localStorage.getItem(KEYS.last)), missed: readJson(KEYS.missed, []), online: false,
  onDuty: localStorage.getItem(KEYS.duty) === "1", refused: [],
};
let socket = null;
let reconnecting = null;
let backoff = 1_000;
let watchId = null;
let lastSent = { at: 0, lon: null, lat: null };
let map = null;
let routedFrom = null;

function numberOr(text) { const n = Number(text); return text !== null && Number.isFinite(n) ? n : null; }
function readJson(key, fallback) { try { return JSON.parse(localStorage.getItem(key)) ?? fallback; } catch { return fallback; } }
function now() { return new Date().toISOString(); }

function el(tag, cls, ...children) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

function toast(text, kind = "info") {
  const box = $("f-toast");
  box.textContent = text;
  box.dataset.kind = kind;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5_000);
}

function keep() {
  localStorage.setItem(KEYS.state, JSON.stringify({ unit: S.unit, status: S.status, dispatch: S.dispatch, incident: S.incident }));
  localStorage.setItem(KEYS.missed, JSON.stringify(S.missed.slice(-50)));
  if (S.lastId !== null) localStorage.setItem(KEYS.last, String(S.lastId));
}

// ------------------------------------------------------------------------------------------------ the state

function queuedStatus() {
  const statuses = queued().filter((i) => i.kind === "status");
  return statuses.length ? statuses[statuses.length - 1].body.status : null;
}

function currentStatus() { return queuedStatus() || S.status; }

function ackPending(dispatch) {
  return queued().some((i) => i.kind === "ack" && i.dispatch_id === dispatch.id);
}

function alerting() {
  const d = S.dispatch;
  return Boolean(d && !d.closed_at && !d.acknowledged_at && !ackPending(d));
}

async function snapshot() {
  const unit = await api(`/api/v1/resources/${S.unitId}`);
  const query = OPEN_STATUSES.map((s) => `status=${s}`).join("&");
  const incidents = (await api(`/api/v1/incidents?${query}&limit=100`)).items || [];
  const lists = await Promise.all(incidents.map((i) => api(`/api/v1/incidents/${i.id}/dispatches`).catch(() => ({ items: [] }))));
  let dispatch = null;
  let incident = null;
  lists.forEach((list, n) => {
    for (const d of list.items || []) {
      if (d.unit_id === S.unitId && !d.closed_at && (!dispatch || d.id > dispatch.id)) { dispatch = d; incident = incidents[n]; }
    }
  });
  S.unit = unit;
  S.status = unit.status;
  S.dispatch = dispatch;
  S.incident = incident;
  keep();
  render();
  routeIfNeeded(true);
}

function take(event) {
  const d = event.data || {};
  const type = event.type;
  if (type.startsWith("dispatch.") && d.unit_id === S.unitId) {
    if (d.closed_at) {
      if (S.dispatch && S.dispatch.id === d.id) { S.dispatch = null; S.incident = null; S.route = null; }
    } else if (!S.dispatch || d.id >= S.dispatch.id) {
      const { incident, unit, ...dispatch } = d;
      S.dispatch = { ...(S.dispatch && S.dispatch.id === d.id ? S.dispatch : {}), ...dispatch };
      if (incident) S.incident = incident;
      if (unit && unit.status) S.status = unit.status;
    }
  } else if (type === "unit.status" && d.id === S.unitId) {
    S.status = d.status;
    S.unit = { ...(S.unit || {}), ...d };
  } else if (type.startsWith("incident.") && S.incident) {
    const incident = d.incident || d;
    if (incident.id === S.incident.id && incident.title) S.incident = { ...S.incident, ...incident };
  }
}

// -------------------------------------------------------------------------------------------------- the socket

function setConn(state) {
  S.online = state === "live";
  $("conn").dataset.state = state;
  renderConn();
  renderOffline();
}

function renderConn() {
  $("conn").textContent = t(`field.conn.${$("conn").dataset.state}`);
}

function connect() {
  const url = new URL("/ws/field", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("ready", "1");
  if (S.lastId !== null) url.searchParams.set("since", String(S.lastId));
  const resuming = S.lastId !== null;
  let replaying = resuming;
  const ws = new WebSocket(url, ["commandpost.bearer", token()]);
  socket = ws;
  ws.onmessage = async (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "ready") {
      backoff = 1_000;
      replaying = false;
      if (S.lastId === null || event.last_id > S.lastId) S.lastId = event.last_id;
      keep();
      render();
      setConn("live");
      try { await snapshot(); } catch (error) { console.info("snapshot", error); }
      drain();
      return;
    }
    if (S.lastId !== null && event.id <= S.lastId) return;
    S.lastId = event.id;
    if (replaying) S.missed.push({ id: event.id, type: event.type, at: event.at, data: { id: (event.data || {}).id } });
    take(event);
    keep();
    render();
    routeIfNeeded(false);
  };
  ws.onclose = (close) => {
    if (socket !== ws) return;
    socket = null;
    setConn("reconnecting");
    const wait = backoff;
    backoff = Math.min(backoff * 2, 15_000);
    clearTimeout(reconnecting);
    reconnecting = setTimeout(async () => {
      try {
        if (close.code === 4401 || close.code === 1008) await renew();
      } catch { /* offline: the next try renews */ }
      if (socket === null) connect();
    }, wait);
  };
}

// The phone lost its network: the socket may look open for a long while (nothing tells it), so it is closed now and
// opened again the moment the network is back, without waiting out the back-off.
function wentOffline() {
  setConn("reconnecting");
  if (socket) socket.close();
}

function cameOnline() {
  backoff = 1_000;
  clearTimeout(reconnecting);
  if (socket !== null && socket.readyState !== WebSocket.OPEN) {
    const stale = socket;
    socket = null; // its close, when it comes, is no longer ours to handle
    stale.close();
  }
  if (socket === null) connect();
  drain();
}

// ---------------------------------------------------------------------------------------------------- actions

function acknowledge() {
  unlock();
  const d = S.dispatch;
  if (!d) return;
  enqueue({ kind: "ack", dispatch_id: d.id, url: `/api/v1/dispatches/${d.id}/ack`, body: { at: now() } });
  render();
}

function report(status) {
  unlock();
  enqueue({ kind: "status", url: `/api/v1/units/${S.unitId}/status`, body: { status, at: now() } });
  render();
}

function addNote() {
  const box = $("f-note-text");
  const text = box.value.trim();
  if (!text || !S.incident) return;
  enqueue({ kind: "note", url: `/api/v1/incidents/${S.incident.id}/notes`, body: { text, at: now() } });
  box.value = "";
  render();
}

async function sendPhoto(file) {
  if (!file || !S.incident) return;
  const state = $("f-photo-state");
  const keepLocation = S.onDuty && watchId !== null ? "?keep_location=true" : "";
  try {
    const response = await api(`/api/v1/incidents/${S.incident.id}/photos${keepLocation}`, { method: "POST", raw: true, blob: file });
    if (!response.ok) {
      const body = await response.json().catch(() => ({}));
      state.textContent = t("field.failed", { why: body.detail || response.status });
      return;
    }
    const photo = await response.json();
    state.textContent = `${t("field.photo_sent")} · #${photo.id} · ${clock(photo.created_at)}`;
  } catch {
    state.textContent = t("field.photo_offline");
  } finally {
    $("f-photo-input").value = "";
  }
}

onOutbox((what, item, detail) => {
  if (what === "sent" && item.kind === "status" && detail && detail.status) S.status = detail.status;
  if (what === "sent" && item.kind === "ack" && detail && S.dispatch && S.dispatch.id === detail.id) S.dispatch = { ...S.dispatch, ...detail };
  if (what === "refused") {
    const allowed = detail.allowed ? ` (${detail.allowed.map((s) => t(`unit.${s}`)).join(", ")})` : "";
    toast(`${label(item)}: ${t("field.failed", { why: (detail.detail || detail.status) + allowed })}`, "error");
    if (S.online) snapshot().catch(() => {});
  }
  keep();
  render();
});

// ------------------------------------------------------------------------------------------- location sharing

function metres(aLon, aLat, bLon, bLat) {
  const r = 6_371_000, rad = Math.PI / 180;
  const x = (bLon - aLon) * rad * Math.cos(((aLat + bLat) / 2) * rad), y = (bLat - aLat) * rad;
  return Math.hypot(x, y) * r;
}

async function onFix(position) {
  const c = position.coords;
  S.position = { lon: c.longitude, lat: c.latitude, accuracy: c.accuracy };
  $("f-sharing").textContent = `${t("field.sharing")} · ±${Math.round(c.accuracy || 0)} m`;
  const moved = lastSent.lon === null ? Infinity : metres(lastSent.lon, lastSent.lat, c.longitude, c.latitude);
  const moving = (c.speed || 0) > 1 || moved > MOVED_M;
  const gap = Date.now() - lastSent.at;
  if (gap < (moving ? MOVING_MS : STILL_MS) && moved < 10 * MOVED_M) return;
  lastSent = { at: Date.now(), lon: c.longitude, lat: c.latitude };
  const fix = { type: "Point", coordinates: [c.longitude, c.latitude], at: new Date(position.timestamp || Date.now()).toISOString() };
  if (Number.isFinite(c.accuracy)) fix.accuracy = Math.min(c.accuracy, 100_000);
  if (Number.isFinite(c.speed) && c.speed >= 0) fix.speed = Math.min(c.speed, 200);
  if (Number.isFinite(c.heading) && c.heading >= 0) fix.heading = Math.min(c.heading, 360);
  try { await api(`/api/v1/units/${S.unitId}/location`, { method: "POST", body: fix }); } catch { lastSent.at = 0; }
  routeIfNeeded(false);
}

function share(on) {
  if (on && watchId === null && "geolocation" in navigator) {
    watchId = navigator.geolocation.watchPosition(onFix, () => { $("f-sharing").textContent = t("field.no_location"); },
      { enableHighAccuracy: true, maximumAge: 2_000, timeout: 30_000 });
  } else if (!on && watchId !== null) {
    navigator.geolocation.clearWatch(watchId);
    watchId = null;
  }
}

async function goOnDuty(on) {
  S.onDuty = on;
  localStorage.setItem(KEYS.duty, on ? "1" : "0");
  if (on) {
    unlock();
    if ("Notification" in window && Notification.permission === "default") Notification.requestPermission().catch(() => {});
    subscribePush();
  }
  share(on);
  render();
}

function keyBytes(base64url) {
  const text = atob(base64url.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - (base64url.length % 4)) % 4));
  return Uint8Array.from(text, (ch) => ch.charCodeAt(0));
}

async function subscribePush() {
  try {
    const registration = await navigator.serviceWorker.ready;
    const { public_key: key } = await api("/api/v1/push-subscriptions/key");
    if (!key || !registration.pushManager) return;
    const subscription = (await registration.pushManager.getSubscription())
      || (await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) }));
    await api("/api/v1/push-subscriptions", { method: "POST", body: subscription.toJSON() });
  } catch (error) {
    console.info("no Web Push here:", error && error.message); // the page's own alert still sounds
  }
}

// ---------------------------------------------------------------------------------------------- route and map

async function routeIfNeeded(force) {
  const i = S.incident;
  const from = S.position || (S.unit && S.unit.location && { lon: S.unit.location.coordinates[0], lat: S.unit.location.coordinates[1] });
  if (!i || !from || !S.online) return;
  if (!force && routedFrom && metres(routedFrom.lon, routedFrom.lat, from.lon, from.lat) < 200 && S.route && S.route.incident === i.id) return;
  routedFrom = from;
  const [lon, lat] = i.location.coordinates;
  try {
    const route = await api(`/api/v1/route?from=${from.lon},${from.lat}&to=${lon},${lat}`);
    const p = route.properties || route;
    S.route = { incident: i.id, distance_m: p.distance_m, duration_s: p.duration_s, geometry: route.geometry, from };
  } catch {
    S.route = null;
  }
  render();
}

function drawMap() {
  const i = S.incident;
  const box = $("f-map");
  box.hidden = !i;
  if (!i || typeof maplibregl === "undefined") return;
  if (!map) {
    maplibregl.setWorkerUrl("/vendor/maplibre-gl/maplibre-gl-csp-worker.js");
    map = new maplibregl.Map({
      container: box, style: baseStyle(), center: i.location.coordinates, zoom: 14, attributionControl: false,
      fadeDuration: 0, transformRequest: (url) => (url.startsWith(`${location.origin}/api/`)
        ? { url, headers: { Authorization: `Bearer ${token()}` } } : { url }),
    });
    map.addControl(new maplibregl.AttributionControl({
      compact: false,
      customAttribution: '© <a href="https://www.openstreetmap.org/copyright" target="_blank" rel="noopener">OpenStreetMap</a> contributors',
    }), "bottom-right");
    map.on("load", () => {
      map.addSource("route", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
      map.addSource("points", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
      map.addLayer({ id: "route", type: "line", source: "route", paint: { "line-color": "#0a5bd6", "line-width": 5, "line-opacity": 0.85 } });
      map.addLayer({ id: "points", type: "circle", source: "points", paint: {
        "circle-radius": 9, "circle-stroke-width": 3, "circle-stroke-color": "#ffffff",
        "circle-color": ["match", ["get", "kind"], "scene", "#d7191c", "#0a5bd6"] } });
      map.loadedOnce = true;
      drawMap();
    });
    return;
  }
  if (!map.loadedOnce) return;
  const features = [{ type: "Feature", geometry: i.location, properties: { kind: "scene" } }];
  const from = S.route && S.route.from;
  if (from) features.push({ type: "Feature", geometry: { type: "Point", coordinates: [from.lon, from.lat] }, properties: { kind: "me" } });
  map.getSource("points").setData({ type: "FeatureCollection", features });
  const line = S.route && S.route.geometry ? [{ type: "Feature", geometry: S.route.geometry, properties: {} }] : [];
  map.getSource("route").setData({ type: "FeatureCollection", features: line });
  const bounds = new maplibregl.LngLatBounds(i.location.coordinates, i.location.coordinates);
  if (from) bounds.extend([from.lon, from.lat]);
  for (const c of (S.route && S.route.geometry && S.route.geometry.coordinates) || []) bounds.extend(c);
  map.fitBounds(bounds, { padding: 30, maxZoom: 16, duration: 0 });
}

// ---------------------------------------------------------------------------------------------------- drawing

function incidentLines(i) {
  const lines = [];
  if (i.address_text) lines.push(el("p", "f-address", el("b", null, `${t("field.address")}: `), i.address_text));
  const grade = i.grade && i.grade.level ? t(`grade.${i.grade.level}`) : t("grade.none");
  lines.push(el("p", "f-muted", `${t(`cat.${i.category || "none"}`)} · ${grade}`));
  if (i.description) lines.push(el("p", "f-desc", i.description));
  return lines;
}

function renderDispatch() {
  const body = $("f-dispatch-body");
  const d = S.dispatch, i = S.incident;
  if (!d || !i) { body.replaceChildren(el("p", "f-muted", t("field.no_dispatch"))); return; }
  const r = S.route && S.route.incident === i.id ? S.route : null;
  const far = r ? el("p", "f-eta",
    el("span", null, `${t("field.distance")} ${number(Math.round(r.distance_m / 100) / 10)} ${t("field.km")}`),
    el("span", null, `${t("field.eta")} ${number(Math.max(1, Math.round(r.duration_s / 60)))} ${t("field.min")}`)) : null;
  const acked = d.acknowledged_at ? el("p", "f-acked", t("field.acked", { time: clock(d.acknowledged_at) })) : null;
  const drill = i.exercise ? el("p", "f-exercise", t("field.exercise_note")) : null; // a drill's, never taken for real
  const title = el("h3", "f-incident-title", `#${i.id} ${i.title}`);
  body.replaceChildren(...[drill, title, ...incidentLines(i), far, acked].filter(Boolean));
  body.dataset.dispatch = String(d.id);
}

function renderAlert() {
  const box = $("f-alert");
  const on = alerting();
  box.hidden = !on;
  document.body.classList.toggle("alerting", on);
  if (!on) { alarmOff(); return; }
  const i = S.incident || {};
  $("f-alert-kind").textContent = i.exercise ? `${t("field.exercise")} · ${t("field.alert")}` : t("field.alert");
  box.classList.toggle("exercise", Boolean(i.exercise));
  $("f-alert-title").textContent = i.title || `#${S.dispatch.incident_id}`;
  $("f-alert-address").textContent = i.address_text || "";
  const grade = i.grade && i.grade.level ? t(`grade.${i.grade.level}`) : null;
  const r = S.route && S.route.incident === i.id ? S.route : null;
  const far = r ? `${number(Math.round(r.distance_m / 100) / 10)} ${t("field.km")} · ${t("field.eta")} ${number(Math.max(1, Math.round(r.duration_s / 60)))} ${t("field.min")}` : null;
  const meta = [i.category ? t(`cat.${i.category}`) : null, grade, far, clock(S.dispatch.created_at)].filter(Boolean);
  $("f-alert-meta").textContent = meta.join(" · ");
  $("f-alert-again").hidden = !S.dispatch.warned_at;
  alarmOn({ title: `${t("field.push_title")}: ${i.title || ""}`, body: i.address_text || i.description || "", tag: `dispatch-${S.dispatch.id}` });
}

function renderStatus() {
  const current = currentStatus();
  const allowed = new Set(NEXT[current] || STATUSES);
  $("f-status").replaceChildren(...STATUSES.map((s) => {
    const b = el("button", `f-status-button s-${s}`, t(`unit.${s}`));
    b.type = "button";
    b.dataset.status = s;
    b.setAttribute("aria-pressed", String(s === current));
    b.disabled = s !== current && !allowed.has(s);
    if (s === current) b.disabled = true;
    b.addEventListener("click", () => report(s));
    return b;
  }));
}

// What a queued action is, in the page's current language.
function label(item) {
  if (item.kind === "ack") return t("field.q.ack", { id: item.dispatch_id });
  if (item.kind === "status") return t("field.q.status", { status: t(`unit.${item.body.status}`) });
  return t("field.q.note", { text: item.body.text.length > 40 ? item.body.text.slice(0, 39) + "…" : item.body.text });
}

function renderQueue() {
  const items = queued();
  $("f-queue-h").textContent = t("field.queue", { n: items.length });
  $("f-queue").replaceChildren(...(items.length ? items.map((i) => el("li", "f-queued",
    el("time", null, clock(i.body.at || i.queued_at)), " ", label(i))) : [el("li", "f-muted", t("field.queue_empty"))]));
}

function renderMissed() {
  const card = $("f-missed-card");
  card.hidden = S.missed.length === 0;
  $("f-missed-h").textContent = t("field.missed", { n: S.missed.length });
  $("f-missed").replaceChildren(...S.missed.slice(-20).reverse().map((e) => {
    const key = `field.ev.${e.type}`;
    const text = t(key, { id: (e.data && e.data.id) ?? "", type: e.type });
    return el("li", "f-missed-item", el("time", null, clock(e.at)), " ", text === key ? e.type : text);
  }));
}

function renderOffline() {
  const box = $("f-offline");
  const n = queued().length;
  box.hidden = S.online;
  box.textContent = `${t("field.offline")}${n ? ` · ${t("field.queue", { n })}` : ""}`;
}

function renderDuty() {
  const b = $("f-duty");
  b.textContent = t(S.onDuty ? "field.duty_off" : "field.duty_on");
  b.setAttribute("aria-pressed", String(S.onDuty));
  b.classList.toggle("on", S.onDuty);
  if (!S.onDuty) $("f-sharing").textContent = t("field.not_sharing");
}

function render() {
  renderConn();
  if (S.unit) $("f-unit").textContent = S.unit.name || t("field.title");
  renderAlert();
  renderDispatch();
  renderStatus();
  renderQueue();
  renderMissed();
  renderOffline();
  renderDuty();
  $("f-note-add").disabled = !S.incident;
  drawMap();
}

// ------------------------------------------------------------------------------------------------------ start

function bind() {
  applyStatic(document);
  bindToggle($("lang-toggle"));
  onLang(() => render());
  $("logout").addEventListener("click", () => logout());
  $("f-ack").addEventListener("click", acknowledge);
  $("f-duty").addEventListener("click", () => goOnDuty(!S.onDuty));
  $("f-note-add").addEventListener("click", addNote);
  $("f-photo-input").addEventListener("change", (e) => sendPhoto(e.target.files[0]));
  $("f-note-text").placeholder = t("field.note_placeholder");
  onLang(() => { $("f-note-text").placeholder = t("field.note_placeholder"); });
  // Any first tap unlocks the sound (a browser plays none before one); the missed list is cleared by a tap on it.
  document.addEventListener("pointerdown", unlock, { once: true });
  $("f-missed-card").addEventListener("click", () => { S.missed = []; keep(); render(); });
  window.addEventListener("offline", wentOffline);
  window.addEventListener("online", cameOnline);
}

async function boot() {
  await signIn();
  const me = user();
  S.unitId = me.unit_id;
  if (!S.unitId) { toast(t("error.generic")); return; }
  connect();
  if (S.onDuty) goOnDuty(true);
}

async function main() {
  const cached = readJson(KEYS.state, {});
  Object.assign(S, { unit: cached.unit || null, status: cached.status || null, dispatch: cached.dispatch || null, incident: cached.incident || null });
  S.unitId = S.unit ? S.unit.id : null;
  bind();
  render();
  setConn("connecting");
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/field-sw.js", { scope: "/" }).catch((error) => console.info("no service worker:", error.message));
  }
  try {
    await boot();
  } catch (error) {
    // No connection at start: the page runs from its cache and its outbox, and signs in when the network is back.
    setConn("reconnecting");
    const retry = async () => { try { await boot(); window.removeEventListener("online", retry); } catch { /* still off */ } };
    window.addEventListener("online", retry);
  }
}

// Tests read the page's state here.
window.__field = { state: S, queued, alarm: alarmState, lang, dropSocket: () => socket && socket.close() };
main();
