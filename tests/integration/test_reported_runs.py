"""Runs reported from a training loop of one's own (lr_arena_client), against the real stack."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from websockets.sync.client import connect

from tests.stack import DEMO_PASSWORD, ROOT, free_port
from trainer.schedules import build

sys.path.insert(0, str(ROOT / "client"))  # the client package, as `pip install -e client` would provide it

import lr_arena_client as arena  # noqa: E402

pytestmark = pytest.mark.integration

EXAMPLE = ROOT / "examples" / "report_from_my_loop.py"


def readme_section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Report runs from your own training loop")
    return readme[start : readme.index("\n## ", start + 1)]


def open_reported(stack, token, epochs=3, **options):
    return arena.open_run(
        stack.base_url, token, policy="Step decay", workload="it-own-loop", epochs=epochs, retries=1, backoff=0.0,
        **options,
    )  # fmt: skip


def epoch(n):
    return {"train_loss": 1.0 / (n + 1), "test_loss": 1.1 / (n + 1), "test_acc": 0.5 + n / 20}


def stored_epochs(stack, api, run_id):
    return [e["epoch"] for e in api.get(f"{stack.base_url}/api/runs/{run_id}/").json()["epoch_metrics"]]


def test_the_readme_shows_the_whole_example_script():
    (block,) = re.findall(r"```python\n(.*?)```", readme_section(), flags=re.DOTALL)
    assert block == EXAMPLE.read_text()


def test_the_readme_example_trains_its_own_loop_and_the_run_succeeds_with_the_policys_lrs(stack, tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "client")])}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--url", stack.base_url, "--password", DEMO_PASSWORD, "--epochs", "4"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = int(re.search(r"^run (\d+): succeeded", done.stdout, flags=re.MULTILINE).group(1))

    api = stack.api(stack.token())
    detail = api.get(f"{stack.base_url}/api/runs/{run_id}/").json()
    assert detail["status"] == "succeeded" and detail["self_reported"] is True
    assert detail["workload"] == "demo/digits-my-mlp" and detail["iterations_per_epoch"] == 28
    rows = detail["epoch_metrics"]
    assert [e["epoch"] for e in rows] == [1, 2, 3, 4]
    assert rows[-1]["test_acc"] > 0.5 and rows[-1]["iterations"] == 4 * 28
    # The LRs the optimizer applied, as the client saw them, are the policy's lr_at(t) of each iteration.
    policy = build(detail["policy_spec"])
    assert detail["policy_spec"]["kind"] == "COS"
    for row in rows:
        first, last = (row["epoch"] - 1) * 28, row["epoch"] * 28 - 1
        assert row["lr_first"] == pytest.approx(policy.lr_at(first, 28), rel=1e-9)
        assert row["lr_last"] == pytest.approx(policy.lr_at(last, 28), rel=1e-9)
        expected_mean = sum(policy.lr_at(i, 28) for i in range(first, last + 1)) / 28
        assert row["lr_mean"] == pytest.approx(expected_mean, rel=1e-9)
    assert detail["summary"]["final_acc"] == rows[-1]["test_acc"]

    board = api.get(f"{stack.base_url}/api/leaderboard/", params={"workload": "demo/digits-my-mlp", "epochs": 4}).json()
    row = next(r for r in board["rows"] if r["policy"] == detail["policy"])
    assert row["self_reported"] >= 1 and board["self_reported"] is True
    export = {"workload": "demo/digits-my-mlp", "format": "csv"}
    page = api.get(f"{stack.base_url}/api/leaderboard/export/", params=export)
    assert "self_reported_runs" in page.text.splitlines()[0]


def test_reported_epochs_stream_live_to_the_run_socket(stack):
    token = stack.token()
    run = open_reported(stack, token)
    with connect(f"{stack.ws_url}/ws/runs/{run.id}/", additional_headers={"Authorization": f"Token {token}"}) as ws:
        history = json.loads(ws.recv(timeout=10))
        assert history["type"] == "history" and history["epochs"] == []
        live = []
        for n in (1, 2, 3):
            run.log_epoch(n, **epoch(n))
            while (message := json.loads(ws.recv(timeout=10)))["type"] != "epoch":
                pass
            live.append(message["epoch"])
        run.finish()
        while (message := json.loads(ws.recv(timeout=10)))["type"] != "status":
            pass
    assert [e["epoch"] for e in live] == [1, 2, 3]
    assert live[2]["test_acc"] == epoch(3)["test_acc"]
    assert message["run"]["status"] == "succeeded"


def test_epochs_reported_while_the_server_is_away_are_delivered_once_when_it_is_back(stack, tmp_path):
    token = stack.token()
    api = stack.api(token)
    buffer = tmp_path / "buffer.jsonl"
    run = open_reported(stack, token, epochs=4, buffer_path=buffer)
    live_url = run.server
    run.server = f"http://127.0.0.1:{free_port()}"  # nothing listens there: the server is away

    with pytest.warns(UserWarning, match="epochs kept for the next try") as warned:
        run.log_epoch(1, **epoch(1))
        run.log_epoch(2, **epoch(2))
    assert len(warned) == 2
    assert [r["epoch"] for r in run.pending] == [1, 2]
    assert stored_epochs(stack, api, run.id) == []
    assert len(buffer.read_text().splitlines()) == 3  # the header and both epochs

    # The process dies; a new one takes the run up from its buffer file, with the server back.
    again = arena.resume(live_url, token, buffer_path=buffer, retries=1, backoff=0.0)
    assert again.id == run.id and [r["epoch"] for r in again.pending] == [1, 2]
    again.log_epoch(3, **epoch(3))
    assert again.pending == [] and len(buffer.read_text().splitlines()) == 1
    assert stored_epochs(stack, api, run.id) == [1, 2, 3]

    # An epoch whose answer was lost is sent again: the server stores it once.
    again.pending.append({"epoch": 2, **epoch(2)})
    again.flush()
    assert stored_epochs(stack, api, run.id) == [1, 2, 3]

    again.log_epoch(4, **epoch(4))
    assert again.finish()["status"] == "succeeded"
    detail = api.get(f"{stack.base_url}/api/runs/{run.id}/").json()
    assert [e["epoch"] for e in detail["epoch_metrics"]] == [1, 2, 3, 4]
    assert detail["epoch_metrics"][1]["test_acc"] == epoch(2)["test_acc"]


def test_an_epoch_with_other_values_is_refused_by_name_and_the_run_goes_on(stack):
    token = stack.token()
    run = open_reported(stack, token)
    run.log_epoch(1, **epoch(1))
    run.pending.append({"epoch": 1, **epoch(1), "test_acc": 0.01})
    with pytest.raises(arena.ArenaError, match="Epoch 1 is already recorded") as refused:
        run.flush()
    assert refused.value.status == 409 and run.pending == []
    with pytest.raises(arena.ArenaError, match="test_acc") as bad:
        run.log_epoch(2, **{**epoch(2), "test_acc": 1.5})
    assert bad.value.status == 400 and "test_acc" in bad.value.errors
    run.log_epoch(2, **epoch(2))
    assert run.status == "running" and run.pending == []  # the refusals ended nothing
    assert run.fail("stopped by the test")["status"] == "failed"


def test_the_same_open_sent_twice_at_once_opens_one_run(stack):
    api = stack.api(stack.token())
    policy = next(p["id"] for p in api.get(f"{stack.base_url}/api/policies/?limit=1000").json()["results"]
                  if p["name"] == "Step decay")  # fmt: skip
    body = {"policy": policy, "workload": "it-twice-at-once", "epochs": 2, "client_key": str(uuid.uuid4())}
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda _: api.post(f"{stack.base_url}/api/runs/reported/", json=body), range(2)))
    assert sorted(answer.status_code for answer in answers) == [200, 201], [a.text for a in answers]
    assert answers[0].json()["id"] == answers[1].json()["id"]
    runs = api.get(f"{stack.base_url}/api/runs/", params={"workload": "demo/it-twice-at-once"}).json()["results"]
    assert [run["id"] for run in runs] == [answers[0].json()["id"]]
    assert answers[0].json()["workload"] == "demo/it-twice-at-once"


def test_one_epoch_sent_twice_at_once_with_other_values_is_stored_once_and_the_other_refused(stack):
    """Two posts of epoch 1 race (SQLite too: its transactions begin IMMEDIATE, so the check and the write are
    one step): one is stored, the other answers 409, and the stored values are the winner's, whole."""
    token = stack.token()
    api = stack.api(token)
    for trial in range(5):
        run = open_reported(stack, token)
        bodies = [{"epoch": 1, **epoch(1), "test_acc": acc} for acc in (0.61, 0.62)]
        url = f"{stack.base_url}/api/runs/{run.id}/epochs/"
        with ThreadPoolExecutor(max_workers=2) as pool:
            answers = list(pool.map(lambda body, url=url: api.post(url, json=body), bodies))
        codes = [answer.status_code for answer in answers]
        assert sorted(codes) == [201, 409], (trial, [a.text for a in answers])
        winner = bodies[codes.index(201)]
        stored = api.get(f"{stack.base_url}/api/runs/{run.id}/").json()
        assert [e["epoch"] for e in stored["epoch_metrics"]] == [1] and stored["epochs_done"] == 1
        assert stored["epoch_metrics"][0]["test_acc"] == winner["test_acc"]
        assert run.fail("stopped by the test")["status"] == "failed"


def test_the_board_socket_of_a_teams_workload_is_reached_as_the_page_names_it(stack):
    token = stack.token()
    run = open_reported(stack, token, epochs=1)
    assert run.workload == "demo/it-own-loop"
    # The page opens /ws/leaderboard/<encodeURIComponent(workload)>/: the slash arrives as %2F.
    url = f"{stack.ws_url}/ws/leaderboard/demo%2Fit-own-loop/"
    with connect(url, additional_headers={"Authorization": f"Token {token}"}) as ws:
        run.log_epoch(1, **epoch(1))
        run.finish()
        assert json.loads(ws.recv(timeout=10)) == {"type": "changed", "workload": "demo/it-own-loop"}
