// The lawyer's page moves by itself: a new invitation appears without a reload, with a short
// tone, a vibration where the device can, and a notification where the reader allowed them.
// Server-sent events say when the lawyer's invitations change (where the page says they cross
// processes); otherwise, and whenever the stream fails, the page polls.
(function () {
  "use strict";
  var live = document.getElementById("lawyer-live");
  if (!live) return;
  var POLL_MS = 4000;
  var announcer = document.getElementById("live-announce");
  var alertsButton = document.getElementById("alerts-on");
  var alertsState = document.getElementById("alerts-state");
  var audio = null;
  var source = null;
  var timer = null;
  var busy = false;
  // Notifications go through the service worker where there is one (the only way on Android).
  var worker = null;
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/sw.js").then(
      function (registration) { worker = registration; },
      function () { worker = null; }
    );
  }

  function section() { return document.getElementById("pending"); }

  function idsIn(root) {
    return Array.prototype.map.call(
      root.querySelectorAll("article.invitation[data-invitation]"),
      function (card) { return card.dataset.invitation; }
    );
  }

  var known = idsIn(section());

  function same(a, b) {
    return a.length === b.length && a.every(function (id) { return b.indexOf(id) >= 0; });
  }

  // A short two-note tone, made on the spot: no sound file to fetch.
  function tone() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    try {
      audio = audio || new Context();
      if (audio.state === "suspended") audio.resume();
      [0, 0.25].forEach(function (offset, i) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.type = "sine";
        osc.frequency.value = i ? 1175 : 880;
        gain.gain.setValueAtTime(0.0001, audio.currentTime + offset);
        gain.gain.exponentialRampToValueAtTime(0.3, audio.currentTime + offset + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + offset + 0.22);
        osc.connect(gain).connect(audio.destination);
        osc.start(audio.currentTime + offset);
        osc.stop(audio.currentTime + offset + 0.25);
      });
    } catch (e) { /* no sound where the browser refuses it */ }
  }

  function alertReader(cards) {
    tone();
    if (navigator.vibrate) {
      try { navigator.vibrate([200, 100, 200]); } catch (e) { /* not on this device */ }
    }
    var titles = cards.map(function (card) {
      var heading = card.querySelector("h3");
      return heading ? heading.textContent : "";
    });
    announcer.textContent = live.dataset.newLabel + ": " + titles.join(", ");
    if ("Notification" in window && Notification.permission === "granted") {
      var options = { body: titles.join("\n"), tag: "invitation", renotify: true };
      if (worker) {
        worker.showNotification(live.dataset.newLabel, options).catch(function () {});
      } else {
        try {
          new Notification(live.dataset.newLabel, options);
        } catch (e) { /* this browser shows notifications only from a service worker */ }
      }
    }
  }

  // Read the page again and put its pending invitations in place of ours.
  function refresh() {
    if (busy) return Promise.resolve();
    busy = true;
    return fetch(live.dataset.pageUrl, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("pending");
        if (!fresh) return;
        var ids = idsIn(fresh);
        if (same(ids, known)) return;
        var added = ids.filter(function (id) { return known.indexOf(id) < 0; });
        section().replaceWith(document.importNode(fresh, true));
        known = ids;
        if (added.length) {
          alertReader(added.map(function (id) {
            return section().querySelector('article[data-invitation="' + id + '"]');
          }).filter(Boolean));
        }
      })
      .catch(function () { /* the next event or poll tries again */ })
      .then(function () { busy = false; });
  }

  function poll() {
    refresh().then(function () { timer = setTimeout(poll, POLL_MS); });
  }

  function follow() {
    source = new EventSource(live.dataset.eventsUrl);
    source.addEventListener("invitations", function (event) {
      var ids = JSON.parse(event.data).pending;
      if (!same(ids, known)) refresh();
    });
    source.onerror = function () {
      source.close();
      source = null;
      if (!timer) poll();
    };
  }

  function showAlertsState() {
    var allowed = !("Notification" in window) || Notification.permission !== "default";
    if (audio && allowed) {
      alertsButton.hidden = true;
      alertsState.hidden = false;
    }
  }

  alertsButton.hidden = false;
  alertsButton.addEventListener("click", function () {
    // Browsers let a page make sound only after the reader touched it: this is that touch.
    var Context = window.AudioContext || window.webkitAudioContext;
    if (Context && !audio) {
      try { audio = new Context(); } catch (e) { audio = null; }
    }
    tone();
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().then(showAlertsState, showAlertsState);
    } else {
      showAlertsState();
    }
  });

  if (live.dataset.liveEvents === "true" && "EventSource" in window) {
    follow();
  } else {
    timer = setTimeout(poll, POLL_MS);
  }
})();
