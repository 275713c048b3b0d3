from __future__ import annotations

import json
import re

from django.conf import settings
from rest_framework import serializers

from dashboard import access, fleet, halving, leaderboard
from dashboard.models import Policy, Run
from trainer import schedules
from trainer.workloads import get_workload, list_workloads


class SpecField(serializers.JSONField):
    """A policy spec, validated and normalised by trainer.schedules itself."""

    def to_internal_value(self, data):
        data = super().to_internal_value(data)
        try:
            return schedules.validate(data)
        except schedules.SpecError as exc:
            raise serializers.ValidationError(exc.errors) from None


def _workload_names() -> list[str]:
    return [w["name"] for w in list_workloads()]


def _checked_options(data: dict) -> dict:
    """data["workload_options"] checked against data["workload"]'s declaration, kept where they differ from
    its defaults; a 400 naming the option ("workload_options.path is required ...") otherwise."""
    try:
        data["workload_options"] = get_workload(data["workload"]).changed_options(data.get("workload_options"))
    except ValueError as exc:
        raise serializers.ValidationError({"workload_options": [str(exc)]}) from None
    return data


class WorkloadOptionsField(serializers.DictField):
    """A run's (or every run of a study's) workload options; checked against the workload by _checked_options."""

    def __init__(self, **kwargs) -> None:
        help_text = (
            'the workload\'s options (GET /api/workloads/ lists them), e.g. {"path": "/data/flowers", '
            '"model": "resnet18"} for image-folder'
        )
        super().__init__(required=False, default=dict, help_text=help_text, **kwargs)


class PreviewSerializer(serializers.Serializer):
    spec = SpecField()
    epochs = serializers.FloatField(min_value=1e-6, max_value=100_000, default=30)
    points = serializers.IntegerField(min_value=2, max_value=20_000, default=settings.ARENA_PREVIEW_POINTS)
    steps_per_epoch = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)


class PolicySerializer(serializers.ModelSerializer):
    spec = SpecField()
    kind = serializers.CharField(read_only=True)
    team = serializers.CharField(source="team.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None, allow_null=True)

    class Meta:
        model = Policy
        fields = [
            "id",
            "name",
            "description",
            "spec",
            "kind",
            "team",
            "created_by",
            "published",
            "published_at",
            "archived",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "published", "published_at", "archived", "created_at", "updated_at"]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        team = self.context.get("team")
        if team is not None and team.policies.filter(name=value).exists():
            raise serializers.ValidationError("Your team already has a policy with this name.")
        return value


def _checked_device(value: str) -> str:
    try:
        fleet.check_device(value)
    except fleet.NoGpuWorkers as exc:
        raise serializers.ValidationError(str(exc)) from None
    return value


class RunCreateSerializer(serializers.Serializer):
    policy = serializers.PrimaryKeyRelatedField(queryset=Policy.objects.none())
    workload = serializers.ChoiceField(choices=[])
    epochs = serializers.IntegerField(min_value=1)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    device = serializers.ChoiceField(
        choices=Run.Device.choices, default=Run.Device.AUTO, help_text="the kind of worker: auto, cpu or gpu"
    )
    workload_options = WorkloadOptionsField()

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")  # absent when the schema generator builds it
        if request is not None:
            self.fields["policy"].queryset = access.usable_policies(request.user)
        self.fields["workload"].choices = _workload_names()

    def validate(self, data):
        return _checked_options(data)

    def validate_device(self, value: str) -> str:
        return _checked_device(value)

    def validate_epochs(self, value: int) -> int:
        if value > settings.ARENA_MAX_EPOCHS:
            raise serializers.ValidationError(f"At most {settings.ARENA_MAX_EPOCHS} epochs per run.")
        return value


class LeaderboardQuerySerializer(serializers.Serializer):
    workload = serializers.ChoiceField(choices=[])
    options = serializers.CharField(
        required=False,
        max_length=2000,
        help_text='the workload options of the board, as JSON: {"path": "/data/flowers"}; '
        "absent: the defaults' board (the latest run's options where no run has the defaults)",
    )
    epochs = serializers.IntegerField(min_value=1, required=False)
    view = serializers.ChoiceField(choices=leaderboard.VIEWS, default="team")
    rank = serializers.ChoiceField(choices=leaderboard.RANKINGS, default="lrbench")
    weights = serializers.CharField(required=False, allow_blank=True, max_length=500)
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        reported = leaderboard.reported_workloads(request.user) if request is not None else []
        self.fields["workload"].choices = [*_workload_names(), *reported]

    def validate(self, data):
        if "options" not in data:
            return data
        try:
            options = json.loads(data["options"])
            data["options"] = get_workload(data["workload"]).changed_options(options)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise serializers.ValidationError({"options": [f"options must be a JSON object: {exc}"]}) from None
        except ValueError as exc:
            raise serializers.ValidationError({"options": [str(exc)]}) from None
        return data

    def validate_weights(self, value: str) -> dict[str, float]:
        try:
            return leaderboard.parse_weights(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class StudyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    workload = serializers.ChoiceField(choices=[])
    policies = serializers.PrimaryKeyRelatedField(queryset=Policy.objects.none(), many=True)
    seeds = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=2**31 - 1), min_length=1, max_length=20
    )
    epochs = serializers.IntegerField(min_value=1)
    target_accuracy = serializers.FloatField(min_value=0.0, max_value=1.0, required=False)
    lr_scales = serializers.ListField(
        child=serializers.FloatField(min_value=1e-4, max_value=1e4), required=False, max_length=8
    )
    device = serializers.ChoiceField(
        choices=Run.Device.choices, default=Run.Device.AUTO, help_text="the kind of worker: auto, cpu or gpu"
    )
    halving_eta = serializers.IntegerField(
        min_value=min(halving.ETAS),
        max_value=max(halving.ETAS),
        required=False,
        allow_null=True,
        help_text="successive halving: at each rung the top 1/eta of the policies go on, the rest stop early",
    )

    workload_options = WorkloadOptionsField()

    def validate_device(self, value: str) -> str:
        return _checked_device(value)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["policies"].child_relation.queryset = access.usable_policies(request.user)
        self.fields["workload"].choices = _workload_names()

    def validate_policies(self, value):
        if not value:
            raise serializers.ValidationError("Pick at least one policy.")
        if len(value) > 20:
            raise serializers.ValidationError("At most 20 policies per study.")
        if len({p.pk for p in value}) != len(value):
            raise serializers.ValidationError("A policy is listed twice.")
        return value

    def validate_seeds(self, value):
        if len(set(value)) != len(value):
            raise serializers.ValidationError("A seed is listed twice.")
        return value

    def validate_epochs(self, value: int) -> int:
        if value > settings.ARENA_MAX_EPOCHS:
            raise serializers.ValidationError(f"At most {settings.ARENA_MAX_EPOCHS} epochs per run.")
        return value

    def validate_lr_scales(self, value):
        scales = sorted({float(v) for v in value} | {1.0})
        return scales

    def validate(self, data):
        data = _checked_options(data)
        runs = len(data["policies"]) * len(data["seeds"]) * len(data.get("lr_scales") or [1.0])
        if runs > settings.ARENA_MAX_STUDY_RUNS:
            raise serializers.ValidationError(
                {"seeds": [f"This study would queue {runs} runs; at most {settings.ARENA_MAX_STUDY_RUNS}."]}
            )
        eta = data.get("halving_eta")
        if eta is not None and (problem := halving.budget_problem(data["epochs"], eta)):
            raise serializers.ValidationError({"halving_eta": [problem]})
        return data


