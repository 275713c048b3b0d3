"""The teams API: create a team; list members, change their roles, remove them; create, list, revoke
and accept invitation links.

The rules are the team pages' (`team_views`): their forms validate the input, `access` decides who
may do what (404 for outsiders, 403 for members who are not admins) and `actions` changes things.
Errors come in the API's one format (`api/errors.py`).
"""

from __future__ import annotations

from django import forms
from django.db import IntegrityError
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import access, actions
from dashboard.api.schemas import ErrorSerializer, TeamSerializer
from dashboard.models import Invitation, Membership, Team
from dashboard.team_views import InvitationForm, TeamForm

ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


# -- input: the pages' forms, described for the schema ---------------------------------------------


def _field_from(form_field: forms.Field) -> serializers.Field:
    """A serializer field with a form field's type, bounds and default (for the schema and for JSON types)."""
    options: dict = {"help_text": str(form_field.label or "") or None}
    if form_field.initial is not None:
        options["default"] = form_field.initial
    else:
        options["required"] = form_field.required
    if isinstance(form_field, forms.ChoiceField):
        return serializers.ChoiceField(choices=form_field.choices, **options)
    if isinstance(form_field, forms.IntegerField):
        return serializers.IntegerField(min_value=form_field.min_value, max_value=form_field.max_value, **options)
    return serializers.CharField(max_length=form_field.max_length, **options)


def serializer_of(form_class: type[forms.Form], name: str) -> type[serializers.Serializer]:
    """A serializer with the fields of a page's form that validates with the form itself: one set of rules."""

    def validate(self, data: dict) -> dict:
        form = form_class(data)
        if not form.is_valid():
            raise ValidationError({field: list(errors) for field, errors in form.errors.items()})
        return form.cleaned_data

    fields = {field_name: _field_from(field) for field_name, field in form_class.base_fields.items()}
    return type(name, (serializers.Serializer,), {**fields, "validate": validate})


TeamCreateSerializer = serializer_of(TeamForm, "TeamCreateSerializer")
InvitationCreateSerializer = serializer_of(InvitationForm, "InvitationCreateSerializer")


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class AcceptSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=64, help_text="the last part of the invitation link")


# -- output ----------------------------------------------------------------------------------------------


class MemberSerializer(serializers.Serializer):
    user = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class InvitationSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    team = serializers.CharField(help_text="the team's slug")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    token = serializers.CharField()
    link = serializers.URLField(help_text="the page that accepts it; or POST the token to /api/invitations/accept/")
    uses = serializers.IntegerField()
    max_uses = serializers.IntegerField()
    expires_at = serializers.DateTimeField()
    revoked = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True)
    problem = serializers.CharField(allow_null=True, help_text="why it cannot be accepted now; null if it can")


def team_row(team: Team, role: str, current: Team | None) -> dict:
    return {
        "slug": team.slug,
        "name": team.name,
        "role": role,
        "current": current is not None and current.pk == team.pk,
        "max_active_runs": team.max_active_runs,
        "max_epochs_per_run": team.max_epochs_per_run,
        "max_runs_per_study": team.max_runs_per_study,
    }


def member_row(membership: Membership) -> dict:
    return {"user": membership.user_id, "username": membership.user.get_username(), "role": membership.role}


def invitation_row(request: Request, invitation: Invitation) -> dict:
    return {
        "id": invitation.pk,
        "team": invitation.team.slug,
        "role": invitation.role,
        "token": invitation.token,
        "link": request.build_absolute_uri(reverse("invite-accept", args=[invitation.token])),
        "uses": invitation.uses,
        "max_uses": invitation.max_uses,
        "expires_at": invitation.expires_at,
        "revoked": invitation.revoked,
        "created_at": invitation.created_at,
        "created_by": invitation.created_by.get_username() if invitation.created_by else None,
        "problem": actions.invitation_problem(invitation),
    }


# -- teams -------------------------------------------------------------------------------------------------


