"""The dashboard as a new user meets it: every page says what went wrong, and where."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def reference_policy_id(stack, name: str) -> int:
    api = stack.api(stack.token())
    results = api.get(f"{stack.base_url}/api/policies/", params={"published": "true", "limit": 100}).json()["results"]
    return next(p["id"] for p in results if p["name"] == name)


def curve_points(page) -> int:
    return page.evaluate(
        "() => { const c = document.getElementById('preview-chart');"
        " return c.data && c.data.length ? c.data[0].y.length : 0; }"
    )


def test_a_policy_in_iterations_draws_its_curve_and_says_why_when_it_cannot(stack, logged_in):
    page = logged_in
    pk = reference_policy_id(stack, "LRBench LeNet default (INV)")
    page.goto(f"{stack.base_url}/policies/{pk}/")
    page.wait_for_function(
        "() => { const c = document.getElementById('preview-chart'); return c.data && c.data.length; }"
    )
    assert curve_points(page) > 1
    expect(page.locator("#preview-status")).not_to_have_class(re.compile("error-text"))

    page.fill("#id_epochs", "0")  # the preview refuses 0 epochs: the card says so instead of staying blank
    expect(page.locator("#preview-status")).to_contain_text("Could not draw the LR curve")
    assert curve_points(page) == 0

    page.fill("#id_epochs", "4")
    page.select_option("#id_workload", "digits-mlp")
    page.wait_for_function(
        "() => { const c = document.getElementById('preview-chart');"
        " return c.data && c.data.length && Math.max(...c.data[0].x) === 4; }"
    )
    expect(page.locator("#preview-status")).to_contain_text("45 per epoch")  # ceil(1437 / 32) on digits-mlp


def piecewise_with_three_stages(page, stack):
    page.goto(f"{stack.base_url}/policies/new/")
    page.click('[data-pick-kind="PIECEWISE"]')
    stages = page.locator('fieldset[data-kind="PIECEWISE"] .stage')
    page.click('fieldset[data-kind="PIECEWISE"] .add-stage')
    expect(stages).to_have_count(3)
    return stages


def test_a_stage_that_starts_before_the_one_above_it_is_marked_in_the_preview_and_on_create(stack, logged_in):
    page = logged_in
    stages = piecewise_with_three_stages(page, stack)
    third_boundary = stages.nth(2).locator("input.stage-boundary")
    third_boundary.fill("5")  # stage 2 starts at 10
    expect(third_boundary).to_have_attribute("aria-invalid", "true")
    message = stages.nth(2).locator('ul.errorlist[data-for="boundaries.1"]')
    expect(message).to_be_visible()
    expect(message).to_contain_text("greater than the one before it (10)")
    expect(stages.nth(1).locator("input.stage-boundary")).not_to_have_attribute("aria-invalid", "true")

    page.fill("#id_name", "Out of order")
    page.click("#policy-form button[type=submit]")
    expect(page.locator("h1")).to_have_text("New policy")  # nothing saved
    reloaded = page.locator('fieldset[data-kind="PIECEWISE"] .stage').nth(2)
    expect(reloaded.locator("input.stage-boundary")).to_have_value("5")
    expect(reloaded.locator('ul.errorlist[data-for="boundaries.1"]')).to_contain_text("greater than the one before it")
    expect(reloaded.locator("input.stage-boundary")).to_have_attribute("aria-invalid", "true")


def test_an_empty_stage_boundary_asks_for_a_number(stack, logged_in):
    page = logged_in
    stages = piecewise_with_three_stages(page, stack)
    stages.nth(1).locator("input.stage-boundary").fill("")
    message = stages.nth(1).locator('ul.errorlist[data-for="boundaries.0"]')
    expect(message).to_have_text("is empty: enter a number")
    expect(page.locator("#policy-form")).not_to_contain_text("NoneType")


def test_publishing_asks_first_and_does_nothing_when_declined(stack, logged_in):
    page = logged_in
    api = stack.api(stack.token())
    pk = api.post(f"{stack.base_url}/api/policies/", json={"name": "To publish", "spec": {"kind": "FIX", "k0": 0.01}})
    pk = pk.json()["id"]
    page.goto(f"{stack.base_url}/policies/{pk}/")
    asked = []

    def decline(dialog):
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", decline)
    page.click("text=Publish to the shared leaderboard")
    expect(page.locator("text=Publish to the shared leaderboard")).to_be_visible()
    assert asked and "Publish “To publish”" in asked[0]
    assert api.get(f"{stack.base_url}/api/policies/{pk}/").json()["published"] is False

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("text=Publish to the shared leaderboard")
    expect(page.locator("button", has_text="Unpublish")).to_be_visible()
    assert api.get(f"{stack.base_url}/api/policies/{pk}/").json()["published"] is True


def test_cancelling_a_run_asks_first(stack, logged_in):
    page = logged_in
    api = stack.api(stack.token())
    spec = {"kind": "FIX", "k0": 0.01}
    policy = api.post(f"{stack.base_url}/api/policies/", json={"name": "To cancel", "spec": spec})
    run = api.post(
        f"{stack.base_url}/api/runs/",
        json={"policy": policy.json()["id"], "workload": "digits-mlp", "epochs": 500, "seed": 0},
    ).json()
    page.goto(f"{stack.base_url}/runs/{run['id']}/")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("#cancel-form button")
    expect(page.locator("#cancel-form")).to_be_visible()
    assert asked == [f"Cancel run #{run['id']}? Training stops; the epochs recorded so far are kept."]
    assert api.get(f"{stack.base_url}/api/runs/{run['id']}/").json()["status"] in ("queued", "running")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#cancel-form button")
    expect(page.locator("#run-status")).to_have_text("cancelled", timeout=60_000)


def test_the_study_form_says_how_many_runs_it_will_queue(stack, logged_in):
    page = logged_in
    page.goto(f"{stack.base_url}/studies/new/")
    count = page.locator("#study-run-count")
    expect(count).to_have_text("This study will queue 0 runs: 0 policies × 3 seeds.")
    page.locator("input[name=policies]").nth(0).check()
    page.locator("input[name=policies]").nth(1).check()
    expect(count).to_have_text("This study will queue 6 runs: 2 policies × 3 seeds.")
    page.fill("#id_seeds", "0")
    page.check("#id_robustness")
    expect(count).to_have_text("This study will queue 10 runs: 2 policies × 1 seed × 5 base-LR scales.")


def test_pages_load_without_missing_files(stack, logged_in):
    page = logged_in
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.goto(f"{stack.base_url}/policies/")
    page.wait_for_load_state("networkidle")
    assert missing == []
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(stack.base_url + icon).ok
    expect(page.locator("footer a", has_text="API docs")).to_have_attribute("href", "/api/docs/")


def finished_job(stack, kind: str, params: dict) -> dict:
    api = stack.api(stack.token())
    job = api.post(f"{stack.base_url}/api/jobs/", json={"kind": kind, "params": params})
    assert job.status_code == 201, job.text
    deadline = time.monotonic() + 180
    while True:
        state = api.get(f"{stack.base_url}/api/jobs/{job.json()['id']}/").json()
        if state["status"] in ("succeeded", "failed", "cancelled"):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.5)


def test_the_range_test_plots_loss_on_a_clipped_log_axis_with_labelled_suggestions(stack, logged_in):
    job = finished_job(stack, "lr_range", {"workload": "gauss2-mlp", "steps": 40, "max_lr": 100.0})
    assert job["status"] == "succeeded", job["error"]
    page = logged_in
    page.goto(f"{stack.base_url}/tools/{job['id']}/")
    page.wait_for_function("() => { const c = document.getElementById('job-chart-1'); return c.layout; }")
    axis, labels = page.evaluate(
        "() => { const l = document.getElementById('job-chart-1').layout;"
        " return [l.yaxis, (l.annotations || []).map(a => a.text)]; }"
    )
    assert axis["type"] == "log"
    smoothed = [v for v in job["result"]["smoothed"] if v and v > 0]
    assert 10 ** axis["range"][1] <= 4 * smoothed[0] * 1.25 * 1.001 < max(smoothed) * 1.25  # the blow-up is clipped
    named = [k for k, v in job["result"]["suggestions"].items() if isinstance(v, float)]
    assert named and [label.split(" ")[0] for label in labels] == [k.split("_")[0] for k in named]
    assert any(label.startswith("valley ") for label in labels)


def test_a_flat_eta_star_grid_says_the_fit_failed_instead_of_printing_float_noise(stack, logged_in):
    # One search step per network: every η* is the first midpoint, so the power law has nothing to fit.
    params = {"workload": "gauss2-mlp", "depths": [1], "widths": [4, 8, 16], "iterations": 1, "epochs": 1, "high": 0.2}
    job = finished_job(stack, "lr_grid", params)
    assert job["status"] == "succeeded", job["error"]
    page = logged_in
    page.goto(f"{stack.base_url}/tools/{job['id']}/")
    result = page.locator("#job-result")
    if job["result"].get("fit"):
        expect(result).to_contain_text("The power-law fit failed")
        expect(result).not_to_contain_text("e-1")
    else:  # the search itself found no η*: the server's reason is shown
        expect(result).to_have_text(job["result"]["fit_error"])


def test_a_right_hand_y_axis_is_not_clipped(stack, logged_in):
    job = finished_job(stack, "equivalence", {"spec": {"kind": "FIX", "k0": 0.1}, "iterations": 10})
    assert job["status"] == "succeeded", job["error"]
    page = logged_in
    page.goto(f"{stack.base_url}/tools/{job['id']}/")
    page.wait_for_function("() => document.querySelector('#job-chart-2 .y2tick text')")
    ticks, chart = page.evaluate(
        "() => [Array.from(document.querySelectorAll('#job-chart-2 .y2tick text, #job-chart-2 .g-y2title text'))"
        ".map(t => t.getBoundingClientRect().right),"
        " document.querySelector('#job-chart-2 svg.main-svg').getBoundingClientRect().right]"
    )
    assert ticks and max(ticks) <= chart  # the right axis's labels and title inside the chart, not cut off


def test_any_runs_can_be_picked_from_a_filtered_table_and_compared(stack, logged_in):
    api = stack.api(stack.token())
    base = stack.base_url
    ids = [
        api.post(f"{base}/api/policies/", json={"name": name, "spec": {"kind": "FIX", "k0": k0}}).json()["id"]
        for name, k0 in [("pick-a", 0.02), ("pick-b", 0.05)]
    ]
    study = api.post(
        f"{base}/api/studies/",
        json={"name": "to pick from", "workload": "digits-mlp", "policies": ids, "seeds": [0], "epochs": 1},
    ).json()
    deadline = time.monotonic() + 120
    while True:
        cells = api.get(f"{base}/api/studies/{study['id']}/").json()["progress"]["cells"]
        if not any(c["status"] in ("queued", "running") for c in cells):
            break
        assert time.monotonic() < deadline, cells
        time.sleep(0.5)

    page = logged_in
    page.goto(f"{base}/compare/")
    expect(page.locator("#compare-status")).to_contain_text("Tick runs in the table below")
    page.select_option("#id_study", str(study["id"]))
    page.click("#run-picker button[name=filter]")
    rows = page.locator("#run-picker tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("to pick from")
    page.select_option("#id_policy", label="pick-a")
    page.click("#run-picker button[name=filter]")
    expect(rows).to_have_count(1)
    rows.first.locator("input[name=runs]").check()
    page.select_option("#id_policy", label="pick-b")  # the first pick stays selected while the table changes
    page.click("#run-picker button[name=filter]")
    expect(rows).to_have_count(1)
    rows.first.locator("input[name=runs]").check()
    page.click("#compare-selected")
    page.wait_for_url("**/compare/?*runs=*")
    page.wait_for_function(
        "() => { const c = document.getElementById('compare-chart'); return c && c.dataset.series === '2'; }"
    )
    names = page.evaluate(
        "() => document.getElementById('compare-chart').data.filter(t => t.showlegend !== false).map(t => t.name)"
    )
    assert sorted(n.split(" ")[0] for n in names) == ["pick-a", "pick-b"]
