/* The leaderboard: the Pareto chart, the weights box for the weighted score,
 * and a live refresh of the board when a run of this workload finishes. */
(function () {
  "use strict";
  var container = document.getElementById("board");
  var rankSelect = document.getElementById("rank-select");
  var weightsBox = document.getElementById("weights-box");

  rankSelect.addEventListener("change", function () { weightsBox.hidden = rankSelect.value !== "score"; });

  function drawPareto() {
    var chart = document.getElementById("pareto-chart");
    if (!chart) { return; }
    var rows = JSON.parse(document.getElementById("board-rows").textContent);
    var front = JSON.parse(document.getElementById("board-pareto").textContent);
    var points = rows.filter(function (r) { return r.final_acc.mean !== null && r.total_seconds.mean !== null; });
    var onFront = points.filter(function (r) { return front.indexOf(r.policy) >= 0; })
      .sort(function (a, b) { return a.total_seconds.mean - b.total_seconds.mean; });
    Plotly.react(chart, [
      { x: points.map(function (r) { return r.total_seconds.mean; }), y: points.map(function (r) { return r.final_acc.mean; }),
        text: points.map(function (r) { return r.policy_name; }), mode: "markers+text", textposition: "top center",
        name: "policies", marker: { size: 9 } },
      { x: onFront.map(function (r) { return r.total_seconds.mean; }), y: onFront.map(function (r) { return r.final_acc.mean; }),
        mode: "lines", name: "Pareto front", line: { dash: "dot" } },
    ], {
      margin: { t: 10, r: 10, b: 40, l: 60 },
      xaxis: { title: { text: "mean training seconds" } },
      yaxis: { title: { text: "mean final top-1" } },
      showlegend: false,
    }, arena.plotConfig);
  }

  function refresh() {
    fetch(container.dataset.partialUrl, { credentials: "same-origin" }).then(function (r) { return r.text(); })
      .then(function (html) {
        container.innerHTML = html;
        drawPareto();
        container.dataset.refreshed = String(Number(container.dataset.refreshed || 0) + 1);
      });
  }

  drawPareto();
  arena.openSocket("/ws/leaderboard/" + encodeURIComponent(container.dataset.workload) + "/", {
    onMessage: function (msg) { if (msg.type === "changed") { refresh(); } },
  });
})();
