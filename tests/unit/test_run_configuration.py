"""The run page's configuration is what the worker trains with (trainer.engine's resolution, without torch)."""

from __future__ import annotations

import pytest

from dashboard.models import Run
from dashboard.presenters import run_configuration
from trainer.core import TrainConfig
from trainer.core import plan as resolve_plan
from trainer.errors import UserInputError
from trainer.workloads import get_workload, list_workloads

pytestmark = pytest.mark.django_db

SPECS = [
    {"kind": "FIX", "k0": 0.05},
    # Li & Arora's conversion: trained with SGD without weight decay, at the spec's momentum.
    {"kind": "EXPGROW", "k0": 0.1, "wd": 0.0005, "momentum": 0.5},
]


OPTIONS = {"image-folder": {"path": "/data/flowers", "batch_size": 32}}  # its folder is required; its batch an option


@pytest.mark.parametrize("workload", [w["name"] for w in list_workloads()])
@pytest.mark.parametrize("spec", SPECS, ids=["FIX", "EXPGROW"])
def test_the_configuration_shown_is_the_one_the_engine_resolves(cast, step_policy, workload, spec):
    options = OPTIONS.get(workload, {})
    run = Run(
        team=cast.team, policy=step_policy, policy_spec=spec, workload=workload, workload_options=options, epochs=1
    )
    config = TrainConfig(workload=workload, policy=spec, epochs=1, device="cpu", workload_options=options)
    if "wd" in spec and get_workload(workload).optimizer.name != "sgd":
        # Li & Arora's conversions stand in for SGD's weight decay: the engine refuses them with Adam(W).
        with pytest.raises(UserInputError, match="optimizer.name"):
            resolve_plan(config)
        return
    shown = run_configuration(run)
    plan = resolve_plan(config)

    assert shown["optimizer"] == plan.optimizer
    assert shown["workload_options"] == plan.options
    assert shown["batch_size"] == plan.options.get("batch_size", plan.workload.batch_size)


def test_the_run_page_shows_optimizer_batch_size_policy_and_device(cast, step_policy, client):
    run = Run.objects.create(
        team=cast.team,
        policy=step_policy,
        policy_spec=step_policy.spec,
        workload="mnist-lenet",
        epochs=1,
        status=Run.Status.RUNNING,
        device="cuda:0 — NVIDIA H100 80GB HBM3",
        worker="gpu-worker-7@host",
    )
    client.force_login(cast.carol)
    page = client.get(f"/runs/{run.pk}/").content.decode()

    assert "SGD: momentum = 0.9, weight_decay = 0.0005, nesterov = no" in page
    assert "100 (600 iterations per epoch)" in page
    assert "Full spec (JSON)" in page and '"kind": "STEP"' in page
    assert "NVIDIA H100 80GB HBM3" in page and "gpu-worker-7@host" in page
