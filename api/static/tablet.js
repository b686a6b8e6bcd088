// The receipt's print button (the investigator prints it; the page's print rules leave the
// receipt alone). Hidden without scripts, like the reading aloud below.
(function () {
  "use strict";
  var button = document.getElementById("print");
  if (!button || typeof window.print !== "function") {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    window.print();
  });
})();

// Read the tablet's list aloud where the browser can speak; the button stays hidden elsewhere.
(function () {
  "use strict";
  var button = document.getElementById("read-aloud");
  if (!button || !("speechSynthesis" in window)) {
    return;
  }
  var startLabel = button.textContent;
  var speaking = false;

  function text() {
    var parts = [];
    ["lawyers-title", "list-intro"].forEach(function (id) {
      var el = document.getElementById(id);
      if (el) parts.push(el.textContent.trim());
    });
    document.querySelectorAll(".option").forEach(function (option) {
      var said = [option.dataset.position + "."];
      option.querySelectorAll("[data-speak]").forEach(function (el) {
        said.push(el.textContent.trim());
      });
      parts.push(said.join(" "));
    });
    return parts.join(". ");
  }

  function done() {
    speaking = false;
    button.textContent = startLabel;
  }

  button.hidden = false;
  button.addEventListener("click", function () {
    window.speechSynthesis.cancel();
    if (speaking) {
      done();
      return;
    }
    var utterance = new SpeechSynthesisUtterance(text());
    utterance.lang = button.dataset.lang;
    utterance.onend = done;
    utterance.onerror = done;
    speaking = true;
    button.textContent = button.dataset.stop;
    window.speechSynthesis.speak(utterance);
  });
})();
