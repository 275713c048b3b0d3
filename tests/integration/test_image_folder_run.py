"""An image-folder run end to end: queued through the API with its options, trained by a real Celery worker on a
folder of real digits, ranked on the board of its folder; and a run whose folder is missing fails saying so."""

from __future__ import annotations

import time

import pytest

from tests.image_folder import make_image_folder

pytestmark = pytest.mark.integration

FINISHED = {"succeeded", "failed", "diverged", "cancelled"}
SMALL = {"model": "resnet18", "image_size": 32, "batch_size": 16}  # about a second per epoch on a CPU


def wait_until_finished(stack, api, run_id: int, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        detail = api.get(f"{stack.base_url}/api/runs/{run_id}/").json()
        if detail["status"] in FINISHED:
            return detail
        time.sleep(0.5)
    raise AssertionError(f"run {run_id} did not finish\nworker log:\n{stack.log_tail('worker')}")


def queue(stack, api, policy: int, options: dict) -> dict:
    payload = {"policy": policy, "workload": "image-folder", "epochs": 1, "workload_options": options}
    response = api.post(f"{stack.base_url}/api/runs/", json=payload)
    assert response.status_code == 201, response.text
    return response.json()


def test_a_worker_trains_an_image_folder_run_and_it_ranks_on_its_folders_board(stack, tmp_path):
    folder = make_image_folder(tmp_path / "digits", train_per_class=30, val_per_class=10)
    api = stack.api(stack.token())
    policy = api.post(f"{stack.base_url}/api/policies/", json={"name": "images", "spec": {"kind": "FIX", "k0": 0.005}})
    assert policy.status_code == 201, policy.text

    run = queue(stack, api, policy.json()["id"], {"path": str(folder), **SMALL})
    detail = wait_until_finished(stack, api, run["id"])

    assert detail["status"] == "succeeded", f"{detail['error']}\nworker log:\n{stack.log_tail('worker')}"
    assert detail["workload_options"] == {"path": str(folder), "image_size": 32, "batch_size": 16}
    [epoch] = detail["epoch_metrics"]
    assert epoch["iterations"] == 6  # 90 images in batches of 16
    assert 0 <= epoch["test_acc"] <= 1
    board = api.get(
        f"{stack.base_url}/api/leaderboard/",
        params={"workload": "image-folder", "epochs": 1, "options": f'{{"path": "{folder}", "image_size": 32, '
                '"batch_size": 16}'},
    ).json()  # fmt: skip
    assert [r["policy"] for r in board["rows"]] == [policy.json()["id"]]


def test_a_run_whose_folder_is_missing_on_the_worker_fails_naming_it(stack, tmp_path):
    api = stack.api(stack.token())
    policy = api.post(f"{stack.base_url}/api/policies/", json={"name": "nowhere", "spec": {"kind": "FIX", "k0": 0.01}})
    missing = tmp_path / "not-there"

    run = queue(stack, api, policy.json()["id"], {"path": str(missing), **SMALL})
    detail = wait_until_finished(stack, api, run["id"])

    assert detail["status"] == "failed"
    assert f"image folder {missing} not found" in detail["error"]
