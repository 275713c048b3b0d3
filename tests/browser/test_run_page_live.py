"""A new user's path in a real browser: log in, create a policy, queue a run, watch it train."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.stack import DEMO_PASSWORD, DEMO_USER, ROOT

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture
def page(stack):
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: run `make test`, which installs it")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1360, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(30_000)
        yield page
        context.close()
        browser.close()


def test_a_user_creates_a_policy_queues_a_run_and_watches_the_chart_grow(stack, page):
    base = stack.base_url
    page.goto(f"{base}/login/")
    page.fill("#id_username", DEMO_USER)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("LR Arena")

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

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "run-page.png"), full_page=True)
