// Follow a request's status: server-sent events where the page says they cross processes,
// polling otherwise, and polling again whenever the event stream fails.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) return;
  var labels = JSON.parse(live.dataset.labels);
  var finalStates = JSON.parse(live.dataset.final);
  var none = live.dataset.none;
  var status = document.getElementById("status");
  var invitation = document.getElementById("invitation");
  var appointment = document.getElementById("appointment");
  var opener = document.getElementById("open-tablet");
  var POLL_MS = 2000;
  var source = null;
  var timer = null;
  var finished = false;

  function who(part) {
    return part ? part.lawyer + " (" + part.firm + ")" : none;
  }

  function show(request) {
    if (status.dataset.status !== request.status) {
      status.dataset.status = request.status;
      status.textContent = labels[request.status] || request.status;
    }
    invitation.textContent = who(request.invitation);
    appointment.textContent = who(request.appointment);
    if (opener && request.status !== "awaiting_choice") {
      opener.closest("form").hidden = true;
    }
    if (finalStates.indexOf(request.status) >= 0) {
      finished = true;
      if (source) source.close();
      if (timer) clearTimeout(timer);
    }
  }

  function poll() {
    fetch(live.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (request) { if (request) show(request); })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { if (!finished) timer = setTimeout(poll, POLL_MS); });
  }

  if (live.dataset.liveEvents === "true" && "EventSource" in window) {
    source = new EventSource(live.dataset.eventsUrl);
    source.addEventListener("request", function (event) { show(JSON.parse(event.data)); });
    source.onerror = function () {
      source.close();
      source = null;
      if (!finished) poll();
    };
  } else {
    timer = setTimeout(poll, POLL_MS);
  }
})();
