"""The policy editor in a real browser: the catalog picker, the composite editor and the preview's options."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser


def chart_state(page) -> dict:
    return page.evaluate(
        """() => { const c = document.getElementById('preview-chart');
                   return {spec: JSON.parse(c.dataset.spec || 'null'), traces: c.data.length,
                           shapes: (c.layout.shapes || []).map(s => s.x0), ytype: c.layout.yaxis.type}; }"""
    )


def test_a_composite_policy_is_built_stage_by_stage_with_its_boundaries_marked(stack, logged_in):
    page = logged_in
    page.goto(f"{stack.base_url}/policies/new/")
    page.click('[data-pick-kind="PIECEWISE"]')
    expect(page.locator("#id_kind")).to_have_value("PIECEWISE")
    stages = page.locator('fieldset[data-kind="PIECEWISE"] .stage')
    expect(stages).to_have_count(2)  # the declared default: SIN, then FIX from t = 10
    page.wait_for_function("() => (document.getElementById('preview-chart').layout.shapes || []).length === 1")
    assert chart_state(page)["shapes"] == [10]

    # Add a third stage, make it a cosine from t = 20, then move it up to the middle.
    page.click('fieldset[data-kind="PIECEWISE"] .add-stage')
    expect(stages).to_have_count(3)
    third = stages.nth(2)
    third.locator("select.stage-kind").select_option("COS")
    third.locator('.param[data-param="k0"] input').fill("0.01")
    third.locator('.param[data-param="k1"] input').fill("0.2")
    third.locator('.param[data-param="l"] input').fill("10")
    third.locator("input.stage-boundary").fill("20")
    page.wait_for_function(
        "() => { const s = JSON.parse(document.getElementById('preview-chart').dataset.spec || '{}');"
        " return s.stages && s.stages.length === 3 && s.stages[2].kind === 'COS' && s.boundaries[1] === 20; }"
    )
    assert chart_state(page)["shapes"] == [10, 20]
    third.locator('[data-action="up"]').click()
    page.wait_for_function(
        "() => JSON.parse(document.getElementById('preview-chart').dataset.spec).stages[1].kind === 'COS'"
    )

    # A bad stage value is shown inside that stage.
    stages.nth(1).locator('.param[data-param="k1"] input').fill("-1")
    expect(stages.nth(1).locator('ul.errorlist[data-for="k1"] li')).to_have_count(1)
    stages.nth(1).locator('.param[data-param="k1"] input').fill("0.2")
    expect(stages.nth(1).locator('ul.errorlist[data-for="k1"] li')).to_have_count(0)

    # Log scale and an overlay of a saved policy.
    page.check("#preview-log")
    page.wait_for_function("() => document.getElementById('preview-chart').layout.yaxis.type === 'log'")
    page.click("details.overlay summary")
    page.locator(".overlay-policy").first.check()
    page.wait_for_function("() => document.getElementById('preview-chart').data.length === 2")
    page.check('input[name=preview-axis][value="iteration"]')
    page.wait_for_function("() => document.getElementById('preview-chart').layout.shapes[0].x0 === 1000")
    screenshot(page, "policy-editor.png")

    page.fill("#id_name", "Browser composite")
    page.click("#policy-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Browser composite")
    spec = json.loads(page.locator("#policy-spec").text_content())
    assert [s["kind"] for s in spec["stages"]] == ["SIN", "COS", "FIX"]
    assert spec["boundaries"] == [10, 20]


def test_duplicate_opens_the_editor_on_a_copy(stack, logged_in):
    page = logged_in
    page.goto(f"{stack.base_url}/policies/")
    page.click("text=Step decay")
    page.click("text=Duplicate")
    expect(page.locator("#id_name")).to_have_value("Copy of Step decay")
    expect(page.locator("#id_kind")).to_have_value("STEP")
    page.wait_for_function(
        "() => { const c = document.getElementById('preview-chart'); return c.dataset.spec &&"
        " JSON.parse(c.dataset.spec).kind === 'STEP'; }"
    )
    page.fill("#id_STEP__gamma", "0.5")
    page.click("#policy-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("Copy of Step decay")
    assert json.loads(page.locator("#policy-spec").text_content())["gamma"] == 0.5
