"""The research tools as jobs: parameters, validation, and how a worker runs each kind.

Every kind maps to one function of `trainer` with progress callbacks; the
worker records each callback as a JobEvent (committed, then broadcast) and the
return value as the job's result.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers

from dashboard.models import Job
from trainer.workloads import get_workload, list_workloads

MLP_WORKLOADS = ["mnist-mlp", "gauss2-mlp"]


def _workloads() -> list[str]:
    return [w["name"] for w in list_workloads()]


@dataclass(frozen=True)
class JobCost:
    """What a job trains, for the team's quotas: `trainings` networks trained from scratch (networks ×
    probes), each for up to `epochs` epochs. The fields name the parameters that set each number, so
    that a quota error points at the input to change."""

    trainings: int
    epochs: int
    trainings_field: str
    epochs_field: str

    @property
    def total_epochs(self) -> int:
        return self.trainings * self.epochs


def _epochs_of_steps(steps: int, train_size: int, batch_size: int) -> int:
    """Mini-batch steps as epochs of the data, a started epoch counted whole."""
    return max(1, math.ceil(steps / max(1, train_size // batch_size)))


class LRSearchParams(serializers.Serializer):
    workload = serializers.ChoiceField(choices=[])
    low = serializers.FloatField(min_value=0.0, max_value=100.0, default=0.0)
    high = serializers.FloatField(min_value=1e-6, max_value=100.0, default=1.0)
    iterations = serializers.IntegerField(min_value=1, max_value=20, default=5)
    epochs = serializers.IntegerField(min_value=1, max_value=100, default=10)
    threshold = serializers.FloatField(min_value=0.01, max_value=1.0, required=False, allow_null=True)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    depth = serializers.IntegerField(min_value=1, max_value=32, required=False)
    width = serializers.IntegerField(min_value=1, max_value=4096, required=False)
    input_lr_scale = serializers.FloatField(min_value=1e-4, max_value=1.0, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workload"].choices = _workloads()

    def validate(self, data):
        if data["low"] >= data["high"]:
            raise serializers.ValidationError({"high": ["Must be larger than low."]})
        options = {k: data.pop(k) for k in ("depth", "width", "input_lr_scale") if k in data}
        if options and data["workload"] not in MLP_WORKLOADS:
            raise serializers.ValidationError(
                {"workload": [f"depth, width and input_lr_scale apply to {MLP_WORKLOADS}."]}
            )
        data["workload_options"] = options or None
        return data

    @staticmethod
    def cost(params: dict) -> JobCost:
        # One probe per bisection step, each a network trained afresh for up to `epochs`.
        return JobCost(params["iterations"], params["epochs"], "iterations", "epochs")


def _int_list(name: str, low: int, high: int):
    return serializers.ListField(
        child=serializers.IntegerField(min_value=low, max_value=high), min_length=1, max_length=8, label=name
    )


class LRGridParams(serializers.Serializer):
    workload = serializers.ChoiceField(choices=MLP_WORKLOADS)
    depths = _int_list("depths", 1, 32)
    widths = _int_list("widths", 1, 4096)
    input_lr_scale = serializers.FloatField(min_value=1e-4, max_value=1.0, required=False, allow_null=True)
    low = serializers.FloatField(min_value=0.0, max_value=100.0, default=0.0)
    high = serializers.FloatField(min_value=1e-6, max_value=100.0, default=1.0)
    iterations = serializers.IntegerField(min_value=1, max_value=12, default=5)
    epochs = serializers.IntegerField(min_value=1, max_value=50, default=10)
    threshold = serializers.FloatField(min_value=0.01, max_value=1.0, required=False, allow_null=True)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    def validate(self, data):
        if data["low"] >= data["high"]:
            raise serializers.ValidationError({"high": ["Must be larger than low."]})
        if len(data["depths"]) * len(data["widths"]) > 24:
            raise serializers.ValidationError({"widths": ["At most 24 networks per grid."]})
        return data

    @staticmethod
    def cost(params: dict) -> JobCost:
        # An η* search (`iterations` probes) for every depth × width network.
        networks = len(params["depths"]) * len(params["widths"])
        return JobCost(networks * params["iterations"], params["epochs"], "widths", "epochs")


class LRRangeParams(serializers.Serializer):
    workload = serializers.ChoiceField(choices=[])
    min_lr = serializers.FloatField(min_value=1e-10, max_value=1.0, default=1e-7)
    max_lr = serializers.FloatField(min_value=1e-6, max_value=1000.0, default=10.0)
    steps = serializers.IntegerField(min_value=10, max_value=5000, default=100)
    beta = serializers.FloatField(min_value=0.0, max_value=0.999, default=0.98)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workload"].choices = _workloads()

    def validate(self, data):
        if data["min_lr"] >= data["max_lr"]:
            raise serializers.ValidationError({"max_lr": ["Must be larger than min_lr."]})
        return data

    @staticmethod
    def cost(params: dict) -> JobCost:
        # One network, one mini-batch of the workload per step.
        workload = get_workload(params["workload"])
        return JobCost(1, _epochs_of_steps(params["steps"], workload.train_size, workload.batch_size), "steps", "steps")


class MetaTrainParams(serializers.Serializer):
    workload = serializers.ChoiceField(choices=[])
    epochs = serializers.IntegerField(min_value=1, max_value=500, default=5)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workload"].choices = _workloads()

    @staticmethod
    def cost(params: dict) -> JobCost:
        # One network trained while its LR is meta-learned.
        return JobCost(1, params["epochs"], "epochs", "epochs")


class EquivalenceParams(serializers.Serializer):
    policy = serializers.IntegerField(min_value=1, required=False, help_text="a policy of yours; or give spec")
    spec = serializers.JSONField(required=False)
    wd = serializers.FloatField(min_value=1e-6, max_value=0.1, default=5e-4)
    momentum = serializers.FloatField(min_value=0.0, max_value=0.99, default=0.9)
    iterations = serializers.IntegerField(min_value=10, max_value=5000, default=200)
    steps_per_epoch = serializers.IntegerField(min_value=1, max_value=100_000, default=23)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    # The study trains a scale-invariant MLP on the 1,437 training digits, 64 a step (equivalence_study's
    # defaults). Its cost is counted in epochs of that data, not of `steps_per_epoch`, which only says how
    # the policy reads time and would otherwise let a large value make any job look one epoch long.
    DIGITS_TRAIN_SIZE, BATCH_SIZE = 1437, 64

    @classmethod
    def cost(cls, params: dict) -> JobCost:
        # Two networks (with weight decay, and without it under the converted schedule), `iterations` steps each.
        epochs = _epochs_of_steps(params["iterations"], cls.DIGITS_TRAIN_SIZE, cls.BATCH_SIZE)
        return JobCost(2, epochs, "iterations", "iterations")


PARAMS: dict[str, type[serializers.Serializer]] = {
    Job.Kind.LR_SEARCH: LRSearchParams,
    Job.Kind.LR_GRID: LRGridParams,
    Job.Kind.LR_RANGE: LRRangeParams,
    Job.Kind.META_TRAIN: MetaTrainParams,
    Job.Kind.EQUIVALENCE: EquivalenceParams,
}


def cost(kind: str, params: dict) -> JobCost:
    """A job's cost from its validated parameters (each tool declares its own, beside its parameters)."""
    return PARAMS[kind].cost(params)


