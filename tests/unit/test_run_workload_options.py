"""A run's workload options: checked before queueing (API, form, CLI), stored on the run, given to the worker."""

from __future__ import annotations

import pytest
from django.urls import reverse

from dashboard.models import Run
from dashboard.tasks import train_run
from trainer.cli import EXIT_BAD_INPUT, main

FIX = '{"kind": "FIX", "k0": 0.05}'


def queue(api_client, user, policy, workload="image-folder", **options):
    api_client.force_authenticate(user)
    payload = {"policy": policy.pk, "workload": workload, "epochs": 2, "workload_options": options}
    return api_client.post("/api/runs/", payload, format="json")


def test_an_image_folder_run_is_queued_with_its_options(
    api_client, cast, step_policy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = queue(api_client, cast.bob, step_policy, path="/data/flowers", model="mobilenet_v3_small")

    assert response.status_code == 201, response.json()
    run = Run.objects.get()
    assert run.workload_options == {"path": "/data/flowers", "model": "mobilenet_v3_small"}
    assert response.json()["workload_options"] == run.workload_options


def test_options_at_their_defaults_are_stored_as_no_options(
    api_client, cast, step_policy, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        response = queue(api_client, cast.bob, step_policy, workload="mnist-mlp", depth=4, width=512)

    assert response.status_code == 201, response.json()
    assert Run.objects.get().workload_options == {"width": 512}  # depth 4 is the default


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "workload_options.path is required"),
        ({"path": "/x", "model": "resnet9000"}, "workload_options.model must be one of"),
        ({"path": "/x", "image_size": 4}, "workload_options.image_size must be an integer in [16, 1024]"),
        ({"path": "/x", "pretrained": "yes"}, "workload_options.pretrained must be true or false"),
        ({"path": "/x", "colour": "red"}, "workload_options.colour: unknown option of 'image-folder'"),
    ],
)
def test_bad_options_are_a_400_naming_the_option(api_client, cast, step_policy, options, message):
    response = queue(api_client, cast.bob, step_policy, **options)

    assert response.status_code == 400
    [error] = response.json()["errors"]["workload_options"]
    assert message in error
    assert not Run.objects.exists()


def test_options_that_are_not_an_object_are_a_400(api_client, cast, step_policy):
    api_client.force_authenticate(cast.bob)
    payload = {"policy": step_policy.pk, "workload": "image-folder", "epochs": 2, "workload_options": ["/x"]}

    response = api_client.post("/api/runs/", payload, format="json")

    assert response.status_code == 400 and "workload_options" in response.json()["errors"]


def test_the_run_form_shows_a_bad_option_as_a_form_error(client, cast, step_policy):
    client.force_login(cast.bob)
    data = {"policy": step_policy.pk, "workload": "image-folder", "epochs": 2, "seed": 0, "device": "auto"}

    response = client.post(reverse("run-create"), {**data, "workload_options": '{"model": "resnet18"}'})

    assert response.status_code == 400
    assert "workload_options.path is required" in response.context["form"].errors["workload_options"][0]
    assert not Run.objects.exists()


def test_the_run_form_queues_a_run_with_its_options(client, cast, step_policy, django_capture_on_commit_callbacks):
    client.force_login(cast.bob)
    data = {"policy": step_policy.pk, "workload": "image-folder", "epochs": 2, "seed": 0, "device": "auto"}

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(reverse("run-create"), {**data, "workload_options": '{"path": "/data/x"}'})

    assert response.status_code == 302
    assert Run.objects.get().workload_options == {"path": "/data/x"}


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_folder_is_missing_on_the_worker_fails_saying_so(cast, step_policy, tmp_path):
    missing = tmp_path / "gone"
    run = Run.objects.create(
        team=cast.team,
        policy=step_policy,
        policy_spec=step_policy.spec,
        workload="image-folder",
        workload_options={"path": str(missing)},
        epochs=1,
    )

    train_run.apply(args=[run.pk])

    run.refresh_from_db()
    assert run.status == Run.Status.FAILED
    assert run.error.startswith(f"DataUnavailable: image folder {missing} not found")


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--option", "model=resnet18"], "workload_options.path is required"),
        (["--option", "path=/x", "--option", "model=resnet9000"], "workload_options.model must be one of"),
        (["--option", "path=/x", "--option", "loading=disk"], "workload_options.loading must be one of"),
    ],
)
def test_the_cli_refuses_bad_options_with_exit_2_naming_the_option(capsys, flags, message):
    code = main(["train", "--workload", "image-folder", "--policy", FIX, "--epochs", "1", *flags])

    assert code == EXIT_BAD_INPUT
    assert message in capsys.readouterr().err


