// My exports: while a file is being written, show its rows as they grow and reload
// the page when it is ready or has failed (admin_views/exports.py, /progress).
(function () {
  "use strict";
  var table = document.getElementById("my-exports");
  if (!table || !table.dataset.progressUrl) { return; }
  var lang = table.dataset.lang === "bn" ? "bn-BD" : "en";

  function poll() {
    fetch(table.dataset.progressUrl, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (states) {
        if (!states) { return; }
        var changed = false;
        states.forEach(function (state) {
          var row = table.querySelector('tr[data-export="' + state.id + '"]');
          if (!row) { return; }
          if (row.dataset.status !== state.status) { changed = true; }
          row.querySelector("[data-rows]").textContent = state.rows.toLocaleString(lang);
        });
        if (changed) { window.location.reload(); } else { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, 1000);
})();