class CompareQuerySerializer(serializers.Serializer):
    study = serializers.IntegerField(min_value=1, required=False)
    runs = serializers.CharField(required=False, max_length=2000)
    x = serializers.ChoiceField(choices=["epoch", "seconds"], default="epoch")
    max_points = serializers.IntegerField(min_value=10, max_value=5000, default=400)
    x0 = serializers.FloatField(required=False)
    x1 = serializers.FloatField(required=False)

    def validate_runs(self, value: str) -> list[int]:
        try:
            ids = [int(v) for v in value.split(",") if v.strip()]
        except ValueError:
            raise serializers.ValidationError("A comma-separated list of run ids.") from None
        if not ids or len(ids) > 200:
            raise serializers.ValidationError("Between 1 and 200 run ids.")
        return ids

    def validate(self, data):
        if not data.get("study") and not data.get("runs"):
            raise serializers.ValidationError({"study": ["Give a study or a list of runs."]})
        return data


class PolicyFilterSerializer(serializers.Serializer):
    published = serializers.BooleanField(required=False, allow_null=True, default=None)
    archived = serializers.BooleanField(required=False, allow_null=True, default=None)
    kind = serializers.CharField(required=False, max_length=30)

    def validate(self, data):
        return {key: value for key, value in data.items() if value is not None}


class RunFilterSerializer(serializers.Serializer):
    status = serializers.CharField(required=False)
    workload = serializers.CharField(required=False)
    policy = serializers.IntegerField(required=False, min_value=1)


# -- self-reported runs (dashboard/actions/reports.py) ---------------------------------------------------

REPORTED_WORKLOAD = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,48}[a-z0-9])?")
TEAM_SLUG = re.compile(r"[-a-zA-Z0-9_]{1,100}")
EXTRA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
MAX_EXTRA_METRICS = 32


