"""Who may see and change what. Views, the API, websocket consumers and the
admin ask this module; none of them filters by team on its own.

- A user sees the policies, runs and studies of the teams they belong to, and
  every published policy (with its results).
- Objects of other teams are reported as missing (404), never as forbidden,
  so that their existence is not revealed.
- Roles: viewers read; members also create policies, runs and studies and
  cancel their own runs; admins also manage members and invitations, publish
  to the shared leaderboard and cancel anyone's runs in the team.
- New objects are filed under the user's current team: the one chosen in the
  session (the team switcher), or named by the API's `X-Arena-Team` header,
  else the first team the user joined.
"""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import Http404

from dashboard.models import EpochMetric, Invitation, Membership, Policy, Run, Study, Team

Role = Membership.Role
WRITE_ROLES = (Role.MEMBER, Role.ADMIN)
SESSION_TEAM_KEY = "arena_team_id"
TEAM_HEADER = "HTTP_X_ARENA_TEAM"


# -- teams and roles -------------------------------------------------------------------


def teams_for(user) -> QuerySet[Team]:
    if not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(memberships__user=user).distinct()


def role_in(user, team: Team) -> str | None:
    if not user.is_authenticated:
        return None
    membership = Membership.objects.filter(user=user, team=team).only("role").first()
    return membership.role if membership else None


def can_write(user, team: Team) -> bool:
    return role_in(user, team) in WRITE_ROLES


def is_team_admin(user, team: Team) -> bool:
    return role_in(user, team) == Role.ADMIN


def current_team(request) -> Team | None:
    """The team the request acts for (see the module docstring)."""
    user = request.user
    teams = teams_for(user).order_by("pk")
    wanted = request.META.get(TEAM_HEADER)
    if wanted:
        lookup = Q(slug=wanted) | (Q(pk=int(wanted)) if wanted.isdigit() else Q())
        team = teams.filter(lookup).first()
        if team is None:
            raise Http404(f"You are not in a team {wanted!r}")
        return team
    session = getattr(request, "session", None)
    team_id = session.get(SESSION_TEAM_KEY) if session is not None else None
    if team_id is not None:
        team = teams.filter(pk=team_id).first()
        if team is not None:
            return team
    return teams.first()


def writable_team(request) -> Team:
    """The current team, when the user may create things in it; PermissionDenied otherwise."""
    team = current_team(request)
    if team is None:
        raise PermissionDenied("Join a team first: ask a team admin for an invitation link.")
    if not can_write(request.user, team):
        raise PermissionDenied(f"You are a viewer in {team.name}: viewers cannot create or change anything.")
    return team


def team_admin_or_403(user, team: Team) -> None:
    if not is_team_admin(user, team):
        raise PermissionDenied(f"Only admins of {team.name} can do this.")


def get_team_for_user(user, slug: str) -> Team:
    team = teams_for(user).filter(slug=slug).first()
    if team is None:
        raise Http404("No such team")
    return team


def get_member(team: Team, user_id):
    """A member of `team` (a user), or 404."""
    from django.contrib.auth import get_user_model

    try:
        return get_user_model().objects.get(pk=user_id, memberships__team=team)
    except (ObjectDoesNotExist, ValueError, TypeError):
        raise Http404("No such member of this team") from None


def open_invitations(team: Team) -> QuerySet[Invitation]:
    """The invitations an admin of the team sees (revoked ones leave the list)."""
    return team.invitations.filter(revoked=False).order_by("-created_at")


def get_invitation_for_admin(user, team: Team, pk) -> Invitation:
    """One of the team's invitations, for its admins only (403 for other members, 404 if not the team's)."""
    team_admin_or_403(user, team)
    try:
        return team.invitations.get(pk=pk)
    except (Invitation.DoesNotExist, ValueError, TypeError):
        raise Http404("No such invitation") from None


# -- policies ----------------------------------------------------------------------------


def policies_for(user) -> QuerySet[Policy]:
    """The user's teams' policies (archived ones included: they keep their results)."""
    return Policy.objects.filter(team__in=teams_for(user))


def usable_policies(user) -> QuerySet[Policy]:
    """Policies a user may pick for a run or study: their teams' and every published one, not archived."""
    if not user.is_authenticated:
        return Policy.objects.none()
    return Policy.objects.filter(Q(team__in=teams_for(user)) | Q(published=True), archived=False).distinct()


def visible_policies(user) -> QuerySet[Policy]:
    if not user.is_authenticated:
        return Policy.objects.none()
    return Policy.objects.filter(Q(team__in=teams_for(user)) | Q(published=True)).distinct()


def get_policy_for_user(user, pk) -> Policy:
    """A policy of the user's teams, or a published one (read-only for outsiders)."""
    try:
        return visible_policies(user).select_related("team", "created_by").get(pk=pk)
    except (Policy.DoesNotExist, ValueError, TypeError):
        raise Http404("No such policy") from None


