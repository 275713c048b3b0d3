/* The composite editor: a list of stages, each with its own kind and fields,
 * that can be added, removed and reordered. It keeps the hidden JSON input of
 * a nested-spec parameter (PIECEWISE stages, SWITCH policies) in sync, and for
 * PIECEWISE also the `boundaries` field (one boundary before each stage after
 * the first). Field definitions come from the catalog JSON on the page. */
(function () {
  "use strict";
  var STAGE_GROUPS = { fixed: true, decaying: true, cyclic: true, restarts: true };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") { node.textContent = attrs[key]; } else { node.setAttribute(key, attrs[key]); }
    });
    (children || []).forEach(function (child) { node.appendChild(child); });
    return node;
  }

  function defaults(decl) {
    var spec = { kind: decl.kind };
    decl.params.forEach(function (p) { if (p.default !== null && p.default !== undefined) { spec[p.name] = p.default; } });
    return spec;
  }

  var editorCount = 0;

  function StageEditor(container, hiddenInput, options) {
    this.uid = "se" + (++editorCount);
    this.container = container;
    this.hidden = hiddenInput;
    this.catalog = options.catalog;
    this.boundariesInput = options.boundariesInput || null;
    this.onChange = options.onChange || function () {};
    this.kinds = this.catalog.filter(function (d) { return STAGE_GROUPS[d.group]; });
    this.byKind = {};
    var self = this;
    this.catalog.forEach(function (d) { self.byKind[d.kind] = d; });
    var stages = [];
    try { stages = JSON.parse(hiddenInput.value || "[]") || []; } catch (e) { stages = []; }
    if (!Array.isArray(stages)) { stages = []; }
    if (!stages.length) { stages = options.defaultStages || []; }
    this.stages = stages.map(function (s) { return Object.assign({}, s); });
    this.boundaries = this.boundariesInput ? this.readBoundaries() : [];
    while (this.boundariesInput && this.boundaries.length < this.stages.length - 1) {
      this.boundaries.push((this.boundaries[this.boundaries.length - 1] || 0) + 10);
    }
    this.render();
    this.sync(false);
  }

  StageEditor.prototype.readBoundaries = function () {
    var raw = (this.boundariesInput.value || "").trim();
    if (!raw) { return []; }
    return raw.split(/[,;]/).map(function (s) { return s.trim() === "" ? NaN : Number(s); });
  };

  StageEditor.prototype.sync = function (notify) {
    this.hidden.value = JSON.stringify(this.stages);
    if (this.boundariesInput) {
      // An empty boundary stays an empty entry, so the server names it instead of dropping it.
      this.boundariesInput.value = this.boundaries.slice(0, Math.max(this.stages.length - 1, 0))
        .map(function (b) { return Number.isFinite(b) ? String(b) : ""; }).join(", ");
    }
    if (notify !== false) { this.onChange(); }
  };

  StageEditor.prototype.move = function (index, delta) {
    var target = index + delta;
    if (target < 0 || target >= this.stages.length) { return; }
    var stage = this.stages.splice(index, 1)[0];
    this.stages.splice(target, 0, stage);
    this.render();
    this.sync();
  };

  StageEditor.prototype.remove = function (index) {
    if (this.stages.length <= 1) { return; }
    this.stages.splice(index, 1);
    if (this.boundariesInput) { this.boundaries.splice(Math.max(index - 1, 0), 1); }
    this.render();
    this.sync();
  };

  StageEditor.prototype.add = function () {
    var last = this.stages[this.stages.length - 1];
    this.stages.push(last ? Object.assign({}, last) : defaults(this.byKind.FIX));
    if (this.boundariesInput) {
      var previous = this.boundaries[this.stages.length - 3];
      this.boundaries[this.stages.length - 2] = (previous || 0) + 10;
    }
    this.render();
    this.sync();
  };

  StageEditor.prototype.paramInput = function (index, param) {
    var self = this;
    var stage = this.stages[index];
    var value = stage[param.name];
    var input;
    if (param.type === "choice") {
      input = el("select", {}, param.choices.map(function (c) { return el("option", { value: c, text: c }); }));
      input.value = value === undefined ? (param.default || param.choices[0]) : value;
    } else if (param.type === "float" || param.type === "int") {
      input = el("input", { type: "number", step: "any" });
      input.value = value === undefined || value === null ? "" : value;
    } else {
      input = el("input", { type: "text" });
      input.value = Array.isArray(value) ? value.join(", ") : (value || "");
    }
    input.dataset.stageParam = param.name;
    input.id = this.uid + "-" + index + "-" + param.name;
    input.addEventListener("input", function () {
      var raw = input.value.trim();
      if (raw === "") { delete stage[param.name]; }
      else if (param.type === "float" || param.type === "int") { stage[param.name] = Number(raw); }
      else if (param.type === "choice") { stage[param.name] = raw; }
      else { stage[param.name] = raw.split(/[,;]/).map(function (s) { return s.trim(); }).filter(Boolean).map(Number); }
      self.sync();
    });
    return el("div", { class: "param", "data-param": param.name }, [
      el("label", { text: param.name, for: input.id }), input, el("small", { class: "help", text: param.help || "" }),
      el("ul", { class: "errorlist live", "data-for": param.name }),
    ]);
  };

  StageEditor.prototype.render = function () {
    var self = this;
    this.container.innerHTML = "";
    this.stages.forEach(function (stage, index) {
      var decl = self.byKind[stage.kind] || self.byKind.FIX;
      var kindSelect = el("select", { class: "stage-kind" }, self.kinds.map(function (d) {
        return el("option", { value: d.kind, text: d.kind + " — " + d.label });
      }));
      kindSelect.value = decl.kind;
      kindSelect.id = self.uid + "-" + index + "-kind";
      kindSelect.addEventListener("change", function () {
        self.stages[index] = defaults(self.byKind[kindSelect.value]);
        self.render();
        self.sync();
      });
      var buttons = el("span", { class: "stage-buttons" }, [
        el("button", { type: "button", class: "small", "data-action": "up", title: "move up", text: "↑" }),
        el("button", { type: "button", class: "small", "data-action": "down", title: "move down", text: "↓" }),
        el("button", { type: "button", class: "small", "data-action": "remove", title: "remove", text: "✕" }),
      ]);
      buttons.addEventListener("click", function (event) {
        var action = event.target.dataset.action;
        if (action === "up") { self.move(index, -1); }
        if (action === "down") { self.move(index, 1); }
        if (action === "remove") { self.remove(index); }
      });
      var row = el("div", { class: "stage", "data-stage": String(index) }, [
        el("div", { class: "stage-head" }, [el("strong", { text: "Stage " + (index + 1) }), buttons]),
      ]);
      if (self.boundariesInput && index > 0) {
        var boundary = el("input", { type: "number", step: "any", class: "stage-boundary" });
        boundary.id = self.uid + "-" + index + "-boundary";
        boundary.value = Number.isFinite(self.boundaries[index - 1]) ? self.boundaries[index - 1] : "";
        boundary.addEventListener("input", function () {
          self.boundaries[index - 1] = boundary.value === "" ? NaN : Number(boundary.value);
          self.sync();
        });
        row.appendChild(el("div", { class: "param", "data-param": "boundary" }, [
          el("label", { text: "starts at t =", for: boundary.id }), boundary,
          el("ul", { class: "errorlist live", "data-for": "boundaries." + (index - 1) }),
        ]));
      }
      row.appendChild(el("div", { class: "param" }, [el("label", { text: "kind", for: kindSelect.id }), kindSelect]));
      decl.params.forEach(function (param) { row.appendChild(self.paramInput(index, param)); });
      self.container.appendChild(row);
    });
    var add = el("button", { type: "button", class: "add-stage", text: "+ Add stage" });
    add.addEventListener("click", function () { self.add(); });
    this.container.appendChild(add);
  };

  /* Show errors like "stages.1.k0" or "boundaries.0" inside the editor; returns the ones it could not place. */
  StageEditor.prototype.showErrors = function (paramName, errors) {
    var self = this;
    this.container.querySelectorAll("ul.errorlist.live").forEach(function (ul) { ul.innerHTML = ""; });
    this.container.querySelectorAll("[aria-invalid]").forEach(function (input) { input.removeAttribute("aria-invalid"); });
    var rest = {};
    Object.keys(errors).forEach(function (path) {
      var parts = path.split(".");
      var ul = null;
      if (parts[0] === paramName && parts.length >= 3) {
        var row = self.container.querySelector('.stage[data-stage="' + parts[1] + '"]');
        ul = row && row.querySelector('ul.errorlist[data-for="' + parts.slice(2).join(".") + '"]');
      } else if (parts[0] === "boundaries" && parts.length === 2) {
        ul = self.container.querySelector('ul.errorlist[data-for="' + path + '"]');
      } else if (path === "boundaries") {
        // About the list as a whole (e.g. how many): the message goes beside the editor, every boundary is marked.
        self.container.querySelectorAll("input.stage-boundary").forEach(function (input) {
          input.setAttribute("aria-invalid", "true");
        });
      }
      if (ul) {
        errors[path].forEach(function (m) { ul.appendChild(el("li", { text: m })); });
        var input = ul.parentNode.querySelector(":scope > input, :scope > select");
        if (input) { input.setAttribute("aria-invalid", "true"); }
      } else {
        rest[path] = errors[path];
      }
    });
    return rest;
  };

  window.StageEditor = StageEditor;
})();
