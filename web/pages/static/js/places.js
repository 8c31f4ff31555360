// The place search under an address box (GET /api/v1/places, API.md "Places and notes"): a combobox listing what
// was found, best first, driven by the arrow keys, Enter and Escape (or the mouse). What was typed stays in the box:
// picking a place gives its point, never rewrites the address.
import { api, ApiError } from "./auth.js";
import { lang, t } from "./i18n.js";

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A place's name in the page's language when the search gave one (``name_en``), with the written name beside it.
export function placeName(p) {
  return lang() === "en" && p.name_en && p.name_en !== p.name ? `${p.name_en} (${p.name})` : p.name;
}

// ``near()``: [lon, lat] the answers should be near, or null; ``onPick(place)`` when one is chosen.
export function createPlaceSearch({ input, list, note, near, onPick, wait = 250 }) {
  let places = [];
  let active = -1;
  let seq = 0;
  let timer = null;

  function close() {
    places = [];
    active = -1;
    list.hidden = true;
    list.replaceChildren();
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function render() {
    list.replaceChildren(...places.map((p, i) => {
      const li = el("li", "", placeName(p));
      li.id = `place-${i}`;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", String(i === active));
      const where = p.jurisdiction && typeof p.jurisdiction === "object"
        ? (lang() === "en" && p.jurisdiction.name_en) || p.jurisdiction.name : p.jurisdiction;
      const kind = p.kind ? t(`place.${p.kind}`) : "";
      li.append(el("small", "", [kind.startsWith("place.") ? p.kind : kind, where].filter(Boolean).join(" · ")));
      li.addEventListener("mousedown", (e) => { e.preventDefault(); pick(i); });
      return li;
    }));
    list.hidden = places.length === 0;
    input.setAttribute("aria-expanded", String(places.length > 0));
    if (active >= 0) input.setAttribute("aria-activedescendant", `place-${active}`);
    else input.removeAttribute("aria-activedescendant");
  }

  async function run() {
    const q = input.value.trim();
    const mine = ++seq;
    if (q.length < 2) { close(); note.hidden = true; return; }
    const at = near();
    const nearby = at ? `&near=${at[0].toFixed(5)},${at[1].toFixed(5)}` : "";
    try {
      const page = await api(`/api/v1/places?q=${encodeURIComponent(q)}${nearby}&limit=8`);
      if (mine !== seq) return; // a later keystroke's answer wins
      places = (Array.isArray(page) ? page : page.items || []).filter((p) => p && p.location);
      active = places.length ? 0 : -1;
      note.hidden = places.length > 0;
      note.textContent = t("intake.places_none");
      render();
    } catch (error) {
      if (mine !== seq) return;
      close();
      note.hidden = false;
      note.textContent = error instanceof ApiError && error.status === 404 ? t("intake.places_off") : t("error.generic");
    }
  }

  function pick(i) {
    const p = places[i];
    if (!p) return;
    close();
    onPick(p);
  }

  function search() { clearTimeout(timer); timer = setTimeout(run, wait); }

  input.addEventListener("keydown", (e) => {
    const open = places.length > 0 && !list.hidden;
    if (e.key === "ArrowDown" && open) { e.preventDefault(); active = (active + 1) % places.length; render(); }
    else if (e.key === "ArrowUp" && open) { e.preventDefault(); active = (active - 1 + places.length) % places.length; render(); }
    else if (e.key === "Enter" && !(e.ctrlKey || e.metaKey)) {
      e.preventDefault(); // never sends the form by accident
      if (open && active >= 0) pick(active); else { clearTimeout(timer); run(); }
    } else if (e.key === "Escape" && open) { e.preventDefault(); close(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));

  return { search, close, render };
}
