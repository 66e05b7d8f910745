/* The locker grid page: live tiles, the side panel and each tile's menu.
 *
 * The page arrives with its tiles as JSON (#grid-data); this script draws them
 * and keeps them current by asking the change feed every half second for the
 * tiles that changed since the version it has seen (any staff member, any app
 * process), replacing those tiles in place. Without Redis the feed says so and the script re-reads
 * the whole grid every few seconds instead. The server decides which menu
 * actions a user may take on a tile; the target screens check again.
 */
(function () {
  "use strict";

  var configEl = document.getElementById("grid-config");
  var dataEl = document.getElementById("grid-data");
  var grid = document.getElementById("grid");
  if (!configEl || !dataEl || !grid) {
    return;
  }
  var config = JSON.parse(configEl.textContent);
  var initial = JSON.parse(dataEl.textContent);
  var labels = config.labels;
  var texts = config.texts;
  var panel = document.getElementById("grid-panel");
  var panelBody = document.getElementById("grid-panel-body");
  var menu = document.getElementById("grid-menu");
  var liveBadge = document.getElementById("grid-live");
  var filterForm = document.getElementById("grid-filters");

  var LONG_PRESS_MS = 550;
  var MAX_HIDDEN_DELAY_MS = 10000;

  var version = initial.version;             // null: no live feed, re-read the grid
  var mode = version === null ? "fallback" : "live";
  var paused = false;
  var timer = null;
  var busy = false;
  var failures = 0;
  var hiddenDelay = config.pollMs;
  var lastInput = Date.now();
  var panelLockerId = null;
  var panelOpener = null;
  var menuTile = null;

  // --- talking to the server ---------------------------------------------------------

  function queryString(extra) {
    var params = new URLSearchParams();
    Object.keys(config.filters).forEach(function (name) {
      params.set(name, config.filters[name]);
    });
    Object.keys(extra || {}).forEach(function (name) {
      params.set(name, extra[name]);
    });
    return params.toString();
  }

  /* GET `url`; `background` marks the polling, which is not someone using the desk. */
  function request(url, asJson, background) {
    var headers = {"Accept": asJson ? "application/json" : "text/html"};
    if (background) {
      headers["X-Requested-With"] = "locker-grid-poll";
    }
    return fetch(url, {credentials: "same-origin", cache: "no-store", headers: headers})
      .then(function (response) {
        // Signed out (idle timeout) or no longer allowed: the page itself says what to do.
        if (response.redirected || response.status === 401 || response.status === 403) {
          window.location.reload();
          throw new Error("signed out");
        }
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.status = response.status;
          throw error;
        }
        return asJson ? response.json() : response.text();
      });
  }

  // --- tiles ----------------------------------------------------------------------------

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = text;
    }
    return node;
  }

  /* One tile: a button saying number, status (symbol and name), client initials and marks. */
  function renderTile(tile) {
    var status = labels.statuses[tile.s];
    var marks = tile.m || [];
    var button = element("button", "tile st-" + tile.s);
    button.type = "button";
    button.dataset.id = tile.id;
    button.dataset.n = tile.n;
    button.dataset.s = tile.s;
    button.dataset.z = tile.z;
    button.dataset.r = tile.r || "";
    button.dataset.a = (tile.a || []).join(" ");
    button.dataset.m = marks.join(" ");
    button.setAttribute("aria-haspopup", "menu");
    button.title = [tile.n, status.label].concat(tile.c ? [tile.c] : [], marks.map(function (mark) {
      return labels.marks[mark].label;
    })).join(", ");
    button.setAttribute("aria-label", button.title);
    button.appendChild(element("span", "tile-num", tile.n));
    var statusText = element("span", "tile-status");
    statusText.appendChild(element("span", "tile-icon", status.icon));
    statusText.firstChild.setAttribute("aria-hidden", "true");
    statusText.appendChild(document.createTextNode(" " + status.label));
    button.appendChild(statusText);
    if (tile.c) {
      button.appendChild(element("span", "tile-client", tile.c));
    }
    if (marks.length) {
      var markBox = element("span", "tile-marks");
      markBox.setAttribute("aria-hidden", "true");
      marks.forEach(function (mark) {
        var badge = element("span", "mark mark-" + mark, labels.marks[mark].icon);
        badge.title = labels.marks[mark].label;
        markBox.appendChild(badge);
      });
      button.appendChild(markBox);
    }
    return button;
  }

  function findTile(id) {
    return grid.querySelector('.tile[data-id="' + id + '"]');
  }

  var byNumber = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});

  /* Put a changed tile in place; false when its zone is not on the page yet. */
  function placeTile(tile) {
    var fresh = renderTile(tile);
    var existing = findTile(tile.id);
    if (existing && existing.dataset.z === String(tile.z)) {
      var hadFocus = document.activeElement === existing;
      existing.replaceWith(fresh);
      if (hadFocus) {
        fresh.focus();
      }
    } else {
      var zone = grid.querySelector('.grid-zone[data-zone="' + tile.z + '"] .grid-tiles');
      if (!zone) {
        return false;
      }
      if (existing) {
        existing.remove();
      }
      var before = null;
      Array.prototype.some.call(zone.children, function (other) {
        if (byNumber.compare(other.dataset.n, tile.n) > 0) {
          before = other;
          return true;
        }
        return false;
      });
      zone.insertBefore(fresh, before);
    }
    fresh.classList.add("tile-changed");
    return true;
  }

  function renderAll(data) {
    var focusedId = document.activeElement && document.activeElement.dataset
      ? document.activeElement.dataset.id : null;
    var zones = {};
    var fragment = document.createDocumentFragment();
    var floorSection = null;
    data.groups.forEach(function (group) {
      if (!floorSection || floorSection.dataset.floor !== String(group.f)) {
        floorSection = element("section", "grid-floor");
        floorSection.dataset.floor = group.f;
        floorSection.appendChild(element("h2", "grid-floor-name", group.fn));
        fragment.appendChild(floorSection);
      }
      var zoneSection = element("section", "grid-zone");
      zoneSection.dataset.zone = group.z;
      zoneSection.appendChild(element("h3", "grid-zone-name", group.zn));
      zones[group.z] = element("div", "grid-tiles");
      zoneSection.appendChild(zones[group.z]);
      floorSection.appendChild(zoneSection);
    });
    data.tiles.forEach(function (tile) {
      if (zones[tile.z]) {
        zones[tile.z].appendChild(renderTile(tile));
      }
    });
    if (!data.tiles.length) {
      var empty = element("p", "text-muted", texts.empty);
      empty.id = "grid-empty";
      fragment.appendChild(empty);
    }
    grid.replaceChildren(fragment);
    if (focusedId) {
      var again = findTile(focusedId);
      if (again) {
        again.focus();
      }
    }
    updateCounts();
  }

  function updateCounts() {
    var counts = {};
    Object.keys(labels.statuses).forEach(function (status) {
      counts[status] = 0;
    });
    grid.querySelectorAll(".tile").forEach(function (tile) {
      counts[tile.dataset.s] = (counts[tile.dataset.s] || 0) + 1;
    });
    document.querySelectorAll("[data-count]").forEach(function (node) {
      node.textContent = counts[node.dataset.count] || 0;
    });
  }

  /* Apply one answer of the change feed; true when the whole grid must be re-read. */
  function applyChanges(data) {
    var rebuild = false;
    var panelChanged = false;
    data.tiles.forEach(function (tile) {
      if (!placeTile(tile)) {
        rebuild = true;
      }
      if (String(tile.id) === String(panelLockerId)) {
        panelChanged = true;
      }
    });
    data.removed.forEach(function (id) {
      var gone = findTile(id);
      if (gone) {
        gone.remove();
      }
      if (String(id) === String(panelLockerId)) {
        panelChanged = true;
      }
    });
    updateCounts();
    if (menuTile && !document.body.contains(menuTile)) {
      closeMenu(false);
    }
    if (panelChanged) {
      refreshPanel();
    }
    return rebuild;
  }

  // --- polling ------------------------------------------------------------------------------

  function showState(state) {
    if (!liveBadge) {
      return;
    }
    var text = {live: texts.live, fallback: texts.fallback, paused: texts.paused,
                offline: texts.offline}[state];
    if (liveBadge.textContent !== text) {  // a live region: say it once, not every poll
      liveBadge.textContent = text;
      liveBadge.className = "grid-live grid-live-" + state;
    }
  }

  function currentState() {
    if (paused) {
      return "paused";
    }
    if (failures > 0) {
      return "offline";
    }
    return mode;
  }

  function nextDelay() {
    if (failures > 0) {
      return Math.min(1000 * Math.pow(2, failures - 1), MAX_HIDDEN_DELAY_MS);
    }
    if (document.hidden) {
      // A tab nobody looks at asks less and less often, up to every 10 seconds.
      hiddenDelay = Math.min(hiddenDelay * 2, MAX_HIDDEN_DELAY_MS);
      return hiddenDelay;
    }
    hiddenDelay = config.pollMs;
    return mode === "live" ? config.pollMs : config.fallbackPollMs;
  }

  function schedule(delay) {
    window.clearTimeout(timer);
    showState(currentState());
    if (paused) {
      return;
    }
    timer = window.setTimeout(poll, delay === undefined ? nextDelay() : delay);
  }

  function fetchAll() {
    return request(config.tilesUrl + "?" + queryString(), true, true).then(function (data) {
      renderAll(data);
      refreshPanel();
      version = data.version;
      mode = version === null ? "fallback" : "live";
    });
  }

  function fetchChanges() {
    return request(config.changesUrl + "?" + queryString({since: version}), true, true)
      .then(function (data) {
        if (data.fallback) {
          return fetchAll();
        }
        if (data.reload || applyChanges(data)) {
          return fetchAll();
        }
        version = data.version;
        return null;
      });
  }

  function poll() {
    if (busy || paused) {
      return;
    }
    if (Date.now() - lastInput > config.pauseAfterMs) {
      paused = true;
      schedule();
      return;
    }
    busy = true;
    (mode === "live" ? fetchChanges() : fetchAll()).then(function () {
      failures = 0;
    }, function (error) {
      if (error.message !== "signed out") {
        failures += 1;
      }
    }).then(function () {
      busy = false;
      schedule();
    });
  }

  function noteInput() {
    lastInput = Date.now();
    if (paused) {
      paused = false;
      schedule(0);
    }
  }

  ["pointerdown", "keydown", "wheel", "touchstart"].forEach(function (name) {
    document.addEventListener(name, noteInput, {passive: true, capture: true});
  });

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) {
      hiddenDelay = config.pollMs;
      lastInput = Date.now();
      paused = false;
      schedule(0);
    }
  });

  // --- the side panel --------------------------------------------------------------------

  function showPanelMessage(text) {
    var message = element("p", "text-muted", text);
    panelBody.replaceChildren(message);
  }

  function loadPanel(id, background) {
    return request(config.panelUrl.replace("__ID__", id), false, background).then(function (html) {
      if (String(id) !== String(panelLockerId)) {
        return;
      }
      // A fragment rendered (and escaped) by the server's own template.
      panelBody.innerHTML = html;
    }, function (error) {
      if (error.status === 404 && String(id) === String(panelLockerId)) {
        showPanelMessage(texts.panelMissing);
      }
    });
  }

  function openPanel(tile) {
    panelLockerId = tile.dataset.id;
    panelOpener = tile;
    grid.querySelectorAll(".tile-selected").forEach(function (node) {
      node.classList.remove("tile-selected");
    });
    tile.classList.add("tile-selected");
    showPanelMessage(texts.loading);
    panel.hidden = false;
    document.body.classList.add("grid-panel-open");
    loadPanel(panelLockerId, false).then(function () {
      var title = document.getElementById("grid-panel-title");
      (title || panel).focus();
    });
  }

  function refreshPanel() {
    if (panelLockerId !== null && !panel.hidden) {
      loadPanel(panelLockerId, true);
    }
  }

  function closePanel() {
    if (panel.hidden) {
      return;
    }
    panel.hidden = true;
    document.body.classList.remove("grid-panel-open");
    grid.querySelectorAll(".tile-selected").forEach(function (node) {
      node.classList.remove("tile-selected");
    });
    var opener = findTile(panelLockerId) || panelOpener;
    panelLockerId = null;
    if (opener && document.body.contains(opener)) {
      opener.focus();
    }
  }

  document.getElementById("grid-panel-close").addEventListener("click", closePanel);

  panel.addEventListener("click", function (event) {
    var toggle = event.target.closest("[data-toggle-actions]");
    if (!toggle) {
      return;
    }
    var list = document.getElementById(toggle.getAttribute("aria-controls"));
    var open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
    list.hidden = !open;
    if (open) {
      var first = list.querySelector("a");
      if (first) {
        first.focus();
      }
    }
  });

  // --- the tile menu (right-click, long-press, the Menu key) ------------------------------

  function menuItems(tile) {
    var actions = (tile.dataset.a || "").split(" ").filter(function (action) {
      return action && config.actionUrls[action];
    });
    return actions.map(function (action) {
      var link = element("a", "grid-menu-item", labels.actions[action]);
      link.setAttribute("role", "menuitem");
      link.dataset.action = action;
      link.href = config.actionUrls[action].replace("__ID__", tile.dataset.id)
        .replace("__RENTAL__", tile.dataset.r);
      return link;
    });
  }

  function openMenu(tile, x, y) {
    if (menuTile === tile && !menu.hidden) {
      return;
    }
    menuTile = tile;
    var title = element("div", "grid-menu-title",
                        texts.menuFor.replace("__NUMBER__", tile.dataset.n));
    var details = element("button", "grid-menu-item", texts.details);
    details.type = "button";
    details.setAttribute("role", "menuitem");
    details.dataset.action = "details";
    var items = menuItems(tile);
    menu.replaceChildren(title, details);
    if (items.length) {
      items.forEach(function (item) {
        menu.appendChild(item);
      });
    } else {
      menu.appendChild(element("div", "grid-menu-none", texts.noActions));
    }
    menu.hidden = false;
    var box = menu.getBoundingClientRect();
    var left = Math.max(4, Math.min(x, window.innerWidth - box.width - 4));
    var top = Math.max(4, Math.min(y, window.innerHeight - box.height - 4));
    menu.style.left = left + "px";
    menu.style.top = top + "px";
    (items[0] || details).focus();
  }

  function closeMenu(returnFocus) {
    if (menu.hidden) {
      return;
    }
    menu.hidden = true;
    var tile = menuTile;
    menuTile = null;
    if (returnFocus && tile && document.body.contains(tile)) {
      tile.focus();
    }
  }

  menu.addEventListener("click", function (event) {
    var item = event.target.closest("[data-action]");
    if (item && item.dataset.action === "details") {
      var tile = menuTile;
      closeMenu(false);
      if (tile) {
        openPanel(tile);
      }
    }
  });

  menu.addEventListener("keydown", function (event) {
    var items = Array.prototype.slice.call(menu.querySelectorAll("[role=menuitem]"));
    var index = items.indexOf(document.activeElement);
    if (event.key === "Escape") {
      event.preventDefault();
      closeMenu(true);
    } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      var step = event.key === "ArrowDown" ? 1 : -1;
      items[(index + step + items.length) % items.length].focus();
    } else if (event.key === "Tab") {
      closeMenu(false);
    }
  });

  grid.addEventListener("contextmenu", function (event) {
    var tile = event.target.closest(".tile");
    if (!tile) {
      return;
    }
    event.preventDefault();
    var x = event.clientX;
    var y = event.clientY;
    if (!x && !y) {
      // From the keyboard (Menu key, Shift+F10): open at the tile.
      var rect = tile.getBoundingClientRect();
      x = rect.left + rect.width / 2;
      y = rect.bottom;
    }
    openMenu(tile, x, y);
  });

  // Long-press on a touch screen opens the menu; the tap that ends it does not open the panel.
  var press = null;
  var swallowClick = false;

  grid.addEventListener("pointerdown", function (event) {
    // After a long-press some browsers send no click at all: start each press afresh.
    swallowClick = false;
    var tile = event.target.closest(".tile");
    if (!tile || event.pointerType === "mouse") {
      return;
    }
    press = {tile: tile, x: event.clientX, y: event.clientY, timer: window.setTimeout(function () {
      swallowClick = true;
      openMenu(tile, press.x, press.y);
      press = null;
    }, LONG_PRESS_MS)};
  });

  function cancelPress(event) {
    if (!press) {
      return;
    }
    if (event.type === "pointermove" && Math.abs(event.clientX - press.x) < 10
        && Math.abs(event.clientY - press.y) < 10) {
      return;
    }
    window.clearTimeout(press.timer);
    press = null;
  }

  ["pointerup", "pointercancel", "pointermove"].forEach(function (name) {
    grid.addEventListener(name, cancelPress);
  });

  grid.addEventListener("click", function (event) {
    var tile = event.target.closest(".tile");
    if (!tile) {
      return;
    }
    if (swallowClick) {
      swallowClick = false;
      event.preventDefault();
      return;
    }
    closeMenu(false);
    openPanel(tile);
  });

  document.addEventListener("pointerdown", function (event) {
    if (!menu.hidden && !menu.contains(event.target) && !event.target.closest(".tile")) {
      closeMenu(false);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && menu.hidden && !panel.hidden) {
      closePanel();
    }
  });

  window.addEventListener("resize", function () {
    closeMenu(false);
  });

  // --- filters -----------------------------------------------------------------------------

  if (filterForm) {
    filterForm.addEventListener("change", function (event) {
      // A new branch or floor has other floors and zones: those choices start over.
      (event.target.dataset.resets || "").split(" ").forEach(function (name) {
        var select = name && filterForm.elements[name];
        if (select) {
          select.value = "";
        }
      });
      filterForm.submit();
    });
  }

  renderAll(initial);
  // Quick search and scanned key tags arrive with ?locker=<id>: open that locker's panel.
  var wanted = new URLSearchParams(window.location.search).get("locker");
  if (wanted && findTile(wanted)) {
    openPanel(findTile(wanted));
    findTile(wanted).scrollIntoView({block: "center"});
  }
  schedule(mode === "live" ? config.pollMs : config.fallbackPollMs);
}());
