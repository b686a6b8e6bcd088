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
  var phoneLabel = document.getElementById("appointment-phone-label");
  var phoneValue = document.getElementById("appointment-phone-value");
  var phone = document.getElementById("appointment-phone");
  var etaLabel = document.getElementById("appointment-eta-label");
  var eta = document.getElementById("appointment-eta");
  var cancelForm = document.getElementById("cancel-form");
  var POLL_MS = 2000;
  var source = null;
  var timer = null;
  var finished = false;

  function who(part) {
    return part ? part.lawyer + " (" + part.firm + ")" : none;
  }

  // The appointed lawyer by name and licence, with the firm's name; then the telephone and
  // the time the lawyer gave.
  function appointed(part) {
    if (!part) return none;
    var named = part.lawyer_name ? part.lawyer_name + ", " + part.lawyer : part.lawyer;
    return named + " (" + (part.firm_name || part.firm) + ")";
  }

  function showContact(part) {
    var hasPhone = Boolean(part && part.phone);
    phoneLabel.hidden = phoneValue.hidden = !hasPhone;
    phone.textContent = hasPhone ? part.phone : "";
    phone.href = hasPhone ? "tel:" + part.phone.replace(/\s+/g, "") : "";
    var hasEta = Boolean(part && part.eta_minutes);
    etaLabel.hidden = eta.hidden = !hasEta;
    eta.textContent = hasEta ? live.dataset.eta.replace("{minutes}", String(part.eta_minutes)) : "";
  }

  function show(request) {
    if (status.dataset.status !== request.status) {
      status.dataset.status = request.status;
      status.textContent = labels[request.status] || request.status;
    }
    invitation.textContent = who(request.invitation);
    appointment.textContent = appointed(request.appointment);
    showContact(request.appointment);
    if (opener && request.status !== "awaiting_choice") {
      opener.closest("form").hidden = true;
    }
    if (finalStates.indexOf(request.status) >= 0) {
      finished = true;
      if (cancelForm) cancelForm.hidden = true;
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

  // Cancelling cannot be undone: ask first.
  if (cancelForm) {
    cancelForm.addEventListener("submit", function (event) {
      if (!window.confirm(cancelForm.dataset.confirm)) event.preventDefault();
    });
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