def test_the_cli_says_which_folder_is_missing_with_exit_2(capsys, tmp_path):
    missing = tmp_path / "gone"

    code = main(
        ["train", "--workload", "image-folder", "--policy", FIX, "--epochs", "1", "--option", f"path={missing}"]
    )

    assert code == EXIT_BAD_INPUT
    assert f"image folder {missing} not found" in capsys.readouterr().err


def finished(cast, policy, accuracy: float, **options) -> Run:
    return Run.objects.create(
        team=cast.team,
        policy=policy,
        policy_spec=policy.spec,
        workload="image-folder",
        workload_options=options,
        epochs=2,
        status=Run.Status.SUCCEEDED,
        final_acc=accuracy,
        best_acc=accuracy,
        total_seconds=1.0,
        target_accuracy=0.8,
    )


def test_runs_on_other_folders_or_models_are_on_other_boards(api_client, cast, step_policy):
    finished(cast, step_policy, 0.9, path="/data/flowers")
    finished(cast, step_policy, 0.5, path="/data/cars")
    finished(cast, step_policy, 0.7, path="/data/cars", model="mobilenet_v3_small")
    api_client.force_authenticate(cast.bob)

    cars = api_client.get("/api/leaderboard/", {"workload": "image-folder", "options": '{"path": "/data/cars"}'})
    # The defaults spelt out are the same board: model resnet18 is image-folder's default.
    same = api_client.get(
        "/api/leaderboard/", {"workload": "image-folder", "options": '{"model": "resnet18", "path": "/data/cars"}'}
    )

    assert cars.status_code == 200, cars.json()
    [row] = cars.json()["rows"]
    assert row["n"] == 1 and row["final_acc"]["mean"] == 0.5
    assert same.json()["rows"] == cars.json()["rows"]
    assert cars.json()["options"] == {"path": "/data/cars"}
    assert len(cars.json()["variants"]) == 3


def test_without_options_the_board_is_the_latest_runs_when_no_run_has_the_defaults(api_client, cast, step_policy):
    finished(cast, step_policy, 0.9, path="/data/flowers")
    finished(cast, step_policy, 0.5, path="/data/cars")
    api_client.force_authenticate(cast.bob)

    board = api_client.get("/api/leaderboard/", {"workload": "image-folder"}).json()

    assert board["options"] == {"path": "/data/cars"} and board["rows"][0]["n"] == 1


def test_bad_board_options_are_a_400_naming_the_field(api_client, cast):
    api_client.force_authenticate(cast.bob)

    for options in ("{not json", "[" * 1000 + "]" * 1000, '{"model": "resnet9000", "path": "/x"}', "[1]"):
        response = api_client.get("/api/leaderboard/", {"workload": "image-folder", "options": options})
        assert response.status_code == 400
        assert "options" in response.json()["errors"]


def test_the_leaderboard_page_offers_each_folder_as_a_board(client, cast, step_policy):
    finished(cast, step_policy, 0.9, path="/data/flowers")
    finished(cast, step_policy, 0.5, path="/data/cars")
    client.force_login(cast.bob)

    page = client.get(reverse("leaderboard"), {"workload": "image-folder", "options": '{"path": "/data/flowers"}'})

    assert page.status_code == 200
    text = page.content.decode()
    assert "{&quot;path&quot;: &quot;/data/cars&quot;}" in text
    assert page.context["board"]["rows"][0]["final_acc"]["mean"] == 0.9


