/* Shared helpers for LR Arena pages: CSRF-aware JSON requests and a
 * websocket that reconnects with backoff until told to stop. */
(function () {
  "use strict";

  function cookie(name) {
    var match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : null;
  }

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : cookie("csrftoken");
  }

  function postJSON(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(body),
    }).then(function (response) {
      return response.json().then(
        function (data) { return { ok: response.ok, status: response.status, data: data }; },
        function () { return { ok: false, status: response.status, data: { detail: response.statusText } }; }
      );
    });
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) { throw new Error("HTTP " + r.status); }
      return r.json();
    });
  }

  /* Closing codes the server uses for "never try again". */
  var FINAL_CODES = { 4401: true, 4403: true, 4404: true };

  function openSocket(path, handlers) {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
    var delay = 500;
    var socket = null;
    var stopped = false;
    var control = {
      stop: function () { stopped = true; if (socket) { socket.close(1000); } },
      get socket() { return socket; },
    };
    function connect() {
      socket = new WebSocket(url);
      socket.onopen = function () { delay = 500; if (handlers.onOpen) { handlers.onOpen(); } };
      socket.onmessage = function (event) { handlers.onMessage(JSON.parse(event.data)); };
      socket.onclose = function (event) {
        if (handlers.onClose) { handlers.onClose(event); }
        if (stopped || FINAL_CODES[event.code]) { return; }
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    return control;
  }

  function fmt(value, digits) {
    if (value === null || value === undefined || Number.isNaN(value)) { return "–"; }
    return Number(value).toFixed(digits === undefined ? 4 : digits);
  }

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(null, args); }, ms);
    };
  }

  var plotConfig = { responsive: true, displaylogo: false };

  /* Layout defaults every chart shares: hover labels show whole names and values
   * to 4 significant digits, and axes make room for their own ticks and titles
   * (a right-hand y axis is not clipped). */
  function readable(layout) {
    layout.hoverlabel = Object.assign({ namelength: -1 }, layout.hoverlabel);
    ["xaxis", "yaxis"].forEach(function (key) { layout[key] = layout[key] || {}; });
    Object.keys(layout).forEach(function (key) {
      if (/^[xy]axis\d*$/.test(key)) {
        layout[key] = Object.assign({ hoverformat: ".4~g", automargin: true }, layout[key]);
      }
    });
    return layout;
  }

  /* A table that scrolls in its own box must be reachable by keyboard to be scrolled:
   * it joins the tab order while it overflows (on load, resize, and when a page redraws it). */
  function keyboardScrollable() {
    document.querySelectorAll(".table-scroll, table.grid").forEach(function (box) {
      if (box.scrollWidth > box.clientWidth + 1) {
        box.setAttribute("tabindex", "0");
        if (!box.hasAttribute("aria-label")) { box.setAttribute("aria-label", "scrollable table"); }
      } else if (box.getAttribute("aria-label") === "scrollable table") {
        box.removeAttribute("tabindex");
        box.removeAttribute("aria-label");
      }
    });
  }
  var markSoon = (function () {
    var timer = null;
    return function () { clearTimeout(timer); timer = setTimeout(keyboardScrollable, 100); };
  })();
  document.addEventListener("DOMContentLoaded", keyboardScrollable);
  window.addEventListener("resize", markSoon);
  new MutationObserver(function (records) {
    var ours = records.every(function (r) { return r.type === "attributes"; });
    if (!ours) { markSoon(); }
  }).observe(document.documentElement, { childList: true, subtree: true });

  /* A form with data-confirm asks before it submits (publishing, cancelling a run). */
  document.addEventListener("submit", function (event) {
    var message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  // <select data-autosubmit> submits its form when changed (no inline handlers: the CSP forbids them).
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
      target.form.submit();
    }
  });

  window.arena = {
    csrfToken: csrfToken, postJSON: postJSON, getJSON: getJSON, openSocket: openSocket,
    fmt: fmt, debounce: debounce, plotConfig: plotConfig, readable: readable,
  };
})();
