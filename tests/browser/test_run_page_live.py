"""A new user's path in a real browser: log in, create a policy, queue a run, watch it train."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_a_user_creates_a_policy_queues_a_run_and_watches_the_chart_grow(stack, logged_in):
    page = logged_in
    base = stack.base_url

    # The policy form: pick TRI, the preview draws the server's curve.
    page.goto(f"{base}/policies/new/")
    page.fill("#id_name", "Browser triangle")
    page.select_option("#id_kind", "TRI")
    page.fill("#id_TRI__k0", "0.01")
    page.fill("#id_TRI__k1", "0.1")
    page.fill("#id_TRI__l", "5")
    page.wait_for_function(
        "() => { const c = document.getElementById('preview-chart');"
        " return c.dataset.spec && JSON.parse(c.dataset.spec).kind === 'TRI' && JSON.parse(c.dataset.spec).l === 5; }"
    )
    lr = page.evaluate("document.getElementById('preview-chart').data[0].y")
    assert min(lr) == pytest.approx(0.01) and max(lr) == pytest.approx(0.1, rel=1e-2)

    # A bad value shows an error beside its field, and the curve waits for a fix.
    page.fill("#id_TRI__l", "-2")
    expect(page.locator('ul.errorlist[data-for="l"] li').first).to_be_visible()
    page.fill("#id_TRI__l", "5")
    expect(page.locator('ul.errorlist[data-for="l"] li')).to_have_count(0)
    page.click("text=Create policy")
    expect(page.locator("h1")).to_contain_text("Browser triangle")

    # Queue a run from the policy page and watch it.
    page.select_option("#id_workload", "digits-mlp")
    page.fill("#id_epochs", "40")
    page.fill("#id_seed", "3")
    page.click("#run-form button[type=submit]")
    page.wait_for_url("**/runs/*/")

    samples = []
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        status, shown = page.evaluate("[document.body.dataset.runStatus, Number(document.body.dataset.epochsShown)]")
        samples.append((status, shown))
        if status in ("succeeded", "failed", "diverged"):
            break
        time.sleep(0.05)
    assert samples[-1] == ("succeeded", 40), samples[-10:]
    growing = [shown for status, shown in samples if status == "running" and 0 < shown < 40]
    assert len(set(growing)) >= 2, f"the chart did not visibly grow while the run trained: {samples}"
    points = page.evaluate("document.getElementById('chart-acc').data[1].x.length")
    assert points == 40
    expect(page.locator("#run-progress-text")).to_have_text("epoch 40 of 40")
    expect(page.locator("#run-status")).to_have_text("succeeded")

    screenshot(page, "run-page.png")
