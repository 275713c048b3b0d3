/* The saved policy's LR curve over the epochs chosen for the next run. */
(function () {
  "use strict";
  var chart = document.getElementById("preview-chart");
  var spec = JSON.parse(document.getElementById("policy-spec").textContent);
  var epochsInput = document.getElementById("id_epochs");

  function refresh() {
    var epochs = Number(epochsInput && epochsInput.value) || 30;
    arena.postJSON(chart.dataset.previewUrl, { spec: spec, epochs: epochs }).then(function (res) {
      if (!res.ok) { return; }
      Plotly.react(chart, [{ x: res.data.t, y: res.data.lr, mode: "lines", name: "LR" }], {
        margin: { t: 10, r: 10, b: 40, l: 60 },
        xaxis: { title: { text: "epoch" } },
        yaxis: { title: { text: "learning rate" }, rangemode: "tozero" },
      }, arena.plotConfig);
    });
  }
  if (epochsInput) { epochsInput.addEventListener("input", arena.debounce(refresh, 200)); }
  refresh();
})();
