"""Who may see and change what. Views, the API, websocket consumers and the
admin ask this module; none of them filters by team on its own.

A user sees the policies and runs of the teams they belong to. Objects of
other teams are reported as missing (404), never as forbidden, so that their
existence is not revealed.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.http import Http404

from dashboard.models import Membership, Policy, Run, Study, Team

WRITE_ROLES = (Membership.Role.MEMBER, Membership.Role.ADMIN)


def teams_for(user) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).distinct()


def writable_teams_for(user) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user, memberships__role__in=WRITE_ROLES).distinct()


def current_team(user) -> Team | None:
    """The team new policies and runs are filed under: the user's first writable team."""
    return writable_teams_for(user).order_by("pk").first()


def can_write(user, team: Team) -> bool:
    return user.is_authenticated and Membership.objects.filter(user=user, team=team, role__in=WRITE_ROLES).exists()


def policies_for(user) -> QuerySet[Policy]:
    return Policy.objects.filter(team__in=teams_for(user))


def runs_for(user) -> QuerySet[Run]:
    return Run.objects.filter(team__in=teams_for(user))


def usable_policies(user) -> QuerySet[Policy]:
    """Policies a user may run: their teams' and every published one."""
    if not user.is_authenticated:
        return Policy.objects.none()
    return Policy.objects.filter(Q(team__in=teams_for(user)) | Q(published=True)).distinct()


def studies_for(user) -> QuerySet[Study]:
    return Study.objects.filter(team__in=teams_for(user))


def get_study_for_user(user, pk) -> Study:
    try:
        return studies_for(user).select_related("team").get(pk=pk)
    except (Study.DoesNotExist, ValueError, TypeError):
        raise Http404("No such study") from None


def published_runs() -> QuerySet[Run]:
    """Runs of published policies, from every team: the shared leaderboard."""
    return Run.objects.filter(policy__published=True)


def get_policy_for_user(user, pk) -> Policy:
    """A policy of the user's teams, or a published one (read-only for outsiders)."""
    try:
        return usable_policies(user).select_related("team", "created_by").get(pk=pk)
    except (Policy.DoesNotExist, ValueError, TypeError):
        raise Http404("No such policy") from None


def get_run_for_user(user, pk) -> Run:
    try:
        return runs_for(user).select_related("policy", "team").get(pk=pk)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run") from None


def can_view_run(user, run_id) -> bool:
    return runs_for(user).filter(pk=run_id).exists()
