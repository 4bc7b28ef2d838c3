// While an upload is "received", re-fetch this page every few seconds and swap in the
// server-rendered #uploads-live block (the server escapes; nothing is built here).
(function () {
  "use strict";
  var rounds = 0;
  function tick() {
    var live = document.getElementById("uploads-live");
    if (!live || !live.hasAttribute("data-refresh") || rounds > 600) { return; }
    var wait = parseInt(live.getAttribute("data-refresh"), 10) || 2000;
    setTimeout(function () {
      rounds += 1;
      fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("uploads-live");
          if (fresh) { live.replaceWith(document.adoptNode(fresh)); }
          tick();
        })
        .catch(function () { tick(); });
    }, wait);
  }
  tick();
})();
