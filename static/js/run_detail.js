/* The run page: history from the database (rendered into the page and sent
 * again when the websocket connects), then live epochs. Epoch numbers make
 * duplicates harmless and gaps visible: a gap triggers a full redraw from the
 * rows we hold, and a reconnect refills them from the database. */
(function () {
  "use strict";
  var initial = JSON.parse(document.getElementById("run-initial").textContent);
  var run = initial.run;
  var rows = new Map(); // epoch number -> metrics
  var lastDrawn = 0;
  var socket = null;

  var el = {
    status: document.getElementById("run-status"),
    progress: document.getElementById("run-progress"),
    progressText: document.getElementById("run-progress-text"),
    eta: document.getElementById("run-eta"),
    device: document.getElementById("run-device"),
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

  function layout(ytitle, extra) {
    return Object.assign({
      margin: margin,
      xaxis: { title: { text: "epoch" }, range: [0, Math.max(run.epochs, 1)] },
      yaxis: { title: { text: ytitle } },
      legend: { orientation: "h", y: 1.12 },
    }, extra || {});
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
    Plotly.react(el.loss, [
      Object.assign({ name: "train loss" }, line, series(sorted, "train_loss")),
      Object.assign({ name: "test loss" }, line, series(sorted, "test_loss")),
    ], arena.readable(layout("loss")), arena.plotConfig);
    Plotly.react(el.acc, [
      Object.assign({ name: "train acc." }, line, series(sorted, "train_acc")),
      Object.assign({ name: "test acc." }, line, series(sorted, "test_acc")),
    ], arena.readable(layout("accuracy", { yaxis: { title: { text: "accuracy" }, range: [0, 1] } })), arena.plotConfig);
    Plotly.react(el.lr, [Object.assign({ name: "LR applied", mode: "lines" }, lrPoints(sorted))],
      arena.readable(layout("learning rate")), arena.plotConfig);
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
    if (row.epoch === lastDrawn + 1 && rows.size === row.epoch) { extend(row); } else { redraw(); }
  }

  function showRun() {
    var done = Math.max(run.epochs_done || 0, rows.size);
    el.status.textContent = run.status;
    el.status.className = "status status-" + run.status;
    el.progress.max = run.epochs;
    el.progress.value = done;
    el.progressText.textContent = "epoch " + done + " of " + run.epochs;
    el.device.textContent = run.device || "–";
    var summary = run.summary || {};
    el.finalAcc.textContent = arena.fmt(summary.final_acc);
    el.bestAcc.textContent = arena.fmt(summary.best_acc);
    if (run.error) { el.error.textContent = run.error; el.error.hidden = false; }
    var diverged = document.getElementById("run-diverged");
    if (diverged && summary.diverged_reason) {
      diverged.firstChild.textContent = "Diverged: " + summary.diverged_reason + " (";
      diverged.hidden = false;
    }
    var seconds = Array.from(rows.values()).map(function (r) { return r.seconds; }).filter(Number.isFinite);
    if (FINISHED[run.status]) {
      el.eta.textContent = run.summary && run.summary.total_seconds ? "took " + arena.fmt(run.summary.total_seconds, 1) + " s" : "";
      var cancel = document.getElementById("cancel-form");
      if (cancel) { cancel.hidden = true; }
    } else if (seconds.length) {
      var mean = seconds.reduce(function (a, b) { return a + b; }, 0) / seconds.length;
      el.eta.textContent = "ETA " + Math.max(0, Math.round(mean * (run.epochs - done))) + " s";
    } else {
      el.eta.textContent = run.status === "queued" ? "waiting for a worker" : "";
    }
    document.body.dataset.runStatus = run.status;
  }

  function onMessage(msg) {
    if (msg.type === "history") {
      run = msg.run;
      msg.epochs.forEach(addRow);
    } else if (msg.type === "epoch") {
      run.epochs_done = Math.max(run.epochs_done || 0, msg.epochs_done);
      addRow(msg.epoch);
    } else if (msg.type === "status") {
      run = msg.run;
    }
    showRun();
    if (FINISHED[run.status] && socket) { socket.stop(); el.live.textContent = "run " + run.status; }
  }

  initial.epochs.forEach(function (row) { rows.set(row.epoch, row); });
  redraw();
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
