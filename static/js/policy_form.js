/* The policy editor: show the chosen kind's fields and redraw the LR curve,
 * computed by the server's trainer.schedules, as the parameters change. */
(function () {
  "use strict";
  var form = document.getElementById("policy-form");
  var kindSelect = document.getElementById("id_kind");
  var chart = document.getElementById("preview-chart");
  var epochsInput = document.getElementById("preview-epochs");
  var statusLine = document.getElementById("preview-status");
  var requestNumber = 0;

  function activeFieldset() {
    return form.querySelector('fieldset.kind-params[data-kind="' + kindSelect.value + '"]');
  }

  function showKind() {
    form.querySelectorAll("fieldset.kind-params").forEach(function (fs) {
      fs.hidden = fs.dataset.kind !== kindSelect.value;
    });
  }

  function readValue(input) {
    var raw = input.value.trim();
    if (raw === "") { return undefined; }
    if (input.type === "number") { return Number(raw); }
    return raw.split(/[,;]/).map(function (s) { return s.trim(); }).filter(Boolean).map(Number);
  }

  function currentSpec() {
    var spec = { kind: kindSelect.value };
    activeFieldset().querySelectorAll(".param").forEach(function (param) {
      var value = readValue(param.querySelector("input"));
      if (value !== undefined) { spec[param.dataset.param] = value; }
    });
    return spec;
  }

  function showErrors(errors) {
    var fs = activeFieldset();
    fs.querySelectorAll("ul.errorlist.live").forEach(function (ul) { ul.innerHTML = ""; });
    var general = [];
    Object.keys(errors || {}).forEach(function (path) {
      var name = path.replace(/^spec\./, "");
      var ul = fs.querySelector('ul.errorlist.live[data-for="' + name + '"]');
      errors[path].forEach(function (message) {
        if (ul) {
          var li = document.createElement("li");
          li.textContent = message;
          ul.appendChild(li);
        } else {
          general.push(name + ": " + message);
        }
      });
    });
    return general;
  }

  function draw(curve) {
    var trace = { x: curve.t, y: curve.lr, mode: "lines", name: "LR", line: { width: 2 } };
    var layout = {
      margin: { t: 10, r: 10, b: 40, l: 60 },
      xaxis: { title: { text: "epoch" } },
      yaxis: { title: { text: "learning rate" }, rangemode: "tozero" },
    };
    Plotly.react(chart, [trace], layout, arena.plotConfig);
    chart.dataset.points = String(curve.t.length);
    chart.dataset.spec = JSON.stringify(curve.spec);
  }

  function refresh() {
    var mine = ++requestNumber;
    var epochs = Number(epochsInput.value) || 30;
    arena.postJSON(chart.dataset.previewUrl, { spec: currentSpec(), epochs: epochs }).then(function (res) {
      if (mine !== requestNumber) { return; } // a newer request is on its way
      if (res.ok) {
        showErrors({});
        draw(res.data);
        statusLine.textContent = "";
        statusLine.classList.remove("error-text");
      } else {
        var general = showErrors(res.data.errors);
        statusLine.textContent = general.length ? general.join("; ") : "Fix the highlighted fields to see the curve.";
        statusLine.classList.add("error-text");
      }
    });
  }

  var refreshSoon = arena.debounce(refresh, 200);
  kindSelect.addEventListener("change", function () { showKind(); refresh(); });
  form.addEventListener("input", function (event) { if (event.target !== kindSelect) { refreshSoon(); } });
  epochsInput.addEventListener("input", refreshSoon);
  showKind();
  refresh();
})();
