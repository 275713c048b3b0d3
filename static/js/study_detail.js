/* A study's progress grid (policy × seed, per base-LR scale) filled in live,
 * and its comparison chart redrawn as runs finish. */
(function () {
  "use strict";
  var initial = JSON.parse(document.getElementById("study-initial").textContent);
  var study = initial.study;
  var cells = {};
  initial.progress.cells.forEach(function (c) { cells[c.run] = c; });
  var grid = document.getElementById("study-grid");
  var progressText = document.getElementById("study-progress");
  var chart = document.getElementById("study-chart");
  chart.dataset.url = "/api/compare/";
  var FINISHED = { succeeded: true, failed: true, diverged: true, cancelled: true, stopped: true };

  function render() {
    var rows = {};
    Object.keys(cells).forEach(function (id) {
      var c = cells[id];
      var key = c.policy_name + (c.lr_scale !== 1 ? " ×" + c.lr_scale : "");
      (rows[key] = rows[key] || {})[c.seed] = c;
    });
    var seeds = study.seeds;
    var html = "<table class='grid study-grid'><thead><tr><th>policy</th>" +
      seeds.map(function (s) { return "<th>seed " + s + "</th>"; }).join("") + "</tr></thead><tbody>";
    Object.keys(rows).sort().forEach(function (key) {
      html += "<tr><td>" + key.replace(/</g, "&lt;") + "</td>";
      seeds.forEach(function (seed) {
        var c = rows[key][seed];
        if (!c) { html += "<td></td>"; return; }
        var label = c.status === "succeeded" ? arena.fmt(c.final_acc, 4)
          : c.status === "running" ? c.epochs_done + "/" + c.epochs : c.status;
        html += "<td class='cell status-" + c.status + "' data-run='" + c.run + "' data-status='" + c.status + "'>" +
          "<a href='/runs/" + c.run + "/'>" + label + "</a></td>";
      });
      html += "</tr>";
    });
    grid.innerHTML = html + "</tbody></table>";
    var all = Object.keys(cells).map(function (id) { return cells[id]; });
    var done = all.filter(function (c) { return FINISHED[c.status]; }).length;
    progressText.textContent = done + " of " + all.length + " runs finished";
    document.body.dataset.studyFinished = String(done);
  }

  function redrawChart() {
    arenaCompare.load(chart, { study: study.id, x: "epoch" }).then(function (data) {
      arenaCompare.draw(chart, data, { smoothing: 0 });
    });
  }
  var redrawSoon = arena.debounce(redrawChart, 500);

  render();
  redrawChart();
  arena.openSocket("/ws/studies/" + study.id + "/", {
    onMessage: function (msg) {
      if (msg.type === "progress") {  // on every (re)connect: the grid as the database has it
        var changed = msg.cells.some(function (c) { return !cells[c.run] || cells[c.run].status !== c.status; });
        msg.cells.forEach(function (c) { cells[c.run] = c; });
        render();
        if (changed) { redrawSoon(); }
      } else if (msg.type === "cell") {
        var before = cells[msg.cell.run];
        cells[msg.cell.run] = Object.assign({}, before || {}, msg.cell);
        render();
        if (FINISHED[msg.cell.status] && !(before && FINISHED[before.status])) { redrawSoon(); }
      }
    },
  });
})();
