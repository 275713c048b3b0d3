"""Response shapes for the OpenAPI schema (drf-spectacular). The API builds its
responses with the presenters; these serializers only describe them."""

from __future__ import annotations

from rest_framework import serializers

from dashboard.models import Run


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


class WorkloadSerializer(serializers.Serializer):
    name = serializers.CharField()
    title = serializers.CharField()
    description = serializers.CharField()
    num_classes = serializers.IntegerField()
    batch_size = serializers.IntegerField()
    default_epochs = serializers.IntegerField()
    target_accuracy = serializers.FloatField()
    optimizer = serializers.DictField()
    prefers_gpu = serializers.BooleanField()
    options = serializers.ListField(child=serializers.DictField())
    plugin = serializers.DictField(
        allow_null=True, help_text="null: built in; else the plugin's entry_point, distribution and version"
    )


class WorkloadPluginSerializer(serializers.Serializer):
    entry_point = serializers.CharField(help_text="its name in the lr_arena.workloads entry point group")
    target = serializers.CharField(help_text="package.module:attribute")
    distribution = serializers.CharField(allow_null=True)
    version = serializers.CharField(allow_null=True)
    workloads = serializers.ListField(child=serializers.CharField())
    loaded = serializers.BooleanField()
    error = serializers.CharField(allow_null=True, help_text="why it did not load; null when it did")


class CurveSerializer(serializers.Serializer):
    spec = serializers.DictField()
    epochs = serializers.FloatField()
    t = serializers.ListField(child=serializers.FloatField())
    lr = serializers.ListField(child=serializers.FloatField(allow_null=True))
    unit = serializers.CharField()
    assumption = serializers.CharField(required=False, allow_null=True)


class RunStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=[value for value, _ in Run.Status.choices])
    workload = serializers.CharField()
    workload_options = serializers.DictField(help_text="the workload's options that differ from its defaults")
    policy = serializers.IntegerField()
    policy_name = serializers.CharField()
    policy_spec = serializers.DictField()
    epochs = serializers.IntegerField()
    seed = serializers.IntegerField()
    study = serializers.IntegerField(allow_null=True)
    lr_scale = serializers.FloatField()
    target_accuracy = serializers.FloatField(allow_null=True)
    epochs_done = serializers.IntegerField()
    progress = serializers.DictField(
        help_text="the epoch under way as last reported, every few seconds at most: epoch, iteration, "
        "steps_per_epoch, loss (since the last report), epoch_loss, seconds; {} before the first report"
    )
    device = serializers.CharField(allow_blank=True, help_text="the device it trains on, by name")
    device_request = serializers.ChoiceField(choices=[value for value, _ in Run.Device.choices])
    queue = serializers.CharField(allow_blank=True, help_text="the Celery queue it was sent to: cpu or gpu")
    worker = serializers.CharField(allow_blank=True)
    attempt = serializers.IntegerField(help_text="how many times a worker started it (a takeover adds one)")
    error = serializers.CharField(allow_blank=True)
    self_reported = serializers.BooleanField(
        help_text="trained by the team's own loop and reported through the API, not by a worker"
    )
    iterations_per_epoch = serializers.IntegerField(allow_null=True, help_text="as the reporting loop declared it")
    num_classes = serializers.IntegerField(allow_null=True, help_text="as the reporting loop declared it")
    created_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    summary = serializers.DictField()


class RunDetailSerializer(RunStateSerializer):
    epoch_metrics = serializers.ListField(child=serializers.DictField())


class ReportedEpochSerializer(serializers.Serializer):
    epoch = serializers.DictField(help_text="the epoch as stored (and broadcast to the run page)")
    created = serializers.BooleanField(help_text="false: this epoch was already stored with the same values")
    run = RunStateSerializer()


class StudyStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    team = serializers.CharField()
    workload = serializers.CharField()
    workload_options = serializers.DictField(help_text="every run's workload options (those not at the defaults)")
    epochs = serializers.IntegerField()
    seeds = serializers.ListField(child=serializers.IntegerField())
    target_accuracy = serializers.FloatField()
    lr_scales = serializers.ListField(child=serializers.FloatField())
    halving_eta = serializers.IntegerField(allow_null=True)
    policies = serializers.ListField(child=serializers.DictField())
    created_at = serializers.DateTimeField()


class StudyDetailSerializer(StudyStateSerializer):
    progress = serializers.DictField()
    halving = serializers.DictField(
        allow_null=True, help_text="once every run finished: what successive halving (eta 3) would stop and save"
    )


class LeaderboardSerializer(serializers.Serializer):
    workload = serializers.CharField()
    options = serializers.DictField(help_text="the board's workload options (those that differ from the defaults)")
    variants = serializers.ListField(
        child=serializers.DictField(), help_text="every set of workload options that runs of this workload used"
    )
    epochs = serializers.IntegerField(allow_null=True)
    budgets = serializers.ListField(child=serializers.IntegerField())
    view = serializers.CharField()
    rank = serializers.CharField()
    weights = serializers.DictField(child=serializers.FloatField())
    rows = serializers.ListField(
        child=serializers.DictField(),
        help_text="one per policy: rank, group (rank group: policies the test cannot tell apart share one), n, "
        "diverged, each metric as {mean, std, n, ci95: [lo, hi] or null when n < 2}, separate_next "
        "({policy, seeds}: seeds per policy for 80% power against the next row), devices",
    )
    pareto = serializers.ListField(child=serializers.IntegerField())
    ranking_metric = serializers.CharField(allow_null=True, help_text="the per-seed metric ranks and groups rest on")
    groups_test = serializers.CharField(allow_null=True, help_text="how rank groups are formed; null: no groups")
    devices = serializers.ListField(child=serializers.CharField(), help_text="the devices behind the seconds columns")


class CompareSerializer(serializers.Serializer):
    x = serializers.CharField()
    series = serializers.ListField(child=serializers.DictField())
    downsampled = serializers.BooleanField()
    max_points = serializers.IntegerField()


class TeamSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    role = serializers.CharField()
    current = serializers.BooleanField()
    max_active_runs = serializers.IntegerField()
    max_epochs_per_run = serializers.IntegerField()
    max_runs_per_study = serializers.IntegerField()


class KindSerializer(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    group = serializers.CharField()
    description = serializers.CharField()
    formula = serializers.CharField(allow_blank=True)
    units = serializers.ListField(child=serializers.CharField())
    default_unit = serializers.CharField()
    params = serializers.ListField(child=serializers.DictField())


def page_of(item_serializer, name: str):
    """A LimitOffsetPagination page of `item_serializer` items, for the schema."""
    return type(
        name,
        (serializers.Serializer,),
        {
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item_serializer(many=True),
        },
    )
