from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.models import Run

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(cast, step_policy):
    return Run.objects.create(
        team=cast.team, policy=step_policy, policy_spec=step_policy.spec, workload="digits-mlp", epochs=4
    )


def test_pages_need_a_login(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302 and reverse("login") in response["Location"]


@pytest.mark.parametrize(
    "name",
    [
        "home",
        "policy-list",
        "policy-create",
        "run-list",
        "run-create",
        "leaderboard",
        "leaderboard-profile",
        "study-list",
        "study-create",
        "catalog",
        "compare",
    ],
)
def test_each_page_renders_for_a_member(client, cast, step_policy, name):
    client.force_login(cast.bob)
    assert client.get(reverse(name)).status_code == 200


def test_the_run_page_embeds_the_history_and_the_socket_script(client, cast, run):
    from dashboard import actions

    run.status = Run.Status.RUNNING
    run.save(update_fields=["status"])
    actions.record_epoch(run, {"epoch": 1, "test_acc": 0.5, "train_loss": 1.2})
    client.force_login(cast.carol)
    response = client.get(reverse("run-detail", args=[run.pk]))
    assert response.status_code == 200
    initial = response.context["initial"]
    assert initial["run"]["id"] == run.pk and [e["epoch"] for e in initial["epochs"]] == [1]
    assert b'id="run-initial"' in response.content and b"js/run_detail.js" in response.content


def test_an_outsider_gets_404_for_another_teams_pages(client, cast, run, step_policy):
    client.force_login(cast.oscar)
    assert client.get(reverse("run-detail", args=[run.pk])).status_code == 404
    assert client.get(reverse("policy-detail", args=[step_policy.pk])).status_code == 404


def test_queueing_a_run_from_the_form_redirects_to_its_page(
    client, cast, step_policy, django_capture_on_commit_callbacks
):
    client.force_login(cast.bob)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("run-create"), {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 2, "seed": 1}
        )
    run = Run.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("run-detail", args=[run.pk])


def test_the_run_form_names_a_bad_epoch_count(client, cast, step_policy):
    client.force_login(cast.bob)
    response = client.post(
        reverse("run-create"), {"policy": step_policy.pk, "workload": "digits-mlp", "epochs": 0, "seed": 1}
    )
    assert response.status_code == 400 and "epochs" in response.context["form"].errors
    assert not Run.objects.exists()


def test_a_viewer_cannot_cancel_a_run(client, cast, run):
    client.force_login(cast.carol)
    assert client.post(reverse("run-cancel", args=[run.pk])).status_code == 403
    run.refresh_from_db()
    assert run.status == "queued"


def test_plotly_is_served_from_the_python_package(client, cast):
    response = client.get("/static/plotly/plotly.min.js")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert b"plotly" in body[:2000].lower()


def test_the_leaderboard_page_reports_bad_parameters_instead_of_failing(client, cast):
    client.force_login(cast.bob)
    response = client.get(reverse("leaderboard"), {"workload": "nope", "rank": "magic", "weights": "x:1"})
    assert response.status_code == 200
    assert response.context["board"]["workload"] == "digits-mlp"
    assert any("workload" in str(m) for m in response.context["messages"])


def test_invalid_weights_show_their_error_and_keep_workload_budget_and_rank(client, cast):
    client.force_login(cast.bob)
    wanted = {"workload": "mnist-lenet", "epochs": "7", "rank": "score", "weights": "final_acc:1,bogus:2"}
    response = client.get(reverse("leaderboard"), wanted)
    board = response.context["board"]
    assert (board["workload"], board["epochs"], board["rank"]) == ("mnist-lenet", 7, "score")
    assert b'id="weights-error"' in response.content and b"bogus" in response.content
    assert b'value="final_acc:1,bogus:2"' in response.content  # what was typed stays, to be fixed


def test_the_board_page_shows_intervals_groups_and_the_seeds_that_would_separate(client, cast):
    from dashboard.models import Policy, Run

    for name, accuracies in (("steady", [0.95, 0.96, 0.97]), ("close", [0.94, 0.955, 0.965])):
        policy = Policy.objects.create(team=cast.team, name=name, spec={"kind": "FIX", "k0": 0.1})
        for seed, acc in enumerate(accuracies):
            Run.objects.create(team=cast.team, policy=policy, policy_spec=policy.spec, workload="digits-mlp",
                               epochs=5, seed=seed, status="succeeded", final_acc=acc, device="x86_64")  # fmt: skip
    client.force_login(cast.bob)
    response = client.get(reverse("leaderboard"), {"workload": "digits-mlp", "rank": "final_acc"})
    content = response.content.decode()
    assert content.count('class="group-badge" title="rank group 1"') == 2
    assert 'id="power-note"' in content and "seeds per policy" in content
    assert "96.00%" in content and "n=3" in content  # accuracies in percent, with n
    assert 'title="final top-1: test accuracy after the last epoch — higher is better"' in content
    assert 'id="column-chooser"' in content


def test_the_leaderboard_partial_is_just_the_board(client, cast):
    client.force_login(cast.bob)
    response = client.get(reverse("leaderboard"), {"workload": "digits-mlp", "partial": "1"})
    assert b'id="leaderboard"' in response.content and b"<html" not in response.content


def test_a_study_is_created_from_the_form(client, cast, step_policy, django_capture_on_commit_callbacks):
    from dashboard.models import Study

    client.force_login(cast.bob)
    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(
            reverse("study-create"),
            {
                "name": "s",
                "workload": "digits-mlp",
                "policies": [step_policy.pk],
                "seeds": "0, 1",
                "epochs": 3,
                "robustness": "on",
            },
        )
    study = Study.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("study-detail", args=[study.pk])
    assert study.runs.count() == 2 * 5 and study.target_accuracy == 0.97
    page = client.get(reverse("study-detail", args=[study.pk]))
    assert page.status_code == 200 and len(page.context["initial"]["progress"]["cells"]) == 10


def test_the_study_form_names_bad_seeds(client, cast, step_policy):
    client.force_login(cast.bob)
    response = client.post(
        reverse("study-create"),
        {"name": "s", "workload": "digits-mlp", "policies": [step_policy.pk], "seeds": "0, x", "epochs": 3},
    )
    assert response.status_code == 400 and "seeds" in response.context["form"].errors


def test_the_catalog_explains_the_divergence_rule_with_this_servers_thresholds(client, cast, monkeypatch):
    monkeypatch.setenv("ARENA_DIVERGENCE_LOSS_FACTOR", "25")
    client.force_login(cast.bob)
    content = client.get(reverse("catalog")).content.decode()
    assert 'id="divergence"' in content and "<strong>25×</strong>" in content
    assert 'id="statistics"' in content and "Holm" in content
