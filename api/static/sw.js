// The lawyer page's service worker: it shows the invitations' notifications (Chrome on Android
// shows a page's notifications only through a service worker) and, when one is tapped, brings
// the lawyer page forward or opens it. It caches nothing: the pages are always read afresh.
self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (new URL(windows[i].url).pathname === "/lawyer" && "focus" in windows[i]) {
          return windows[i].focus();
        }
      }
      return self.clients.openWindow("/lawyer");
    })
  );
});
