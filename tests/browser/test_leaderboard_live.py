"""The leaderboard updates in place when a run of its workload finishes."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def test_the_board_gains_a_row_live_when_a_run_finishes(stack, logged_in):
    page = logged_in
    page.goto(f"{stack.base_url}/leaderboard/?workload=digits-mlp&epochs=2&rank=final_acc")
    page.evaluate("window.__sameDocument = true")
    expect(page.locator("#leaderboard tbody tr")).to_have_count(1)  # the "no finished runs" row

    api = stack.api(stack.token())
    policy = api.post(
        f"{stack.base_url}/api/policies/", json={"name": "Live board entry", "spec": {"kind": "FIX", "k0": 0.05}}
    ).json()
    run = api.post(
        f"{stack.base_url}/api/runs/", json={"policy": policy["id"], "workload": "digits-mlp", "epochs": 2, "seed": 5}
    )
    assert run.status_code == 201, run.text

    row = page.locator(f'#leaderboard tr[data-policy="{policy["id"]}"]')
    expect(row).to_be_visible(timeout=120_000)
    expect(row).to_contain_text("Live board entry")
    assert page.evaluate("window.__sameDocument") is True  # updated in place, not reloaded
    page.wait_for_function(
        "() => document.getElementById('pareto-chart') && document.getElementById('pareto-chart').data"
    )
    # The column chooser hides a column, and the policy column stays in view when the table scrolls.
    page.click("#column-chooser summary")
    page.uncheck('#column-chooser input[data-col="cv"]')
    expect(page.locator('#leaderboard th[data-col="cv"]')).to_be_hidden()
    expect(page.locator('#leaderboard th[data-col="final_acc"]')).to_be_visible()
    assert page.evaluate("getComputedStyle(document.querySelector('#leaderboard td.sticky-col')).position") == "sticky"
    expect(row.locator('td[data-col="final_acc"]')).to_contain_text("%")
    screenshot(page, "leaderboard.png")
