// The signed-in session of a page: the access token lives in memory only; the refresh token is an HttpOnly cookie
// (scoped to /api/v1/auth) that no script can read. A token is renewed a minute before it expires, and whenever
// an answer says 401; a session that cannot be renewed sends the person to /login and back here afterwards.
// Tabs of one browser share the cookie: renewals are serialised across tabs (Web Locks) so that no two tabs spend
// the same refresh token (the server would take the second use for a theft and end the session).

let access = null;
let me = null;
let timer = null;
const listeners = new Set();

export function onToken(listener) { listeners.add(listener); }
export function token() { return access; }
export function user() { return me; }

export function toLogin() {
  const back = location.pathname + location.search;
  location.assign("/login?next=" + encodeURIComponent(back));
}

async function exchange() {
  const response = await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
  if (response.status === 401) return null;
  if (!response.ok) throw new Error("refresh failed: " + response.status);
  return response.json();
}

export async function renew() {
  const run = () => exchange();
  const body = navigator.locks ? await navigator.locks.request("commandpost-refresh", run) : await run();
  if (body === null) { toLogin(); throw new Error("signed out"); }
  take(body);
  return access;
}

function take(body) {
  access = body.access_token;
  me = { ...(me || {}), role: body.role };
  clearTimeout(timer);
  const wait = Math.max(5_000, new Date(body.expires_at).getTime() - Date.now() - 60_000);
  timer = setTimeout(() => renew().catch(() => {}), Math.min(wait, 2 ** 31 - 1));
  for (const listener of listeners) listener(access);
}

// Start a page's session: a token from the cookie, then who we are.
export async function start() {
  try {
    await renew();
  } catch (error) {
    if (String(error.message).startsWith("refresh failed")) setTimeout(() => location.reload(), 5_000);
    throw error;
  }
  me = await api("/api/v1/me");
  return me;
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || String(status));
    this.status = status;
    this.body = body;
  }
}

// A JSON call with the bearer token (or a file as the body: ``blob``, sent with its own type), with any extra
// ``headers`` (an Idempotency-Key); one renewal and retry on 401.
export async function api(path, { method = "GET", body, blob, raw = false, retried = false, headers: extra = {} } = {}) {
  const headers = { ...extra, Authorization: "Bearer " + access };
  if (blob !== undefined) headers["Content-Type"] = blob.type || "application/octet-stream";
  else if (body !== undefined) headers["Content-Type"] = "application/json";
  const payload = blob !== undefined ? blob : body === undefined ? undefined : JSON.stringify(body);
  const response = await fetch(path, { method, headers, body: payload });
  if (response.status === 401 && !retried) {
    await renew();
    return api(path, { method, body, blob, raw, retried: true, headers: extra });
  }
  if (raw) return response;
  const text = await response.text();
  const parsed = text ? JSON.parse(text) : null;
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

// Sign out, then to ``next`` when it is a path (the sign-in page with a page to come back to), else to /login (it
// is also a click listener, whose argument is the event).
export async function logout(next) {
  await fetch("/api/v1/auth/logout", { method: "POST", credentials: "same-origin" });
  access = null;
  location.assign(typeof next === "string" ? next : "/login");
}
