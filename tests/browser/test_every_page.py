"""Every main page, with data in it: no horizontal overflow at 420 px, legends clear of
the panels, and no serious or critical accessibility violations (axe-core)."""

from __future__ import annotations

import re
import time

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import screenshot
from tests.stack import DEMO_PASSWORD, DEMO_USER

pytestmark = pytest.mark.browser

NARROW = {"width": 420, "height": 900}


@pytest.fixture(scope="module")
def data(stack):
    """A finished study (two policies, long names) and its runs, made through the API."""
    api = stack.api(stack.token())
    base = stack.base_url
    ids = [
        api.post(f"{base}/api/policies/", json={"name": name, "spec": spec}).json()["id"]
        for name, spec in [
            ("A rather long policy name: cosine from 0.05", {"kind": "COS", "k0": 0.001, "k1": 0.05, "l": 2}),
            ("Another long policy name: fixed at 0.03", {"kind": "FIX", "k0": 0.03}),
        ]
    ]
    # 3 epochs: test_leaderboard_live expects the (digits-mlp, 2 epochs) board to start empty
    study = api.post(
        f"{base}/api/studies/",
        json={"name": "every page", "workload": "digits-mlp", "policies": ids, "seeds": [0], "epochs": 3},
    ).json()
    job = api.post(
        f"{base}/api/jobs/", json={"kind": "lr_range", "params": {"workload": "gauss2-mlp", "steps": 30}}
    ).json()
    deadline = time.monotonic() + 180
    while True:
        cells = api.get(f"{base}/api/studies/{study['id']}/").json()["progress"]["cells"]
        job_status = api.get(f"{base}/api/jobs/{job['id']}/").json()["status"]
        if job_status in ("succeeded", "failed") and all(
            c["status"] in ("succeeded", "failed", "diverged", "cancelled") for c in cells
        ):
            break
        assert time.monotonic() < deadline, (cells, job_status)
        time.sleep(1)
    return {"policy": ids[0], "study": study["id"], "run": cells[0]["run"], "job": job["id"]}


def main_pages(data) -> list[str]:
    return [
        "/",
        "/policies/",
        "/policies/new/",
        f"/policies/{data['policy']}/",
        f"/policies/{data['policy']}/edit/",
        "/catalog/",
        "/runs/",
        "/runs/new/",
        f"/runs/{data['run']}/",
        "/studies/",
        "/studies/new/",
        f"/studies/{data['study']}/",
        f"/compare/?study={data['study']}",
        "/leaderboard/",
        "/leaderboard/profile/",
        "/tools/",
        f"/tools/{data['job']}/",
        "/teams/",
        "/teams/demo/",
        "/login/",
    ]


def log_in(page, base: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", DEMO_USER)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("LR Arena")


@pytest.fixture
def narrow(browser, stack):
    context = browser.new_context(viewport=NARROW)
    page = context.new_page()
    page.set_default_timeout(30_000)
    log_in(page, stack.base_url)
    yield page
    context.close()


def settle(page) -> None:
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # charts draw after their data arrives; this only lets them finish


def overflow(page) -> int:
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def test_no_main_page_is_wider_than_a_narrow_screen(stack, data, narrow):
    wide = {}
    for path in main_pages(data):
        narrow.goto(stack.base_url + path)
        settle(narrow)
        if overflow(narrow) > 0:
            wide[path] = overflow(narrow)
    narrow.goto(stack.base_url + "/")
    screenshot(narrow, "narrow-home.png")
    assert wide == {}, f"pages wider than {NARROW['width']} px (by px): {wide}"


def test_the_navigation_wraps_inside_the_dark_bar_on_a_narrow_screen(stack, narrow):
    boxes = narrow.evaluate(
        """() => { const bar = document.querySelector('.topbar').getBoundingClientRect();
                   return Array.from(document.querySelectorAll('.topbar a, .topbar button, .topbar select'))
                     .map(el => { const r = el.getBoundingClientRect();
                                  return {text: el.textContent.trim(),
                                          inside: r.left >= bar.left && r.right <= bar.right && r.top >= bar.top
                                                  && r.bottom <= bar.bottom && r.width > 0}; }); }"""
    )
    assert boxes and [b["text"] for b in boxes if not b["inside"]] == []


def legend_overlaps_the_accuracy_panel(page) -> bool:
    return page.evaluate(
        """() => { const chart = document.getElementById('study-chart');
                   const legend = chart.querySelector('g.legend').getBoundingClientRect();
                   const panel = chart.querySelector('.nsewdrag[data-subplot="xy"]').getBoundingClientRect();
                   return legend.bottom > panel.top && legend.top < panel.bottom
                          && legend.right > panel.left && legend.left < panel.right; }"""
    )


@pytest.mark.parametrize("width", [420, 1360])
def test_the_study_chart_legend_stays_clear_of_the_accuracy_panel(stack, data, narrow, width):
    narrow.set_viewport_size({"width": width, "height": 900})
    narrow.goto(f"{stack.base_url}/studies/{data['study']}/")
    narrow.wait_for_function(
        "() => { const c = document.getElementById('study-chart'); return c.data && c.data.length"
        " && c.querySelector('g.legend'); }"
    )
    settle(narrow)
    assert not legend_overlaps_the_accuracy_panel(narrow)


def serious_violations(page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — {', '.join(str(n['target']) for n in v['nodes'][:3])}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_every_page_passes_axe_without_serious_or_critical_violations(stack, data, page):
    found = {}
    page.goto(f"{stack.base_url}/login/")
    found["/login/ (signed out)"] = serious_violations(page)
    log_in(page, stack.base_url)
    for path in main_pages(data):
        page.goto(stack.base_url + path)
        settle(page)
        found[path] = serious_violations(page)
    page.set_viewport_size(NARROW)  # where wide tables scroll in their own box, which must take the keyboard
    for path in ["/", "/policies/", "/runs/", f"/compare/?study={data['study']}", "/leaderboard/"]:
        page.goto(stack.base_url + path)
        settle(page)
        found[f"{path} at {NARROW['width']} px"] = serious_violations(page)
    bad = {path: v for path, v in found.items() if v}
    assert not bad, "\n".join(f"{path}: {line}" for path, lines in bad.items() for line in lines)


def significant_digits(number: str) -> int:
    return len(number.replace(".", "").lstrip("0"))


def test_hover_labels_show_whole_policy_names_and_four_significant_digits(stack, data, page):
    log_in(page, stack.base_url)
    page.goto(f"{stack.base_url}/studies/{data['study']}/")
    page.wait_for_function(
        "() => { const c = document.getElementById('study-chart'); return c.data && c.data.length"
        " && c.querySelector('.nsewdrag[data-subplot=\"xy\"]'); }"
    )
    settle(page)
    panel = page.locator('#study-chart .nsewdrag[data-subplot="xy"]').bounding_box()
    page.mouse.move(panel["x"] + panel["width"] - 2, panel["y"] + panel["height"] / 2)  # the last epoch
    label = page.locator("#study-chart .hoverlayer")
    expect(label).to_contain_text("A rather long policy name: cosine from 0.05 (n=1)")
    numbers = re.findall(r"\d+\.\d+", label.text_content().replace("0.05", ""))
    assert numbers and max(significant_digits(n) for n in numbers) <= 4, numbers
