"""Runs reported from a team's own training loop: validation, idempotency, the state machine, the boards."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard import leaderboard
from dashboard.models import EpochMetric, Run, Team
from dashboard.reconcile import reconcile

pytestmark = pytest.mark.django_db

OPEN = "/api/runs/reported/"


@pytest.fixture
def reporter(api_client, cast, step_policy, monkeypatch):
    monkeypatch.setattr("dashboard.fleet.held_in_broker", lambda: (set(), set()))  # no Redis in unit tests
    api_client.force_authenticate(cast.bob)
    return api_client


def open_run(client, policy, **overrides):
    body = {"policy": policy.pk, "workload": "my-cifar-resnet", "epochs": 3, "seed": 0, **overrides}
    response = client.post(OPEN, body, format="json")
    assert response.status_code == 201, response.json()
    return response.json()


def epoch(n, **overrides):
    losses = {"train_loss": 1.0 / (n + 1), "test_loss": 1.2 / (n + 1)}
    return {"epoch": n, **losses, "test_acc": 0.5 + n / 10, "lr_first": 0.1, **overrides}


def post_epoch(client, run_id, body):
    return client.post(f"/api/runs/{run_id}/epochs/", body, format="json")


def test_an_opened_run_is_running_self_reported_with_the_reporters_lease(reporter, step_policy, settings):
    settings.ARENA_REPORT_TIMEOUT_SECONDS = 3 * 3600
    run = open_run(reporter, step_policy, iterations_per_epoch=10, num_classes=10, device="cuda:0 — A100")
    assert run["status"] == "running" and run["self_reported"] is True
    assert run["policy_spec"] == step_policy.spec and run["iterations_per_epoch"] == 10
    stored = Run.objects.get(pk=run["id"])
    assert stored.queue == "" and stored.started_at is not None and stored.worker == ""
    lease = stored.lease_expires_at - stored.started_at
    assert timedelta(hours=3) <= lease < timedelta(hours=3, minutes=1)


KEY = "0b7f3c1e-2a4d-4c5e-9f60-1d2e3f4a5b6c"


def test_an_open_sent_again_with_its_client_key_gets_the_same_run(reporter, step_policy):
    body = {"policy": step_policy.pk, "workload": "my-cifar-resnet", "epochs": 3, "client_key": KEY}
    first = reporter.post(OPEN, body, format="json")
    again = reporter.post(OPEN, body, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"] and again.json()["status"] == "running"
    assert Run.objects.count() == 1


def test_an_open_sent_again_is_answered_even_when_the_quota_is_full(reporter, cast, step_policy):
    body = {"policy": step_policy.pk, "workload": "my-cifar-resnet", "epochs": 3, "client_key": KEY}
    first = reporter.post(OPEN, body, format="json")
    Team.objects.filter(pk=cast.team.pk).update(max_active_runs=1)  # the one run fills it
    again = reporter.post(OPEN, body, format="json")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert reporter.post(OPEN, {**body, "client_key": None}, format="json").status_code == 400  # a new run: refused


@pytest.mark.parametrize(
    "change, field",
    [
        ({"epochs": 4}, "epochs"),
        ({"seed": 1}, "seed"),
        ({"workload": "other"}, "workload"),
        ({"device": "x"}, "device"),
        ({"num_classes": 10}, "num_classes"),
    ],
)
def test_an_open_with_a_used_client_key_and_other_values_is_a_409_naming_the_field(
    reporter, step_policy, change, field
):
    body = {"policy": step_policy.pk, "workload": "my-cifar-resnet", "epochs": 3, "client_key": KEY}
    first = reporter.post(OPEN, body, format="json")
    response = reporter.post(OPEN, {**body, **change}, format="json")
    assert response.status_code == 409 and field in response.json()["errors"], response.json()
    assert str(first.json()["id"]) in response.json()["detail"]
    assert Run.objects.count() == 1


def test_a_client_key_is_one_members_own(reporter, api_client, cast, step_policy):
    body = {"policy": step_policy.pk, "workload": "my-cifar-resnet", "epochs": 3, "client_key": KEY}
    reporter.post(OPEN, body, format="json")
    api_client.force_authenticate(cast.alice)
    response = api_client.post(OPEN, body, format="json")
    assert response.status_code == 409 and "client_key" in response.json()["errors"]
    assert Run.objects.count() == 1


def test_opens_without_a_key_or_with_other_keys_are_other_runs(reporter, step_policy):
    ids = {
        open_run(reporter, step_policy)["id"],
        open_run(reporter, step_policy)["id"],
        open_run(reporter, step_policy, client_key=KEY)["id"],
        open_run(reporter, step_policy, client_key=KEY.replace("0b7f", "1b7f"))["id"],
    }
    assert len(ids) == 4


def test_the_database_holds_one_run_per_client_key_in_a_team(reporter, cast, step_policy):
    from django.db import IntegrityError, transaction

    run = Run.objects.get(pk=open_run(reporter, step_policy, client_key=KEY)["id"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Run.objects.create(
            team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload=run.workload, epochs=3,
            self_reported=True, client_key=run.client_key,
        )  # fmt: skip


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"workload": "digits-mlp"}, "workload"),  # a built-in workload's name
        ({"workload": "My CIFAR"}, "workload"),
        ({"workload": "-leading-dash"}, "workload"),
        ({"workload": "x" * 51}, "workload"),
        ({"workload": ""}, "workload"),
        ({"epochs": 0}, "epochs"),
        ({"epochs": 100_000}, "epochs"),
        ({"seed": -1}, "seed"),
        ({"target_accuracy": 1.5}, "target_accuracy"),
        ({"target_accuracy": "0.9"}, "target_accuracy"),
        ({"iterations_per_epoch": 0}, "iterations_per_epoch"),
        ({"num_classes": 1}, "num_classes"),
        ({"policy": 999_999}, "policy"),
    ],
)
def test_opening_a_run_names_the_bad_field(reporter, step_policy, overrides, field):
    body = {"policy": step_policy.pk, "workload": "my-cifar-resnet", "epochs": 3, **overrides}
    response = reporter.post(OPEN, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Run.objects.exists()


def test_another_teams_private_policy_cannot_be_reported(api_client, cast, step_policy):
    api_client.force_authenticate(cast.oscar)
    body = {"policy": step_policy.pk, "workload": "mine", "epochs": 3}
    response = api_client.post(OPEN, body, format="json", HTTP_X_ARENA_TEAM="speech")
    assert response.status_code == 400 and "policy" in response.json()["errors"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"epoch": 1}, "test_acc"),
        (epoch(1, test_acc=1.2), "test_acc"),
        (epoch(1, test_acc=-0.1), "test_acc"),
        (epoch(1, test_acc=True), "test_acc"),
        (epoch(1, train_acc=2), "train_acc"),
        (epoch(1, test_top5=1.01), "test_top5"),
        (epoch(1, train_loss="nan"), "train_loss"),
        (epoch(1, test_loss="Infinity"), "test_loss"),
        (epoch(1, lr_first=-0.1), "lr_first"),
        (epoch(1, seconds=-1), "seconds"),
        (epoch(0), "epoch"),
        (epoch(4), "epoch"),  # beyond the budget of 3
        (epoch(2), "epoch"),  # a gap: epoch 1 is not reported yet
        (epoch(1, extra={"grad_norm": "big"}), "extra.grad_norm"),
        (epoch(1, extra={"test_acc": 0.5}), "extra"),  # one of the epoch's own fields
        (epoch(1, extra={"not a name": 1}), "extra"),
        (epoch(1, extra={f"m{i}": 1 for i in range(33)}), "extra"),
        (epoch(1, top5=0.9), "top5"),  # an unknown field, e.g. a typo, is named, not dropped
    ],
)
def test_a_bad_epoch_is_a_400_naming_the_field(reporter, step_policy, body, field):
    run = open_run(reporter, step_policy)
    response = post_epoch(reporter, run["id"], body)
    assert response.status_code == 400, response.content
    assert field in response.json()["errors"], response.json()
    assert not EpochMetric.objects.exists()


def test_non_finite_json_numbers_in_an_epoch_are_a_400(reporter, step_policy):
    run = open_run(reporter, step_policy)
    body = '{"epoch": 1, "test_acc": 0.5, "train_loss": NaN}'
    response = reporter.post(f"/api/runs/{run['id']}/epochs/", body, content_type="application/json")
    assert response.status_code == 400
    assert not EpochMetric.objects.exists()


def test_the_same_epoch_twice_is_stored_once(reporter, step_policy):
    run = open_run(reporter, step_policy, iterations_per_epoch=10)
    first = post_epoch(reporter, run["id"], epoch(1, extra={"grad_norm": 2.5}))
    again = post_epoch(reporter, run["id"], epoch(1, extra={"grad_norm": 2.5}))
    assert first.status_code == 201 and first.json()["created"] is True
    assert again.status_code == 200 and again.json()["created"] is False
    assert again.json()["epoch"] == first.json()["epoch"]
    assert first.json()["epoch"]["iterations"] == 10 and first.json()["epoch"]["grad_norm"] == 2.5
    assert EpochMetric.objects.filter(run_id=run["id"]).count() == 1
    assert Run.objects.get(pk=run["id"]).epochs_done == 1


def test_an_epoch_again_with_other_values_is_a_409_naming_the_epoch_and_the_values(reporter, step_policy):
    run = open_run(reporter, step_policy)
    post_epoch(reporter, run["id"], epoch(1))
    response = post_epoch(reporter, run["id"], epoch(1, test_acc=0.99))
    assert response.status_code == 409
    assert "Epoch 1" in response.json()["detail"] and "test_acc" in response.json()["detail"]
    assert "epoch" in response.json()["errors"]
    assert EpochMetric.objects.get(run_id=run["id"], epoch=1).test_acc == epoch(1)["test_acc"]


def test_a_reported_run_finishes_with_a_summary_from_its_epochs(reporter, step_policy):
    run = open_run(reporter, step_policy, iterations_per_epoch=10, target_accuracy=0.65)
    early = reporter.post(f"/api/runs/{run['id']}/finish/")
    assert early.status_code == 400 and "epochs" in early.json()["errors"]
    for n in (1, 2, 3):
        assert post_epoch(reporter, run["id"], epoch(n, seconds=1.5)).status_code == 201
    done = reporter.post(f"/api/runs/{run['id']}/finish/")
    assert done.status_code == 200, done.json()
    body = done.json()
    assert body["status"] == "succeeded"
    assert body["summary"]["final_acc"] == pytest.approx(0.8) and body["summary"]["best_acc"] == pytest.approx(0.8)
    assert body["summary"]["total_seconds"] == pytest.approx(4.5)
    assert body["summary"]["epochs_to_target"] == 2 and body["summary"]["iterations_to_target"] == 20
    assert reporter.post(f"/api/runs/{run['id']}/finish/").json()["status"] == "succeeded"  # a retry: no change
    late = post_epoch(reporter, run["id"], epoch(3, seconds=1.5))  # a re-sent epoch of a finished run
    assert late.status_code == 200


def test_a_failed_run_takes_no_more_epochs(reporter, step_policy):
    run = open_run(reporter, step_policy)
    assert reporter.post(f"/api/runs/{run['id']}/fail/", {}, format="json").json()["errors"].keys() == {"reason"}
    failed = reporter.post(f"/api/runs/{run['id']}/fail/", {"reason": "CUDA out of memory"}, format="json")
    assert failed.status_code == 200 and failed.json()["status"] == "failed"
    assert failed.json()["error"] == "CUDA out of memory"
    assert reporter.post(f"/api/runs/{run['id']}/fail/", {"reason": "again"}, format="json").status_code == 200
    response = post_epoch(reporter, run["id"], epoch(1))
    assert response.status_code == 409 and "failed" in response.json()["detail"]
    assert reporter.post(f"/api/runs/{run['id']}/finish/").status_code == 409


def test_a_non_finite_loss_reported_as_null_ends_the_run_as_diverged(reporter, step_policy):
    run = open_run(reporter, step_policy)
    post_epoch(reporter, run["id"], epoch(1))
    response = post_epoch(reporter, run["id"], epoch(2, train_loss=None))
    assert response.status_code == 201
    assert response.json()["run"]["status"] == "diverged"
    assert response.json()["run"]["summary"]["diverged_epoch"] == 2
    assert reporter.post(f"/api/runs/{run['id']}/finish/").json()["status"] == "diverged"


def test_with_its_classes_a_collapse_to_chance_counts_as_diverged_as_for_worker_runs(reporter, step_policy):
    run = open_run(reporter, step_policy, num_classes=10)
    post_epoch(reporter, run["id"], epoch(1, test_acc=0.6))
    response = post_epoch(reporter, run["id"], epoch(2, test_acc=0.1))
    assert response.json()["run"]["status"] == "diverged"


def test_a_worker_run_takes_no_reports(reporter, cast, step_policy):
    run = Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=3,
        created_by=cast.bob, status=Run.Status.RUNNING,
    )  # fmt: skip
    response = post_epoch(reporter, run.pk, epoch(1))
    assert response.status_code == 409 and "worker" in response.json()["detail"]
    assert not EpochMetric.objects.exists()


def test_the_reconciler_never_requeues_a_self_reported_run(reporter, cast, step_policy):
    run = open_run(reporter, step_policy)
    leased = Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=3,
        status=Run.Status.RUNNING, attempt=1, lease_expires_at=timezone.now() - timedelta(minutes=1),
    )  # fmt: skip
    Run.objects.filter(pk=run["id"]).update(started_at=timezone.now() - timedelta(days=1))
    result = reconcile()
    assert result["requeued_runs"] == [leased.pk]
    assert run["id"] not in result["resent_runs"]
    assert Run.objects.get(pk=run["id"]).status == "running"
    assert post_epoch(reporter, run["id"], epoch(1)).status_code == 201


@pytest.mark.parametrize("status", ["running", "queued"])
def test_no_worker_claims_a_self_reported_run_whatever_message_names_it(reporter, step_policy, status):
    from dashboard import actions, fleet

    run = open_run(reporter, step_policy)
    expired = timezone.now() - timedelta(minutes=1)
    Run.objects.filter(pk=run["id"]).update(status=status, lease_expires_at=expired)  # a stray message's chance
    assert fleet.claim(Run, run["id"], worker="stray") is False
    assert actions.start_run(run["id"], worker="stray") is None
    stored = Run.objects.get(pk=run["id"])
    assert (stored.status, stored.attempt, stored.worker) == (status, 0, "")


def test_a_restarted_worker_hands_back_only_its_own_runs(reporter, step_policy):
    from dashboard import actions

    run = open_run(reporter, step_policy)
    assert actions.recover_runs("") == []  # a self-reported run names no worker
    assert Run.objects.get(pk=run["id"]).status == "running"


def test_a_run_that_reports_nothing_for_the_timeout_is_failed_as_abandoned_never_requeued(
    reporter, cast, step_policy, settings
):
    settings.ARENA_REPORT_TIMEOUT_SECONDS = 1
    Team.objects.filter(pk=cast.team.pk).update(max_active_runs=1)
    run = open_run(reporter, step_policy)
    assert post_epoch(reporter, run["id"], epoch(1)).status_code == 201
    time.sleep(1.5)  # the loop died: nothing comes for longer than the timeout

    result = reconcile()

    assert result["abandoned_runs"] == [run["id"]] and result["requeued_runs"] == []
    stored = Run.objects.get(pk=run["id"])
    assert (stored.status, stored.error) == ("failed", "no report for 1 second: abandoned")
    assert stored.finished_at is not None and stored.lease_expires_at is None and stored.attempt == 0
    assert post_epoch(reporter, run["id"], epoch(2)).status_code == 409
    assert reconcile()["abandoned_runs"] == []
    open_run(reporter, step_policy)  # its quota slot is free again


def test_the_timeout_is_told_in_hours(reporter, step_policy, settings):
    run = open_run(reporter, step_policy)
    settings.ARENA_REPORT_TIMEOUT_SECONDS = 6 * 3600
    Run.objects.filter(pk=run["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert reconcile()["abandoned_runs"] == [run["id"]]
    assert Run.objects.get(pk=run["id"]).error == "no report for 6 hours: abandoned"


@pytest.mark.parametrize(
    "report",
    [
        lambda client, run_id: post_epoch(client, run_id, epoch(1)),
        lambda client, run_id: client.post(f"/api/runs/{run_id}/heartbeat/", {}, format="json"),
    ],
    ids=["an epoch", "a heartbeat"],
)
def test_every_report_extends_the_runs_lease(reporter, step_policy, report):
    run = open_run(reporter, step_policy)
    Run.objects.filter(pk=run["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert report(reporter, run["id"]).status_code in (200, 201)
    assert Run.objects.get(pk=run["id"]).lease_expires_at > timezone.now() + timedelta(hours=5)
    assert reconcile()["abandoned_runs"] == []
    assert Run.objects.get(pk=run["id"]).status == "running"


def test_an_epoch_sent_again_is_a_sign_of_life_too(reporter, step_policy):
    run = open_run(reporter, step_policy)
    post_epoch(reporter, run["id"], epoch(1))
    Run.objects.filter(pk=run["id"]).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    assert post_epoch(reporter, run["id"], epoch(1)).status_code == 200
    assert reconcile()["abandoned_runs"] == []


def test_a_heartbeat_to_an_ended_run_is_a_409(reporter, step_policy):
    run = open_run(reporter, step_policy)
    reporter.post(f"/api/runs/{run['id']}/fail/", {"reason": "stopped"}, format="json")
    response = reporter.post(f"/api/runs/{run['id']}/heartbeat/", {}, format="json")
    assert response.status_code == 409 and "failed" in response.json()["detail"]
    assert Run.objects.get(pk=run["id"]).lease_expires_at is None


def test_a_heartbeat_answers_the_runs_state(reporter, step_policy):
    run = open_run(reporter, step_policy)
    response = reporter.post(f"/api/runs/{run['id']}/heartbeat/", {}, format="json")
    assert response.status_code == 200 and response.json()["id"] == run["id"]
    assert response.json()["status"] == "running"


def test_a_finished_self_reported_run_is_never_requeued(reporter, step_policy):
    from dashboard import actions

    run = open_run(reporter, step_policy)
    reporter.post(f"/api/runs/{run['id']}/fail/", {"reason": "stopped"}, format="json")
    assert actions.requeue_run(Run.objects.get(pk=run["id"])) is False
    assert Run.objects.get(pk=run["id"]).status == "failed"


def test_reported_runs_enter_the_teams_board_for_their_workload_marked_self_reported(
    reporter, client, cast, step_policy
):
    finished_reported_run(reporter, step_policy)

    assert leaderboard.reported_workloads(cast.carol) == ["vision/my-cifar-resnet"]
    assert leaderboard.reported_workloads(cast.oscar) == []  # private to the team until published
    board = reporter.get("/api/leaderboard/", {"workload": "vision/my-cifar-resnet", "epochs": 3}).json()
    (row,) = board["rows"]
    assert row["policy"] == step_policy.pk and row["n"] == 1 and row["self_reported"] == 1
    assert board["self_reported"] is True
    csv = reporter.get("/api/leaderboard/export/", {"workload": "vision/my-cifar-resnet", "format": "csv"})
    assert 'filename="leaderboard-vision--my-cifar-resnet-3ep-team.csv"' in csv["Content-Disposition"]
    header, line = csv.content.decode().splitlines()[:2]
    assert line.split(",")[header.split(",").index("self_reported_runs")] == "1"
    client.force_login(cast.carol)
    page = client.get("/leaderboard/", {"workload": "vision/my-cifar-resnet"})
    assert page.status_code == 200 and 'class="self-reported-mark"' in page.content.decode()


def test_a_worker_runs_board_row_is_not_marked(reporter, cast, step_policy):
    Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=3,
        status=Run.Status.SUCCEEDED, final_acc=0.9,
    )  # fmt: skip
    board = reporter.get("/api/leaderboard/", {"workload": "digits-mlp", "epochs": 3}).json()
    assert board["rows"][0]["self_reported"] == 0 and board["self_reported"] is False


def test_an_unknown_workload_is_still_a_400_on_the_board(reporter):
    response = reporter.get("/api/leaderboard/", {"workload": "nobody-reported-this"})
    assert response.status_code == 400 and "workload" in response.json()["errors"]


def test_the_run_page_of_a_self_reported_run_says_so(client, cast, reporter, step_policy):
    run = open_run(reporter, step_policy, iterations_per_epoch=7)
    client.force_login(cast.carol)
    page = client.get(f"/runs/{run['id']}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="config-self-reported"' in text and "my-cifar-resnet" in text
    assert json.dumps(run["id"]) in text


def finished_reported_run(reporter, policy):
    run = open_run(reporter, policy)
    for n in (1, 2, 3):
        post_epoch(reporter, run["id"], epoch(n))
    return reporter.post(f"/api/runs/{run['id']}/finish/").json()


def test_a_reported_workload_can_be_picked_for_performance_profiles(reporter, step_policy):
    finished_reported_run(reporter, step_policy)
    response = reporter.get("/api/leaderboard/profile/", {"boards": "vision/my-cifar-resnet:3"})
    assert response.status_code == 200, response.json()
    assert [b["workload"] for b in response.json()["boards"]] == ["vision/my-cifar-resnet"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("role, told", [("carol", True), ("oscar", False)])
async def test_the_board_socket_of_a_reported_workload_tells_the_team_when_a_run_finishes(
    reporter, cast, step_policy, role, told
):
    from channels.db import database_sync_to_async
    from channels.testing import WebsocketCommunicator
    from rest_framework.authtoken.models import Token

    from dashboard.asgi import application

    run = await database_sync_to_async(open_run)(reporter, step_policy)  # the board exists once a run is opened
    key = await database_sync_to_async(lambda: Token.objects.create(user=getattr(cast, role)).key)()
    ws = WebsocketCommunicator(
        application, "/ws/leaderboard/vision%2Fmy-cifar-resnet/", headers=[(b"authorization", f"Token {key}".encode())]
    )
    connected, _ = await ws.connect()
    assert connected is told  # outsiders do not learn that the team has such a workload
    if not connected:
        return
    for n in (1, 2, 3):
        await database_sync_to_async(post_epoch)(reporter, run["id"], epoch(n))
    await database_sync_to_async(reporter.post)(f"/api/runs/{run['id']}/finish/")
    assert await ws.receive_json_from(timeout=2) == {"type": "changed", "workload": "vision/my-cifar-resnet"}
    await ws.disconnect()


# -- a self-reported workload is its team's own: "<team-slug>/<name>" ------------------------------------


def test_the_run_stores_the_workload_under_its_teams_slug(reporter, step_policy):
    assert open_run(reporter, step_policy)["workload"] == "vision/my-cifar-resnet"
    assert open_run(reporter, step_policy, workload="vision/my-cifar-resnet")["workload"] == "vision/my-cifar-resnet"


@pytest.mark.parametrize(
    "workload",
    ["speech/my-cifar-resnet", "vision/digits-mlp", "vision/", "/my-cifar-resnet", "a/b/c", "vi sion/x"],
)
def test_a_workload_under_another_teams_slug_or_a_bad_one_is_a_400_naming_workload(reporter, step_policy, workload):
    response = reporter.post(OPEN, {"policy": step_policy.pk, "workload": workload, "epochs": 3}, format="json")
    assert response.status_code == 400 and "workload" in response.json()["errors"], response.json()
    assert not Run.objects.exists()


def test_a_retried_open_compares_the_namespaced_workload(reporter, step_policy):
    body = {"policy": step_policy.pk, "workload": "my-cifar-resnet", "epochs": 3, "client_key": KEY}
    first = reporter.post(OPEN, body, format="json")
    again = reporter.post(OPEN, {**body, "workload": "vision/my-cifar-resnet"}, format="json")
    assert (first.status_code, again.status_code) == (201, 200) and again.json()["id"] == first.json()["id"]


def reported_by_both_teams(reporter, api_client, cast, step_policy, *, publish: bool):
    """Vision (bob) and Speech (oscar) each finish a run of a workload they both named "shared-name"."""
    from dashboard.models import Policy

    speech_policy = Policy.objects.create(
        team=cast.other_team, name="Speech step", spec=step_policy.spec, created_by=cast.oscar
    )
    finished_reported_run_of(reporter, step_policy, "shared-name")
    api_client.force_authenticate(cast.oscar)
    api_client.defaults["HTTP_X_ARENA_TEAM"] = "speech"
    finished_reported_run_of(api_client, speech_policy, "shared-name")
    if publish:
        Policy.objects.update(published=True)
    return speech_policy


def finished_reported_run_of(client, policy, workload):
    run = open_run(client, policy, workload=workload)
    for n in (1, 2, 3):
        assert post_epoch(client, run["id"], epoch(n)).status_code == 201
    assert client.post(f"/api/runs/{run['id']}/finish/").json()["status"] == "succeeded"


def board_policies(user, workload, view):
    return [row["policy"] for row in leaderboard.board(user, workload, 3, view=view)["rows"]]


def test_two_teams_that_name_a_workload_alike_get_two_boards_in_the_shared_view(
    reporter, api_client, cast, step_policy
):
    speech_policy = reported_by_both_teams(reporter, api_client, cast, step_policy, publish=True)
    both = ["speech/shared-name", "vision/shared-name"]
    assert leaderboard.reported_workloads(cast.carol) == both
    assert leaderboard.reported_workloads(cast.oscar) == both
    assert board_policies(cast.carol, "vision/shared-name", "shared") == [step_policy.pk]
    assert board_policies(cast.carol, "speech/shared-name", "shared") == [speech_policy.pk]
    shared = reporter.get("/api/leaderboard/", {"workload": "speech/shared-name", "view": "shared"}).json()
    assert [row["policy"] for row in shared["rows"]] == [speech_policy.pk]


def test_a_member_of_both_teams_sees_two_boards_in_the_team_view(reporter, api_client, cast, step_policy):
    from dashboard.models import Membership

    speech_policy = reported_by_both_teams(reporter, api_client, cast, step_policy, publish=False)
    Membership.objects.create(user=cast.carol, team=cast.other_team, role=Membership.Role.VIEWER)
    assert leaderboard.reported_workloads(cast.carol) == ["speech/shared-name", "vision/shared-name"]
    assert board_policies(cast.carol, "vision/shared-name", "team") == [step_policy.pk]
    assert board_policies(cast.carol, "speech/shared-name", "team") == [speech_policy.pk]
    profile = leaderboard_profile_boards(api_client, cast.carol, "vision/shared-name:3,speech/shared-name:3")
    assert profile == ["vision/shared-name", "speech/shared-name"]


def leaderboard_profile_boards(client, user, boards):
    client.force_authenticate(user)
    response = client.get("/api/leaderboard/profile/", {"boards": boards})
    assert response.status_code == 200, response.json()
    return [board["workload"] for board in response.json()["boards"]]


def test_board_groups_of_team_workloads_are_valid_and_never_shared():
    from dashboard.realtime import leaderboard_group

    names = ["vision/x", "vision_x", "de/mo_x", "de_mo/x", "a/" + "b" * 50, "a/" + "b" * 49 + "c"]
    groups = {leaderboard_group(name, team) for name in names for team in (None, 7, 10**9)}
    assert len(groups) == len(names) * 3
    assert all(len(g) < 100 and all(c.isascii() and (c.isalnum() or c in "-_.") for c in g) for g in groups)
    assert leaderboard_group("digits-mlp") == "leaderboard-shared-digits-mlp"


def test_the_migration_puts_earlier_reported_runs_under_their_teams_slug(cast, step_policy):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("dashboard.migrations.0012_self_reported_workload_per_team")
    bare = Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="mine", epochs=3, self_reported=True
    )
    worker = Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=3
    )
    migration.namespace(apps, None)
    migration.namespace(apps, None)  # once only
    bare.refresh_from_db()
    worker.refresh_from_db()
    assert (bare.workload, worker.workload) == ("vision/mine", "digits-mlp")
