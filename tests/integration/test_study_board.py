"""A study through a real worker ends with a board whose statistics match its runs."""

from __future__ import annotations

import json
import statistics
import time
from datetime import datetime

import pytest
from websockets.sync.client import connect

pytestmark = pytest.mark.integration

FINISHED = {"succeeded", "failed", "diverged", "cancelled"}


def test_a_study_of_three_policies_and_two_seeds_ends_with_a_matching_board(stack):
    token = stack.token()
    api = stack.api(token)
    base = stack.base_url
    specs = {
        "study-fix": {"kind": "FIX", "k0": 0.05},
        "study-step": {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 1},
        "study-cos": {"kind": "COS", "k0": 0.001, "k1": 0.1, "l": 3},
    }
    ids = []
    for name, spec in specs.items():
        response = api.post(f"{base}/api/policies/", json={"name": name, "spec": spec})
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    response = api.post(
        f"{base}/api/studies/",
        json={
            "name": "three by two",
            "workload": "digits-mlp",
            "policies": ids,
            "seeds": [11, 12],
            "epochs": 3,
            "target_accuracy": 0.9,
        },
    )
    assert response.status_code == 201, response.text
    study = response.json()

    # The progress grid fills in over the study's websocket.
    finished: dict[int, dict] = {}
    with connect(
        f"{stack.ws_url}/ws/studies/{study['id']}/", additional_headers={"Authorization": f"Token {token}"}
    ) as ws:
        snapshot = json.loads(ws.recv(timeout=10))
        assert snapshot["type"] == "progress" and snapshot["total"] == 6
        for cell in snapshot["cells"]:
            if cell["status"] in FINISHED:
                finished[cell["run"]] = cell
        deadline = time.monotonic() + 240
        while len(finished) < 6:
            assert time.monotonic() < deadline, stack.log_tail("worker")
            message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            if message["type"] == "cell" and message["cell"]["status"] in FINISHED:
                finished[message["cell"]["run"]] = message["cell"]
    assert all(cell["status"] == "succeeded" for cell in finished.values())

    detail = api.get(f"{base}/api/studies/{study['id']}/").json()
    finals: dict[int, list[float]] = {}
    for cell in detail["progress"]["cells"]:
        run = api.get(f"{base}/api/runs/{cell['run']}/").json()
        assert run["summary"]["epochs_to_target"] is None or run["summary"]["epochs_to_target"] <= 3
        finals.setdefault(cell["policy"], []).append(run["summary"]["final_acc"])

    board = api.get(
        f"{base}/api/leaderboard/", params={"workload": "digits-mlp", "epochs": 3, "rank": "final_acc"}
    ).json()
    rows = {row["policy"]: row for row in board["rows"] if row["policy"] in ids}
    assert set(rows) == set(ids)
    for policy_id, values in finals.items():
        row = rows[policy_id]
        assert row["n"] == 2
        assert row["final_acc"]["mean"] == pytest.approx(statistics.mean(values), abs=1e-9)
        assert row["final_acc"]["std"] == pytest.approx(statistics.stdev(values), abs=1e-9)
        low, high = row["final_acc"]["ci95"]
        assert low <= row["final_acc"]["mean"] <= high
    ranked = [row["policy"] for row in board["rows"] if row["policy"] in ids]
    # Listed by rank group (statistically tied policies share one), then by mean.
    assert all(isinstance(rows[pid]["group"], int) for pid in ids)
    assert ranked == sorted(ids, key=lambda pid: (rows[pid]["group"], -statistics.mean(finals[pid])))
    # A batched run's seconds are its share: the study's runs add up to no more than the time they took.
    started = min(r["started_at"] for r in export_runs(api, base, study))
    finished = max(r["finished_at"] for r in export_runs(api, base, study))
    span = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    charged = sum(r["summary"]["total_seconds"] for r in export_runs(api, base, study))
    assert charged <= span

    export = api.get(f"{base}/api/studies/{study['id']}/export/", params={"format": "json"}).json()
    assert sum(len(run["epoch_metrics"]) for run in export["runs"]) == 6 * 3


def export_runs(api, base: str, study: dict) -> list[dict]:
    return api.get(f"{base}/api/studies/{study['id']}/export/", params={"format": "json"}).json()["runs"]
