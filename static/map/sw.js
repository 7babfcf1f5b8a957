// Service worker of the team phone page: caches the shell so the page opens without coverage.
//
// Only the files of SHELL are kept (code, styles, icons: no patient data). /api/ and /socket.io/
// are never cached: the round and the patients' details stay in the page's memory. The unpairing
// deletes this cache too.
const CACHE = "dispatch-phone-v3";
const SHELL = [
  "/phone/",
  "/phone/manifest.webmanifest",
  "/static/map/phone.js",
  "/static/map/phone.css",
  "/static/map/i18n.js",
  "/static/map/common.js",
  "/static/map/vendor/socket.io.min.js",
  "/static/map/icon-192.png",
  "/static/map/icon-512.png",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin) return;
  if (url.pathname.startsWith("/api/") || url.pathname.startsWith("/socket.io/")) return;
  if (!SHELL.includes(url.pathname)) return;
  // Kept under the bare path: a pairing link's ?code= never lands in the cache.
  const key = url.pathname;
  // Network first (fresh code when online), the cached shell when the network fails.
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        const copy = response.clone();
        const noStore = /no-store/i.test(response.headers.get("Cache-Control") || "");
        if (response.ok && !noStore) caches.open(CACHE).then((cache) => cache.put(key, copy));
        return response;
      })
      .catch(() => caches.match(key)),
  );
});
