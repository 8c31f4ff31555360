// The incident board: open incidents, grade I first, then the longest waiting first; filters; counters from the
// situation picture; a duplicate flag; each unanswered incident's age ticking. Rows are keyed by incident id and
// only the changed ones are redrawn, so a burst of events costs what it changes, not the whole list.
// Keyboard: arrows move along the list, Enter opens, Esc closes the panel (room.js).
import { age, lang, name, number, onLang, t } from "./i18n.js";
import { incidentIcon, GRADE_COLOURS } from "./map.js";
import { isOpen, store, subscribe } from "./store.js";

const GRADE_RANK = { I: 0, II: 1, III: 2, IV: 3 };
const UNANSWERED = new Set(["reported", "verified"]);
const CATEGORIES = ["natural_disaster", "accident_disaster", "public_health", "social_security"];
const STATUSES = ["reported", "verified", "responding", "contained"];
const icons = new Map();

export function iconUrl(grade, category) {
  const key = `${grade}:${category}`;
  if (!icons.has(key)) icons.set(key, incidentIcon(grade, category).toDataURL());
  return icons.get(key);
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

export function createBoard({ list, filters, counters, onOpen }) {
  const rows = new Map();
  let selected = null;
  const chosen = { category: "", grade: "", status: "", jurisdiction: "" };

  function matches(i) {
    return isOpen(i)
      && (!chosen.category || (i.category || "none") === chosen.category)
      && (!chosen.grade || ((i.grade && i.grade.level) || "none") === chosen.grade)
      && (!chosen.status || i.status === chosen.status)
      && (!chosen.jurisdiction || String(i.jurisdiction ? i.jurisdiction.id : "") === chosen.jurisdiction);
  }

  function order(a, b) {
    const ga = GRADE_RANK[a.grade && a.grade.level] ?? 4, gb = GRADE_RANK[b.grade && b.grade.level] ?? 4;
    if (ga !== gb) return ga - gb;
    return new Date(a.reported_at) - new Date(b.reported_at) || a.id - b.id;
  }

  function fillRow(li, i) {
    const grade = i.grade && i.grade.level;
    li.replaceChildren();
    li.dataset.grade = grade || "none";
    li.dataset.status = i.status;
    li.style.borderLeftColor = GRADE_COLOURS[grade] || GRADE_COLOURS.none;
    const img = el("img", "icon");
    img.src = iconUrl(grade || null, i.category || "none");
    img.alt = `${t(`grade.${grade || "none"}`)} · ${t(`cat.${i.category || "none"}`)}`;
    const main = el("div", "row-main");
    const title = el("div", "row-title", i.title);
    const meta = el("div", "row-meta");
    if (i.exercise) meta.append(el("span", "drill", t("exercise")), " ");
    meta.append(el("span", "grade-text", grade ? `${grade}` : t("grade.none")), " · ",
      el("span", "status", t(`status.${i.status}`)));
    if (i.jurisdiction) meta.append(" · ", el("span", "jur", name(i.jurisdiction)));
    if (i.possible_duplicate_of && i.duplicate_status !== "dismissed") {
      meta.append(" ", el("span", "dup", t("duplicate.of", { id: i.possible_duplicate_of })));
    }
    main.append(title, meta);
    const ageSpan = el("span", "age");
    if (UNANSWERED.has(i.status)) { ageSpan.dataset.since = i.reported_at; ageSpan.textContent = age(i.reported_at); ageSpan.title = t("age"); }
    li.append(img, main, ageSpan);
  }

  function row(i) {
    let li = rows.get(i.id);
    if (!li) {
      li = el("li", "board-row");
      li.tabIndex = -1;
      li.setAttribute("role", "option");
      li.dataset.id = i.id;
      li.addEventListener("click", () => onOpen(i.id));
      rows.set(i.id, li);
    }
    fillRow(li, i);
    return li;
  }

  function render(changes) {
    const all = changes.all || changes.relabel;
    const shown = [...store.incidents.values()].filter(matches).sort(order);
    const keep = new Set(shown.map((i) => i.id));
    for (const [id, li] of rows) if (!keep.has(id)) { li.remove(); rows.delete(id); }
    let previous = null;
    for (const i of shown) {
      const li = !rows.has(i.id) || all || changes.incidents.has(i.id) ? row(i) : rows.get(i.id);
      li.setAttribute("aria-selected", String(i.id === selected));
      const expected = previous ? previous.nextSibling : list.firstChild;
      if (expected !== li) list.insertBefore(li, expected);
      previous = li;
    }
    if (!shown.length) {
      const empty = list.querySelector(".empty") || list.appendChild(el("li", "empty", ""));
      empty.textContent = t("board.empty"); // in the language of now, after a switch too
    } else {
      const empty = list.querySelector(".empty");
      if (empty) empty.remove();
    }
    if (all || changes.situation || changes.incidents.size) renderCounters(shown.length);
    if (all || changes.incidents.size) renderJurisdictions();
  }

  function renderCounters() {
    const s = store.situation;
    // A drill's incidents (演练) are counted apart: never in the real figures, but announced while one runs.
    const open = [...store.incidents.values()].filter((i) => isOpen(i) && !i.exercise);
    const items = [
      ["counter.open", s ? s.incidents.open : open.length],
      ["counter.unanswered", open.filter((i) => UNANSWERED.has(i.status)).length],
      ["counter.units_available", s ? (s.units.by_status.available || 0) : 0],
      ["counter.unmet", s ? s.unmet_requirements.length : 0],
      ["counter.overdue", s ? s.overdue_tasks : 0],
      ["counter.escalated", s ? s.escalated_dispatches : 0],
    ];
    const boxes = items.map(([key, value]) => {
      const box = el("span", "counter");
      box.dataset.counter = key.split(".")[1];
      box.append(el("b", null, number(value)), el("small", null, t(key)));
      return box;
    });
    // From the board's own incidents (live with every incident event); the situation's count says the same.
    const drills = [...store.incidents.values()].filter((i) => isOpen(i) && i.exercise).length;
    if (drills) {
      const banner = el("span", "counter exercise");
      banner.dataset.counter = "exercises";
      banner.setAttribute("role", "status");
      banner.append(el("b", null, number(drills)), el("small", null, t("counter.exercises")));
      boxes.unshift(banner);
    }
    counters.replaceChildren(...boxes);
  }

  function option(value, label) { const o = el("option", null, label); o.value = value; return o; }

  function renderFilters() {
    filters.category.replaceChildren(option("", t("filter.all_categories")),
      ...CATEGORIES.map((c) => option(c, t(`cat.${c}`))), option("none", t("cat.none")));
    filters.grade.replaceChildren(option("", t("filter.all_grades")),
      ...["I", "II", "III", "IV", "none"].map((g) => option(g, t(`grade.${g}`))));
    filters.status.replaceChildren(option("", t("filter.open")), ...STATUSES.map((s) => option(s, t(`status.${s}`))));
    for (const [key, select] of Object.entries(filters)) select.value = chosen[key];
    renderJurisdictions();
  }

  let knownJurisdictions = "";
  function renderJurisdictions() {
    const seen = new Map();
    for (const i of store.incidents.values()) if (i.jurisdiction) seen.set(i.jurisdiction.id, i.jurisdiction);
    const sig = lang() + [...seen.keys()].sort().join(",");
    if (sig === knownJurisdictions) return;
    knownJurisdictions = sig;
    filters.jurisdiction.replaceChildren(option("", t("filter.all_jurisdictions")),
      ...[...seen.values()].sort((a, b) => name(a).localeCompare(name(b))).map((j) => option(String(j.id), name(j))));
    filters.jurisdiction.value = chosen.jurisdiction;
  }

  for (const [key, select] of Object.entries(filters)) {
    select.addEventListener("change", () => {
      chosen[key] = select.value;
      render({ all: true, incidents: new Set() });
      board.onFilter();
    });
  }

  // Keyboard: the list is one tab stop; arrows move, Enter opens.
  list.tabIndex = 0;
  list.addEventListener("keydown", (e) => {
    const items = [...list.querySelectorAll(".board-row")];
    if (!items.length) return;
    const at = items.indexOf(document.activeElement);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = e.key === "ArrowDown" ? Math.min(items.length - 1, at + 1) : Math.max(0, at - 1);
      items[at < 0 ? 0 : next].focus();
    } else if (e.key === "Enter" && at >= 0) {
      e.preventDefault();
      onOpen(Number(items[at].dataset.id));
    }
  });

  // The ages tick: one pass a second over the visible ages' text, nothing else.
  setInterval(() => {
    const now = Date.now();
    for (const span of list.querySelectorAll(".age[data-since]")) span.textContent = age(span.dataset.since, now);
  }, 1000);

  subscribe(render);
  onLang(() => { renderFilters(); knownJurisdictions = ""; render({ all: true, incidents: new Set(), relabel: true }); });
  renderFilters();

  const board = {
    matches,
    onFilter: () => {},
    select(id) {
      selected = id;
      for (const [rid, li] of rows) li.setAttribute("aria-selected", String(rid === id));
    },
    focusSelected() { const li = rows.get(selected); if (li) li.focus(); },
  };
  return board;
}
