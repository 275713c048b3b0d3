"""A research job through the real worker, streamed over its websocket."""

from __future__ import annotations

import json
import time

import pytest
from websockets.sync.client import connect

pytestmark = pytest.mark.integration


def test_a_range_test_job_streams_its_steps_then_its_suggestions(stack):
    token = stack.token()
    api = stack.api(token)
    response = api.post(
        f"{stack.base_url}/api/jobs/",
        json={"kind": "lr_range", "params": {"workload": "digits-mlp", "steps": 60, "min_lr": 1e-5, "max_lr": 10}},
    )
    assert response.status_code == 201, response.text
    job_id = response.json()["id"]
    seen: dict[int, dict] = {}
    status = None
    with connect(f"{stack.ws_url}/ws/jobs/{job_id}/", additional_headers={"Authorization": f"Token {token}"}) as ws:
        history = json.loads(ws.recv(timeout=10))
        assert history["type"] == "history"
        seen.update({e["seq"]: e for e in history["events"]})
        status = history["job"]["status"]
        deadline = time.monotonic() + 120
        while status not in ("succeeded", "failed", "cancelled"):
            message = json.loads(ws.recv(timeout=deadline - time.monotonic()))
            if message["type"] == "event":
                seen[message["event"]["seq"]] = message["event"]
            elif message["type"] == "status":
                status = message["job"]["status"]
    assert status == "succeeded", stack.log_tail("worker")
    detail = api.get(f"{stack.base_url}/api/jobs/{job_id}/").json()
    assert sorted(seen) == list(range(1, detail["events_count"] + 1))
    assert [e["data"]["lr"] for e in detail["events"]] == [seen[s]["data"]["lr"] for s in sorted(seen)]
    assert detail["result"]["cyclic"]["k0"] < detail["result"]["cyclic"]["k1"]
