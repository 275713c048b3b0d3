/* The suite view: one step line per policy, rho(tau) from tau = 1 to tau_max. */
(function () {
  "use strict";
  var chart = document.getElementById("profile-chart");
  var source = document.getElementById("profile-data");
  if (!chart || !source) { return; }
  var data = JSON.parse(source.textContent);
  var traces = data.policies.map(function (p) {
    return {
      x: p.profile.map(function (pt) { return pt[0]; }),
      y: p.profile.map(function (pt) { return pt[1]; }),
      mode: "lines", line: { shape: "hv" },
      name: p.policy_name + " (" + p.area.toFixed(3) + ")",
    };
  });
  Plotly.react(chart, traces, {
    margin: { t: 10, r: 10, b: 45, l: 60 },
    xaxis: { title: { text: "τ: cost within this factor of the best policy's" }, range: [1, data.tau_max] },
    yaxis: { title: { text: "share of boards" }, range: [0, 1.05] },
    legend: { title: { text: "policy (area)" } },
  }, arena.plotConfig);
})();
