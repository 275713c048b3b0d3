"""End to end with every part real: daphne, a Celery worker process and redis-server."""

from __future__ import annotations

import json
import time

import pytest
import requests
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

pytestmark = pytest.mark.integration

FINISHED = {"succeeded", "failed", "diverged", "cancelled"}


def create_policy(stack, api, name, spec):
    response = api.post(f"{stack.base_url}/api/policies/", json={"name": name, "spec": spec})
    assert response.status_code == 201, response.text
    return response.json()


def queue(stack, api, policy_id, epochs, seed=0):
    response = api.post(
        f"{stack.base_url}/api/runs/",
        json={"policy": policy_id, "workload": "digits-mlp", "epochs": epochs, "seed": seed},
    )
    assert response.status_code == 201, response.text
    return response.json()


def follow(stack, token, run_id, timeout=180):
    """Connect to the run's websocket and collect messages until it finishes."""
    messages = []
    with connect(
        f"{stack.ws_url}/ws/runs/{run_id}/", additional_headers={"Authorization": f"Token {token}"}, open_timeout=10
    ) as ws:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            messages.append(message)
            run = message.get("run")
            if run and run["status"] in FINISHED:
                break
    return messages


def test_a_run_created_through_the_api_streams_every_epoch_in_order_then_ranks(stack):
    token = stack.token()
    api = stack.api(token)
    policy = create_policy(stack, api, "it-step", {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 5})
    run = queue(stack, api, policy["id"], epochs=20, seed=1)

    messages = follow(stack, token, run["id"])

    assert messages[0]["type"] == "history"
    history = [e["epoch"] for e in messages[0]["epochs"]]
    live = [m["epoch"]["epoch"] for m in messages if m["type"] == "epoch"]
    assert live, f"no epoch arrived live; worker log:\n{stack.log_tail('worker')}"
    assert live == sorted(live) and len(set(live)) == len(live)
    assert sorted(set(history) | set(live)) == list(range(1, 21))
    assert messages[-1]["type"] == "status" and messages[-1]["run"]["status"] == "succeeded"

    detail = api.get(f"{stack.base_url}/api/runs/{run['id']}/").json()
    stored = {e["epoch"]: e for e in detail["epoch_metrics"]}
    assert sorted(stored) == list(range(1, 21))
    for message in messages:
        if message["type"] == "epoch":
            assert message["epoch"]["test_acc"] == stored[message["epoch"]["epoch"]]["test_acc"]
    # STEP halves the LR every 5 epochs: the LR the engine applied says so.
    assert stored[1]["lr_first"] == pytest.approx(0.1)
    assert stored[6]["lr_first"] == pytest.approx(0.05)
    assert stored[20]["lr_last"] == pytest.approx(0.0125)
    assert detail["summary"]["final_acc"] == stored[20]["test_acc"] >= 0.9

    board = api.get(f"{stack.base_url}/api/leaderboard/", params={"workload": "digits-mlp", "epochs": 20}).json()
    row = next(r for r in board["rows"] if r["policy"] == policy["id"])
    assert board["epochs"] == 20 and row["n"] == 1
    assert row["final_acc"]["mean"] == pytest.approx(detail["summary"]["final_acc"])


def test_a_late_subscriber_gets_the_whole_history_from_the_database(stack):
    token = stack.token()
    api = stack.api(token)
    policy = create_policy(stack, api, "it-fix", {"kind": "FIX", "k0": 0.05})
    run = queue(stack, api, policy["id"], epochs=3, seed=2)
    deadline = time.monotonic() + 120
    while api.get(f"{stack.base_url}/api/runs/{run['id']}/").json()["status"] not in FINISHED:
        assert time.monotonic() < deadline, stack.log_tail("worker")
        time.sleep(0.2)
    with connect(f"{stack.ws_url}/ws/runs/{run['id']}/", additional_headers={"Authorization": f"Token {token}"}) as ws:
        history = json.loads(ws.recv(timeout=10))
    assert history["type"] == "history" and history["run"]["status"] == "succeeded"
    assert [e["epoch"] for e in history["epochs"]] == [1, 2, 3]


