/* The study form says how many runs it will queue: policies × seeds (× base-LR scales). */
(function () {
  "use strict";
  var form = document.getElementById("study-form");
  var line = document.getElementById("study-run-count");
  var seedsInput = document.getElementById("id_seeds");
  var robustness = document.getElementById("id_robustness");

  function plural(n, one, many) { return n + " " + (n === 1 ? one : many); }

  function seeds() {
    var seen = {};
    seedsInput.value.split(/[,;]/).forEach(function (s) {
      s = s.trim();
      if (/^\d+$/.test(s)) { seen[Number(s)] = true; }
    });
    return Object.keys(seen).length;
  }

  function update() {
    var policies = form.querySelectorAll("input[name=policies]:checked").length;
    var scales = robustness && robustness.checked ? Number(line.dataset.lrScales) : 1;
    var runs = policies * seeds() * scales;
    var text = "This study will queue " + plural(runs, "run", "runs") + ": " + plural(policies, "policy", "policies") +
      " × " + plural(seeds(), "seed", "seeds") + (scales > 1 ? " × " + scales + " base-LR scales" : "") + ".";
    var max = Number(line.dataset.maxRuns);
    if (max && runs > max) { text += " That is more than the limit of " + max + "."; }
    line.textContent = text;
    line.classList.toggle("error-text", Boolean(max && runs > max));
    line.hidden = false;
  }

  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
