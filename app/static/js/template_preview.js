/* The template editor's preview: after each pause in typing, the draft is filled in on the
   server for the chosen client (the sandbox and the placeholders live there) and shown with
   its SMS length. An unknown placeholder shows the server's message instead. */
(function () {
  "use strict";
  var panel = document.getElementById("template-preview");
  if (!panel) { return; }
  var form = document.querySelector("form.admin-form") || document.querySelector("form");
  var body = document.querySelector("[data-template-body]");
  var subject = document.querySelector("[data-template-subject]");
  var client = document.getElementById("preview-client");
  var error = document.getElementById("preview-error");
  var timer = null;

  function show(id, text) {
    var node = document.getElementById(id);
    if (node) { node.textContent = text || ""; }
  }

  function refresh() {
    if (!client.value.trim()) { return; }
    var data = new FormData();
    data.append("body", body ? body.value : "");
    data.append("subject", subject ? subject.value : "");
    data.append("client", client.value);
    var token = form && form.querySelector("input[name=csrf_token]");
    if (token) { data.append("csrf_token", token.value); }
    fetch(panel.dataset.url, {method: "POST", body: data, credentials: "same-origin"})
      .then(function (response) { return response.json(); })
      .then(function (result) {
        error.hidden = !result.error;
        show("preview-error", result.error);
        if (result.error) { return; }
        show("preview-for", result.client);
        show("preview-subject", result.subject);
        show("preview-body", result.body);
        show("preview-segments", result.summary);
      })
      .catch(function () {
        error.hidden = false;
        show("preview-error", panel.dataset.offline);
      });
  }

  function later() {
    window.clearTimeout(timer);
    timer = window.setTimeout(refresh, 400);
  }

  [body, subject, client].forEach(function (input) {
    if (input) { input.addEventListener("input", later); }
  });
}());
