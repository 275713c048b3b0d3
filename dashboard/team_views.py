"""Teams: switching, members and roles, invitation links."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from dashboard import access, actions
from dashboard.models import Invitation, Membership


class TeamForm(forms.Form):
    name = forms.CharField(max_length=100)

    def clean_name(self) -> str:
        from dashboard.models import Team

        name = self.cleaned_data["name"].strip()
        if Team.objects.filter(name__iexact=name).exists():
            raise forms.ValidationError("A team with this name exists.")
        return name


class InvitationForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.MEMBER)
    days = forms.IntegerField(min_value=1, max_value=90, initial=7, label="valid for (days)")
    max_uses = forms.IntegerField(min_value=1, max_value=1000, initial=1, label="uses")


@login_required
def team_list(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("team").order_by("team__name")
    form = TeamForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        team = actions.create_team(user=request.user, name=form.cleaned_data["name"])
        request.session[access.SESSION_TEAM_KEY] = team.pk
        messages.success(request, f"Team “{team.name}” created; you are its admin.")
        return redirect("team-detail", slug=team.slug)
    current = access.current_team(request)
    return render(
        request,
        "dashboard/team_list.html",
        {"memberships": memberships, "form": form, "current": current},
        status=400 if request.method == "POST" else 200,
    )


@login_required
@require_POST
def team_switch(request: HttpRequest) -> HttpResponse:
    team = access.get_team_for_user(request.user, request.POST.get("team", ""))
    request.session[access.SESSION_TEAM_KEY] = team.pk
    messages.info(request, f"Now working in {team.name}.")
    next_url = request.POST.get("next") or reverse("home")
    return redirect(next_url if next_url.startswith("/") and not next_url.startswith("//") else reverse("home"))


@login_required
def team_detail(request: HttpRequest, slug: str) -> HttpResponse:
    team = access.get_team_for_user(request.user, slug)
    is_admin = access.is_team_admin(request.user, team)
    invitation_form = InvitationForm()
    if request.method == "POST":
        access.team_admin_or_403(request.user, team)
        invitation_form = _handle_admin_post(request, team)
        if invitation_form is None:
            return redirect("team-detail", slug=team.slug)
    memberships = team.memberships.select_related("user").order_by("user__username")
    invitations = access.open_invitations(team) if is_admin else []
    return render(
        request,
        "dashboard/team_detail.html",
        {
            "team": team,
            "memberships": memberships,
            "invitations": invitations,
            "is_admin": is_admin,
            "invitation_form": invitation_form,
            "roles": Membership.Role.choices,
            "my_role": access.role_in(request.user, team),
        },
    )


def _handle_admin_post(request: HttpRequest, team) -> InvitationForm | None:
    """An admin's action on the team page; returns a form to show again when it was invalid."""
    action = request.POST.get("action")
    if action == "invite":
        form = InvitationForm(request.POST)
        if not form.is_valid():
            return form
        invitation = actions.create_invitation(team=team, user=request.user, **form.cleaned_data)
        link = request.build_absolute_uri(reverse("invite-accept", args=[invitation.token]))
        messages.success(request, f"Invitation link ({invitation.role}): {link}")
        return None
    if action == "revoke":
        actions.revoke_invitation(access.get_invitation_for_admin(request.user, team, request.POST.get("invitation")))
        return None
    member = access.get_member(team, request.POST.get("user"))
    try:
        if action == "role" and request.POST.get("role") in Membership.Role.values:
            actions.set_role(team, member, request.POST["role"])
        elif action == "remove":
            actions.remove_member(team, member)
    except ValueError as exc:
        messages.error(request, str(exc))
    return None


def invite_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation, problem = actions.invitation_for_token(token)
    if problem:
        return render(request, "dashboard/invite.html", {"problem": problem}, status=410 if invitation else 404)
    signup = None
    if request.user.is_authenticated:
        if request.method == "POST":
            return _join(request, invitation, request.user)
    else:
        signup = UserCreationForm(request.POST or None)
        if request.method == "POST" and signup.is_valid():
            user = signup.save()
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return _join(request, invitation, user)
    return render(request, "dashboard/invite.html", {"invitation": invitation, "signup": signup})


def _join(request: HttpRequest, invitation: Invitation, user) -> HttpResponse:
    try:
        membership = actions.accept_invitation(invitation, user)
    except ValueError as exc:
        return render(request, "dashboard/invite.html", {"problem": str(exc)}, status=410)
    request.session[access.SESSION_TEAM_KEY] = membership.team_id
    messages.success(request, f"You joined {membership.team.name} as {membership.role}.")
    return redirect("team-detail", slug=membership.team.slug)
