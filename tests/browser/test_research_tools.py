"""The η* search in a browser: start it from its form, watch the bracket narrow, use η* in a policy."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_an_eta_star_search_runs_live_and_prefills_a_policy(stack, logged_in):
    page = logged_in
    page.goto(f"{stack.base_url}/tools/new/lr_search/")
    page.select_option("#id_workload", "gauss2-mlp")
    page.fill("#id_high", "8")
    page.fill("#id_iterations", "4")
    page.fill("#id_epochs", "2")
    page.fill("#id_depth", "1")
    page.fill("#id_width", "16")
    page.click("#job-form button[type=submit]")
    page.wait_for_url("**/tools/*/")
    page.wait_for_function("() => document.body.dataset.jobStatus === 'succeeded'", timeout=120_000)
    expect(page.locator("#eta-star")).to_be_visible()
    low, high = page.evaluate("[0, 1].map(i => document.getElementById('job-chart-2').data[i].y)")
    assert len(low) == 5 and (low[0], high[0]) == (0, 8)  # the starting bracket, then one per probe
    assert high[-1] - low[-1] == pytest.approx(8 / 2**4)
    expect(page.locator("#job-cancel")).to_be_hidden()
    eta = float(page.locator("#eta-star").text_content())
    screenshot(page, "eta-star.png")

    page.click("text=Use η* as a fixed LR")
    expect(page.locator("#id_kind")).to_have_value("FIX")
    assert float(page.input_value("#id_FIX__k0")) == pytest.approx(eta, rel=1e-3)
