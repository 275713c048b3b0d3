"""Teams through the API: a fresh account creates a team and works in it; admins manage members,
roles and invitation links; anyone accepts an invitation. The rules are the team pages'."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from dashboard import actions
from dashboard.models import Invitation, Membership, Team
from dashboard.team_views import InvitationForm, TeamForm

pytestmark = pytest.mark.django_db

SPEC = {"kind": "FIX", "k0": 0.1}


def test_a_fresh_account_creates_a_team_and_can_then_work_in_it(api_client, cast):
    newcomer = get_user_model().objects.create_user("nina", password="nina-pass-123")
    api_client.force_authenticate(newcomer)
    assert api_client.post("/api/policies/", {"name": "p", "spec": SPEC}, format="json").status_code == 403
    response = api_client.post("/api/teams/", {"name": "Robotics Lab"}, format="json")
    assert response.status_code == 201, response.json()
    team = response.json()
    assert team["slug"] == "robotics-lab" and team["role"] == "admin" and team["current"] is True
    assert Membership.objects.get(user=newcomer, team__slug="robotics-lab").role == "admin"
    assert api_client.post("/api/policies/", {"name": "p", "spec": SPEC}, format="json").status_code == 201
    assert [t["slug"] for t in api_client.get("/api/teams/").json()] == ["robotics-lab"]


@pytest.mark.parametrize(
    "data",
    [
        {"name": "vision"},  # taken, whatever the case
        {"name": "  "},
        {"name": "x" * 101},
        {},
    ],
)
def test_a_team_name_the_page_refuses_is_refused_by_the_api(api_client, cast, data):
    teams = Team.objects.count()
    api_client.force_authenticate(cast.carol)
    response = api_client.post("/api/teams/", data, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["detail"] == "Invalid input." and body["errors"]["name"]
    page = TeamForm(data)
    assert not page.is_valid() and "name" in page.errors
    if data.get("name") == "vision":
        assert body["errors"]["name"] == page.errors["name"] == ["A team with this name exists."]
    assert Team.objects.count() == teams


def test_a_name_taken_by_a_concurrent_request_is_a_400_not_a_500(api_client, cast, monkeypatch):
    create_team = actions.create_team

    def racing(*, user, name):  # another request creates the same team between validation and insert
        if not Team.objects.filter(name=name).exists():
            Team.objects.create(name=name, slug="someone-elses")
        return create_team(user=user, name=name)

    monkeypatch.setattr(actions, "create_team", racing)
    api_client.force_authenticate(cast.carol)
    response = api_client.post("/api/teams/", {"name": "Robotics"}, format="json")
    assert response.status_code == 400 and response.json()["errors"]["name"] == ["A team with this name exists."]
    assert not Membership.objects.filter(user=cast.carol, team__name="Robotics").exists()


def test_a_team_name_must_be_text(api_client, cast):
    api_client.force_authenticate(cast.carol)
    response = api_client.post("/api/teams/", {"name": ["a list"]}, format="json")
    assert response.status_code == 400 and "name" in response.json()["errors"]


def test_a_header_naming_a_team_not_yours_creates_nothing(api_client, cast):
    api_client.force_authenticate(cast.carol)
    response = api_client.post("/api/teams/", {"name": "Robotics"}, format="json", HTTP_X_ARENA_TEAM="speech")
    assert response.status_code == 404 and not Team.objects.filter(name="Robotics").exists()


def test_listing_teams_takes_a_fixed_number_of_queries(api_client, cast, django_assert_max_num_queries):
    for name in ["A", "B", "C", "D"]:
        actions.create_team(user=cast.carol, name=name)
    api_client.force_authenticate(cast.carol)
    with django_assert_max_num_queries(4):
        assert len(api_client.get("/api/teams/").json()) == 5


def test_members_are_listed_for_every_member(api_client, cast):
    api_client.force_authenticate(cast.carol)
    members = api_client.get("/api/teams/vision/members/").json()
    assert [(m["username"], m["role"]) for m in members] == [("alice", "admin"), ("bob", "member"), ("carol", "viewer")]
    assert members[0]["user"] == cast.alice.pk


def test_an_admin_changes_a_role_and_the_member_gains_its_rights(api_client, cast):
    api_client.force_authenticate(cast.alice)
    response = api_client.patch(f"/api/teams/vision/members/{cast.carol.pk}/", {"role": "member"}, format="json")
    assert response.status_code == 200 and response.json() == {
        "user": cast.carol.pk,
        "username": "carol",
        "role": "member",
    }
    api_client.force_authenticate(cast.carol)
    assert api_client.post("/api/policies/", {"name": "by carol", "spec": SPEC}, format="json").status_code == 201


@pytest.mark.parametrize("role", ["owner", "", None, 3])
def test_an_unknown_role_names_the_field(api_client, cast, role):
    api_client.force_authenticate(cast.alice)
    response = api_client.patch(f"/api/teams/vision/members/{cast.carol.pk}/", {"role": role}, format="json")
    assert response.status_code == 400 and "role" in response.json()["errors"]
    assert Membership.objects.get(user=cast.carol, team=cast.team).role == "viewer"


def test_the_last_admin_can_neither_step_down_nor_leave(api_client, cast):
    api_client.force_authenticate(cast.alice)
    demoted = api_client.patch(f"/api/teams/vision/members/{cast.alice.pk}/", {"role": "viewer"}, format="json")
    assert demoted.status_code == 400 and "at least one admin" in demoted.json()["errors"]["role"][0]
    removed = api_client.delete(f"/api/teams/vision/members/{cast.alice.pk}/")
    assert removed.status_code == 400 and "at least one admin" in removed.json()["errors"]["non_field_errors"][0]
    assert Membership.objects.get(user=cast.alice, team=cast.team).role == "admin"


def test_a_removed_member_loses_the_teams_private_objects(api_client, cast, step_policy):
    api_client.force_authenticate(cast.alice)
    assert api_client.delete(f"/api/teams/vision/members/{cast.bob.pk}/").status_code == 204
    assert not Membership.objects.filter(user=cast.bob, team=cast.team).exists()
    api_client.force_authenticate(cast.bob)
    assert api_client.get(f"/api/policies/{step_policy.pk}/").status_code == 404


def test_someone_not_in_the_team_is_not_a_member_to_change(api_client, cast):
    api_client.force_authenticate(cast.alice)
    for user_id in [cast.oscar.pk, 999_999]:
        assert (
            api_client.patch(f"/api/teams/vision/members/{user_id}/", {"role": "admin"}, format="json").status_code
            == 404
        )
        assert api_client.delete(f"/api/teams/vision/members/{user_id}/").status_code == 404
    assert not Membership.objects.filter(user=cast.oscar, team=cast.team).exists()


def test_an_admin_creates_lists_and_revokes_invitations(api_client, cast):
    api_client.force_authenticate(cast.alice)
    created = api_client.post(
        "/api/teams/vision/invitations/", {"role": "viewer", "days": 3, "max_uses": 5}, format="json"
    )
    assert created.status_code == 201, created.json()
    invitation = created.json()
    assert invitation["role"] == "viewer" and invitation["max_uses"] == 5 and invitation["problem"] is None
    assert invitation["link"].endswith(f"/invite/{invitation['token']}/") and invitation["created_by"] == "alice"
    defaults = api_client.post("/api/teams/vision/invitations/", {}, format="json").json()
    assert (defaults["role"], defaults["max_uses"]) == ("member", 1)  # the page form's initial values
    assert {i["id"] for i in api_client.get("/api/teams/vision/invitations/").json()} == {
        invitation["id"],
        defaults["id"],
    }
    revoked = api_client.post(f"/api/teams/vision/invitations/{invitation['id']}/revoke/")
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert "revoked" in revoked.json()["problem"]
    assert [i["id"] for i in api_client.get("/api/teams/vision/invitations/").json()] == [defaults["id"]]


@pytest.mark.parametrize(
    "data, field",
    [({"days": 0}, "days"), ({"days": 91}, "days"), ({"max_uses": 1001}, "max_uses"), ({"role": "owner"}, "role")],
)
def test_invitation_limits_are_the_pages(api_client, cast, data, field):
    api_client.force_authenticate(cast.alice)
    response = api_client.post("/api/teams/vision/invitations/", data, format="json")
    assert response.status_code == 400 and field in response.json()["errors"]
    assert field in InvitationForm({"role": "member", "days": 7, "max_uses": 1, **data}).errors
    assert not Invitation.objects.exists()


def test_another_teams_invitation_cannot_be_revoked(api_client, cast):
    theirs = actions.create_invitation(team=cast.other_team, user=cast.oscar, role="admin")
    api_client.force_authenticate(cast.alice)
    assert api_client.post(f"/api/teams/vision/invitations/{theirs.pk}/revoke/").status_code == 404
    assert api_client.post(f"/api/teams/speech/invitations/{theirs.pk}/revoke/").status_code == 404
    theirs.refresh_from_db()
    assert not theirs.revoked


def test_accepting_an_invitation_joins_the_team_with_its_role(api_client, cast):
    invitation = actions.create_invitation(team=cast.team, user=cast.alice, role="viewer", max_uses=2)
    api_client.force_authenticate(cast.oscar)
    response = api_client.post("/api/invitations/accept/", {"token": invitation.token}, format="json")
    assert response.status_code == 200 and response.json()["slug"] == "vision" and response.json()["role"] == "viewer"
    assert Membership.objects.get(user=cast.oscar, team=cast.team).role == "viewer"
    again = api_client.post("/api/invitations/accept/", {"token": invitation.token}, format="json")
    assert again.status_code == 200  # already a member: nothing changes, no use spent
    invitation.refresh_from_db()
    assert invitation.uses == 1


@pytest.mark.parametrize(
    "change, problem",
    [({"revoked": True}, "revoked"), ({"uses": 1}, "already been used"), ({"expires_at": "past"}, "expired")],
)
def test_a_spent_invitation_is_gone(api_client, cast, change, problem):
    invitation = actions.create_invitation(team=cast.team, user=cast.alice, role="admin")
    if change.get("expires_at") == "past":
        change = {"expires_at": timezone.now() - timedelta(seconds=1)}
    Invitation.objects.filter(pk=invitation.pk).update(**change)
    api_client.force_authenticate(cast.oscar)
    response = api_client.post("/api/invitations/accept/", {"token": invitation.token}, format="json")
    assert response.status_code == 410 and problem in response.json()["detail"]
    assert not Membership.objects.filter(user=cast.oscar, team=cast.team).exists()


def test_an_unknown_invitation_is_404_in_the_one_error_format(api_client, cast):
    api_client.force_authenticate(cast.oscar)
    response = api_client.post("/api/invitations/accept/", {"token": "nope"}, format="json")
    assert response.status_code == 404 and response.json() == {"detail": "This invitation link is not valid."}
    missing = api_client.post("/api/invitations/accept/", {}, format="json")
    assert missing.status_code == 400 and "token" in missing.json()["errors"]


def test_the_page_revokes_through_the_same_rule(client, cast):
    invitation = actions.create_invitation(team=cast.team, user=cast.alice, role="member")
    client.force_login(cast.alice)
    assert client.post("/teams/vision/", {"action": "revoke", "invitation": "not-a-number"}).status_code == 404
    client.post("/teams/vision/", {"action": "revoke", "invitation": invitation.pk})
    invitation.refresh_from_db()
    assert invitation.revoked


def test_the_schema_describes_the_teams_api(client, cast):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    paths = schema["paths"]
    assert set(paths["/api/teams/"]) >= {"get", "post"}
    assert set(paths["/api/teams/{slug}/members/"]) == {"get"}
    assert set(paths["/api/teams/{slug}/members/{user_id}/"]) == {"patch", "delete"}
    assert set(paths["/api/teams/{slug}/invitations/"]) == {"get", "post"}
    assert set(paths["/api/teams/{slug}/invitations/{id}/revoke/"]) == {"post"}
    assert set(paths["/api/invitations/accept/"]) == {"post"}
    days = schema["components"]["schemas"]["InvitationCreateRequest"]["properties"]["days"]
    assert (days["minimum"], days["maximum"]) == (1, 90)  # the page form's bounds
