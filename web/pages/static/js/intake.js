// The intake page: a duty officer types the report as the caller speaks; the classification, facts and grade are
// previewed while typing (a debounced POST /classify), each correctable; the place comes from the place search, a
// click on the map or typed lon,lat (the address stays as typed); a report that repeats an open incident is offered
// as a note on it instead. The half-typed form lives in localStorage until it is sent (a reload or an expired
// session loses nothing); sending carries an Idempotency-Key tied to the body, so a retry or a double click never
// makes two incidents.
import { api, ApiError, logout, start as signIn } from "./auth.js";
import { applyStatic, bindToggle, onLang, t } from "./i18n.js";
import { createMap } from "./map.js";
import { createPlaceSearch, placeName } from "./places.js";
import { FACTS, factInputs, givenFacts, showPreview, subtypeOptions } from "./preview.js";
import { isOpen, start as live, store, subscribe } from "./store.js";

/* global maplibregl */
const $ = (id) => document.getElementById(id);
const DRAFT_KEY = "commandpost.intake.draft";
const NOTE_MAX = 4000;

const EMPTY_DRAFT = () => ({ report: "", subtype: "", facts: {}, address: "", lonlat: "", location: null,
  caller_name: "", caller_phone: "", callback: false, key: null, keyFor: null });
