// The field page's service worker (served as /field-sw.js, scope /): it keeps the page's shell for an offline start
// and shows the Web Push notifications the server sends when the unit is dispatched.
//
// The shell is this build's files (their URLs carry the build, so a new build is a new cache and the old one is
// dropped when this worker activates). The page itself is asked of the network first (it is never stale when there
// is a connection) and taken from the cache when there is none. The API is never cached: the page keeps its own
// state and its outbox, and an answer from a cache would be a lie about the server.
const BUILD = "{{static}}";
const CACHE = "commandpost-field-" + BUILD.split("/").pop();
const PAGE = "{{root}}/field";
const SHELL = [
  PAGE,
  "{{root}}/field.webmanifest",
  `${BUILD}/css/field.css`,
  ...["field", "outbox", "alarm", "auth", "i18n", "map", "store"].map((name) => `${BUILD}/js/${name}.js`),
  `${BUILD}/img/field-icon.svg`,
  `${BUILD}/img/field-icon-192.png`,
  "{{root}}/vendor/maplibre-gl/maplibre-gl-csp.js",
  "{{root}}/vendor/maplibre-gl/maplibre-gl-csp-worker.js",
  "{{root}}/vendor/maplibre-gl/maplibre-gl.css",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("commandpost-field-") && name !== CACHE) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  if (url.pathname === PAGE) {
    event.respondWith((async () => {
      try {
        const fresh = await fetch(event.request);
        if (fresh.ok) (await caches.open(CACHE)).put(PAGE, fresh.clone());
        return fresh;
      } catch {
        return (await caches.match(PAGE)) || Response.error();
      }
    })());
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname).then((hit) => hit || fetch(event.request)));
  }
});

// A push from the server (notify/push.py): {delivery_id, kind, incident_id, title, body, data}.
self.addEventListener("push", (event) => {
  let message = {};
  try { message = event.data ? event.data.json() : {}; } catch { message = { body: event.data ? event.data.text() : "" }; }
  const title = message.title || "Commandpost";
  event.waitUntil(self.registration.showNotification(title, {
    body: message.body || "",
    tag: message.incident_id ? `incident-${message.incident_id}` : "commandpost",
    renotify: true,
    requireInteraction: true,
    vibrate: [600, 200, 600, 200, 600],
    icon: `${BUILD}/img/field-icon-192.png`,
    data: { incident_id: message.incident_id || null, kind: message.kind || null },
  }));
});

// A tap on the notification brings the field page forward (or opens it).
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil((async () => {
    const open = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
    const page = open.find((c) => new URL(c.url).pathname === PAGE);
    if (page) return page.focus();
    return self.clients.openWindow(PAGE);
  })());
});
