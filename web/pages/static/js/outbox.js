// The outbox: a crew's actions (acknowledge, status, note) are put here first and sent in the order they were taken,
// one at a time, each with its own Idempotency-Key: an action whose answer was lost is sent again and the server
// acts once. The outbox lives in localStorage, so a page closed in a dead zone sends its actions at its next start.
// An action carries ``at``, the moment it was tapped: the server records it as then, not as when it arrived.
//
// What happens to an action: sent (2xx: gone from the outbox); refused (a 4xx other than 401/408/429: it can never
// succeed as it is, so it leaves the outbox and the page says why); kept for later (no network, 5xx, 408, 429).
import { renew, token } from "./auth.js";

const KEY = "commandpost.field.outbox";
const RETRY_MS = 4_000;
const listeners = new Set();
let items = load();
let draining = false;
let timer = null;

function load() {
  try { return JSON.parse(localStorage.getItem(KEY) || "[]"); } catch { return []; }
}

function save() {
  localStorage.setItem(KEY, JSON.stringify(items));
}

function tell(what, item, detail) {
  for (const listener of listeners) listener(what, item, detail);
}

export function onOutbox(listener) { listeners.add(listener); }
export function queued() { return items.slice(); }

// Queue an action: {kind, url, body, ...}; ``body.at`` is the moment it was taken.
export function enqueue(action) {
  const item = { id: crypto.randomUUID(), queued_at: new Date().toISOString(), ...action };
  items.push(item);
  save();
  tell("queued", item);
  drain();
  return item;
}

async function send(item) {
  const headers = {
    "Content-Type": "application/json",
    "Idempotency-Key": item.id,
    Authorization: "Bearer " + token(),
  };
  return fetch(item.url, { method: "POST", headers, body: JSON.stringify(item.body) });
}

function later() {
  clearTimeout(timer);
  timer = setTimeout(drain, RETRY_MS);
}

// Send what is queued, first in first out; stop at the first action that cannot go now.
export async function drain() {
  if (draining) return;
  draining = true;
  try {
    while (items.length) {
      const item = items[0];
      if (!token()) {
        try { await renew(); } catch { later(); return; }
      }
      let response;
      try {
        response = await send(item);
        if (response.status === 401) {
          await renew();
          response = await send(item);
        }
      } catch {
        tell("waiting", item);
        later();
        return;
      }
      if (response.status >= 500 || response.status === 408 || response.status === 429) {
        tell("waiting", item);
        later();
        return;
      }
      let body = null;
      try { body = await response.json(); } catch { body = null; }
      items = items.filter((i) => i.id !== item.id);
      save();
      tell(response.ok ? "sent" : "refused", item, response.ok ? body : { status: response.status, ...(body || {}) });
    }
  } finally {
    draining = false;
  }
}

window.addEventListener("online", () => drain());