let draft = EMPTY_DRAFT();
let auto = null; // the classifier's answer for the text as typed (no correction)
let result = null; // the answer with the officer's corrections (what will be stored)
let duplicate = null; // the open incident this report may repeat
let map = null;
let marker = null;
let sending = false;

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function debounce(fn, ms) {
  let timer = null;
  const run = (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  run.now = (...args) => { clearTimeout(timer); fn(...args); };
  return run;
}

// ------------------------------------------------------------------------------------------------------ the draft

function save() { localStorage.setItem(DRAFT_KEY, JSON.stringify(draft)); }

function load() {
  try {
    const kept = JSON.parse(localStorage.getItem(DRAFT_KEY) || "null");
    return kept && typeof kept === "object" ? { ...EMPTY_DRAFT(), ...kept } : null;
  } catch {
    return null;
  }
}

function fill() {
  $("report").value = draft.report;
  $("subtype").value = draft.subtype;
  $("address").value = draft.address;
  $("lonlat").value = draft.lonlat;
  $("caller-name").value = draft.caller_name;
  $("caller-phone").value = draft.caller_phone;
  $("callback").checked = draft.callback;
  for (const name of FACTS) $(`fact-${name}`).value = draft.facts[name] ?? "";
  placeMarker();
  renderWhere();
}

function clearDraft() {
  draft = EMPTY_DRAFT();
  localStorage.removeItem(DRAFT_KEY);
  auto = result = duplicate = null;
  fill();
  renderPreview();
  renderSubtypes();
  renderDuplicate();
}

function notice(text, link) {
  const box = $("notice");
  box.replaceChildren(el("span", "", text));
  if (link) {
    const a = el("a", "", ` #${link}`);
    a.href = `/?incident=${link}`;
    box.append(a);
  }
  box.hidden = false;
}

function fail(text) {
  $("form-error").textContent = text;
  $("form-error").hidden = !text;
}

// ---------------------------------------------------------------------------------------------------- the preview

let previewSeq = 0;
async function classifyNow() {
  const text = draft.report.trim();
  const seq = ++previewSeq;
  if (!text) {
    auto = result = null;
    renderPreview();
    renderSubtypes();
    checkDuplicate();
    return;
  }
  const body = { text };
  const facts = givenFacts(draft.facts);
  if (facts) body.facts = facts;
  try {
    const plain = api("/api/v1/classify", { method: "POST", body });
    const corrected = draft.subtype ? api("/api/v1/classify", { method: "POST", body: { ...body, subtype: draft.subtype } }) : plain;
    const [a, r] = await Promise.all([plain, corrected]);
    if (seq !== previewSeq) return; // a later keystroke's answer wins
    auto = a;
    result = r;
  } catch (error) {
    if (seq !== previewSeq) return;
    auto = result = null;
    console.error(error);
  }
  renderPreview();
  renderSubtypes();
  checkDuplicate();
}
const classify = debounce(classifyNow, 300);

function renderPreview() {
  showPreview($("preview"), { auto, result, corrected: Boolean(draft.subtype) });
  for (const name of FACTS) {
    const seen = auto?.facts?.[name];
    $(`fact-${name}`).placeholder = seen != null ? String(seen) : "";
  }
}

function renderSubtypes() { subtypeOptions($("subtype"), auto, draft.subtype); }

function renderFacts() {
  factInputs($("facts"), draft.facts, (name, value) => {
    if (value === "") delete draft.facts[name]; else draft.facts[name] = value;
    save();
    classify();
  });
}

// --------------------------------------------------------------------------------------------------- the location

function renderWhere() {
  const where = $("where");
  const loc = draft.location;
  where.classList.toggle("missing", !loc);
  if (!loc) { where.textContent = t("intake.no_location"); return; }
  const name = loc.source === "place" ? loc.name : t(loc.source === "map" ? "intake.picked_map" : "intake.picked_typed");
  where.textContent = `${t("intake.picked", { name })} (${loc.lon.toFixed(5)}, ${loc.lat.toFixed(5)})`;
}

function placeMarker() {
  if (!map) return;
  if (!draft.location) { if (marker) { marker.remove(); marker = null; } return; }
  const at = [draft.location.lon, draft.location.lat];
  if (!marker) marker = new maplibregl.Marker({ color: "#d7191c" }).setLngLat(at).addTo(map.map);
  else marker.setLngLat(at);
}

function setLocation(loc, { fly = true } = {}) {
  draft.location = loc;
  save();
  placeMarker();
  renderWhere();
  if (fly && map) map.map.easeTo({ center: [loc.lon, loc.lat], zoom: Math.max(map.map.getZoom(), 14), duration: 300 });
  checkDuplicate();
}

export function parseLonLat(text) {
  const m = /^\s*(-?\d{1,3}(?:\.\d+)?)\s*[,，\s]\s*(-?\d{1,2}(?:\.\d+)?)\s*$/.exec(text);
  if (!m) return null;
  const lon = Number(m[1]), lat = Number(m[2]);
  return lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90 ? { lon, lat } : null;
}

function applyLonLat() {
  const text = $("lonlat").value;
  if (!text.trim()) return;
  const at = parseLonLat(text);
  if (!at) {
    const where = $("where");
    where.classList.add("missing");
    where.textContent = t("intake.lonlat_bad");
    return;
  }
  setLocation({ ...at, source: "typed" });
}

// --------------------------------------------------------------------------------------------------- duplicates

let dupAsked = "";
async function checkDuplicate() {
  const subtype = draft.subtype || auto?.subtype;
  if (!subtype || !draft.location) { duplicate = null; dupAsked = ""; renderDuplicate(); return; }
  const near = `${draft.location.lon},${draft.location.lat}`;
  const ask = `${subtype}@${near}`;
  if (ask === dupAsked) return;
  dupAsked = ask;
  try {
    const page = await api(`/api/v1/incidents/possible-duplicates?subtype=${encodeURIComponent(subtype)}&near=${near}`);
    if (ask !== dupAsked) return;
    duplicate = page.items[0] || null;
  } catch (error) {
    console.error(error);
    duplicate = null;
  }
  renderDuplicate();
}

function renderDuplicate() {
  const box = $("duplicate");
  if (!duplicate) { box.hidden = true; box.replaceChildren(); return; }
  const text = el("p");
  text.append(el("strong", "", t("intake.duplicate")), " ");
  const link = el("a", "", `#${duplicate.id} ${duplicate.title}`);
  link.href = `/?incident=${duplicate.id}`;
  link.target = "_blank";
  link.rel = "noopener";
  link.id = "duplicate-link";
  text.append(link, " ", el("span", "muted", `(${t(`status.${duplicate.status}`)})`));
  const actions = el("div", "dup-actions");
  const add = el("button", "", t("intake.add_note"));
  add.type = "button";
  add.id = "add-note";
  add.addEventListener("click", () => addAsNote(duplicate.id));
  actions.append(add);
  box.replaceChildren(text, actions);
  box.hidden = false;
}

async function addAsNote(incidentId) {
  const address = draft.address.trim();
  const tail = address ? `\n${t("intake.address_prefix")}${address}` : "";
  const text = draft.report.trim().slice(0, NOTE_MAX - tail.length) + tail;
  if (!text.trim()) { fail(t("intake.need_text")); return; }
  try {
    await api(`/api/v1/incidents/${incidentId}/notes`, { method: "POST", body: { text } });
  } catch (error) {
    fail(error.message || t("error.generic"));
    return;
  }
  clearDraft();
  fail("");
  notice(t("intake.noted", { id: incidentId }));
  $("report").focus();
}

// ------------------------------------------------------------------------------------------------------ sending

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "intake-" + [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function requestBody() {
  const body = {
    description: draft.report.trim(),
    location: { type: "Point", coordinates: [draft.location.lon, draft.location.lat] },
    callback_requested: Boolean(draft.callback),
  };
  if (draft.address.trim()) body.address_text = draft.address.trim();
  if (draft.caller_name.trim()) body.caller_name = draft.caller_name.trim();
  if (draft.caller_phone.trim()) body.caller_phone = draft.caller_phone.trim();
  if (draft.subtype) body.subtype = draft.subtype;
  const facts = givenFacts(draft.facts);
  if (facts) body.facts = facts;
  return body;
}

async function submit(event) {
  event.preventDefault();
  if (sending) return;
  fail("");
  if (!draft.report.trim()) { fail(t("intake.need_text")); $("report").focus(); return; }
  if (!draft.location) { fail(t("intake.no_location")); $("address").focus(); return; }
  const body = requestBody();
  // One key per body: a retry of the same report (a lost answer, a double click) is the same incident; a report
  // changed after a failed try is a new request.
  const print = JSON.stringify(body);
  if (draft.keyFor !== print || !draft.key) { draft.key = randomKey(); draft.keyFor = print; save(); }
  sending = true;
  const button = $("submit");
  button.disabled = true;
  button.textContent = t("intake.sending");
  try {
    const incident = await api("/api/v1/incidents", { method: "POST", body, headers: { "Idempotency-Key": draft.key } });
    clearDraft();
    notice(t("intake.created", { id: incident.id }), incident.id);
    $("report").focus();
  } catch (error) {
    fail(error instanceof ApiError ? error.message : t("error.generic"));
  } finally {
    sending = false;
    button.disabled = false;
    button.textContent = t("intake.submit");
  }
}

// ------------------------------------------------------------------------------------------------------- wiring

const places = createPlaceSearch({
  input: $("address"),
  list: $("places"),
  note: $("places-note"),
  near: () => (draft.location ? [draft.location.lon, draft.location.lat] : map ? map.map.getCenter().toArray() : null),
  onPick: (p) => {
    const [lon, lat] = p.location.coordinates;
    setLocation({ lon, lat, source: "place", name: placeName(p) });
  },
});

function bind() {
  const text = (id, key, after) => $(id).addEventListener("input", () => { draft[key] = $(id).value; save(); if (after) after(); });
  text("report", "report", classify);
  text("caller-name", "caller_name");
  text("caller-phone", "caller_phone");
  text("lonlat", "lonlat");
  text("address", "address", () => places.search());
  $("callback").addEventListener("change", () => { draft.callback = $("callback").checked; save(); });
  $("subtype").addEventListener("change", () => { draft.subtype = $("subtype").value; save(); classify.now(); });
  $("lonlat").addEventListener("change", applyLonLat);
  $("lonlat").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); applyLonLat(); } });
  $("intake-form").addEventListener("submit", submit);
  // Ctrl+Enter sends from anywhere in the form (the report box included).
  $("intake-form").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); $("intake-form").requestSubmit(); }
  });
  $("clear").addEventListener("click", () => { clearDraft(); $("notice").hidden = true; fail(""); $("report").focus(); });
}

