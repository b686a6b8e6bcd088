// Count each invitation's time left down to its deadline; past it, the answers are disabled
// (the server refuses them anyway: a late answer is an expiry).
(function () {
  "use strict";
  // Looked up on every tick: the lawyer's page puts new invitations in without a reload.
  function clocks() {
    return Array.prototype.slice.call(document.querySelectorAll(".countdown[data-deadline]"));
  }
  if (!clocks().length && !document.getElementById("lawyer-live")) return;

  function pad(n) { return n < 10 ? "0" + n : String(n); }

  function tick() {
    var now = Date.now();
    clocks().forEach(function (clock) {
      var left = Math.floor((Date.parse(clock.dataset.deadline) - now) / 1000);
      if (left > 0) {
        var h = Math.floor(left / 3600);
        var m = Math.floor((left % 3600) / 60);
        var text = (h ? h + ":" + pad(m) : String(m)) + ":" + pad(left % 60);
        clock.textContent = clock.dataset.left.replace("{time}", text);
        return;
      }
      clock.textContent = clock.dataset.late;
      clock.classList.add("late");
      var card = clock.closest(".invitation");
      if (card) {
        card.querySelectorAll("button.answer").forEach(function (b) { b.disabled = true; });
      }
    });
  }

  tick();
  setInterval(tick, 1000);
})();