def test_runs_of_two_seeds_are_averaged_on_the_leaderboard(stack):
    token = stack.token()
    api = stack.api(token)
    policy = create_policy(stack, api, "it-cos", {"kind": "COS", "k0": 0.001, "k1": 0.1, "l": 4})
    runs = [queue(stack, api, policy["id"], epochs=4, seed=seed) for seed in (0, 1)]
    finals = []
    for run in runs:
        deadline = time.monotonic() + 120
        while (detail := api.get(f"{stack.base_url}/api/runs/{run['id']}/").json())["status"] not in FINISHED:
            assert time.monotonic() < deadline, stack.log_tail("worker")
            time.sleep(0.2)
        assert detail["status"] == "succeeded"
        finals.append(detail["summary"]["final_acc"])
    board = api.get(f"{stack.base_url}/api/leaderboard/", params={"workload": "digits-mlp", "epochs": 4}).json()
    row = next(r for r in board["rows"] if r["policy"] == policy["id"])
    assert row["n"] == 2
    assert row["final_acc"]["mean"] == pytest.approx(sum(finals) / 2)


def test_the_websocket_refuses_a_session_cookie_from_a_foreign_origin(stack):
    session = requests.Session()
    login_page = session.get(f"{stack.base_url}/login/")
    session.post(
        f"{stack.base_url}/login/",
        data={"username": "demo", "password": "arena-demo-test", "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        headers={"Referer": login_page.url},
    )
    cookie = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    api = stack.api(stack.token())
    policy = create_policy(stack, api, "it-origin", {"kind": "FIX", "k0": 0.05})
    run = queue(stack, api, policy["id"], epochs=1)
    with connect(
        f"{stack.ws_url}/ws/runs/{run['id']}/",
        additional_headers={"Cookie": cookie},
        origin=f"http://127.0.0.1:{stack.web_port}",
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "history"
    # another site, another app on this machine (other port), another scheme: all refused
    for origin in (
        "http://evil.example",
        "http://localhost:9999",
        "https://127.0.0.1",
        f"https://127.0.0.1:{stack.web_port}",
    ):
        with pytest.raises(InvalidStatus):
            connect(f"{stack.ws_url}/ws/runs/{run['id']}/", additional_headers={"Cookie": cookie}, origin=origin)


def test_an_idle_websocket_stays_open_longer_than_redis_read_timeouts(stack):
    """A run page left open while nothing happens must still be subscribed minutes later."""
    token = stack.token()
    api = stack.api(token)
    policy = create_policy(stack, api, "it-idle", {"kind": "FIX", "k0": 0.05})
    run = queue(stack, api, policy["id"], epochs=1)
    with connect(f"{stack.ws_url}/ws/runs/{run['id']}/", additional_headers={"Authorization": f"Token {token}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "history"
        while True:  # drain the run's own messages until it is over
            message = json.loads(ws.recv(timeout=60))
            if message.get("run", {}).get("status") in FINISHED:
                break
        time.sleep(12)  # idle: longer than channels-redis's 5 s blocking read
        ws.send(json.dumps({"type": "ping"}))
        assert json.loads(ws.recv(timeout=5)) == {"type": "pong"}


def test_a_run_whose_worker_died_resumes_from_its_checkpoint_when_the_worker_restarts(stack):
    token = stack.token()
    api = stack.api(token)
    policy = create_policy(stack, api, "it-crash", {"kind": "COS", "k0": 0.001, "k1": 0.05, "l": 30})
    run = queue(stack, api, policy["id"], epochs=60, seed=9)
    url = f"{stack.base_url}/api/runs/{run['id']}/"
    deadline = time.monotonic() + 120
    while api.get(url).json()["epochs_done"] < 5:
        assert time.monotonic() < deadline, stack.log_tail("worker")
        time.sleep(0.05)
    stack.kill("worker")
    interrupted = api.get(url).json()
    assert interrupted["status"] == "running" and 5 <= interrupted["epochs_done"] < 60

    stack.start_worker(wait=True)
    deadline = time.monotonic() + 120
    while (detail := api.get(url).json())["status"] not in FINISHED:
        assert time.monotonic() < deadline, stack.log_tail("worker-1")
        time.sleep(0.2)
    assert detail["status"] == "succeeded"
    assert [e["epoch"] for e in detail["epoch_metrics"]] == list(range(1, 61))
    # The checkpoint is written just after an epoch is recorded: at worst the last epoch is trained again.
    assert interrupted["epochs_done"] - 1 <= detail["summary"]["resumed_from_epoch"] <= interrupted["epochs_done"]
    # The schedule continues across the restart: COS reaches k0 at t = l = 30, the start of epoch 31.
    assert detail["epoch_metrics"][30]["lr_first"] == pytest.approx(0.001, rel=1e-6)
    log = stack.logs["worker-1"].read_text()
    assert f"requeued runs [{run['id']}]" in log
