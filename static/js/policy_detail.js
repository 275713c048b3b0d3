/* The saved policy's LR curve over the epochs and workload chosen for the next run.
 * A policy measured in iterations needs the workload's iterations per epoch. */
(function () {
  "use strict";
  var chart = document.getElementById("preview-chart");
  var statusLine = document.getElementById("preview-status");
  var spec = JSON.parse(document.getElementById("policy-spec").textContent);
  var stepsByWorkload = JSON.parse(document.getElementById("workload-steps").textContent);
  var epochsInput = document.getElementById("id_epochs");
  var workloadInput = document.getElementById("id_workload");
  var requestNumber = 0;

  function stepsPerEpoch() {
    return (workloadInput && stepsByWorkload[workloadInput.value]) || undefined;
  }

  function errorText(data) {
    var errors = (data && data.errors) || {};
    var lines = Object.keys(errors).map(function (path) {
      return path.replace(/^spec\./, "") + ": " + [].concat(errors[path]).join(" ");
    });
    return lines.length ? lines.join("; ") : (data && data.detail) || "the server did not answer";
  }

  function showStatus(text, isError) {
    statusLine.textContent = text;
    statusLine.classList.toggle("error-text", Boolean(isError));
  }

  function refresh() {
    var mine = ++requestNumber;
    var typed = epochsInput ? epochsInput.value.trim() : "";
    var epochs = typed === "" ? 30 : Number(typed);  // what was typed, so a bad value gets the server's message
    var body = { spec: spec, epochs: epochs };
    if (stepsPerEpoch()) { body.steps_per_epoch = stepsPerEpoch(); }
    arena.postJSON(chart.dataset.previewUrl, body).then(function (res) {
      if (mine !== requestNumber) { return; }
      if (!res.ok) {
        Plotly.purge(chart);
        showStatus("Could not draw the LR curve: " + errorText(res.data), true);
        return;
      }
      var perEpoch = spec.unit === "iteration" && body.steps_per_epoch;
      showStatus(perEpoch ? "t is in iterations: " + perEpoch + " per epoch on " + workloadInput.value + "." : "", false);
      Plotly.react(chart, [{ x: res.data.t, y: res.data.lr, mode: "lines", name: "LR" }], arena.readable({
        margin: { t: 10, r: 10, b: 40, l: 60 },
        xaxis: { title: { text: "epoch" } },
        yaxis: { title: { text: "learning rate" }, rangemode: "tozero" },
      }), arena.plotConfig);
    }, function () {
      if (mine === requestNumber) { showStatus("Could not draw the LR curve: the server did not answer.", true); }
    });
  }
  var refreshSoon = arena.debounce(refresh, 200);
  if (epochsInput) { epochsInput.addEventListener("input", refreshSoon); }
  if (workloadInput) { workloadInput.addEventListener("change", refresh); }
  refresh();
})();
