/* The leaderboard: the Pareto chart, the weights box for the weighted score,
 * the column chooser (remembered in this browser), and a live refresh of the
 * board when a run of this workload finishes. */
(function () {
  "use strict";
  var container = document.getElementById("board");
  var rankSelect = document.getElementById("rank-select");
  var weightsBox = document.getElementById("weights-box");
  var HIDDEN_KEY = "arena.board.hiddenColumns";
  var hiddenStyle = document.createElement("style");
  document.head.appendChild(hiddenStyle);

  rankSelect.addEventListener("change", function () { weightsBox.hidden = rankSelect.value !== "score"; });

  function hiddenColumns() {
    try { return JSON.parse(localStorage.getItem(HIDDEN_KEY) || "[]"); } catch (e) { return []; }
  }

  function applyColumns() {
    var hidden = hiddenColumns();
    hiddenStyle.textContent = hidden.map(function (c) {
      return '#leaderboard [data-col="' + c.replace(/[^a-z0-9_]/gi, "") + '"] { display: none; }';
    }).join("\n");
    document.querySelectorAll("#column-chooser input[data-col]").forEach(function (box) {
      box.checked = hidden.indexOf(box.dataset.col) < 0;
    });
  }

  container.addEventListener("change", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("#column-chooser input[data-col]")) { return; }
    var hidden = hiddenColumns().filter(function (c) { return c !== box.dataset.col; });
    if (!box.checked) { hidden.push(box.dataset.col); }
    try { localStorage.setItem(HIDDEN_KEY, JSON.stringify(hidden)); } catch (e) { /* private mode: this page only */ }
    applyColumns();
  });

  function drawPareto() {
    var chart = document.getElementById("pareto-chart");
    if (!chart) { return; }
    var rows = JSON.parse(document.getElementById("board-rows").textContent);
    var front = JSON.parse(document.getElementById("board-pareto").textContent);
    var points = rows.filter(function (r) { return r.final_acc.mean !== null && r.total_seconds.mean !== null; });
    var onFront = points.filter(function (r) { return front.indexOf(r.policy) >= 0; })
      .sort(function (a, b) { return a.total_seconds.mean - b.total_seconds.mean; });
    var off = points.filter(function (r) { return front.indexOf(r.policy) < 0; });
    function trace(list, name, symbol) {
      return {
        x: list.map(function (r) { return r.total_seconds.mean; }),
        y: list.map(function (r) { return 100 * r.final_acc.mean; }),
        text: list.map(function (r) { return r.policy_name; }), mode: "markers+text", textposition: "top center",
        name: name, marker: { size: 10, symbol: symbol },
      };
    }
    Plotly.react(chart, [
      trace(off, "policy (mean over seeds)", "circle"),
      trace(onFront, "on the Pareto front", "diamond"),
      { x: onFront.map(function (r) { return r.total_seconds.mean; }), y: onFront.map(function (r) { return 100 * r.final_acc.mean; }),
        mode: "lines", name: "Pareto front", line: { dash: "dot" } },
    ], {
      margin: { t: 10, r: 10, b: 40, l: 60 },
      xaxis: { title: { text: "mean training seconds (each run's own)" } },
      yaxis: { title: { text: "mean final top-1 (%)" } },
      showlegend: true, legend: { orientation: "h", y: -0.2 },
    }, arena.plotConfig);
  }

  function refresh() {
    fetch(container.dataset.partialUrl, { credentials: "same-origin" }).then(function (r) { return r.text(); })
      .then(function (html) {
        container.innerHTML = html;
        applyColumns();
        drawPareto();
        container.dataset.refreshed = String(Number(container.dataset.refreshed || 0) + 1);
      });
  }

  applyColumns();
  drawPareto();
  arena.openSocket("/ws/leaderboard/" + encodeURIComponent(container.dataset.workload) + "/", {
    onMessage: function (msg) { if (msg.type === "changed") { refresh(); } },
  });
})();
