// The dashboard (templates/admin/home.html, admin_views/dashboard.py): drag widgets to
// reorder, resize them, add and remove them; every change is saved for this user at once.
// Charts are drawn with Chart.js from each widget's JSON; a click on a bar, point or
// segment opens the list behind it. The activity feed asks for new entries every 10 s.
(function () {
  "use strict";
  var board = document.getElementById("dashboard");
  if (!board) { return; }
  var errorBox = document.getElementById("dashboard-error");
  var addSelect = document.getElementById("add-widget");
  var COLUMNS = {s: ["col-md-6", "col-xl-3"], m: ["col-md-6"], l: []};
  var FEED_EVERY = 10000;
  // Numbers in the reader's digits and grouping (the user's language, not the browser's).
  var lang = board.dataset.lang === "bn" ? "bn-BD" : "en";

  function showError(message) {
    errorBox.textContent = message;
    errorBox.classList.remove("d-none");
  }

  function widgets() { return Array.prototype.slice.call(board.querySelectorAll(".dashboard-widget")); }

  function save() {
    var layout = widgets().map(function (w) { return {key: w.dataset.widget, size: w.dataset.size}; });
    return fetch(board.dataset.saveUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": board.dataset.csrf},
      body: JSON.stringify({widgets: layout})
    }).then(function (response) {
      if (response.ok) { errorBox.classList.add("d-none"); return; }
      return response.json().then(function (body) { showError(body.error || response.statusText); },
                                  function () { showError(response.statusText); });
    }).catch(function () { showError(board.dataset.offline || "Offline"); });
  }

  function fetchWidget(key, size, args) {
    var url = board.dataset.widgetUrl.replace("KEY", encodeURIComponent(key)) +
      "?size=" + encodeURIComponent(size) + (args ? "&" + args : "");
    return fetch(url, {credentials: "same-origin", cache: "no-store"}).then(function (response) {
      if (!response.ok) { throw new Error(response.status); }
      return response.text();
    }).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html.trim();
      return holder.firstElementChild;
    });
  }

  // --- charts ------------------------------------------------------------------------
  function colours() {
    var style = getComputedStyle(document.body);
    var text = style.color;
    var root = getComputedStyle(document.documentElement);
    function v(name, fallback) { return (root.getPropertyValue(name) || "").trim() || fallback; }
    return {
      text: text,
      grid: text.replace(/rgb\(([^)]+)\)/, "rgba($1, 0.15)"),
      series: [v("--primary", "#2c3e50"), v("--success", "#18bc9c"), v("--info", "#3498db"),
               v("--warning", "#f39c12"), v("--danger", "#e74c3c"), v("--secondary", "#95a5a6"),
               "#8e44ad"],
      states: {paid: v("--success", "#18bc9c"), unpaid: v("--warning", "#f39c12"),
               overdue: v("--danger", "#e74c3c")}
    };
  }

  function number(value, data) {
    if (value === null || value === undefined) { return "–"; }
    var text = Number(value).toLocaleString(lang, {maximumFractionDigits: data.money ? 0 : 1});
    return data.money ? "৳" + text : (data.percent ? text + "%" : text);
  }

  function drawChart(widget) {
    var script = widget.querySelector("script.chart-data");
    var canvas = widget.querySelector(".dashboard-chart canvas");
    if (!script || !canvas || typeof Chart === "undefined") { return; }
    var data = JSON.parse(script.textContent);
    var c = colours();
    var doughnut = data.type === "doughnut";
    var datasets = data.series.map(function (series, index) {
      var colour = doughnut ? data.keys.map(function (k) { return c.states[k]; })
                            : c.series[index % c.series.length];
      return {label: series.label, data: series.values, backgroundColor: colour,
              borderColor: doughnut ? c.text.replace(/rgb\(([^)]+)\)/, "rgba($1, 0.1)") : colour,
              tension: 0.25, spanGaps: true, fill: false};
    });
    var scales = doughnut ? {} : {
      x: {stacked: !!data.stacked, ticks: {color: c.text}, grid: {color: c.grid}},
      y: {stacked: !!data.stacked, beginAtZero: true, ticks: {color: c.text, precision: 0,
          callback: function (value) { return number(value, data); }}, grid: {color: c.grid}}
    };
    if (data.percent && !doughnut) { scales.y.max = 100; }
    if (canvas.chart) { canvas.chart.destroy(); }
    canvas.chart = new Chart(canvas, {
      type: data.type,
      data: {labels: data.labels, datasets: datasets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false, scales: scales,
        plugins: {
          legend: {display: doughnut || datasets.length > 1, labels: {color: c.text}},
          tooltip: {callbacks: {label: function (item) {
            return item.dataset.label + ": " + number(item.raw, data);
          }}}
        },
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
        onClick: function (event, elements) {
          if (!elements.length || !data.links) { return; }
          var link = data.links[elements[0].index];
          if (link) { window.location.href = link; }
        }
      }
    });
  }

  function prepare(widget) {
    widget.querySelectorAll(".progress-bar[data-percent]").forEach(function (bar) {
      bar.style.width = Math.max(0, Math.min(100, Number(bar.dataset.percent))) + "%";
    });
    drawChart(widget);
    startFeed(widget);
  }

  // --- controls ------------------------------------------------------------------------
  function setSize(widget, size) {
    ["col-md-6", "col-xl-3"].forEach(function (cls) { widget.classList.remove(cls); });
    COLUMNS[size].forEach(function (cls) { widget.classList.add(cls); });
    widget.dataset.size = size;
    widget.querySelectorAll("[data-resize]").forEach(function (button) {
      var on = button.dataset.resize === size;
      button.classList.toggle("active", on);
      button.setAttribute("aria-pressed", on ? "true" : "false");
    });
    var canvas = widget.querySelector("canvas");
    if (canvas && canvas.chart) { canvas.chart.resize(); }
  }

  function offer(key, title) {
    var option = document.createElement("option");
    option.value = key;
    option.textContent = title;
    addSelect.appendChild(option);
    addSelect.disabled = false;
  }

  board.addEventListener("click", function (event) {
    var widget = event.target.closest(".dashboard-widget");
    if (!widget) { return; }
    var resize = event.target.closest("[data-resize]");
    if (resize) { setSize(widget, resize.dataset.resize); save(); return; }
    if (event.target.closest("[data-remove]")) {
      offer(widget.dataset.widget, widget.querySelector("h2").textContent);
      stopFeed(widget);
      widget.remove();
      save();
      return;
    }
    var args = event.target.closest("[data-widget-args]");
    if (args) {
      fetchWidget(widget.dataset.widget, widget.dataset.size, args.dataset.widgetArgs)
        .then(function (fresh) { widget.replaceWith(fresh); prepare(fresh); })
        .catch(function (error) { showError(String(error)); });
    }
  });

  if (addSelect) {
    addSelect.addEventListener("change", function () {
      var key = addSelect.value;
      if (!key) { return; }
      var option = addSelect.selectedOptions[0];
      fetchWidget(key, "m").then(function (widget) {
        option.remove();
        addSelect.value = "";
        addSelect.disabled = addSelect.options.length <= 1;
        setSize(widget, widget.dataset.size);
        board.appendChild(widget);
        var empty = document.getElementById("dashboard-empty");
        if (empty) { empty.remove(); }
        prepare(widget);
        save();
        widget.scrollIntoView({behavior: "smooth", block: "nearest"});
      }).catch(function (error) { showError(String(error)); addSelect.value = ""; });
    });
  }

  if (typeof Sortable !== "undefined") {
    Sortable.create(board, {handle: ".drag-handle", draggable: ".dashboard-widget",
                            animation: 150, onEnd: function () { save(); }});
  }

  // --- the live activity feed ---------------------------------------------------------------
  function feedList(widget) { return widget.querySelector(".dashboard-feed"); }

  function entry(item) {
    var li = document.createElement("li");
    li.className = "border-bottom py-1";
    li.dataset.feedId = item.id;
    var when = document.createElement("span");
    when.className = "text-muted";
    when.textContent = item.when + " ";
    li.appendChild(when);
    var label = document.createElement(item.link ? "a" : "span");
    if (item.link) { label.href = item.link; label.className = "text-reset"; }
    label.textContent = item.label;
    li.appendChild(label);
    var rest = [item.locker, item.client, item.amount].filter(Boolean);
    if (rest.length) { li.appendChild(document.createTextNode(" · " + rest.join(" · "))); }
    if (item.by) {
      var by = document.createElement("span");
      by.className = "text-muted";
      by.textContent = " (" + item.by + ")";
      li.appendChild(by);
    }
    return li;
  }

  function pollFeed(widget) {
    var list = feedList(widget);
    var newest = list.querySelector("[data-feed-id]");
    var url = list.dataset.feedUrl + (newest ? "?after=" + newest.dataset.feedId : "");
    fetch(url, {credentials: "same-origin", cache: "no-store"})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) {
        if (!body || !body.items.length) { return; }
        var empty = list.querySelector(".dashboard-feed-empty");
        if (empty) { empty.remove(); }
        body.items.slice().reverse().forEach(function (item) {
          if (!list.querySelector('[data-feed-id="' + item.id + '"]')) {
            list.insertBefore(entry(item), list.firstChild);
          }
        });
        while (list.children.length > 20) { list.removeChild(list.lastChild); }
      })
      .catch(function () { /* offline a moment: the next poll catches up */ });
  }

  function startFeed(widget) {
    if (!feedList(widget) || widget.feedTimer) { return; }
    widget.feedTimer = window.setInterval(function () { pollFeed(widget); }, FEED_EVERY);
  }

  function stopFeed(widget) {
    if (widget.feedTimer) { window.clearInterval(widget.feedTimer); }
  }

  // Widgets read over a long history are drawn after the page, as their answers come.
  widgets().forEach(function (widget) {
    if (!widget.hasAttribute("data-waiting")) { prepare(widget); return; }
    fetchWidget(widget.dataset.widget, widget.dataset.size).then(function (fresh) {
      widget.replaceWith(fresh);
      prepare(fresh);
    }).catch(function (error) {
      var waiting = widget.querySelector(".dashboard-waiting");
      if (waiting) { waiting.textContent = board.dataset.failed + " (" + error.message + ")"; }
    });
  });
})();
