// The pages' only script: live updates of a letter's timeline (the server renders the HTML, this
// swaps it in), and a confirmation before a form marked data-confirm is sent (e.g. a recall).
(function () {
  "use strict";
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  var box = document.querySelector("[data-live]");
  var dot = document.querySelector("[data-testid=live-state]");
  if (!box || !window.EventSource) { return; }
  function state(name) { if (dot) { dot.setAttribute("data-state", name); } }
  var source = new EventSource(box.getAttribute("data-live"));
  // A form sent from this page (log out, recall…) takes the page elsewhere itself: the stream it
  // ends must not reload the page over that navigation.
  var leaving = false;
  document.querySelectorAll("form").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!event.defaultPrevented) { leaving = true; source.close(); }
    });
  });
  source.onopen = function () { state("open"); };
  source.onerror = function () { state(source.readyState === EventSource.CLOSED ? "closed" : "connecting"); };
  // The session ended (logged out, or the account disabled): stop, and let the page send the
  // clerk to the login form.
  source.addEventListener("ended", function () {
    source.close();
    state("ended");
    if (!leaving) { window.location.reload(); }
  });
  source.addEventListener("timeline", function (event) {
    box.innerHTML = event.data;
    box.setAttribute("data-updated", String(Date.now()));
    state("open");
  });
})();