def run(job: Job, event: Callable[[str, dict], None], should_stop: Callable[[], bool], data_dir: str) -> dict:
    """Run a job's trainer function; `event(type, data)` records progress. Returns the result."""
    params: dict[str, Any] = dict(job.params)
    kind = job.kind
    if kind == Job.Kind.LR_SEARCH:
        from trainer.search import max_initial_lr

        return max_initial_lr(
            data_dir=data_dir, on_probe=lambda d: event("probe", d), should_stop=should_stop, **params
        )
    if kind == Job.Kind.LR_GRID:
        from trainer.search import lr_grid

        return lr_grid(
            data_dir=data_dir,
            on_probe=lambda d: event("probe", d),
            on_cell=lambda d: event("cell", d),
            should_stop=should_stop,
            **params,
        )
    if kind == Job.Kind.LR_RANGE:
        from trainer.search import lr_range_test

        return lr_range_test(data_dir=data_dir, on_step=lambda d: event("step", d), should_stop=should_stop, **params)
    if kind == Job.Kind.META_TRAIN:
        from trainer.meta import meta_train

        return meta_train(data_dir=data_dir, on_epoch=lambda d: event("epoch", d), should_stop=should_stop, **params)
    if kind == Job.Kind.EQUIVALENCE:
        from trainer.equivalence import equivalence_study

        spec = params.pop("spec")
        params.pop("policy", None)
        every = max(1, params["iterations"] // 200)  # at most ~200 live points
        return equivalence_study(spec, on_step=lambda d: event("step", d), report_every=every, **params)
    raise ValueError(f"unknown job kind {kind!r}")
