/* The run page: history from the database (rendered into the page and sent
 * again when the websocket connects), then live epochs, and between them the
 * epoch under way ("progress" messages, every few seconds at most: iterations
 * done and the recent training loss). Epoch numbers make duplicates harmless
 * and gaps visible: a gap triggers a full redraw from the rows we hold, and a
 * reconnect refills them from the database. */
(function () {
  "use strict";
  var initial = JSON.parse(document.getElementById("run-initial").textContent);
  var run = initial.run;
  var rows = new Map(); // epoch number -> metrics
  var live = { x: [], y: [] }; // the training loss within epochs, as reported: x in epochs
  var progress = null; // the latest report of the epoch under way
  var lastDrawn = 0;
  var socket = null;

  var el = {
    status: document.getElementById("run-status"),
    progress: document.getElementById("run-progress"),
    progressText: document.getElementById("run-progress-text"),
    eta: document.getElementById("run-eta"),
    liveLoss: document.getElementById("run-live-loss"),
    liveLossNote: document.getElementById("run-live-loss-note"),
    device: document.getElementById("run-device"),
    worker: document.getElementById("run-worker"),
    finalAcc: document.getElementById("run-final-acc"),
    bestAcc: document.getElementById("run-best-acc"),
    error: document.getElementById("run-error"),
    live: document.getElementById("live-indicator"),
    loss: document.getElementById("chart-loss"),
    acc: document.getElementById("chart-acc"),
    lr: document.getElementById("chart-lr"),
  };

  var FINISHED = { succeeded: true, failed: true, diverged: true, cancelled: true };
  var margin = { t: 10, r: 10, b: 40, l: 60 };
  var WAITING = "waiting for the first epoch";

  /* A chart with nothing to show says so, instead of axes with made-up ranges. */
  function layout(ytitle, empty, extra) {
    var base = {
      margin: margin,
      xaxis: { title: { text: "epoch" }, range: [0, Math.max(run.epochs, 1)] },
      yaxis: { title: { text: ytitle } },
      legend: { orientation: "h", y: 1.12 },
    };
    Object.assign(base, extra || {});
    if (empty) {
      base.yaxis = Object.assign({}, base.yaxis, { showticklabels: false, showgrid: false, zeroline: false });
      base.annotations = [{
        text: FINISHED[run.status] ? "no epoch was recorded" : WAITING,
        showarrow: false, xref: "paper", yref: "paper", x: 0.5, y: 0.5, font: { size: 14 },
      }];
    }
    return arena.readable(base);
  }

  function series(sorted, key) {
    return { x: sorted.map(function (r) { return r.epoch; }), y: sorted.map(function (r) { return r[key]; }) };
  }

  function lrPoints(sorted) {
    var x = [], y = [];
    sorted.forEach(function (r) {
      (r.lr_trace || [[r.epoch - 1, r.lr_first]]).forEach(function (p) { x.push(p[0]); y.push(p[1]); });
    });
    return { x: x, y: y };
  }

  function redraw() {
    var sorted = Array.from(rows.values()).sort(function (a, b) { return a.epoch - b.epoch; });
    var line = { mode: "lines+markers" };
    var none = sorted.length === 0;
    Plotly.react(el.loss, [
      Object.assign({ name: "train loss" }, line, series(sorted, "train_loss")),
      Object.assign({ name: "test loss" }, line, series(sorted, "test_loss")),
      { // the training loss within epochs, as reported every few seconds
        name: "live", mode: "lines", line: { dash: "dot" }, x: live.x.slice(), y: live.y.slice(),
        hovertemplate: "train loss %{y:.4~g} at epoch %{x:.2f}<extra>live</extra>" },
    ], layout("loss", none && live.x.length === 0), arena.plotConfig);
    Plotly.react(el.acc, [
      Object.assign({ name: "train acc." }, line, series(sorted, "train_acc")),
      Object.assign({ name: "test acc." }, line, series(sorted, "test_acc")),
    ], layout("accuracy", none, { yaxis: { title: { text: "accuracy" }, range: [0, 1] } }), arena.plotConfig);
    Plotly.react(el.lr, [Object.assign({ name: "LR applied", mode: "lines" }, lrPoints(sorted))],
      layout("learning rate", none, { yaxis: { title: { text: "learning rate" }, rangemode: "tozero" } }), arena.plotConfig);
    lastDrawn = sorted.length ? sorted[sorted.length - 1].epoch : 0;
    document.body.dataset.epochsShown = String(sorted.length);
  }

  function extend(row) {
    var e = row.epoch;
    Plotly.extendTraces(el.loss, { x: [[e], [e]], y: [[row.train_loss], [row.test_loss]] }, [0, 1]);
    Plotly.extendTraces(el.acc, { x: [[e], [e]], y: [[row.train_acc], [row.test_acc]] }, [0, 1]);
    var lr = lrPoints([row]);
    Plotly.extendTraces(el.lr, { x: [lr.x], y: [lr.y] }, [0]);
    lastDrawn = e;
    document.body.dataset.epochsShown = String(rows.size);
  }

  function addRow(row) {
    if (rows.has(row.epoch)) { return; }
    rows.set(row.epoch, row);
    // The first epoch replaces the "waiting" notes: a full draw.
    if (rows.size > 1 && row.epoch === lastDrawn + 1 && rows.size === row.epoch) { extend(row); } else { redraw(); }
  }

  function epochsDone() { return Math.max(run.epochs_done || 0, rows.size); }

  /* A report counts while its epoch is the one under way; a newer one replaces it. */
  function addProgress(report) {
    if (!report || !report.epoch || report.epoch <= epochsDone()) { return; }
    if (progress && (progress.epoch > report.epoch ||
        (progress.epoch === report.epoch && progress.iteration >= report.iteration))) { return; }
    progress = report;
    if (report.loss === null || report.loss === undefined || !report.steps_per_epoch) { return; }
    var x = report.epoch - 1 + report.iteration / report.steps_per_epoch;
    live.x.push(x);
    live.y.push(report.loss);
    if (live.x.length === 1 && rows.size === 0) {
      redraw();
    } else {
      Plotly.extendTraces(el.loss, { x: [[x]], y: [[report.loss]] }, [2]);
    }
  }

  function current() {
    return progress && !FINISHED[run.status] && progress.epoch === epochsDone() + 1 ? progress : null;
  }

  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    if (seconds < 90) { return seconds + " s"; }
    var minutes = Math.round(seconds / 60);
    if (minutes < 90) { return Math.floor(seconds / 60) + " min " + (seconds % 60) + " s"; }
    return Math.floor(minutes / 60) + " h " + (minutes % 60) + " min";
  }

  function showProgress(done) {
    var now = current();
    var steps = (now && now.steps_per_epoch) || Number(el.progress.dataset.stepsPerEpoch) || 0;
    var within = now ? now.iteration : 0;
    if (steps) {
      el.progress.max = run.epochs * steps;
      el.progress.value = Math.min(done, run.epochs) * steps + within;
    } else {
      el.progress.max = run.epochs;
      el.progress.value = done;
    }
    el.progressText.textContent = "epoch " + done + " of " + run.epochs +
      (now ? " · epoch " + now.epoch + ": iteration " + within + " of " + steps : "");
    document.body.dataset.iterationsDone = String(el.progress.value);

    var last = rows.get(Math.max.apply(null, [0].concat(Array.from(rows.keys()))));
    if (now && now.loss !== null && now.loss !== undefined) {
      el.liveLoss.textContent = arena.fmt(now.loss);
      el.liveLossNote.textContent = "recent iterations of epoch " + now.epoch +
        (now.epoch_loss !== null && now.epoch_loss !== undefined ? "; epoch mean so far " + arena.fmt(now.epoch_loss) : "");
    } else if (last) {
      el.liveLoss.textContent = arena.fmt(last.train_loss);
      el.liveLossNote.textContent = "epoch " + last.epoch + " mean";
    } else {
      el.liveLoss.textContent = "–";
      el.liveLossNote.textContent = run.status === "running" ? "reported every few seconds once training starts" : "";
    }
    return now;
  }

  function eta(done, now) {
    var seconds = Array.from(rows.values()).map(function (r) { return r.seconds; }).filter(Number.isFinite);
    var perEpoch = seconds.length ? seconds.reduce(function (a, b) { return a + b; }, 0) / seconds.length : null;
    if (now && now.iteration > 0 && now.seconds > 0) {
      var perIteration = now.seconds / now.iteration;
      var thisEpoch = (now.steps_per_epoch - now.iteration) * perIteration;
      var later = Math.max(0, run.epochs - done - 1) * (perEpoch || now.steps_per_epoch * perIteration);
      return thisEpoch + later;
    }
    return perEpoch === null ? null : perEpoch * (run.epochs - done);
  }

  function showRun() {
    var done = epochsDone();
    el.status.textContent = run.status;
    el.status.className = "status status-" + run.status;
    var now = showProgress(done);
    el.device.textContent = run.device || "–";
    el.worker.textContent = run.worker || "–";
    var summary = run.summary || {};
    el.finalAcc.textContent = arena.fmt(summary.final_acc);
    el.bestAcc.textContent = arena.fmt(summary.best_acc);
    if (run.error) { el.error.textContent = run.error; el.error.hidden = false; }
    var diverged = document.getElementById("run-diverged");
    if (diverged && summary.diverged_reason) {
      diverged.firstChild.textContent = "Diverged: " + summary.diverged_reason + " (";
      diverged.hidden = false;
    }
    if (FINISHED[run.status]) {
      el.eta.textContent = run.summary && run.summary.total_seconds ? "took " + arena.fmt(run.summary.total_seconds, 1) + " s" : "";
      var cancel = document.getElementById("cancel-form");
      if (cancel) { cancel.hidden = true; }
    } else {
      var left = eta(done, now);
      el.eta.textContent = left !== null ? "ETA " + duration(left)
        : run.status === "queued" ? "waiting for a worker" : "starting…";
    }
    document.body.dataset.runStatus = run.status;
  }

  function onMessage(msg) {
    if (msg.type === "history") {
      run = msg.run;
      msg.epochs.forEach(addRow);
      addProgress(run.progress);
    } else if (msg.type === "epoch") {
      run.epochs_done = Math.max(run.epochs_done || 0, msg.epochs_done);
      addRow(msg.epoch);
    } else if (msg.type === "progress") {
      addProgress(msg.progress);
    } else if (msg.type === "status") {
      // A new attempt (a worker took the run over) restarts the epoch from its checkpoint.
      if (msg.run.attempt !== run.attempt) { progress = null; }
      run = msg.run;
      addProgress(run.progress);
    }
    showRun();
    if (FINISHED[run.status] && socket) { socket.stop(); el.live.textContent = "run " + run.status; }
  }

  initial.epochs.forEach(function (row) { rows.set(row.epoch, row); });
  redraw();
  addProgress(run.progress);
  showRun();
  if (FINISHED[run.status]) {
    el.live.textContent = "run " + run.status;
  } else {
    socket = arena.openSocket("/ws/runs/" + run.id + "/", {
      onOpen: function () { el.live.textContent = "live"; },
      onMessage: onMessage,
      onClose: function () { if (!FINISHED[run.status]) { el.live.textContent = "reconnecting…"; } },
    });
  }
})();
