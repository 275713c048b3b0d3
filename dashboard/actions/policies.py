"""Policies: create, edit, publish to the shared board, archive, duplicate, convert."""

from __future__ import annotations

from django.utils import timezone

from dashboard.actions.common import board_changed
from dashboard.models import Policy, Run, Team


def create_policy(*, team: Team, user, name: str, spec: dict, description: str = "") -> Policy:
    return Policy.objects.create(team=team, created_by=user, name=name, spec=spec, description=description)


def update_policy(policy: Policy, *, name: str, description: str, spec: dict | None = None) -> Policy:
    """Rename or redescribe a policy; its spec changes only while no run has used it."""
    policy.name = name
    policy.description = description
    fields = ["name", "description", "updated_at"]
    if spec is not None:
        policy.spec = spec
        fields.append("spec")
    policy.save(update_fields=fields)
    return policy


def publish_policy(policy: Policy) -> Policy:
    """Put a policy and its team's results on the shared leaderboard."""
    if not policy.published:
        policy.published = True
        policy.published_at = timezone.now()
        policy.save(update_fields=["published", "published_at", "updated_at"])
        _board_changed_for(policy)
    return policy


def unpublish_policy(policy: Policy) -> Policy:
    """Take a policy off the shared leaderboard. Nothing is deleted."""
    if policy.published:
        policy.published = False
        policy.save(update_fields=["published", "updated_at"])
        _board_changed_for(policy)
    return policy


def archive_policy(policy: Policy, archived: bool = True) -> Policy:
    policy.archived = archived
    policy.save(update_fields=["archived", "updated_at"])
    return policy


def duplicate_policy(policy: Policy, *, user, team: Team | None = None) -> Policy:
    team = team or policy.team
    name = free_policy_name(team, f"Copy of {policy.name}")
    return create_policy(team=team, user=user, name=name, spec=policy.spec, description=policy.description)


def free_policy_name(team: Team, wanted: str) -> str:
    """`wanted`, or `wanted (2)`, `(3)` … : the first name the team's policies do not use yet."""
    base = wanted[:90]
    taken = set(Policy.objects.filter(team=team, name__startswith=base).values_list("name", flat=True))
    name, number = base, 2
    while name in taken:
        name, number = f"{base} ({number})", number + 1
    return name


def _board_changed_for(policy: Policy) -> None:
    """A policy was published or unpublished: its team's entries joined or left the shared board."""
    workloads = set(Run.objects.filter(policy=policy, team=policy.team).values_list("workload", flat=True))
    for workload in workloads:
        board_changed(workload, None, True)


def convert_policy(policy: Policy, *, user, team: Team, wd: float, momentum: float, steps_per_epoch: int) -> Policy:
    """Li & Arora: the policy used with weight decay, as the equivalent one without it."""
    from trainer.schedules import remove_weight_decay

    spec = remove_weight_decay(policy.spec, wd, momentum, steps_per_epoch)
    name = free_policy_name(team, f"{policy.name} without WD")
    description = (
        f"“{policy.name}” trained with weight decay {wd:g} and momentum {momentum:g}, converted to the exactly "
        f"equivalent schedule trained without weight decay (Li & Arora's recursion, {steps_per_epoch} iterations "
        "per epoch). Train it with weight decay 0: on a scale-invariant network it computes the same function "
        "at every step while the weight norm grows."
    )
    return create_policy(team=team, user=user, name=name, spec=spec, description=description)
