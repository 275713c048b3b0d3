"""Studies: queueing every run, scaling base LRs, costs to target, progress, exports and comparisons."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

from dashboard import actions, compare, studies
from dashboard.models import Policy, Run, Study
from trainer import schedules

pytestmark = pytest.mark.django_db


@pytest.fixture
def policies(cast):
    return [
        Policy.objects.create(team=cast.team, name="fix", spec={"kind": "FIX", "k0": 0.05}),
        Policy.objects.create(team=cast.team, name="tri", spec={"kind": "TRI", "k0": 0.01, "k1": 0.1, "l": 2}),
    ]


def create(api_client, payload):
    return api_client.post("/api/studies/", payload, format="json")


def test_scaling_a_spec_multiplies_every_lr_and_nothing_else():
    spec = schedules.validate(
        {
            "kind": "PIECEWISE",
            "boundaries": [5],
            "stages": [{"kind": "TRI", "k0": 0.01, "k1": 0.1, "l": 2}, {"kind": "FIX", "k0": 0.5}],
        }
    )
    scaled = studies.scale_spec(spec, 10)
    assert scaled["boundaries"] == [5]
    assert scaled["stages"][0]["k0"] == pytest.approx(0.1) and scaled["stages"][0]["k1"] == pytest.approx(1.0)
    assert scaled["stages"][0]["l"] == 2 and scaled["stages"][1]["k0"] == pytest.approx(5.0)
    policy = schedules.build(scaled)
    assert policy(7.0) == pytest.approx(10 * schedules.build(spec)(7.0))


def test_a_study_queues_one_run_per_policy_seed_and_scale(
    api_client, cast, policies, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(cast.bob)
    payload = {
        "name": "three seeds",
        "workload": "digits-mlp",
        "policies": [p.pk for p in policies],
        "seeds": [0, 1, 2],
        "epochs": 4,
        "target_accuracy": 0.9,
        "lr_scales": [0.5, 5],
    }
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = create(api_client, payload)
    assert response.status_code == 201, response.json()
    study = Study.objects.get()
    runs = list(study.runs.all())
    assert len(runs) == 2 * 3 * 3 and len(callbacks) == 1
    assert study.lr_scales == [0.5, 1.0, 5.0]
    assert {(r.policy_id, r.seed, r.lr_scale) for r in runs} == {
        (p.pk, s, k) for p in policies for s in (0, 1, 2) for k in (0.5, 1.0, 5.0)
    }
    fix_at_5 = next(r for r in runs if r.policy == policies[0] and r.lr_scale == 5.0)
    assert fix_at_5.policy_spec["k0"] == pytest.approx(0.25)
    assert all(r.target_accuracy == 0.9 and r.epochs == 4 for r in runs)


@pytest.mark.parametrize(
    "change, field",
    [
        ({"seeds": []}, "seeds"),
        ({"seeds": [1, 1]}, "seeds"),
        ({"seeds": [-1]}, "seeds.0"),
        ({"policies": []}, "policies"),
        ({"policies": [999999]}, "policies"),
        ({"target_accuracy": 1.5}, "target_accuracy"),
        ({"epochs": 0}, "epochs"),
        ({"workload": "nope"}, "workload"),
        ({"lr_scales": [0]}, "lr_scales.0"),
        ({"seeds": list(range(20)), "lr_scales": [0.1, 0.5, 2, 5, 10]}, "seeds"),
    ],
)
def test_a_bad_study_names_the_field_and_queues_nothing(api_client, cast, policies, change, field):
    api_client.force_authenticate(cast.bob)
    payload = {"name": "s", "workload": "digits-mlp", "policies": [p.pk for p in policies], "seeds": [0], "epochs": 2}
    response = create(api_client, {**payload, **change})
    assert response.status_code == 400
    assert field in response.json()["errors"], response.json()
    assert not Run.objects.exists() and not Study.objects.exists()


def test_a_scale_that_pushes_an_lr_out_of_range_is_refused(api_client, cast):
    huge = Policy.objects.create(team=cast.team, name="huge", spec={"kind": "FIX", "k0": 50.0})
    api_client.force_authenticate(cast.bob)
    response = create(
        api_client,
        {"name": "s", "workload": "digits-mlp", "policies": [huge.pk], "seeds": [0], "epochs": 2, "lr_scales": [10]},
    )
    assert response.status_code == 400 and "lr_scales" in response.json()["errors"]
    assert not Run.objects.exists()


def test_another_teams_private_policy_cannot_join_a_study(api_client, cast):
    theirs = Policy.objects.create(team=cast.other_team, name="theirs", spec={"kind": "FIX", "k0": 0.1})
    api_client.force_authenticate(cast.bob)
    response = create(
        api_client, {"name": "s", "workload": "digits-mlp", "policies": [theirs.pk], "seeds": [0], "epochs": 2}
    )
    assert response.status_code == 400 and "policies" in response.json()["errors"]
    theirs.published = True
    theirs.save()
    response = create(
        api_client, {"name": "s", "workload": "digits-mlp", "policies": [theirs.pk], "seeds": [0], "epochs": 2}
    )
    assert response.status_code == 201


def test_cost_to_target_counts_epochs_iterations_and_seconds_until_first_reached():
    epochs = [
        {"epoch": 1, "test_acc": 0.5, "seconds": 1.0, "iterations": 45, "samples": 1437},
        {"epoch": 2, "test_acc": 0.91, "seconds": 1.5, "iterations": 90, "samples": 2874},
        {"epoch": 3, "test_acc": 0.95, "seconds": 1.0, "iterations": 135, "samples": 4311},
    ]
    assert studies.target_reached(epochs, 0.9) == {
        "epochs_to_target": 2,
        "iterations_to_target": 90,
        "samples_to_target": 2874,
        "seconds_to_target": 2.5,
    }
    assert studies.target_reached(epochs, 0.99)["epochs_to_target"] is None
    no_target = studies.target_reached(epochs, None)
    assert set(no_target.values()) == {None} and len(no_target) == 4


def test_finishing_a_run_stores_its_metrics_and_cost_to_the_studys_target(cast, policies):
    run = Run.objects.create(
        team=cast.team,
        policy=policies[0],
        policy_spec=policies[0].spec,
        workload="digits-mlp",
        epochs=2,
        target_accuracy=0.6,
        status=Run.Status.RUNNING,
    )
    actions.record_epoch(run, {"epoch": 1, "test_acc": 0.5, "seconds": 2.0, "iterations": 10, "samples": 320})
    actions.record_epoch(run, {"epoch": 2, "test_acc": 0.7, "seconds": 3.0, "iterations": 20, "samples": 640})
    summary = {
        "final_acc": 0.7,
        "best_acc": 0.7,
        "final_top5": 0.99,
        "ac": 0.8,
        "cv": 0.1,
        "cvac": 0.05,
        "loss_gap": 0.2,
        "total_seconds": 5.0,
        "final_test_loss": 0.9,
    }
    actions.finish_run(run, {"status": "succeeded", "summary": summary})
    run.refresh_from_db()
    assert (run.final_top5, run.ac, run.cv, run.cvac, run.loss_gap) == (0.99, 0.8, 0.1, 0.05, 0.2)
    cost = (run.epochs_to_target, run.iterations_to_target, run.samples_to_target, run.seconds_to_target)
    assert cost == (2, 20, 640, 5.0)


def make_finished_study(cast, policies):
    study = Study.objects.create(
        team=cast.team, name="s", workload="digits-mlp", epochs=3, seeds=[0, 1], target_accuracy=0.9
    )
    study.policies.set(policies)
    for policy in policies:
        for seed in (0, 1):
            run = Run.objects.create(
                team=cast.team,
                study=study,
                policy=policy,
                policy_spec=policy.spec,
                workload="digits-mlp",
                epochs=3,
                seed=seed,
                status="running",
                final_acc=0.9 + seed / 100,
            )
            for epoch in (1, 2, 3):
                actions.record_epoch(
                    run,
                    {
                        "epoch": epoch,
                        "test_acc": 0.5 + 0.1 * epoch + seed / 100,
                        "test_loss": 1.0 / epoch,
                        "seconds": 1.0,
                        "lr_mean": 0.05,
                    },
                )
            Run.objects.filter(pk=run.pk).update(status="succeeded")
    return study


def test_the_study_export_has_every_epoch_of_every_run(api_client, cast, policies):
    study = make_finished_study(cast, policies)
    api_client.force_authenticate(cast.carol)
    response = api_client.get(f"/api/studies/{study.pk}/export/", {"format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    assert len(rows) == 2 * 2 * 3
    first = next(r for r in rows if r["policy_name"] == "tri" and r["seed"] == "1" and r["epoch"] == "2")
    assert float(first["test_acc"]) == pytest.approx(0.71)
    document = api_client.get(f"/api/studies/{study.pk}/export/", {"format": "json"}).json()
    assert len(document["runs"]) == 4 and all(len(r["epoch_metrics"]) == 3 for r in document["runs"])


def test_the_leaderboard_export_matches_the_board(api_client, cast, policies):
    make_finished_study(cast, policies)
    api_client.force_authenticate(cast.bob)
    board = api_client.get("/api/leaderboard/", {"workload": "digits-mlp", "rank": "final_acc"}).json()
    response = api_client.get(
        "/api/leaderboard/export/", {"workload": "digits-mlp", "rank": "final_acc", "format": "csv"}
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["policy_name"] for r in rows] == [r["policy_name"] for r in board["rows"]]
    assert float(rows[0]["final_acc_mean"]) == pytest.approx(board["rows"][0]["final_acc"]["mean"])
    assert rows[0]["n"] == "2"


def test_an_outsider_cannot_export_a_study(api_client, cast, policies):
    study = make_finished_study(cast, policies)
    api_client.force_authenticate(cast.oscar)
    assert api_client.get(f"/api/studies/{study.pk}/export/").status_code == 404
    assert api_client.get("/api/compare/", {"study": study.pk}).status_code == 404


def test_compare_gives_one_band_per_policy_with_mean_and_std_over_seeds(api_client, cast, policies):
    study = make_finished_study(cast, policies)
    api_client.force_authenticate(cast.bob)
    data = api_client.get("/api/compare/", {"study": study.pk}).json()
    assert [s["name"] for s in data["series"]] == ["fix", "tri"]
    fix = data["series"][0]
    assert fix["n"] == 2 and fix["x"] == [1, 2, 3]
    assert fix["test_acc_mean"] == pytest.approx([0.605, 0.705, 0.805])
    assert fix["test_acc_std"] == pytest.approx([np.std([0.6, 0.61], ddof=1)] * 3)
    assert fix["lr_mean_mean"] == pytest.approx([0.05] * 3)
    assert fix["test_loss_mean"] == pytest.approx([1.0, 0.5, 1 / 3])
    seconds = api_client.get("/api/compare/", {"study": study.pk, "x": "seconds"}).json()
    by_wall_clock = seconds["series"][0]["x"]  # cumulative epoch durations, 1 s each here
    assert by_wall_clock == [1.0, 2.0, 3.0]


def test_long_series_are_downsampled_deterministically_keeping_the_ends():
    x = np.arange(10_000, dtype=float)
    y = np.sin(x / 300) + (x == 5000) * 5  # a spike LTTB must keep
    first = compare.lttb_indices(x, y, 200)
    assert len(first) == 200 and first[0] == 0 and first[-1] == 9999
    assert 5000 in first
    assert np.array_equal(first, compare.lttb_indices(x, y, 200))


def test_compare_windows_and_downsamples_on_the_server(api_client, cast, policies):
    run = Run.objects.create(
        team=cast.team,
        policy=policies[0],
        policy_spec=policies[0].spec,
        workload="digits-mlp",
        epochs=600,
        status=Run.Status.RUNNING,
    )
    for epoch in range(1, 601):
        actions.record_epoch(run, {"epoch": epoch, "test_acc": epoch / 600, "seconds": 1.0})
    api_client.force_authenticate(cast.bob)
    data = api_client.get("/api/compare/", {"runs": str(run.pk), "max_points": 100}).json()
    assert data["downsampled"] and len(data["series"][0]["x"]) == 100
    zoomed = api_client.get("/api/compare/", {"runs": str(run.pk), "max_points": 100, "x0": 100, "x1": 150}).json()
    assert zoomed["series"][0]["x"] == list(range(100, 151))
