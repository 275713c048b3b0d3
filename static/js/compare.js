/* The compare page: controls for the x axis, log scales and smoothing, and
 * zoom that fetches detail from the server when the series were downsampled. */
(function () {
  "use strict";
  var el = document.getElementById("compare-chart");
  var statusLine = document.getElementById("compare-status");
  var data = null;
  var range = null;

  function options() {
    return {
      smoothing: Number(document.getElementById("smoothing").value),
      logLoss: document.getElementById("log-loss").checked,
      logLr: document.getElementById("log-lr").checked,
      range: range,
    };
  }

  function xMode() { return document.querySelector("input[name=x]:checked").value; }

  function fetchAndDraw() {
    if (!el.dataset.study && !el.dataset.runs) {
      statusLine.textContent = "Tick runs in the table below (filter it first if you like), then Compare selected runs.";
      return;
    }
    var params = { study: el.dataset.study, runs: el.dataset.runs, x: xMode() };
    if (range) { params.x0 = range[0]; params.x1 = range[1]; }
    statusLine.textContent = "loading…";
    arenaCompare.load(el, params).then(function (result) {
      data = result;
      arenaCompare.draw(el, data, options());
      statusLine.textContent = result.series.length + " series" + (result.downsampled ? ", downsampled to " + result.max_points + " points each (zoom in for detail)" : "");
    }, function (error) { statusLine.textContent = "could not load: " + error.message; });
  }

  var refetch = arena.debounce(fetchAndDraw, 250);
  document.querySelectorAll("input[name=x]").forEach(function (r) {
    r.addEventListener("change", function () { range = null; fetchAndDraw(); });
  });
  ["log-loss", "log-lr", "smoothing"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", function () { if (data) { arenaCompare.draw(el, data, options()); } });
  });
  fetchAndDraw();
  var attach = setInterval(function () {
    if (!el.on) { return; }
    clearInterval(attach);
    el.on("plotly_relayout", function (event) {
      if (event["xaxis.range[0]"] !== undefined) {
        range = [event["xaxis.range[0]"], event["xaxis.range[1]"]];
        if (data && data.downsampled) { refetch(); }
      } else if (event["xaxis.autorange"]) {
        range = null;
        if (data && data.downsampled) { refetch(); }
      }
    });
  }, 100);
})();
