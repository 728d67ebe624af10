/* recompense web: small progressive enhancements (the pages work without them).
 * - Expiry countdowns tick every minute.
 * - Forms marked data-once disable their button on submit (the server is idempotent
 *   anyway: a double click redeems once).
 * - File inputs with data-max-files say at once when the chosen files pass the upload
 *   limits (the server refuses them anyway, with 413).
 * - A table or box that scrolls sideways (wide tables on a phone) can take the keyboard
 *   focus, so it can be scrolled with the arrow keys; re-checked when the window resizes. */
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
    document.querySelectorAll("input[type=file][data-max-files]").forEach(function (input) {
      input.addEventListener("change", function () { checkFiles(input); });
    });
    focusableScrollers();
    var pending = null;
    window.addEventListener("resize", function () {
      clearTimeout(pending);
      pending = setTimeout(focusableScrollers, 150);
    });
  });
  function focusableScrollers() {
    document.querySelectorAll("main table, main .scroll").forEach(function (el) {
      var scrolls = el.scrollWidth > el.clientWidth + 1 &&
        /(auto|scroll)/.test(getComputedStyle(el).overflowX);
      if (scrolls && !el.hasAttribute("tabindex")) {
        el.setAttribute("tabindex", "0");
        el.dataset.scrollFocus = "";
      } else if (!scrolls && el.dataset.scrollFocus !== undefined) {
        el.removeAttribute("tabindex");
        delete el.dataset.scrollFocus;
      }
    });
  }
  function checkFiles(input) {
    var files = Array.prototype.slice.call(input.files || []);
    var d = input.dataset, total = 0, problem = "";
    if (files.length > Number(d.maxFiles)) { problem = d.msgFiles; }
    files.forEach(function (f) {
      total += f.size;
      if (!problem && f.size > Number(d.maxFileBytes)) { problem = d.msgFile.replace("{name}", f.name); }
    });
    if (!problem && total > Number(d.maxTotalBytes)) { problem = d.msgTotal; }
    input.setCustomValidity(problem);
    if (problem) { input.reportValidity(); }
  }
})();
