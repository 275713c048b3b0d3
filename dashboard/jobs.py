"""The research tools as jobs: parameters, validation, and how a worker runs each kind.

Every kind has one serializer class here: its fields generated from the
tool's ToolParam declaration (`tool_params`), its `cost` for the quotas, and
its `run`, which calls the tool's function of `trainer` with progress
callbacks; the worker records each callback as a JobEvent (committed, then
broadcast) and the return value as the job's result. A new tool: its module
in trainer, a class here in PARAMS, and its Job.Kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers

from dashboard.models import Job
from trainer.equivalence import BATCH_SIZE, DIGITS_SIZES, EQUIVALENCE_PARAMS
from trainer.lr_grid import GRID_PARAMS, GRID_SEARCH_PARAMS, GRID_WORKLOADS, MAX_GRID_JOB_NETWORKS
from trainer.max_lr import SEARCH_PARAMS
from trainer.meta import META_PARAMS
from trainer.range_test import RANGE_PARAMS
from trainer.tool_params import ToolParam
from trainer.workloads import get_workload, list_workloads

MLP_WORKLOADS = list(GRID_WORKLOADS)


def _workloads() -> list[str]:
    """The workloads the research tools take: not those whose options choose their data (image-folder), which
    only the engine trains."""
    return [w["name"] for w in list_workloads() if not any(o["data"] for o in w["options"])]


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


def _field(param: ToolParam) -> serializers.Field:
    """The API field of a tool's declared parameter, within the job's bounds."""
    low, high = param.job_bounds
    if param.required:
        presence: dict[str, Any] = {"required": True}
    elif param.default is None:
        presence = {"required": False, "allow_null": param.nullable}
    else:
        presence = {"default": param.default}
    if param.type == "int_list":
        child = serializers.IntegerField(min_value=low, max_value=high)
        return serializers.ListField(
            child=child, min_length=1, max_length=param.job_max_len, label=param.name, help_text=param.help, **presence
        )
    if param.type == "choice":
        return serializers.ChoiceField(choices=param.choices, help_text=param.help, **presence)
    field = serializers.IntegerField if param.type == "int" else serializers.FloatField
    return field(min_value=low, max_value=high, help_text=param.help, **presence)


class ToolParamsSerializer(serializers.Serializer):
    """A job's parameters: the workload, the fields generated from the tool's declaration (`tool_params`), then
    the other fields declared on the serializer (the form shows them in this order)."""

    tool_params: tuple[ToolParam, ...] = ()

    def get_fields(self) -> dict[str, serializers.Field]:
        declared = super().get_fields()
        fields = {"workload": declared.pop("workload")} if "workload" in declared else {}
        fields.update({p.name: _field(p) for p in self.tool_params if p.job and p.name not in declared})
        fields.update(declared)
        return fields


class LRSearchParams(ToolParamsSerializer):
    tool_params = SEARCH_PARAMS

    workload = serializers.ChoiceField(choices=[])
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

    @staticmethod
    def run(params: dict, event: Callable, should_stop: Callable[[], bool], data_dir: str) -> dict:
        from trainer.max_lr import max_initial_lr

        on_probe = lambda d: event("probe", d)  # noqa: E731
        return max_initial_lr(data_dir=data_dir, on_probe=on_probe, should_stop=should_stop, **params)


class LRGridParams(ToolParamsSerializer):
    tool_params = GRID_PARAMS + GRID_SEARCH_PARAMS

    workload = serializers.ChoiceField(choices=MLP_WORKLOADS)

    def validate(self, data):
        if data["low"] >= data["high"]:
            raise serializers.ValidationError({"high": ["Must be larger than low."]})
        if len(data["depths"]) * len(data["widths"]) > MAX_GRID_JOB_NETWORKS:
            raise serializers.ValidationError({"widths": [f"At most {MAX_GRID_JOB_NETWORKS} networks per grid."]})
        return data

    @staticmethod
    def cost(params: dict) -> JobCost:
        # An η* search (`iterations` probes) for every depth × width network.
        networks = len(params["depths"]) * len(params["widths"])
        return JobCost(networks * params["iterations"], params["epochs"], "widths", "epochs")

    @staticmethod
    def run(params: dict, event: Callable, should_stop: Callable[[], bool], data_dir: str) -> dict:
        from trainer.lr_grid import lr_grid

        return lr_grid(
            data_dir=data_dir,
            on_probe=lambda d: event("probe", d),
            on_cell=lambda d: event("cell", d),
            should_stop=should_stop,
            **params,
        )


class LRRangeParams(ToolParamsSerializer):
    tool_params = RANGE_PARAMS

    workload = serializers.ChoiceField(choices=[])

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

    @staticmethod
    def run(params: dict, event: Callable, should_stop: Callable[[], bool], data_dir: str) -> dict:
        from trainer.range_test import lr_range_test

        return lr_range_test(data_dir=data_dir, on_step=lambda d: event("step", d), should_stop=should_stop, **params)


class MetaTrainParams(ToolParamsSerializer):
    tool_params = META_PARAMS

    workload = serializers.ChoiceField(choices=[])

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workload"].choices = _workloads()

    def validate(self, data):
        if data.get("epochs") is None:  # the job stores what it trains: the workload's default, spelt out
            data["epochs"] = get_workload(data["workload"]).default_epochs
        return data

    @staticmethod
    def cost(params: dict) -> JobCost:
        # One network trained while its LR is meta-learned (and, with lr_cap auto, a short range test first).
        return JobCost(1, params["epochs"], "epochs", "epochs")

    @staticmethod
    def run(params: dict, event: Callable, should_stop: Callable[[], bool], data_dir: str) -> dict:
        from trainer.meta import meta_train

        return meta_train(data_dir=data_dir, on_epoch=lambda d: event("epoch", d), should_stop=should_stop, **params)


class EquivalenceParams(ToolParamsSerializer):
    tool_params = EQUIVALENCE_PARAMS

    policy = serializers.IntegerField(min_value=1, required=False, help_text="a policy of yours; or give spec")
    spec = serializers.JSONField(required=False)

    @staticmethod
    def cost(params: dict) -> JobCost:
        # Two networks (with weight decay, and without it under the converted schedule), `iterations` steps each,
        # on the scale-invariant MLP's 1,437 training digits at the declared batch size. Counted in epochs of
        # that data, not of `steps_per_epoch`, which only says how the policy reads time and would otherwise
        # let a large value make any job look one epoch long.
        epochs = _epochs_of_steps(params["iterations"], DIGITS_SIZES[0], BATCH_SIZE)
        return JobCost(2, epochs, "iterations", "iterations")

    @staticmethod
    def run(params: dict, event: Callable, should_stop: Callable[[], bool], data_dir: str) -> dict:
        from trainer.equivalence import equivalence_study

        spec = params.pop("spec")
        params.pop("policy", None)
        every = max(1, params["iterations"] // 200)  # at most ~200 live points
        return equivalence_study(spec, on_step=lambda d: event("step", d), report_every=every, **params)


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
    if job.kind not in PARAMS:
        raise ValueError(f"unknown job kind {job.kind!r}")
    return PARAMS[job.kind].run(dict(job.params), event, should_stop, data_dir)