@extend_schema(methods=["GET"], operation_id="teams_list", responses={200: TeamSerializer(many=True)})
@extend_schema(methods=["POST"], request=TeamCreateSerializer, responses={201: TeamSerializer, 400: ErrorSerializer})
@api_view(["GET", "POST"])
def teams(request: Request) -> Response:
    """Your teams; POST creates one, with you as its admin."""
    current = access.current_team(request)  # an X-Arena-Team header of no team of yours is a 404, before any write
    if request.method == "POST":
        serializer = TeamCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            team = actions.create_team(user=request.user, name=serializer.validated_data["name"])
        except IntegrityError:  # a concurrent request took the name or the slug: the form now says which
            serializer = TeamCreateSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            team = actions.create_team(user=request.user, name=serializer.validated_data["name"])
        return Response(team_row(team, Membership.Role.ADMIN, current or team), status=status.HTTP_201_CREATED)
    memberships = Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    return Response([team_row(m.team, m.role, current) for m in memberships])


# -- members and roles -----------------------------------------------------------------------------------


@extend_schema(responses={200: MemberSerializer(many=True), 404: ErrorSerializer})
@api_view(["GET"])
def members(request: Request, slug: str) -> Response:
    """The team's members and their roles (any member may read them, as on the team page)."""
    team = access.get_team_for_user(request.user, slug)
    memberships = team.memberships.select_related("user").order_by("user__username")
    return Response([member_row(m) for m in memberships])


@extend_schema(methods=["PATCH"], request=RoleSerializer, responses={200: MemberSerializer, **ERRORS})
@extend_schema(methods=["DELETE"], request=None, responses={204: None, **ERRORS})
@api_view(["PATCH", "DELETE"])
def member(request: Request, slug: str, user_id: int) -> Response:
    """Admins change a member's role or remove them; a team always keeps an admin."""
    team = access.get_team_for_user(request.user, slug)
    access.team_admin_or_403(request.user, team)
    user = access.get_member(team, user_id)
    if request.method == "DELETE":
        try:
            actions.remove_member(team, user)
        except ValueError as exc:
            raise ValidationError({"non_field_errors": [str(exc)]}) from None
        return Response(status=status.HTTP_204_NO_CONTENT)
    serializer = RoleSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        membership = actions.set_role(team, user, serializer.validated_data["role"])
    except ValueError as exc:
        raise ValidationError({"role": [str(exc)]}) from None
    return Response(member_row(membership))


# -- invitations ------------------------------------------------------------------------------------------


@extend_schema(
    methods=["GET"], operation_id="teams_invitations_list", responses={200: InvitationSerializer(many=True), **ERRORS}
)
@extend_schema(methods=["POST"], request=InvitationCreateSerializer, responses={201: InvitationSerializer, **ERRORS})
@api_view(["GET", "POST"])
def invitations(request: Request, slug: str) -> Response:
    """The team's open invitation links (admins only); POST creates one."""
    team = access.get_team_for_user(request.user, slug)
    access.team_admin_or_403(request.user, team)
    if request.method == "POST":
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = actions.create_invitation(team=team, user=request.user, **serializer.validated_data)
        return Response(invitation_row(request, invitation), status=status.HTTP_201_CREATED)
    return Response(
        [invitation_row(request, i) for i in access.open_invitations(team).select_related("team", "created_by")]
    )


@extend_schema(request=None, responses={200: InvitationSerializer, **ERRORS})
@api_view(["POST"])
def invitation_revoke(request: Request, slug: str, pk: int) -> Response:
    team = access.get_team_for_user(request.user, slug)
    invitation = access.get_invitation_for_admin(request.user, team, pk)
    return Response(invitation_row(request, actions.revoke_invitation(invitation)))


@extend_schema(
    request=AcceptSerializer,
    responses={200: TeamSerializer, 400: ErrorSerializer, 404: ErrorSerializer, 410: ErrorSerializer},
)
@api_view(["POST"])
def invitation_accept(request: Request) -> Response:
    """Join the team of an invitation; a member already keeps their role."""
    current = access.current_team(request)
    serializer = AcceptSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    invitation, problem = actions.invitation_for_token(serializer.validated_data["token"])
    if invitation is None:
        return Response({"detail": problem}, status=status.HTTP_404_NOT_FOUND)
    try:
        if problem:
            raise ValueError(problem)
        membership = actions.accept_invitation(invitation, request.user)
    except ValueError as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_410_GONE)
    return Response(team_row(membership.team, membership.role, current or membership.team))