class NumberField(serializers.FloatField):
    """A finite JSON number: NaN, infinities, strings and booleans are refused."""

    default_error_messages = {"invalid": "A finite number is required (NaN and infinities are not numbers here)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, (int, float)):
            self.fail("invalid")
        return super().to_internal_value(data)


class ReportedRunCreateSerializer(serializers.Serializer):
    policy = serializers.PrimaryKeyRelatedField(queryset=Policy.objects.none())
    workload = serializers.CharField(
        max_length=151,
        help_text="your own workload's name: lowercase letters, digits, '.', '_' and '-', 1 to 50 characters, "
        "not the name of a built-in workload; the run stores it as <team-slug>/<name> (that form is accepted "
        "too, with the run's team's slug), which names the run's leaderboard with its epochs: a team's own",
    )
    epochs = serializers.IntegerField(min_value=1, help_text="the budget: every one of them is reported")
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)
    target_accuracy = NumberField(min_value=0.0, max_value=1.0, required=False, allow_null=True, default=None)
    iterations_per_epoch = serializers.IntegerField(
        min_value=1, max_value=10**9, required=False, allow_null=True, default=None,
        help_text="optimizer steps per epoch: the board's iterations to target",
    )  # fmt: skip
    num_classes = serializers.IntegerField(
        min_value=2, max_value=10**6, required=False, allow_null=True, default=None,
        help_text="the divergence rule's chance level; without it only a non-finite loss counts as diverged",
    )  # fmt: skip
    device = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    client_key = serializers.UUIDField(
        required=False, allow_null=True, default=None,
        help_text="a UUID of yours, new for each run: an open sent again with it (its answer was lost) gets the "
        "same run back (200), or a 409 naming the value that differs",
    )  # fmt: skip

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = self.context.get("request")
        if request is not None:
            self.fields["policy"].queryset = access.usable_policies(request.user)

    def validate_workload(self, value: str) -> str:
        """The bare name, or <team-slug>/<name>: actions.team_workload checks the slug against the run's team."""
        prefix, slash, name = value.rpartition("/")
        if slash and not TEAM_SLUG.fullmatch(prefix):
            raise serializers.ValidationError("Your workload's bare name, or <your team's slug>/<name>.")
        if not REPORTED_WORKLOAD.fullmatch(name):
            raise serializers.ValidationError(
                "Lowercase letters, digits, '.', '_' and '-', starting and ending with a letter or digit."
            )
        if name in _workload_names():
            raise serializers.ValidationError(
                f"{name!r} is a built-in workload, whose board holds runs trained by LR Arena's workers: "
                "name your own workload differently."
            )
        return value

    def validate_epochs(self, value: int) -> int:
        if value > settings.ARENA_MAX_EPOCHS:
            raise serializers.ValidationError(f"At most {settings.ARENA_MAX_EPOCHS} epochs per run.")
        return value


def _fraction(**kwargs) -> NumberField:
    return NumberField(min_value=0.0, max_value=1.0, required=False, allow_null=True, **kwargs)


def _non_negative(**kwargs) -> NumberField:
    return NumberField(min_value=0.0, required=False, allow_null=True, **kwargs)


class EpochReportSerializer(serializers.Serializer):
    """One epoch of a self-reported run, with the engine's keys (trainer.core.epoch_metrics)."""

    epoch = serializers.IntegerField(min_value=1, help_text="1, 2, … in order; at most the run's epochs")
    test_acc = NumberField(min_value=0.0, max_value=1.0, help_text="top-1 test accuracy, a fraction")
    train_acc = _fraction()
    test_top5 = _fraction()
    ac = _fraction(help_text="LRBench's confidence (trainer.metrics)")
    cv = _non_negative()
    cvac = _non_negative()
    train_loss = NumberField(
        required=False, allow_null=True, help_text="null: the loss was not finite (NaN or infinite): the run diverged"
    )
    test_loss = NumberField(required=False, allow_null=True, help_text="null: not finite, as train_loss")
    lr_first = _non_negative(help_text="the LR of the epoch's first iteration")
    lr_last = _non_negative()
    lr_mean = _non_negative()
    seconds = _non_negative()
    iterations = serializers.IntegerField(min_value=0, max_value=10**15, required=False, allow_null=True)
    samples = serializers.IntegerField(min_value=0, max_value=10**18, required=False, allow_null=True)
    extra = serializers.DictField(
        child=NumberField(), required=False, help_text=f"up to {MAX_EXTRA_METRICS} more metrics, by name"
    )

    def validate_epoch(self, value: int) -> int:
        run = self.context.get("run")
        if run is not None and value > run.epochs:
            raise serializers.ValidationError(f"Epoch {value} is beyond the run's budget of {run.epochs} epochs.")
        return value

    def validate_extra(self, value: dict) -> dict:
        if len(value) > MAX_EXTRA_METRICS:
            raise serializers.ValidationError(f"At most {MAX_EXTRA_METRICS} extra metrics.")
        for name in value:
            if not EXTRA_NAME.fullmatch(name) or name in self.fields:
                raise serializers.ValidationError(
                    f"{name!r}: a name of letters, digits and '_' (at most 40), not one of the epoch's own fields."
                )
        return value

    def validate(self, data):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError(
                {name: ["Unknown field: put other metrics in `extra`."] for name in unknown}
            )
        return data


class FailReportSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=5000, help_text="why the loop stopped, for the run page")
