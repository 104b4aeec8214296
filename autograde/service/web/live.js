/* The service's one script: keeps the parts of a page marked data-live up to date.
   Each asks its JSON address ({"pending": bool, "html": "..."}) every few seconds while something
   in it waits or is being graded (always, on the instructor's page) and replaces its contents
   when they changed; a form marked data-confirm asks before it is sent. Without it the page
   is right when reloaded. */
(function () {
  "use strict";
  var EVERY = 2000;

  function follow(el) {
    var url = el.getAttribute("data-live");
    var shown = null;
    function tick() {
      if (el.getAttribute("data-pending") !== "1" && el.getAttribute("data-always") !== "1") {
        return;
      }
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) {
          if (!r.ok) { throw new Error("HTTP " + r.status); }
          return r.json();
        })
        .then(function (d) {
          if (d.html !== shown) {
            shown = d.html;
            el.innerHTML = d.html;
          }
          el.setAttribute("data-pending", d.pending ? "1" : "0");
          el.setAttribute("data-updated", String(Date.now()));
          setTimeout(tick, EVERY);
        })
        .catch(function () { setTimeout(tick, EVERY * 5); });
    }
    setTimeout(tick, EVERY);
  }

  document.querySelectorAll("[data-live]").forEach(follow);

  // a form that does much at once (grade the whole class again) asks first
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });
})();
