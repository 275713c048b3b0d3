"""Within an epoch the run page moves: the bar, the ETA and the training loss, every few seconds.

A 1-epoch mnist-lenet run (600 iterations: several seconds on a CPU) used to show
"epoch 0 of 1", an empty bar, no ETA and empty axes until it ended.
"""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

SAMPLE = """() => {
  const bar = document.getElementById('run-progress');
  const lr = document.getElementById('chart-lr');
  const loss = document.getElementById('run-live-loss');
  return {
    status: document.body.dataset.runStatus,
    epochs: Number(document.body.dataset.epochsShown),
    value: bar.value, max: bar.max,
    text: document.getElementById('run-progress-text').textContent,
    eta: document.getElementById('run-eta').textContent,
    loss: loss ? loss.textContent : null,
    lrNote: ((lr.layout && lr.layout.annotations) || []).map(a => a.text).join(' '),
  };
}"""


def test_the_bar_eta_and_loss_move_before_the_first_epoch_ends(stack, logged_in):
    page = logged_in
    api = stack.api(stack.token())
    policy = api.post(
        f"{stack.base_url}/api/policies/", json={"name": "progress FIX", "spec": {"kind": "FIX", "k0": 0.05}}
    )
    assert policy.status_code == 201, policy.text
    queued = api.post(
        f"{stack.base_url}/api/runs/", json={"policy": policy.json()["id"], "workload": "mnist-lenet", "epochs": 1}
    )
    assert queued.status_code == 201, queued.text
    run_id = queued.json()["id"]

    page.goto(f"{stack.base_url}/runs/{run_id}/")
    # The configuration it trains with, by name.
    expect(page.locator("#config-optimizer")).to_have_text("SGD: momentum = 0.9, weight_decay = 0.0005, nesterov = no")
    expect(page.locator("#config-batch-size")).to_contain_text("100 (600 iterations per epoch)")
    expect(page.locator("#config-policy")).to_contain_text("FIX(k0 = 0.05)")

    samples = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        sample = page.evaluate(SAMPLE)
        samples.append(sample)
        if sample["status"] in ("succeeded", "failed", "diverged", "cancelled"):
            break
        time.sleep(0.1)
    assert samples[-1]["status"] == "succeeded", samples[-5:]

    within = [s for s in samples if s["status"] == "running" and s["epochs"] == 0 and 0 < s["value"] < s["max"]]
    assert len({s["value"] for s in within}) >= 2, f"the bar did not move within the epoch: {samples[::20]}"
    moving = within[-1]
    assert moving["max"] == 600 and "epoch 1: iteration" in moving["text"] and "of 600" in moving["text"]
    assert moving["eta"].startswith("ETA "), moving
    assert float(moving["loss"]) > 0, moving  # a number, not "–"
    # Before the first epoch the LR chart says it is waiting instead of drawing empty axes.
    assert all("waiting for the first epoch" in s["lrNote"] for s in within), within[-1]

    done = page.evaluate(SAMPLE)
    assert done["value"] == done["max"] == 600 and done["text"] == "epoch 1 of 1", done
    assert "waiting" not in done["lrNote"]
    screenshot(page, "run-progress.png")
