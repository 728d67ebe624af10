/* recompense web: small progressive enhancements (the pages work without them).
 * - Expiry countdowns tick every minute.
 * - Forms marked data-once disable their button on submit (the server is idempotent
 *   anyway: a double click redeems once). */
"use strict";
(function () {
  function tick() {
    var now = Date.now();
    document.querySelectorAll(".countdown[data-expires]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.dataset.expires) - now) / 1000);
      if (left <= 0) { el.textContent = el.dataset.labelExpired; return; }
      var d = Math.floor(left / 86400), h = Math.floor((left % 86400) / 3600);
      el.textContent = el.dataset.template.replace("{d}", d).replace("{h}", h);
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 60000);
    document.querySelectorAll("form[data-once]").forEach(function (form) {
      form.addEventListener("submit", function () {
        var button = form.querySelector("button[type=submit]");
        if (button) { setTimeout(function () { button.disabled = true; }, 0); }
      });
    });
  });
})();
