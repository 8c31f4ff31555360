// The intake page: a duty officer types the report as the caller speaks; the classification, facts and grade are
// previewed while typing (a debounced POST /classify), each correctable; the place comes from the place search, a
// click on the map or typed lon,lat (the address stays as typed); a report that repeats an open incident is offered
// as a note on it instead. The half-typed form lives in localStorage until it is sent (a reload or an expired
// session loses nothing); sending carries an Idempotency-Key tied to the body, so a retry or a double click never
// makes two incidents.
import { api, ApiError, logout, start as signIn } from "./auth.js";
import { applyStatic, bindToggle, lang, number, onLang, t } from "./i18n.js";
import { createMap } from "./map.js";
import { start as live, store, subscribe } from "./store.js";

/* global maplibregl */
const $ = (id) => document.getElementById(id);
const DRAFT_KEY = "commandpost.intake.draft";
const FACTS = ["deaths", "missing", "injuries", "serious_injuries", "poisoned", "affected", "evacuated",
  "economic_loss_cny", "magnitude"];
const WHOLE = new Set(["deaths", "missing", "injuries", "serious_injuries", "poisoned", "affected", "evacuated"]);
const NOTE_MAX = 4000;
const SUBTYPES = JSON.parse($("taxonomy").textContent);
const SUBTYPE_BY_KEY = new Map(SUBTYPES.map((s) => [s.key, s]));

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

function subtypeName(key) {
  const s = SUBTYPE_BY_KEY.get(key);
  if (!s) return key || "—";
  return lang() === "zh" ? s.zh : s.en.charAt(0).toUpperCase() + s.en.slice(1);
}

function givenFacts() {
  const facts = {};
  for (const name of FACTS) {
    const raw = String(draft.facts[name] ?? "").trim();
    if (raw === "") continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0 || (WHOLE.has(name) && !Number.isInteger(value))) continue;
    facts[name] = value;
  }
  return Object.keys(facts).length ? facts : null;
}

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
  const facts = givenFacts();
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

function dlRow(dl, label, value) {
  dl.append(el("dt", "", label));
  const dd = el("dd");
  if (value instanceof Node) dd.append(value); else dd.textContent = value;
  dl.append(dd);
  return dd;
}

// The rule's own sentence in English; in Chinese the same parts: the fact, its value, the level it reaches, the
// criterion met.
function basisText(b) {
  if (lang() === "en" && b.text) return b.text;
  return `${t(`fact.${b.fact}`)} ${number(b.value)} → ${b.level}级（${b.criterion}）`;
}

function renderPreview() {
  const box = $("preview");
  box.dataset.subtype = result?.subtype || "";
  box.dataset.category = result?.category || "";
  box.dataset.level = result?.grade?.level || "";
  if (!result) {
    box.replaceChildren(el("p", "muted", t("intake.preview_empty")));
    return;
  }
  const dl = el("dl");
  dlRow(dl, t("intake.category"), t(`cat.${result.category || "none"}`));
  const sub = dlRow(dl, t("intake.subtype"), subtypeName(result.subtype));
  sub.id = "preview-subtype";
  if (draft.subtype && auto) {
    sub.append(" ", el("span", "corrected", `(${t("intake.corrected")}; ${t("intake.classifier_said", { name: subtypeName(auto.subtype) })})`));
  } else if (result.subtype) {
    sub.append(" ", el("span", "muted", `${Math.round((result.confidence || 0) * 100)}%`));
  }
  const terms = el("span", "terms");
  for (const term of (auto || result).matched || []) terms.append(el("span", "", term));
  if ((auto || result).matched?.length) dlRow(dl, t("intake.matched"), terms);
  const known = FACTS.filter((name) => result.facts && result.facts[name] != null);
  const facts = el("span", "facts-line");
  facts.id = "preview-facts";
  facts.textContent = known.length
    ? known.map((name) => `${t(`fact.${name}`)} ${number(result.facts[name])}${result.facts.lower_bounds?.includes(name) ? "+" : ""}`)
      .join(lang() === "zh" ? "，" : ", ")
    : "—";
  dlRow(dl, t("intake.facts"), facts);
  const grade = result.grade || {};
  const badge = el("span", "grade-badge", grade.level || "—");
  badge.id = "preview-grade";
  badge.dataset.level = grade.level || "";
  const gradeCell = dlRow(dl, t("intake.grade"), badge);
  if (!grade.level) gradeCell.append(" ", el("span", "muted", t("intake.no_grade")));
  if (grade.rule_id) {
    const rule = dlRow(dl, t("intake.rule"), `${grade.rule_id}${grade.rule_version ? " v" + grade.rule_version : ""}`);
    rule.id = "preview-rule";
  }
  const parts = [dl];
  if (grade.basis?.length) {
    const ul = el("ul", "basis");
    for (const b of grade.basis) ul.append(el("li", "", basisText(b)));
    parts.push(ul);
  }
  box.replaceChildren(...parts);
  for (const name of FACTS) {
    const input = $(`fact-${name}`);
    const seen = auto?.facts?.[name];
    input.placeholder = seen != null ? String(seen) : "";
  }
}

