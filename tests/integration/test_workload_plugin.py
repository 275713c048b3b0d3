"""The example workload plugin (examples/charlm, installed by the test session) end to end: the web app lists
it, a real Celery worker trains a run of it, its epochs stream, and it has a leaderboard of its own."""

from __future__ import annotations

import json
import math
import time

import pytest
import requests
from websockets.sync.client import connect

from tests.stack import DEMO_PASSWORD, DEMO_USER

pytestmark = pytest.mark.integration

FINISHED = {"succeeded", "failed", "diverged", "cancelled"}
WARM_UP = {"kind": "LINEAR", "k0": 0.0, "k1": 0.003, "l": 1}  # AdamW's LR up to 3e-3 over the first epoch


def test_the_api_lists_the_plugins_workload_and_reports_the_plugin_loaded(stack):
    api = stack.api(stack.token())

    workloads = {w["name"]: w for w in api.get(f"{stack.base_url}/api/workloads/").json()}
    plugins = api.get(f"{stack.base_url}/api/workloads/plugins/").json()

    assert workloads["charlm"]["plugin"]["distribution"] == "lr-arena-charlm"
    assert workloads["digits-mlp"]["plugin"] is None
    charlm = next(p for p in plugins if p["entry_point"] == "charlm")
    assert charlm["loaded"] and charlm["error"] is None and charlm["workloads"] == ["charlm"]


def test_the_run_and_study_forms_offer_the_plugins_workload(stack):
    session = requests.Session()
    login = session.get(f"{stack.base_url}/login/")
    session.post(
        f"{stack.base_url}/login/",
        data={"username": DEMO_USER, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": login.url},
    )
    for page in ("/runs/new/", "/studies/new/"):
        response = session.get(f"{stack.base_url}{page}")
        assert response.status_code == 200 and '<option value="charlm"' in response.text, page


def test_a_run_of_the_plugins_workload_trains_on_a_worker_streams_its_epochs_and_ranks_on_its_board(stack):
    token = stack.token()
    api = stack.api(token)
    policy = api.post(f"{stack.base_url}/api/policies/", json={"name": "charlm warm-up", "spec": WARM_UP})
    assert policy.status_code == 201, policy.text
    response = api.post(
        f"{stack.base_url}/api/runs/",
        json={"policy": policy.json()["id"], "workload": "charlm", "epochs": 2, "seed": 0},
    )
    assert response.status_code == 201, response.text
    run = response.json()

    messages = []
    with connect(
        f"{stack.ws_url}/ws/runs/{run['id']}/", additional_headers={"Authorization": f"Token {token}"}, open_timeout=10
    ) as ws:
        deadline = time.monotonic() + 400
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            messages.append(message)
            if message.get("run", {}).get("status") in FINISHED:
                break

    detail = api.get(f"{stack.base_url}/api/runs/{run['id']}/").json()
    assert detail["status"] == "succeeded", f"{detail.get('error')}\nworker log:\n{stack.log_tail('worker')}"
    live = [m["epoch"]["epoch"] for m in messages if m["type"] == "epoch"]
    assert live, "no epoch arrived live"
    assert sorted(set(live) | {e["epoch"] for e in messages[0]["epochs"]}) == [1, 2]
    for epoch in detail["epoch_metrics"]:
        assert epoch["test_perplexity"] == pytest.approx(math.exp(epoch["test_loss"]))
        assert 1 / 97 < epoch["test_acc"] <= 1
    assert detail["epoch_metrics"][0]["lr_first"] == 0.0  # the warm-up's start: the policy reached the engine

    board = api.get(f"{stack.base_url}/api/leaderboard/", params={"workload": "charlm", "epochs": 2}).json()
    row = next(r for r in board["rows"] if r["policy"] == policy.json()["id"])
    assert row["n"] == 1 and row["final_acc"]["mean"] == pytest.approx(detail["summary"]["final_acc"])
    digits_board = api.get(f"{stack.base_url}/api/leaderboard/", params={"workload": "digits-mlp", "epochs": 2})
    assert all(r["policy"] != policy.json()["id"] for r in digits_board.json()["rows"])