// A drill is running (its incidents arrive on the same stream as real ones): the officer must not take one for real.
function exercises() {
  const n = [...store.incidents.values()].filter((i) => isOpen(i) && i.exercise).length;
  const banner = $("exercises");
  banner.hidden = n === 0;
  banner.replaceChildren(el("b", null, String(n)), el("small", null, t("counter.exercises")));
}

function connection() {
  const c = $("conn");
  c.dataset.state = store.conn;
  c.textContent = store.conn === "live" ? t("conn.live") : t("conn.connecting");
}

async function main() {
  applyStatic(document);
  bindToggle($("lang-toggle"));
  renderFacts();
  renderSubtypes();
  const kept = load();
  if (kept) draft = kept;
  bind();
  fill();
  renderPreview();
  let me;
  try {
    me = await signIn();
  } catch {
    return; // on the way to /login; the draft waits in localStorage
  }
  if (me.role === "field_unit") { location.replace("/field"); return; }
  $("who").textContent = `${me.username} (${me.role})`;
  $("logout").addEventListener("click", logout);
  if (kept && (kept.report || kept.address || kept.location)) notice(t("intake.draft_restored"));
  map = createMap({ container: $("map"), onSelect: () => {}, boardFilter: () => () => true });
  map.map.on("click", (e) => setLocation({ lon: e.lngLat.lng, lat: e.lngLat.lat, source: "map" }, { fly: false }));
  map.map.on("load", () => { placeMarker(); if (draft.location) map.map.jumpTo({ center: [draft.location.lon, draft.location.lat], zoom: 14 }); });
  subscribe((changes) => {
    if (changes.conn) connection();
    if (changes.all || changes.incidents.size) exercises();
  });
  connection();
  live();
  onLang(() => { renderFacts(); renderSubtypes(); renderPreview(); renderWhere(); renderDuplicate(); places.render(); connection(); exercises(); });
  if (draft.report.trim()) classify.now();
  else checkDuplicate();
  $("report").focus();
}

window.__intake = { draft: () => draft, preview: () => result, duplicate: () => duplicate,
  mapReady: () => Boolean(map && map.map.loaded()),
  // Calls ``done`` once the map has drawn everything it was asked to (a repaint is asked for, so it always comes).
  idle: (done) => { if (!map) { done(); return; } map.map.once("idle", () => done()); map.map.triggerRepaint(); } };
main();
