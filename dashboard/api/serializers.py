from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from dashboard import access
from dashboard.models import Policy
from trainer import schedules
from trainer.workloads import list_workloads


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


class PreviewSerializer(serializers.Serializer):
    spec = SpecField()
    epochs = serializers.FloatField(min_value=1e-6, max_value=100_000, default=30)
    points = serializers.IntegerField(min_value=2, max_value=20_000, default=settings.ARENA_PREVIEW_POINTS)
    steps_per_epoch = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)


class PolicySerializer(serializers.ModelSerializer):
    spec = SpecField()
    kind = serializers.CharField(read_only=True)
    team = serializers.CharField(source="team.name", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = Policy
        fields = ["id", "name", "description", "spec", "kind", "team", "created_by", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]

    def validate_name(self, value: str) -> str:
        value = value.strip()
        team = self.context.get("team")
        if team is not None and team.policies.filter(name=value).exists():
            raise serializers.ValidationError("Your team already has a policy with this name.")
        return value


class RunCreateSerializer(serializers.Serializer):
    policy = serializers.PrimaryKeyRelatedField(queryset=Policy.objects.none())
    workload = serializers.ChoiceField(choices=[])
    epochs = serializers.IntegerField(min_value=1)
    seed = serializers.IntegerField(min_value=0, max_value=2**31 - 1, default=0)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        request = self.context["request"]
        self.fields["policy"].queryset = access.policies_for(request.user)
        self.fields["workload"].choices = _workload_names()

    def validate_epochs(self, value: int) -> int:
        if value > settings.ARENA_MAX_EPOCHS:
            raise serializers.ValidationError(f"At most {settings.ARENA_MAX_EPOCHS} epochs per run.")
        return value


class LeaderboardQuerySerializer(serializers.Serializer):
    workload = serializers.ChoiceField(choices=[])
    epochs = serializers.IntegerField(min_value=1, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workload"].choices = _workload_names()


class RunFilterSerializer(serializers.Serializer):
    status = serializers.CharField(required=False)
    workload = serializers.CharField(required=False)
    policy = serializers.IntegerField(required=False, min_value=1)
