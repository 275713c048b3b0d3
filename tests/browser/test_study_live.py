"""A study page fills its grid live and draws the seeds' mean ± std with the LR beneath."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_the_study_grid_fills_in_and_the_comparison_shows_each_policys_lr(stack, logged_in):
    page = logged_in
    api = stack.api(stack.token())
    base = stack.base_url
    ids = [
        api.post(f"{base}/api/policies/", json={"name": name, "spec": spec}).json()["id"]
        for name, spec in [
            ("grid-fix", {"kind": "FIX", "k0": 0.04}),
            ("grid-exp", {"kind": "EXP", "k0": 0.1, "gamma": 0.5}),
        ]
    ]
    study = api.post(
        f"{base}/api/studies/",
        json={"name": "grid", "workload": "digits-mlp", "policies": ids, "seeds": [0, 1], "epochs": 3},
    ).json()
    page.goto(f"{base}/studies/{study['id']}/")
    expect(page.locator("#study-grid td.cell")).to_have_count(4)
    page.wait_for_function("() => document.body.dataset.studyFinished === '4'", timeout=120_000)
    expect(page.locator('#study-grid td.cell[data-status="succeeded"]')).to_have_count(4)

    page.wait_for_function(
        "() => { const c = document.getElementById('study-chart');"
        " return c.data && c.data.filter(t => t.yaxis === 'y3').length === 2"
        " && c.data.filter(t => t.yaxis === 'y3')[0].x.length === 3; }"
    )
    lr = page.evaluate(
        "() => Object.fromEntries(document.getElementById('study-chart').data"
        ".filter(t => t.yaxis === 'y3').map(t => [t.name, t.y]))"
    )
    assert lr["grid-fix LR"] == pytest.approx([0.04, 0.04, 0.04])
    # EXP halves the LR every epoch; the per-epoch mean falls by the same factor.
    exp = lr["grid-exp LR"]
    assert exp[1] / exp[0] == pytest.approx(0.5, rel=1e-6) and exp[2] / exp[1] == pytest.approx(0.5, rel=1e-6)
