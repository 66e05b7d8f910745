/* The Ctrl+K quick search palette and the desk's keyboard shortcuts (SPEC D5, U4).
 *
 * Ctrl+K / Cmd+K (anywhere) or "/" (outside a field) opens the palette; typing
 * searches after a short pause; arrow keys move; Enter opens; Esc closes.
 * A key tag or locker number followed by Enter opens that locker at once, and
 * a scanner's burst of keys ending in Enter (with no field focused) opens the
 * palette with the scanned text and jumps the same way. Alt+N registers a new
 * client; Alt+A opens the palette to pick a locker to assign. The server checks
 * every permission again; this only makes the desk faster.
 */
(function () {
  "use strict";

  var root = document.getElementById("qs");
  var configNode = document.getElementById("qs-config");
  if (!root || !configNode) {
    return;
  }
  var config = JSON.parse(configNode.textContent);
  var input = document.getElementById("qs-input");
  var list = document.getElementById("qs-results");
  var statusLine = document.getElementById("qs-status");
  var modeLine = document.getElementById("qs-mode");
  var trigger = document.getElementById("qs-trigger");
  var MODIFIERS = ["Shift", "Control", "Alt", "AltGraph", "Meta", "CapsLock"];

  var state = {
    open: false,
    mode: "search",
    results: null,   // {q, mode, data} of the last answer shown
    request: null,   // {q, mode, controller, promise} in flight
    timer: null,
    items: [],
    active: -1,
    returnFocus: null
  };
  var scan = {text: "", last: 0};

  function isField(element) {
    if (!element || element === document.body || element === document.documentElement) {
      return false;
    }
    var tag = element.tagName;
    return tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || element.isContentEditable;
  }

  function query() {
    return input.value.trim().replace(/\s+/g, " ");
  }

  function go(url) {
    window.location.assign(url);
  }

  function say(text, failed) {
    statusLine.textContent = text || "";
    statusLine.classList.toggle("qs-failed", Boolean(failed));
  }

  // --- opening and closing ---------------------------------------------------------

  function open(mode, text) {
    if (!state.open) {
      state.returnFocus = document.activeElement;
    }
    state.open = true;
    state.mode = mode;
    root.hidden = false;
    root.setAttribute("data-mode", mode);
    if (modeLine) {
      modeLine.hidden = mode !== "assign";
    }
    input.placeholder = mode === "assign" ? config.text.assignPlaceholder : config.text.placeholder;
    input.value = text || "";
    state.results = null;
    clearList();
    input.focus();
    if (query()) {
      fetchResults();
    } else {
      say(config.text.hint);
    }
  }

  function close() {
    state.open = false;
    // Blurred first: a hidden box can keep the focus until the browser's next frame, and
    // the next key would go to it instead of the page.
    input.blur();
    root.hidden = true;
    clearTimeout(state.timer);
    if (state.request) {
      state.request.controller.abort();
      state.request = null;
    }
    input.value = "";
    state.results = null;
    clearList();
    var back = state.returnFocus;
    state.returnFocus = null;
    if (back && back.focus && document.contains(back)) {
      back.focus();
    }
  }

  // --- searching -------------------------------------------------------------------

  function fresh(result) {
    return result && result.q === query() && result.mode === state.mode;
  }

  function clientParam() {
    // On a client's profile, the assign screen opens with that client chosen.
    if (!config.profilePath || window.location.pathname !== config.profilePath) {
      return "";
    }
    var id = new URLSearchParams(window.location.search).get("id");
    return id && /^\d+$/.test(id) ? "&client_id=" + id : "";
  }

  function fetchResults() {
    clearTimeout(state.timer);
    state.timer = null;
    var q = query();
    var mode = state.mode;
    if (fresh(state.results)) {
      return Promise.resolve(state.results);
    }
    if (state.request && state.request.q === q && state.request.mode === mode) {
      return state.request.promise;
    }
    if (state.request) {
      state.request.controller.abort();
      state.request = null;
    }
    if (q.length < config.minLength) {
      state.results = {q: q, mode: mode, data: null};
      clearList();
      say(config.text.hint);
      return Promise.resolve(state.results);
    }
    var controller = new AbortController();
    var url = config.url + "?q=" + encodeURIComponent(q) +
      (mode === "assign" ? "&mode=assign" + clientParam() : "");
    say(config.text.searching);
    var request = {q: q, mode: mode, controller: controller};
    request.promise = fetch(url, {
      headers: {"Accept": "application/json"},
      credentials: "same-origin",
      signal: controller.signal
    }).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (!response.ok || type.indexOf("application/json") !== 0) {
        // Signed out (the login page came back) or refused.
        throw new Error("HTTP " + response.status);
      }
      return response.json();
    }).then(function (data) {
      var result = {q: q, mode: mode, data: data};
      if (state.request === request) {
        state.request = null;
      }
      if (state.open && fresh(result)) {
        state.results = result;
        render();
      }
      return result;
    }, function (error) {
      if (state.request === request) {
        state.request = null;
      }
      if (error.name !== "AbortError" && state.open && q === query()) {
        clearList();
        say(config.text.failed, true);
      }
      return {q: q, mode: mode, data: null};
    });
    state.request = request;
    return request.promise;
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(fetchResults, config.debounceMs);
  }

  // --- the list --------------------------------------------------------------------

  function clearList() {
    list.textContent = "";
    state.items = [];
    state.active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function render() {
    clearList();
    var data = state.results && state.results.data;
    if (!data) {
      say(config.text.hint);
      return;
    }
    var jumpIndex = -1;
    data.groups.forEach(function (group) {
      if (!group.items.length) {
        return;
      }
      var heading = document.createElement("li");
      heading.className = "qs-group";
      heading.setAttribute("role", "presentation");
      heading.textContent = config.text.groups[group.key] || group.key;
      list.appendChild(heading);
      group.items.forEach(function (item) {
        var index = state.items.length;
        var row = document.createElement("li");
        row.id = "qs-item-" + index;
        row.setAttribute("role", "option");
        row.setAttribute("aria-selected", "false");
        var link = document.createElement("a");
        link.href = item.url;
        link.tabIndex = -1;
        link.className = "qs-item";
        var title = document.createElement("span");
        title.className = "qs-title";
        title.textContent = item.title;
        var detail = document.createElement("span");
        detail.className = "qs-detail";
        detail.textContent = item.detail || "";
        var badge = document.createElement("span");
        badge.className = "qs-badge qs-tone-" + item.tone;
        badge.textContent = item.badge;
        link.appendChild(title);
        link.appendChild(detail);
        link.appendChild(badge);
        row.appendChild(link);
        row.addEventListener("mousemove", function () {
          if (state.active !== index) {
            setActive(index);
          }
        });
        list.appendChild(row);
        if (data.jump && item.url === data.jump && jumpIndex < 0) {
          jumpIndex = index;
        }
        state.items.push({url: item.url, row: row});
      });
    });
    if (!state.items.length) {
      say(config.text.none);
      return;
    }
    say("");
    input.setAttribute("aria-expanded", "true");
    setActive(jumpIndex >= 0 ? jumpIndex : 0);
  }

  function setActive(index) {
    if (state.active >= 0 && state.items[state.active]) {
      state.items[state.active].row.classList.remove("qs-active");
      state.items[state.active].row.setAttribute("aria-selected", "false");
    }
    state.active = index;
    var item = state.items[index];
    if (!item) {
      input.removeAttribute("aria-activedescendant");
      return;
    }
    item.row.classList.add("qs-active");
    item.row.setAttribute("aria-selected", "true");
    input.setAttribute("aria-activedescendant", item.row.id);
    item.row.scrollIntoView({block: "nearest"});
  }

  function move(step) {
    if (!fresh(state.results)) {
      fetchResults();
      return;
    }
    var count = state.items.length;
    if (count) {
      setActive((state.active + step + count) % count);
    }
  }

  // Enter: the highlighted result; before the results are in (a scanner is
  // faster than the pause), wait for them and open an exact key tag or locker
  // number, or the only result, and otherwise show the list.
  function enter() {
    if (fresh(state.results)) {
      if (state.active >= 0 && state.items[state.active]) {
        go(state.items[state.active].url);
      } else if (state.results.data && state.results.data.jump) {
        go(state.results.data.jump);
      }
      return;
    }
    fetchResults().then(function (result) {
      if (!state.open || !fresh(result) || !result.data) {
        return;
      }
      if (result.data.jump) {
        go(result.data.jump);
      } else if (state.items.length === 1) {
        go(state.items[0].url);
      }
    });
  }

  input.addEventListener("input", schedule);
  input.addEventListener("keydown", function (event) {
    if (event.isComposing) {
      return;
    }
    if (event.key === "ArrowDown" || (event.key === "Tab" && !event.shiftKey)) {
      event.preventDefault();
      move(1);
    } else if (event.key === "ArrowUp" || (event.key === "Tab" && event.shiftKey)) {
      event.preventDefault();
      move(-1);
    } else if (event.key === "Enter") {
      event.preventDefault();
      enter();
    }
  });
  root.addEventListener("click", function (event) {
    if (event.target.closest("[data-qs-close]")) {
      close();
    }
  });
  if (trigger) {
    trigger.addEventListener("click", function () {
      open("search", "");
    });
  }

  // --- shortcuts and the scanner --------------------------------------------------

  // A scanner types much faster than a person: keys less than scanGapMs apart,
  // then Enter. Returns true when the key belongs to such a burst.
  function scanned(event) {
    var now = event.timeStamp || window.performance.now();
    var quick = scan.text !== "" && now - scan.last <= config.scanGapMs;
    if (event.key === "Enter") {
      var text = quick ? scan.text.trim() : "";
      scan.text = "";
      if (text.length >= config.minLength) {
        event.preventDefault();
        open("search", text);
        enter();
        return true;
      }
      return false;
    }
    if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
      scan.text = (quick ? scan.text : "") + event.key;
      scan.last = now;
      return scan.text.length > 1;
    }
    scan.text = "";
    return false;
  }

  document.addEventListener("keydown", function (event) {
    var key = event.key || "";
    if (event.isComposing || MODIFIERS.indexOf(key) >= 0) {
      return;
    }
    if ((event.ctrlKey || event.metaKey) && !event.altKey && !event.shiftKey &&
        (event.code === "KeyK" || key.toLowerCase() === "k")) {
      event.preventDefault();
      if (state.open && state.mode === "search") {
        input.focus();
        input.select();
      } else {
        open("search", "");
      }
      return;
    }
    if (state.open) {
      if (key === "Escape") {
        event.preventDefault();
        close();
      }
      return;
    }
    if (isField(event.target)) {
      scan.text = "";
      return;
    }
    if (event.altKey && !event.ctrlKey && !event.metaKey) {
      if (event.code === "KeyN" && config.newClientUrl) {
        event.preventDefault();
        go(config.newClientUrl);
      } else if (event.code === "KeyA" && config.assign) {
        event.preventDefault();
        open("assign", "");
      }
      return;
    }
    if (scanned(event)) {
      return;
    }
    if (key === "/" && !event.ctrlKey && !event.metaKey) {
      event.preventDefault();
      scan.text = "";
      open("search", "");
    }
  }, true);
}());
