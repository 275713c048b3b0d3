/* A research job's page: its events so far (from the database), then live ones
 * over the websocket, drawn per kind of tool. Sequence numbers drop duplicates. */
(function () {
  "use strict";
  var initial = JSON.parse(document.getElementById("job-initial").textContent);
  var job = initial;
  var events = new Map();
  initial.events.forEach(function (e) { events.set(e.seq, e); });
  var el = {
    status: document.getElementById("job-status"),
    result: document.getElementById("job-result"),
    error: document.getElementById("job-error"),
    live: document.getElementById("live-indicator"),
    c1: document.getElementById("job-chart-1"),
    c2: document.getElementById("job-chart-2"),
    save: document.getElementById("save-policy"),
  };
  var FINISHED = { succeeded: true, failed: true, cancelled: true };
  var margin = { t: 36, r: 10, b: 90, l: 65 };

  function ofType(type) {
    return Array.from(events.values()).filter(function (e) { return e.type === type; })
      .sort(function (a, b) { return a.seq - b.seq; }).map(function (e) { return e.data; });
  }

  function plot(target, traces, layout) {
    var base = { margin: margin, legend: { orientation: "h", y: -0.3 } };
    Plotly.react(target, traces, arena.readable(Object.assign(base, layout)), arena.plotConfig);
  }

  function link(href, text) { return "<a class='button' href='" + href + "'>" + text + "</a>"; }

  function fmt(v) { return v === null || v === undefined ? "–" : Number(v).toPrecision(4); }

  /* Why a power-law fit says nothing, or null when it is a fit: flat η* gives p ≈ 0
   * and R² ≈ 0 (float noise such as −8.665e-17), which is no exponent at all. */
  function fitFailure(fit) {
    var numbers = [fit.C, fit.p, fit.r2].concat(fit.p_ci || []);
    if (!numbers.every(function (v) { return typeof v === "number" && isFinite(v); })) {
      return "The power-law fit failed: it gave no finite exponent.";
    }
    if (Math.abs(fit.p) < 1e-9 || fit.r2 < 1e-6) {
      return "The power-law fit failed: η* does not change with depth × width on this grid (R² ≈ 0), " +
        "so there is no exponent to report. Try sizes further apart or a finer LR search.";
    }
    return null;
  }

  /* The range test's loss explodes at the end: a log axis clipped to a few times the
   * starting loss keeps the useful part readable. */
  function rangeTestAxis(steps) {
    var losses = steps.map(function (s) { return s.smoothed; }).filter(function (v) { return v > 0 && isFinite(v); });
    if (!losses.length) { return { type: "log", title: { text: "training loss (log)" } }; }
    var low = Math.min.apply(null, losses);
    var high = Math.min(Math.max.apply(null, losses), 4 * losses[0]);
    return { type: "log", title: { text: "training loss (log)" },
             range: [Math.log10(low * 0.8), Math.log10(Math.max(high, low * 1.5) * 1.25)] };
  }

  var draw = {
    lr_search: function () {
      var probes = ofType("probe");
      var ok = probes.filter(function (p) { return p.success; });
      var bad = probes.filter(function (p) { return !p.success; });
      plot(el.c1, [
        { x: ok.map(function (p) { return p.lr; }), y: ok.map(function (p) { return p.best_accuracy; }), mode: "markers", name: "reached the threshold", marker: { size: 11, color: "#1f8a4c" } },
        { x: bad.map(function (p) { return p.lr; }), y: bad.map(function (p) { return p.best_accuracy; }), mode: "markers", name: "did not", marker: { size: 11, color: "#c0392b", symbol: "x" } },
      ], { title: { text: "probes: LR against best accuracy" }, xaxis: { title: { text: "initial LR" } }, yaxis: { title: { text: "best test accuracy" } } });
      var start = { iteration: 0, low: Number(job.params.low || 0), high: Number(job.params.high || 1) };
      var bracket = [start].concat(probes);
      plot(el.c2, [
        { x: bracket.map(function (p) { return p.iteration; }), y: bracket.map(function (p) { return p.low; }), mode: "lines+markers", name: "low (succeeds)" },
        { x: bracket.map(function (p) { return p.iteration; }), y: bracket.map(function (p) { return p.high; }), mode: "lines+markers", name: "high (fails)", fill: "tonexty" },
      ], { title: { text: "the bracket narrowing" }, xaxis: { title: { text: "search iteration" }, dtick: 1 }, yaxis: { title: { text: "LR" } } });
      var r = job.result;
      if (r && r.eta_star !== undefined) {
        var eta = r.eta_star;
        el.result.innerHTML = "η* = <strong id='eta-star'>" + fmt(eta) + "</strong> (bracket " + fmt(r.low) + " – " + fmt(r.high) + ") " +
          link("/policies/new/?kind=FIX&FIX__k0=" + eta, "Use η* as a fixed LR") + " " +
          link("/policies/new/?kind=TRI&TRI__k1=" + eta + "&TRI__k0=" + eta / 10, "Use η* as a cycle's top (TRI k1)");
      }
    },
    lr_grid: function () {
      var cells = ofType("cell").filter(function (c) { return c.eta_star > 0; });
      var traces = [{ x: cells.map(function (c) { return c.size; }), y: cells.map(function (c) { return c.eta_star; }),
        text: cells.map(function (c) { return c.depth + "×" + c.width; }), mode: "markers+text", textposition: "top center", name: "η*" }];
      var fit = job.result && job.result.fit;
      var failure = fit && fitFailure(fit);
      if (failure) {
        el.result.textContent = failure;
        el.result.classList.add("error-text");
      } else if (fit) {
        var sizes = cells.map(function (c) { return c.size; }).sort(function (a, b) { return a - b; });
        traces.push({ x: sizes, y: sizes.map(function (s) { return fit.C * Math.pow(s, -fit.p); }), mode: "lines", name: "fit C·(L·w)^−p" });
        el.result.innerHTML = "η* ≈ " + fmt(fit.C) + " · (depth·width)<sup>−" + fmt(fit.p) + "</sup>, p in [" + fmt(fit.p_ci[0]) + ", " + fmt(fit.p_ci[1]) + "] (95%), R² = " + fmt(fit.r2);
      } else if (job.result && job.result.fit_error) {
        el.result.textContent = job.result.fit_error;
      }
      plot(el.c1, traces, { title: { text: "η* against depth × width (log-log)" }, xaxis: { type: "log", title: { text: "depth × width" } }, yaxis: { type: "log", title: { text: "η*" } } });
      var probes = ofType("probe");
      plot(el.c2, [{ x: probes.map(function (p, i) { return i + 1; }), y: probes.map(function (p) { return p.lr; }), mode: "markers",
        marker: { color: probes.map(function (p) { return p.success ? "#1f8a4c" : "#c0392b"; }) }, text: probes.map(function (p) { return p.depth + "×" + p.width; }), name: "probes" }],
        { title: { text: "every probe (green: reached the threshold)" }, xaxis: { title: { text: "probe" } }, yaxis: { title: { text: "LR" } } });
    },
    lr_range: function () {
      var r = job.result;
      var steps = r && r.lrs ? r.lrs.map(function (lr, i) { return { lr: lr, loss: r.losses[i], smoothed: r.smoothed[i] }; }) : ofType("step");
      var shapes = [], labels = [];
      if (r && r.suggestions) {
        Object.keys(r.suggestions).forEach(function (k) {
          var v = r.suggestions[k];
          if (typeof v !== "number") { return; }
          shapes.push({ type: "line", x0: v, x1: v, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#8a5a12" } });
          labels.push({ x: Math.log10(v), y: 1 - 0.09 * labels.length, yref: "paper", text: k.replace(/_/g, " ") + " " + fmt(v),
                        showarrow: false, xanchor: "left", font: { size: 11, color: "#8a5a12" }, bgcolor: "rgba(255,255,255,0.8)" });
        });
        var c = r.cyclic || {};
        el.result.innerHTML = Object.keys(r.suggestions).map(function (k) { return k + ": <strong>" + fmt(r.suggestions[k]) + "</strong>"; }).join(" · ") +
          (c.k0 ? " " + link("/policies/new/?kind=TRI&TRI__k0=" + c.k0 + "&TRI__k1=" + c.k1, "Make a TRI policy from " + fmt(c.k0) + " to " + fmt(c.k1)) : "");
      }
      plot(el.c1, [
        { x: steps.map(function (s) { return s.lr; }), y: steps.map(function (s) { return s.loss; }), mode: "lines", name: "loss", opacity: 0.4 },
        { x: steps.map(function (s) { return s.lr; }), y: steps.map(function (s) { return s.smoothed; }), mode: "lines", name: "smoothed" },
      ], { title: { text: "loss against LR" }, xaxis: { type: "log", title: { text: "LR" } }, yaxis: rangeTestAxis(steps), shapes: shapes, annotations: labels });
      plot(el.c2, [{ y: steps.map(function (s) { return s.lr; }), mode: "lines", name: "LR" }],
        { title: { text: "LR per step" }, xaxis: { title: { text: "step" } }, yaxis: { type: "log", title: { text: "LR" } } });
    },
    meta_train: function () {
      var epochs = ofType("epoch");
      var x = [], y = [];
      epochs.forEach(function (e) { (e.lr_trace || []).forEach(function (p) { x.push(p[0]); y.push(p[1]); }); });
      plot(el.c1, [{ x: x, y: y, mode: "lines", name: "learned LR" }], { title: { text: "the LR MLR-SNet chose" }, xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: "LR" } } });
      plot(el.c2, [
        { x: epochs.map(function (e) { return e.epoch; }), y: epochs.map(function (e) { return e.test_acc; }), mode: "lines+markers", name: "test accuracy" },
        { x: epochs.map(function (e) { return e.epoch; }), y: epochs.map(function (e) { return e.train_loss; }), mode: "lines+markers", name: "train loss", yaxis: "y2" },
      ], { title: { text: "training with the learned LR" }, xaxis: { title: { text: "epoch" } }, yaxis: { title: { text: "accuracy" } }, yaxis2: { overlaying: "y", side: "right", title: { text: "loss" } } });
      el.save.hidden = !(job.status === "succeeded" && job.result && job.result.spec);
    },
    equivalence: function () {
      var r = job.result;
      var s = r && r.iterations ? null : ofType("step");
      function series(key) { return s ? s.map(function (d) { return d[key]; }) : r[key]; }
      var it = s ? s.map(function (d) { return d.iterations; }) : r.iterations;
      plot(el.c1, [
        { x: it, y: series("loss_a"), mode: "lines", name: "with weight decay" },
        { x: it, y: series("loss_b"), mode: "lines", name: "converted, without", line: { dash: "dash" } },
      ], { title: { text: "training loss: the two runs" }, xaxis: { title: { text: "iteration" } }, yaxis: { title: { text: "loss" } } });
      plot(el.c2, [
        { x: it, y: series("norm_a"), mode: "lines", name: "‖w‖ with weight decay" },
        { x: it, y: series("norm_b"), mode: "lines", name: "‖w‖ converted" },
        { x: it, y: series("max_prob_diff"), mode: "lines", name: "max |Δ prediction|", yaxis: "y2" },
      ], { title: { text: "same function, diverging weight norms" }, xaxis: { title: { text: "iteration" } },
           yaxis: { type: "log", title: { text: "weight norm" } }, yaxis2: { type: "log", overlaying: "y", side: "right", title: { text: "prediction gap" } } });
      if (r && r.max_prob_diff_overall !== undefined) {
        el.result.innerHTML = "largest prediction difference over all steps: <strong>" + fmt(r.max_prob_diff_overall) + "</strong>; final weight-norm ratio " +
          fmt(r.norm_b[r.norm_b.length - 1] / r.norm_a[r.norm_a.length - 1]);
      }
    },
  };

  function render() {
    el.status.textContent = job.status;
    el.status.className = "status status-" + job.status;
    if (job.error) { el.error.textContent = job.error; el.error.hidden = false; }
    (draw[job.kind] || function () {})();
    document.body.dataset.jobStatus = job.status;
    var cancel = document.getElementById("job-cancel");
    if (cancel && FINISHED[job.status]) { cancel.hidden = true; }
    document.body.dataset.jobEvents = String(events.size);
  }

  render();
  if (!FINISHED[job.status]) {
    var socket = arena.openSocket("/ws/jobs/" + job.id + "/", {
      onOpen: function () { el.live.textContent = "live"; },
      onMessage: function (msg) {
        if (msg.type === "history") {
          job = Object.assign({}, msg.job);
          msg.events.forEach(function (e) { events.set(e.seq, e); });
        } else if (msg.type === "event") {
          events.set(msg.event.seq, msg.event);
        } else if (msg.type === "status") {
          job = Object.assign({}, job, msg.job);
        }
        render();
        if (FINISHED[job.status]) { socket.stop(); el.live.textContent = ""; }
      },
    });
  }
})();