function renderSubtypes() {
  const select = $("subtype");
  const first = el("option", "", auto?.subtype ? t("intake.auto", { name: subtypeName(auto.subtype) }) : t("intake.auto_none"));
  first.value = "";
  const groups = new Map();
  for (const s of SUBTYPES) {
    if (!groups.has(s.category)) {
      const group = document.createElement("optgroup");
      group.label = t(`cat.${s.category}`);
      groups.set(s.category, group);
    }
    const option = el("option", "", subtypeName(s.key));
    option.value = s.key;
    groups.get(s.category).append(option);
  }
  select.replaceChildren(first, ...groups.values());
  select.value = draft.subtype;
}

function renderFacts() {
  const grid = $("facts");
  grid.replaceChildren(...FACTS.map((name) => {
    const label = el("label");
    label.htmlFor = `fact-${name}`;
    label.textContent = t(`fact.${name}`);
    const input = el("input");
    input.id = `fact-${name}`;
    input.type = "number";
    input.min = "0";
    input.step = WHOLE.has(name) ? "1" : "any";
    input.value = draft.facts[name] ?? "";
    input.addEventListener("input", () => {
      if (input.value === "") delete draft.facts[name]; else draft.facts[name] = input.value;
      save();
      classify();
    });
    const cell = el("div");
    cell.append(label, input);
    return cell;
  }));
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

// Place search (GET /api/v1/places): a listbox under the address, driven by the arrow keys, Enter and Escape.
let places = [];
let active = -1;
let placesSeq = 0;

function closePlaces() {
  places = [];
  active = -1;
  $("places").hidden = true;
  $("places").replaceChildren();
  $("address").setAttribute("aria-expanded", "false");
  $("address").removeAttribute("aria-activedescendant");
}

function renderPlaces() {
  const list = $("places");
  list.replaceChildren(...places.map((p, i) => {
    const li = el("li", "", placeName(p));
    li.id = `place-${i}`;
    li.setAttribute("role", "option");
    li.setAttribute("aria-selected", String(i === active));
    const where = p.jurisdiction && typeof p.jurisdiction === "object" ? (lang() === "en" && p.jurisdiction.name_en) || p.jurisdiction.name : p.jurisdiction;
    const kind = p.kind ? t(`place.${p.kind}`) : "";
    li.append(el("small", "", [kind.startsWith("place.") ? p.kind : kind, where].filter(Boolean).join(" · ")));
    li.addEventListener("mousedown", (e) => { e.preventDefault(); pickPlace(i); });
    return li;
  }));
  list.hidden = places.length === 0;
  $("address").setAttribute("aria-expanded", String(places.length > 0));
  if (active >= 0) $("address").setAttribute("aria-activedescendant", `place-${active}`);
  else $("address").removeAttribute("aria-activedescendant");
}

async function searchPlaces() {
  const q = draft.address.trim();
  const seq = ++placesSeq;
  const note = $("places-note");
  if (q.length < 2) { closePlaces(); note.hidden = true; return; }
  const centre = draft.location ? [draft.location.lon, draft.location.lat] : map ? map.map.getCenter().toArray() : null;
  const near = centre ? `&near=${centre[0].toFixed(5)},${centre[1].toFixed(5)}` : "";
  try {
    const page = await api(`/api/v1/places?q=${encodeURIComponent(q)}${near}&limit=8`);
    if (seq !== placesSeq) return;
    places = (Array.isArray(page) ? page : page.items || []).filter((p) => p && p.location);
    active = places.length ? 0 : -1;
    note.hidden = places.length > 0;
    note.textContent = t("intake.places_none");
    renderPlaces();
  } catch (error) {
    if (seq !== placesSeq) return;
    closePlaces();
    note.hidden = false;
    note.textContent = error instanceof ApiError && error.status === 404 ? t("intake.places_off") : t("error.generic");
  }
}
const search = debounce(searchPlaces, 250);

// A place's name in the page's language when the search gave one (``name_en``), with the written name beside it.
function placeName(p) {
  return lang() === "en" && p.name_en && p.name_en !== p.name ? `${p.name_en} (${p.name})` : p.name;
}

function pickPlace(i) {
  const p = places[i];
  if (!p || !p.location) return;
  const [lon, lat] = p.location.coordinates;
  setLocation({ lon, lat, source: "place", name: placeName(p) });
  closePlaces();
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
  const facts = givenFacts();
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

function bind() {
  const text = (id, key, after) => $(id).addEventListener("input", () => { draft[key] = $(id).value; save(); if (after) after(); });
  text("report", "report", classify);
  text("caller-name", "caller_name");
  text("caller-phone", "caller_phone");
  text("lonlat", "lonlat");
  text("address", "address", search);
  $("callback").addEventListener("change", () => { draft.callback = $("callback").checked; save(); });
  $("subtype").addEventListener("change", () => { draft.subtype = $("subtype").value; save(); classify.now(); });
  $("lonlat").addEventListener("change", applyLonLat);
  $("lonlat").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); applyLonLat(); } });
  $("address").addEventListener("keydown", (e) => {
    const open = places.length > 0 && !$("places").hidden;
    if (e.key === "ArrowDown" && open) { e.preventDefault(); active = (active + 1) % places.length; renderPlaces(); }
    else if (e.key === "ArrowUp" && open) { e.preventDefault(); active = (active - 1 + places.length) % places.length; renderPlaces(); }
    else if (e.key === "Enter") { e.preventDefault(); if (open && active >= 0) pickPlace(active); else search.now(); }
    else if (e.key === "Escape" && open) { e.preventDefault(); closePlaces(); }
  });
  $("address").addEventListener("blur", () => setTimeout(closePlaces, 150));
  $("intake-form").addEventListener("submit", submit);
  // Ctrl+Enter sends from anywhere in the form (the report box included).
  $("intake-form").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); $("intake-form").requestSubmit(); }
  });
  $("clear").addEventListener("click", () => { clearDraft(); $("notice").hidden = true; fail(""); $("report").focus(); });
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
  subscribe((changes) => { if (changes.conn) connection(); });
  connection();
  live();
  onLang(() => { renderFacts(); renderSubtypes(); renderPreview(); renderWhere(); renderDuplicate(); connection(); });
  if (draft.report.trim()) classify.now();
  else checkDuplicate();
  $("report").focus();
}

window.__intake = { draft: () => draft, preview: () => result, duplicate: () => duplicate,
  mapReady: () => Boolean(map && map.map.loaded()),
  // Calls ``done`` once the map has drawn everything it was asked to (a repaint is asked for, so it always comes).
  idle: (done) => { if (!map) { done(); return; } map.map.once("idle", () => done()); map.map.triggerRepaint(); } };
main();
