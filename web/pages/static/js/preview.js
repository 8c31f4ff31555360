// The intake's live preview, drawn from POST /classify's answers: category, subtype (and the classifier's own when the
// officer corrected it), matched terms, facts, grade with its rule and basis; and the controls that correct them
// (the subtype, the facts), which map onto what POST /incidents takes.
import { lang, number, t } from "./i18n.js";

export const FACTS = ["deaths", "missing", "injuries", "serious_injuries", "poisoned", "affected", "evacuated",
  "economic_loss_cny", "magnitude"];
const WHOLE = new Set(["deaths", "missing", "injuries", "serious_injuries", "poisoned", "affected", "evacuated"]);
const SUBTYPES = JSON.parse(document.getElementById("taxonomy").textContent);
const SUBTYPE_BY_KEY = new Map(SUBTYPES.map((s) => [s.key, s]));

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export function subtypeName(key) {
  const s = SUBTYPE_BY_KEY.get(key);
  if (!s) return key || "—";
  return lang() === "zh" ? s.zh : s.en.charAt(0).toUpperCase() + s.en.slice(1);
}

// The facts the officer typed, as numbers the API takes (a count whole, nothing negative); null when none.
export function givenFacts(typed) {
  const facts = {};
  for (const name of FACTS) {
    const raw = String(typed[name] ?? "").trim();
    if (raw === "") continue;
    const value = Number(raw);
    if (!Number.isFinite(value) || value < 0 || (WHOLE.has(name) && !Number.isInteger(value))) continue;
    facts[name] = value;
  }
  return Object.keys(facts).length ? facts : null;
}

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

export function showPreview(box, { auto, result, corrected }) {
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
  if (corrected && auto) {
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
}

// The correction's choices: "automatic (what the classifier says)", then every subtype under its category.
export function subtypeOptions(select, auto, chosen) {
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
  select.value = chosen;
}

// A number input per fact (what the officer types wins over what was read); ``onChange(name, value)``.
export function factInputs(grid, values, onChange) {
  grid.replaceChildren(...FACTS.map((name) => {
    const label = el("label");
    label.htmlFor = `fact-${name}`;
    label.textContent = t(`fact.${name}`);
    const input = el("input");
    input.id = `fact-${name}`;
    input.type = "number";
    input.min = "0";
    input.step = WHOLE.has(name) ? "1" : "any";
    input.value = values[name] ?? "";
    input.addEventListener("input", () => onChange(name, input.value));
    const cell = el("div");
    cell.append(label, input);
    return cell;
  }));
}