def policy_writable_or_403(user, policy: Policy) -> None:
    if not can_write(user, policy.team):
        raise PermissionDenied("Only members of the policy's team can change it.")


# -- runs and studies --------------------------------------------------------------------


def runs_for(user) -> QuerySet[Run]:
    return Run.objects.filter(team__in=teams_for(user))


def published_runs() -> QuerySet[Run]:
    """Runs of published policies by their own team: the shared leaderboard."""
    return Run.objects.filter(policy__published=True, team=F("policy__team"))


def board_audience(run: Run) -> tuple[int | None, bool]:
    """Who sees a change of this run on a leaderboard: (the team whose board shows it, or None when
    everyone signed in sees it on the shared board). The team board shows `runs_for`, the shared
    one `published_runs`; a published entry is on both, so everyone is told once."""
    if published_runs().filter(pk=run.pk).exists():
        return None, True
    return run.team_id, False


def board_team_ids(user) -> list[int]:
    """The teams whose leaderboard changes a user is told about (besides the shared board's)."""
    return list(teams_for(user).values_list("pk", flat=True))


def get_run_for_user(user, pk) -> Run:
    try:
        return runs_for(user).select_related("policy", "team").get(pk=pk)
    except (Run.DoesNotExist, ValueError, TypeError):
        raise Http404("No such run") from None


def can_view_run(user, run_id) -> bool:
    return runs_for(user).filter(pk=run_id).exists()


def can_cancel_run(user, run: Run) -> bool:
    role = role_in(user, run.team)
    return role == Role.ADMIN or (role == Role.MEMBER and run.created_by_id == user.pk)


def get_run_to_report(user, pk) -> Run:
    """A self-reported run its reporter may add epochs to, finish or fail: whoever may cancel it (the
    member who opened it, or a team admin); 404 when the user does not see it, 403 for other roles."""
    run = get_run_for_user(user, pk)
    if not can_cancel_run(user, run):
        raise PermissionDenied("Members report to the runs they opened; team admins to any of the team's.")
    return run


def studies_for(user) -> QuerySet[Study]:
    return Study.objects.filter(team__in=teams_for(user))


def get_study_for_user(user, pk) -> Study:
    try:
        return studies_for(user).select_related("team").get(pk=pk)
    except (Study.DoesNotExist, ValueError, TypeError):
        raise Http404("No such study") from None


# -- the Django admin ------------------------------------------------------------------------

# How each model reaches its team. Admin changelists, form choices (foreign keys, many-to-many),
# list filters and saves all go through this map; `admin_choices` answers None for a model that
# belongs to no team (users), and the admin shows its default choices.
ADMIN_TEAM_PATHS = {
    Team: "pk",
    Membership: "team",
    Invitation: "team",
    Policy: "team",
    Study: "team",
    Run: "team",
    EpochMetric: "run__team",
}


def admin_teams(user) -> QuerySet[Team]:
    """The teams a staff user manages in the admin: every team for superusers, else those they are admin of."""
    if user.is_superuser:
        return Team.objects.all()
    return Team.objects.filter(memberships__user=user, memberships__role=Role.ADMIN)


def admin_scope(user, queryset: QuerySet, team_path: str = "team") -> QuerySet:
    """What a staff user manages in the admin: everything for superusers, else their admin teams' objects."""
    if user.is_superuser:
        return queryset
    return queryset.filter(**{f"{team_path}__in": admin_teams(user)})


def admin_choices(user, model) -> QuerySet | None:
    """The objects of `model` a staff user may pick in an admin form or filter; None: not a team's model."""
    team_path = ADMIN_TEAM_PATHS.get(model)
    if team_path is None:
        return None
    return admin_scope(user, model._default_manager.all(), team_path)


def admin_may_save(user, obj, team_path: str = "team") -> bool:
    """May a staff user save `obj` (new or changed) in the admin? Only into a team they manage."""
    if user.is_superuser:
        return True
    team = obj
    for step in team_path.split("__") if team_path != "pk" else []:
        team = getattr(team, step, None)
    return team is not None and team.pk is not None and admin_teams(user).filter(pk=team.pk).exists()


# -- research jobs ---------------------------------------------------------------------------------


def jobs_for(user) -> QuerySet:
    from dashboard.models import Job

    return Job.objects.filter(team__in=teams_for(user))


def get_job_for_user(user, pk):
    from dashboard.models import Job

    try:
        return jobs_for(user).select_related("team").get(pk=pk)
    except (Job.DoesNotExist, ValueError, TypeError):
        raise Http404("No such job") from None


def can_cancel_job(user, job) -> bool:
    role = role_in(user, job.team)
    return role == Role.ADMIN or (role == Role.MEMBER and job.created_by_id == user.pk)
