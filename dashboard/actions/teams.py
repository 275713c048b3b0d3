"""Teams, their members and roles, and invitations."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from dashboard.models import Invitation, Membership, Team


def create_team(*, user, name: str) -> Team:
    from django.utils.text import slugify

    base = slugify(name)[:90] or "team"
    slug, number = base, 2
    while Team.objects.filter(slug=slug).exists():
        slug, number = f"{base}-{number}", number + 1
    with transaction.atomic():
        team = Team.objects.create(name=name, slug=slug)
        Membership.objects.create(user=user, team=team, role=Membership.Role.ADMIN)
    return team


def set_role(team: Team, member, role: str) -> Membership:
    """Change a member's role; a team always keeps at least one admin."""
    membership = Membership.objects.get(team=team, user=member)
    if membership.role == Membership.Role.ADMIN and role != Membership.Role.ADMIN:
        if not Membership.objects.filter(team=team, role=Membership.Role.ADMIN).exclude(pk=membership.pk).exists():
            raise ValueError("A team needs at least one admin: make someone else admin first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


def remove_member(team: Team, member) -> None:
    membership = Membership.objects.get(team=team, user=member)
    if membership.role == Membership.Role.ADMIN and not (
        Membership.objects.filter(team=team, role=Membership.Role.ADMIN).exclude(pk=membership.pk).exists()
    ):
        raise ValueError("A team needs at least one admin: make someone else admin first.")
    membership.delete()


def invitation_token() -> str:
    import secrets

    return secrets.token_urlsafe(24)


def create_invitation(*, team: Team, user, role: str, days: int = 7, max_uses: int = 1) -> Invitation:
    from datetime import timedelta

    return Invitation.objects.create(
        team=team,
        role=role,
        created_by=user,
        token=invitation_token(),
        expires_at=timezone.now() + timedelta(days=days),
        max_uses=max_uses,
    )


def revoke_invitation(invitation: Invitation) -> Invitation:
    invitation.revoked = True
    invitation.save(update_fields=["revoked"])
    return invitation


def invitation_for_token(token: str) -> tuple[Invitation | None, str | None]:
    """The invitation of a link, and what keeps it from being accepted (None: nothing)."""
    invitation = Invitation.objects.select_related("team").filter(token=token).first()
    if invitation is None:
        return None, "This invitation link is not valid."
    return invitation, invitation_problem(invitation)


def invitation_problem(invitation: Invitation) -> str | None:
    if invitation.revoked:
        return "This invitation was revoked."
    if invitation.expires_at <= timezone.now():
        return "This invitation has expired."
    if invitation.uses >= invitation.max_uses:
        return "This invitation has already been used."
    return None


def accept_invitation(invitation: Invitation, user) -> Membership:
    """Join the invitation's team. Existing members keep their role."""
    with transaction.atomic():
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        problem = invitation_problem(invitation)
        if problem:
            raise ValueError(problem)
        membership, created = Membership.objects.get_or_create(
            user=user, team=invitation.team, defaults={"role": invitation.role}
        )
        if created:
            invitation.uses += 1
            invitation.save(update_fields=["uses"])
    return membership