def test_a_study_of_a_workload_that_needs_options_is_refused_without_them(api_client, cast, step_policy):
    api_client.force_authenticate(cast.bob)
    payload = {"name": "flowers", "workload": "image-folder", "policies": [step_policy.pk], "seeds": [0], "epochs": 2}

    response = api_client.post("/api/studies/", payload, format="json")

    assert response.status_code == 400
    [error] = response.json()["errors"]["workload_options"]
    assert "workload_options.path is required" in error


def test_every_run_of_a_study_gets_its_workload_options(
    api_client, cast, step_policy, django_capture_on_commit_callbacks
):
    api_client.force_authenticate(cast.bob)
    payload = {"name": "flowers", "workload": "image-folder", "policies": [step_policy.pk], "seeds": [0, 1]}
    options = {"path": "/data/flowers", "model": "mobilenet_v3_small", "image_size": 224}

    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(
            "/api/studies/", {**payload, "epochs": 2, "workload_options": options}, format="json"
        )

    assert response.status_code == 201, response.json()
    stored = {"path": "/data/flowers", "model": "mobilenet_v3_small"}  # image_size 224 is the default
    assert response.json()["workload_options"] == stored
    assert [run.workload_options for run in Run.objects.all()] == [stored, stored]


def test_the_study_form_shows_a_bad_option_as_a_form_error(client, cast, step_policy):
    client.force_login(cast.bob)
    data = {"name": "s", "workload": "image-folder", "policies": [step_policy.pk], "seeds": "0", "epochs": 2}

    response = client.post(reverse("study-create"), {**data, "device": "auto", "workload_options": '{"path": 7}'})

    assert response.status_code == 400
    assert "workload_options.path must be non-empty text" in response.context["form"].errors["workload_options"][0]


def test_the_research_tools_do_not_offer_a_workload_whose_options_choose_its_data(api_client, cast):
    api_client.force_authenticate(cast.bob)

    response = api_client.post(
        "/api/jobs/", {"kind": "lr_range", "params": {"workload": "image-folder"}}, format="json"
    )

    assert response.status_code == 400
    assert "params.workload" in response.json()["errors"]


def test_the_range_test_refuses_a_workload_whose_options_choose_its_data_with_exit_2(capsys, tmp_path):
    code = main(["lr-range", "--workload", "image-folder", "--option", f"path={tmp_path}"])

    assert code == EXIT_BAD_INPUT
    assert "workload 'image-folder' loads its data in batches" in capsys.readouterr().err


@pytest.mark.django_db(transaction=True)
def test_a_worker_trains_a_study_batch_of_image_folder_runs_one_after_another(
    cast, step_policy, tmp_path, one_cpu_thread
):
    from dashboard import actions
    from dashboard.tasks import train_batch
    from tests.image_folder import make_image_folder

    folder = make_image_folder(tmp_path / "digits", train_per_class=20, val_per_class=5)
    options = {"path": str(folder), "image_size": 16, "batch_size": 16, "workers": 0}
    study = actions.create_study(
        team=cast.team,
        user=cast.bob,
        name="digits",
        workload="image-folder",
        policies=[step_policy],
        seeds=[0, 1],
        epochs=1,
        workload_options=options,
    )

    train_batch.apply(args=[[run.pk for run in study.runs.all()]])

    runs = list(study.runs.order_by("seed"))
    assert [run.status for run in runs] == ["succeeded", "succeeded"], runs[0].error
    assert [run.epochs_done for run in runs] == [1, 1]
    assert runs[0].final_loss != runs[1].final_loss  # two seeds, trained apart


def test_the_run_page_shows_the_options_the_run_trains_with(client, cast, step_policy):
    run = finished(cast, step_policy, 0.9, path="/data/flowers", model="mobilenet_v3_small")
    client.force_login(cast.carol)

    page = client.get(f"/runs/{run.pk}/").content.decode()

    assert "/data/flowers" in page and "mobilenet_v3_small" in page and "image_size" in page


def test_the_run_page_shows_stored_options_that_the_workload_no_longer_takes(client, cast, step_policy):
    run = finished(cast, step_policy, 0.9, path="/data/flowers", model="resnet_from_the_future")
    client.force_login(cast.carol)

    response = client.get(f"/runs/{run.pk}/")

    assert response.status_code == 200 and "resnet_from_the_future" in response.content.decode()
