"""Runs are never lost, doubled or misreported, against a real deployment under faults.

A stack of its own (these tests kill workers and restart Redis), with short
leases so that a dead worker's run is taken over within seconds: a cancel
racing the last epoch, a worker killed for good and replaced by one with
another name, Redis restarted with runs waiting in its queue. Each runs on
SQLite and on a real PostgreSQL server.
"""

from __future__ import annotations

import json
import time

import pytest
import requests
import websockets.sync.client as ws_client
from websockets.exceptions import InvalidStatus

from tests.postgres import Postgres
from tests.stack import Stack, wait_for

pytestmark = pytest.mark.integration

LEASE_SETTINGS = {
    "ARENA_LEASE_SECONDS": "4",
    "ARENA_RECONCILE_SECONDS": "1",
    "ARENA_RESEND_AFTER_SECONDS": "2",
    "ARENA_RUN_RATE": "1000/minute",
}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fleet(request, tmp_path_factory):
    """The deployment, on its default SQLite file and on a real PostgreSQL server."""
    database = Postgres().start() if request.param == "postgresql" else None
    deployment = Stack(
        tmp_path_factory.mktemp(f"fleet-{request.param}"),
        settings=LEASE_SETTINGS,
        database_url=database.url if database else None,
    )
    try:
        deployment.start()
        yield deployment
    finally:
        deployment.stop()
        if database:
            database.stop()


@pytest.fixture(scope="module")
def api(fleet) -> requests.Session:
    return fleet.api(fleet.token())


@pytest.fixture(scope="module")
def policy(fleet, api) -> int:
    spec = {"kind": "FIX", "k0": 0.05}
    response = api.post(f"{fleet.base_url}/api/policies/", json={"name": "fleet fix", "spec": spec})
    response.raise_for_status()
    return response.json()["id"]


