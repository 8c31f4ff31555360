// Warnings in force (预警) beside the board: level colour, what and where, until when. Asked again whenever a
// warning.* event arrives (the store flags it), and redrawn in the language of now.
import { api } from "./auth.js";
import { clock, t } from "./i18n.js";

const COLOURS = { red: "#d32f2f", orange: "#f57c00", yellow: "#fbc02d", blue: "#1976d2" };

// The time alone within the day ahead; the date too when it is further off.
function when(iso) {
  const at = new Date(iso);
  if (Math.abs(at - Date.now()) < 20 * 3600 * 1000) return clock(iso);
  const pad = (n) => String(n).padStart(2, "0");
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}`;
}

export function createWarnings({ root, onPick }) {
  let items = [];
  let asking = null;

  function row(w) {
    const li = document.createElement("li");
    li.className = "warning";
    li.dataset.id = w.id;
    li.tabIndex = 0;
    const chip = document.createElement("span");
    chip.className = "chip";
    chip.style.background = COLOURS[w.colour] || "#777";
    chip.title = w.colour ? t(`level.${w.colour}`) : w.severity;
    const text = document.createElement("span");
    text.className = "warning-text";
    text.textContent = w.headline || w.event;
    const meta = document.createElement("small");
    const until = w.expires ? t("warnings.until", { time: when(w.expires) }) : "";
    meta.textContent = [w.status === "Exercise" ? t("exercise") : null, w.colour ? t(`level.${w.colour}`) : w.severity, until]
      .filter(Boolean).join(" · ");
    li.append(chip, text, meta);
    const pick = () => onPick(w);
    li.addEventListener("click", pick);
    li.addEventListener("keydown", (e) => { if (e.key === "Enter") pick(); });
    return li;
  }

  function render() {
    const title = document.createElement("h2");
    title.id = "warnings-title";
    title.textContent = t("warnings.title", { n: items.length });
    const list = document.createElement("ol");
    list.className = "warnings-items";
    list.append(...items.map(row));
    root.hidden = items.length === 0;
    root.replaceChildren(title, list);
  }

  async function refresh() {
    if (asking) return asking; // one question at a time: a burst of events asks once more at most
    asking = (async () => {
      try {
        const page = await api("/api/v1/warnings?active=true&limit=50");
        items = page.items || [];
        render();
      } catch { /* the next warning event asks again */ } finally { asking = null; }
    })();
    return asking;
  }

  return { refresh, render, ids: () => items.map((w) => w.id) };
}
