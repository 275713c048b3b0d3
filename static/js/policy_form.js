/* The policy editor: show the chosen kind's fields and redraw the LR curve,
 * computed by the server's trainer.schedules, as the parameters change.
 * Options: log scale, epochs or iterations on x, and saved policies overlaid. */
(function () {
  "use strict";
  var form = document.getElementById("policy-form");
  var kindSelect = document.getElementById("id_kind");
  var unitSelect = document.getElementById("id_unit");
  var chart = document.getElementById("preview-chart");
  var epochsInput = document.getElementById("preview-epochs");
  var stepsInput = document.getElementById("preview-steps");
  var logInput = document.getElementById("preview-log");
  var statusLine = document.getElementById("preview-status");
  var assumptionLine = document.getElementById("preview-assumption");
  var catalog = JSON.parse(document.getElementById("catalog").textContent);
  var saved = JSON.parse(document.getElementById("saved-policies").textContent);
  var byKind = {};
  catalog.forEach(function (d) { byKind[d.kind] = d; });
  var editors = {};   // kind -> StageEditor
  var overlayCache = {};
  var requestNumber = 0;
  var lastCurve = null;

  function activeFieldset() {
    return form.querySelector('fieldset.kind-params[data-kind="' + kindSelect.value + '"]');
  }

  function xAxisUnit() {
    return form.ownerDocument.querySelector("input[name=preview-axis]:checked").value;
  }

  function stepsPerEpoch() { return Math.max(1, Math.round(Number(stepsInput.value) || 100)); }

  function showKind() {
    form.querySelectorAll("fieldset.kind-params").forEach(function (fs) {
      fs.hidden = fs.dataset.kind !== kindSelect.value;
    });
    var units = (activeFieldset().dataset.units || "epoch,iteration").split(",");
    Array.prototype.forEach.call(unitSelect.options, function (option) {
      option.disabled = units.indexOf(option.value) < 0;
    });
    if (units.indexOf(unitSelect.value) < 0) { unitSelect.value = units[0]; }
    setupStageEditors(activeFieldset());
  }

  function setupStageEditors(fs) {
    var kind = fs.dataset.kind;
    if (editors[kind] || kindSelect.disabled) { return; }
    fs.querySelectorAll(".param[data-nested] input[type=hidden]").forEach(function (hidden) {
      var param = hidden.closest(".param").dataset.param;
      var boundaries = null;
      if (kind === "PIECEWISE") {
        var boundaryParam = fs.querySelector('.param[data-param="boundaries"]');
        boundaries = boundaryParam.querySelector("input");
        // The stage editor shows one boundary per stage; errors about the list as a whole stay visible here.
        boundaryParam.querySelectorAll(":scope > label, :scope > input, :scope > small").forEach(function (node) {
          node.hidden = true;
        });
      }
      var decl = byKind[kind].params.filter(function (p) { return p.name === param; })[0];
      editors[kind] = new window.StageEditor(hidden.closest(".param").querySelector(".stage-editor"), hidden, {
        catalog: catalog, boundariesInput: boundaries, defaultStages: decl.default || [], onChange: refreshSoon,
      });
      editors[kind].param = param;
    });
  }

  function readValue(input) {
    var raw = input.value.trim();
    if (raw === "") { return undefined; }
    if (input.type === "hidden") { try { return JSON.parse(raw); } catch (e) { return raw; } }
    if (input.type === "number") { return Number(raw); }
    if (input.tagName === "SELECT") { return raw; }
    // An empty entry is sent as null, so the server names it ("boundaries.1: is empty").
    return raw.split(/[,;]/).map(function (s) {
      s = s.trim();
      return s === "" ? null : (Number.isNaN(Number(s)) ? s : Number(s));
    });
  }

  function currentSpec() {
    var spec = { kind: kindSelect.value, unit: unitSelect.value };
    activeFieldset().querySelectorAll(":scope > .param").forEach(function (param) {
      var input = param.querySelector(":scope > input, :scope > select");
      var value = input ? readValue(input) : undefined;
      if (value !== undefined) { spec[param.dataset.param] = value; }
    });
    return spec;
  }

  function showErrors(errors) {
    var fs = activeFieldset();
    fs.querySelectorAll(":scope > .param > ul.errorlist.live").forEach(function (ul) { ul.innerHTML = ""; });
    fs.querySelectorAll(":scope > .param > [aria-invalid]").forEach(function (input) { input.removeAttribute("aria-invalid"); });
    var flat = {};
    Object.keys(errors || {}).forEach(function (path) { flat[path.replace(/^spec\./, "")] = errors[path]; });
    var editor = editors[kindSelect.value];
    if (editor) { flat = editor.showErrors(editor.param, flat); }
    var general = [];
    Object.keys(flat).forEach(function (name) {
      var ul = fs.querySelector(':scope > .param > ul.errorlist.live[data-for="' + name.split(".")[0] + '"]');
      flat[name].forEach(function (message) {
        if (ul) {
          var input = ul.parentNode.querySelector(":scope > input:not([type=hidden]), :scope > select");
          if (input) { input.setAttribute("aria-invalid", "true"); }
          var li = document.createElement("li");
          li.textContent = name.indexOf(".") > 0 ? name + ": " + message : message;
          ul.appendChild(li);
        } else {
          general.push(name + ": " + message);
        }
      });
    });
    return general;
  }

  function toX(ts) {
    var factor = xAxisUnit() === "iteration" ? stepsPerEpoch() : 1;
    return ts.map(function (t) { return t * factor; });
  }

  function boundaryShapes(spec) {
    if (spec.kind !== "PIECEWISE" || !Array.isArray(spec.boundaries)) { return []; }
    var perEpoch = spec.unit === "iteration" ? 1 / stepsPerEpoch() : 1;
    var factor = xAxisUnit() === "iteration" ? stepsPerEpoch() : 1;
    return spec.boundaries.map(function (b) {
      var x = b * perEpoch * factor;
      return { type: "line", x0: x, x1: x, yref: "paper", y0: 0, y1: 1, line: { dash: "dot", color: "#b7791f", width: 1.5 } };
    });
  }

  function draw() {
    if (!lastCurve) { return; }
    var traces = [{ x: toX(lastCurve.t), y: lastCurve.lr, mode: "lines", name: "this policy", line: { width: 2.5 } }];
    overlayIds().forEach(function (id) {
      var curve = overlayCache[overlayKey(id)];
      if (curve) {
        traces.push({ x: toX(curve.t), y: curve.lr, mode: "lines", name: curve.name, line: { dash: "dash", width: 1.5 } });
      }
    });
    var layout = {
      margin: { t: 10, r: 10, b: 40, l: 60 },
      xaxis: { title: { text: xAxisUnit() === "iteration" ? "iteration" : "epoch" } },
      yaxis: { title: { text: "learning rate" }, type: logInput.checked ? "log" : "linear" },
      shapes: boundaryShapes(lastCurve.spec),
      legend: { orientation: "h", y: 1.1 },
      showlegend: traces.length > 1,
    };
    Plotly.react(chart, traces, arena.readable(layout), arena.plotConfig);
    chart.dataset.points = String(lastCurve.t.length);
    chart.dataset.spec = JSON.stringify(lastCurve.spec);
    chart.dataset.traces = String(traces.length);
  }

  function overlayIds() {
    return Array.prototype.map.call(document.querySelectorAll(".overlay-policy:checked"), function (box) {
      return Number(box.value);
    });
  }

  function overlayKey(id) { return id + "@" + epochsInput.value + "/" + stepsPerEpoch(); }

  function fetchOverlays() {
    var pending = overlayIds().filter(function (id) { return !overlayCache[overlayKey(id)]; });
    return Promise.all(pending.map(function (id) {
      var policy = saved.filter(function (p) { return p.id === id; })[0];
      var key = overlayKey(id);
      return arena.postJSON(chart.dataset.previewUrl, {
        spec: policy.spec, epochs: Number(epochsInput.value) || 30, steps_per_epoch: stepsPerEpoch(),
      }).then(function (res) { if (res.ok) { overlayCache[key] = Object.assign({ name: policy.name }, res.data); } });
    }));
  }

  function refresh() {
    var mine = ++requestNumber;
    var epochs = Number(epochsInput.value) || 30;
    var body = { spec: currentSpec(), epochs: epochs, steps_per_epoch: stepsPerEpoch() };
    arena.postJSON(chart.dataset.previewUrl, body).then(function (res) {
      if (mine !== requestNumber) { return; } // a newer request is on its way
      if (res.ok) {
        showErrors({});
        lastCurve = res.data;
        statusLine.textContent = "";
        statusLine.classList.remove("error-text");
        assumptionLine.hidden = !res.data.assumption;
        assumptionLine.textContent = res.data.assumption ? "Preview assumes: " + res.data.assumption : "";
        fetchOverlays().then(draw);
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
  form.addEventListener("change", function (event) { if (event.target.tagName === "SELECT" && event.target !== kindSelect) { refreshSoon(); } });
  epochsInput.addEventListener("input", refreshSoon);
  stepsInput.addEventListener("input", refreshSoon);
  logInput.addEventListener("change", draw);
  document.querySelectorAll("input[name=preview-axis]").forEach(function (r) { r.addEventListener("change", draw); });
  document.querySelectorAll(".overlay-policy").forEach(function (box) {
    box.addEventListener("change", function () { fetchOverlays().then(draw); });
  });
  document.querySelectorAll("[data-pick-kind]").forEach(function (card) {
    card.addEventListener("click", function () {
      kindSelect.value = card.dataset.pickKind;
      showKind();
      refresh();
      kindSelect.scrollIntoView({ block: "center" });
    });
  });
  showKind();
  refresh();
})();
