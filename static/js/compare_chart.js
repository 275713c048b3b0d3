/* Comparison charts: accuracy, loss and LR on three linked panels (one x axis),
 * one line per policy with a mean ± std band across seeds. Series come
 * downsampled from the server; zooming in asks it for the detail. */
(function () {
  "use strict";
  var PALETTE = ["#2f5bd3", "#d9534f", "#1f8a4c", "#b7791f", "#7b3fc4", "#0e8f9b", "#c2185b", "#5d6778"];
  var WEBGL_POINTS = 2000;

  function rgba(hex, alpha) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + alpha + ")";
  }

  function smooth(values, factor) {
    if (!factor) { return values; }
    var out = [], last = null;
    values.forEach(function (v) {
      if (v === null || v === undefined) { out.push(v); return; }
      last = last === null ? v : factor * last + (1 - factor) * v;
      out.push(last);
    });
    return out;
  }

  function band(x, mean, std, color, axis, type, group) {
    var upper = [], lower = [];
    mean.forEach(function (m, i) {
      var s = std[i];
      upper.push(m === null || s === null ? m : m + s);
      lower.push(m === null || s === null ? m : m - s);
    });
    return [
      { x: x, y: upper, type: type, mode: "lines", line: { width: 0 }, hoverinfo: "skip", showlegend: false, yaxis: axis, legendgroup: group },
      { x: x, y: lower, type: type, mode: "lines", line: { width: 0 }, fill: "tonexty", fillcolor: rgba(color, 0.15),
        hoverinfo: "skip", showlegend: false, yaxis: axis, legendgroup: group },
    ];
  }

  function build(data, options) {
    var total = data.series.reduce(function (sum, s) { return sum + s.x.length; }, 0);
    var type = total > WEBGL_POINTS ? "scattergl" : "scatter";
    var traces = [];
    data.series.forEach(function (s, i) {
      var color = PALETTE[i % PALETTE.length];
      var group = "g" + i;
      var acc = smooth(s.test_acc_mean, options.smoothing);
      var loss = smooth(s.test_loss_mean, options.smoothing);
      if (type === "scatter") {
        traces = traces.concat(band(s.x, acc, s.test_acc_std, color, "y", type, group));
      }
      traces.push({ x: s.x, y: acc, type: type, mode: "lines", name: s.name + " (n=" + s.n + ")", line: { color: color, width: 2 }, yaxis: "y", legendgroup: group });
      if (type === "scatter") {
        traces = traces.concat(band(s.x, loss, s.test_loss_std, color, "y2", type, group));
      }
      traces.push({ x: s.x, y: loss, type: type, mode: "lines", name: s.name + " loss", showlegend: false, line: { color: color, width: 2 }, yaxis: "y2", legendgroup: group });
      traces.push({ x: s.x, y: s.lr_mean_mean, type: type, mode: "lines", name: s.name + " LR", showlegend: false, line: { color: color, width: 1.5, dash: "dot" }, yaxis: "y3", legendgroup: group });
    });
    var layout = {
      margin: { t: 10, r: 10, b: 40, l: 70 },
      xaxis: { title: { text: data.x === "seconds" ? "seconds" : "epoch" }, anchor: "y3" },
      yaxis: { domain: [0.56, 1], title: { text: "test accuracy" } },
      yaxis2: { domain: [0.29, 0.52], title: { text: "test loss" }, type: options.logLoss ? "log" : "linear" },
      yaxis3: { domain: [0, 0.24], title: { text: "LR (mean)" }, type: options.logLr ? "log" : "linear" },
      legend: { orientation: "h", x: 0, xanchor: "left", y: 1.02, yanchor: "bottom" },
      hovermode: "x unified",
    };
    if (options.range) { layout.xaxis.range = options.range; }
    return { traces: traces, layout: layout, webgl: type === "scattergl" };
  }

  function draw(el, data, options) {
    var fig = build(data, options);
    Plotly.react(el, fig.traces, arena.readable(fig.layout), arena.plotConfig);
    el.dataset.series = String(data.series.length);
    el.dataset.webgl = String(fig.webgl);
    el.dataset.downsampled = String(data.downsampled);
  }

  function load(el, params) {
    var query = new URLSearchParams();
    Object.keys(params).forEach(function (k) { if (params[k] !== undefined && params[k] !== "") { query.set(k, params[k]); } });
    return arena.getJSON(el.dataset.url + "?" + query.toString());
  }

  window.arenaCompare = { draw: draw, load: load, smooth: smooth };
})();