def queue(fleet: Stack, api: requests.Session, policy: int, epochs: int, seed: int = 0) -> int:
    response = api.post(
        f"{fleet.base_url}/api/runs/", json={"policy": policy, "workload": "digits-mlp", "epochs": epochs, "seed": seed}
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def state(fleet: Stack, api: requests.Session, run_id: int) -> dict:
    return api.get(f"{fleet.base_url}/api/runs/{run_id}/").json()


def wait_until_finished(fleet: Stack, api: requests.Session, run_id: int, timeout: float = 120) -> dict:
    seen: dict = {}

    def finished() -> bool:
        seen.update(state(fleet, api, run_id))
        return seen["status"] not in ("queued", "running")

    try:
        wait_for(finished, timeout, f"run {run_id} to finish")
    except TimeoutError:
        for name in fleet.logs:
            if name.startswith("worker"):
                print(f"--- {name} ---\n{fleet.log_tail(name, 40)}")
        raise
    return seen


def test_an_acknowledged_cancel_is_final_even_against_the_last_epoch(fleet, api, policy):
    auth = {"Authorization": f"Token {fleet.token()}"}
    acknowledged, outcomes = 0, []
    for trial in range(12):
        run_id = queue(fleet, api, policy, epochs=2, seed=trial)
        with ws_client.connect(f"{fleet.ws_url}/ws/runs/{run_id}/", additional_headers=auth) as socket:
            while (message := json.loads(socket.recv(timeout=60)))["type"] != "epoch":
                pass  # the history, status changes
        # Land the cancel at a different point of the last epoch each time, up to just past its end.
        time.sleep(message["epoch"]["seconds"] * (trial % 6) / 5)
        response = api.post(f"{fleet.base_url}/api/runs/{run_id}/cancel/")
        final = wait_until_finished(fleet, api, run_id)
        outcomes.append((response.status_code, final["status"]))
        if response.status_code == 200:
            acknowledged += 1
            assert final["status"] == "cancelled", f"trial {trial}: an acknowledged cancel became {final['status']}"
        else:
            assert response.status_code == 409 and final["status"] == "succeeded"
    assert acknowledged >= 4, outcomes  # the race was really run


def test_a_worker_killed_for_good_is_replaced_by_another_that_resumes_its_run(fleet, api, policy):
    run_id = queue(fleet, api, policy, epochs=40)
    wait_for(lambda: state(fleet, api, run_id)["epochs_done"] >= 3, 120, "three epochs")

    fleet.kill("worker")
    fleet.start_worker(wait=True, hostname=f"replacement-{fleet.web_port}")
    final = wait_until_finished(fleet, api, run_id)

    assert final["status"] == "succeeded", final
    assert final["worker"].startswith("replacement-") and final["attempt"] == 2
    assert final["summary"]["resumed_from_epoch"] >= 3  # from the checkpoint, not from epoch 1
    assert [e["epoch"] for e in final["epoch_metrics"]] == list(range(1, 41))  # each epoch exactly once


def test_queued_runs_survive_a_redis_restart_that_lost_every_message(fleet, api, policy):
    long_run = queue(fleet, api, policy, epochs=30)
    waiting = [queue(fleet, api, policy, epochs=1, seed=s) for s in (1, 2)]
    wait_for(lambda: state(fleet, api, long_run)["status"] == "running", 60, "the long run to start")

    fleet.restart_redis(keep_data=False)

    for run_id in [long_run, *waiting]:
        assert wait_until_finished(fleet, api, run_id, timeout=180)["status"] == "succeeded"
    logs = "".join(path.read_text(errors="replace") for name, path in fleet.logs.items() if name.startswith("worker"))
    assert "no broker message held runs" in logs  # they came back through the reconciler


def test_websockets_refuse_cleanly_while_redis_is_down_and_connect_after_it_restarts(fleet, api, policy):
    run_id = queue(fleet, api, policy, epochs=1)
    wait_until_finished(fleet, api, run_id)
    url, auth = f"{fleet.ws_url}/ws/runs/{run_id}/", {"Authorization": f"Token {fleet.token()}"}
    with ws_client.connect(url, additional_headers=auth):
        pass  # the web server holds pooled connections to this Redis now

    redis_name = [key for key in fleet.procs if key.startswith("redis")][-1]
    fleet.kill(redis_name)
    with pytest.raises(InvalidStatus) as refused:
        ws_client.connect(url, additional_headers=auth, open_timeout=20)
    assert refused.value.response.status_code == 403  # closed before the handshake, not a 500

    fleet.start_redis()
    with ws_client.connect(url, additional_headers=auth) as socket:
        first = json.loads(socket.recv(timeout=10))
    assert first["type"] == "history" and first["run"]["id"] == run_id


def test_a_batched_study_survives_a_worker_death_without_starting_again(fleet, api, policy):
    response = api.post(
        f"{fleet.base_url}/api/studies/",
        json={"name": "survivor", "workload": "digits-mlp", "policies": [policy], "seeds": [0, 1, 2], "epochs": 40},
    )
    assert response.status_code == 201, response.text
    study = response.json()["id"]
    runs = [
        r["id"]
        for r in api.get(f"{fleet.base_url}/api/runs/", params={"limit": 200}).json()["results"]
        if r["study"] == study
    ]
    assert len(runs) == 3
    wait_for(lambda: all(state(fleet, api, r)["epochs_done"] >= 3 for r in runs), 120, "three epochs of each run")

    killed = [key for key in fleet.procs if key.startswith("worker")][-1]
    fleet.kill(killed)
    fleet.start_worker(wait=True, hostname=f"batch-heir-{fleet.web_port}")

    for run_id in runs:
        final = wait_until_finished(fleet, api, run_id, timeout=180)
        assert final["status"] == "succeeded", final
        assert final["summary"]["resumed_from_epoch"] >= 3  # from its checkpoint, not from epoch 1
        assert [e["epoch"] for e in final["epoch_metrics"]] == list(range(1, 41))
