"""Teams: the current team, switching, invitations, roles, publishing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from dashboard import actions, leaderboard
from dashboard.models import Invitation, Membership, Policy, Run

pytestmark = pytest.mark.django_db

SPEC = {"kind": "FIX", "k0": 0.1}


def join(cast, user, team, role="member"):
    Membership.objects.create(user=user, team=team, role=role)


def test_new_policies_go_to_the_team_chosen_in_the_switcher(client, cast):
    join(cast, cast.bob, cast.other_team)
    client.force_login(cast.bob)
    client.post(reverse("team-switch"), {"team": cast.other_team.slug})
    client.post(reverse("policy-create"), {"name": "in speech", "kind": "FIX", "FIX__k0": "0.1"})
    assert Policy.objects.get(name="in speech").team == cast.other_team


def test_switching_to_a_team_you_are_not_in_is_404(client, cast):
    client.force_login(cast.bob)
    assert client.post(reverse("team-switch"), {"team": cast.other_team.slug}).status_code == 404


def test_the_api_acts_for_the_team_named_in_its_header(api_client, cast):
    join(cast, cast.bob, cast.other_team)
    api_client.force_authenticate(cast.bob)
    response = api_client.post(
        "/api/policies/", {"name": "h", "spec": SPEC}, format="json", HTTP_X_ARENA_TEAM=cast.other_team.slug
    )
    assert response.status_code == 201 and response.json()["team"] == "Speech"
    teams = {t["slug"]: t for t in api_client.get("/api/teams/").json()}
    assert teams["vision"]["role"] == "member" and teams["speech"]["role"] == "member"


def test_a_viewer_in_the_current_team_cannot_create_even_if_member_elsewhere(api_client, cast):
    join(cast, cast.carol, cast.other_team, "member")
    api_client.force_authenticate(cast.carol)
    response = api_client.post("/api/policies/", {"name": "v", "spec": SPEC}, format="json", HTTP_X_ARENA_TEAM="vision")
    assert response.status_code == 403 and "viewer" in response.json()["detail"]


def test_an_invitation_link_adds_an_existing_user_with_its_role(client, cast):
    invitation = actions.create_invitation(team=cast.team, user=cast.alice, role="viewer")
    client.force_login(cast.oscar)
    response = client.post(reverse("invite-accept", args=[invitation.token]))
    assert response.status_code == 302
    assert Membership.objects.get(user=cast.oscar, team=cast.team).role == "viewer"
    invitation.refresh_from_db()
    assert invitation.uses == 1


def test_a_new_person_signs_up_through_an_invitation(client, cast):
    invitation = actions.create_invitation(team=cast.team, user=cast.alice, role="member")
    response = client.post(
        reverse("invite-accept", args=[invitation.token]),
        {"username": "dora", "password1": "a-long-pass-phrase-7", "password2": "a-long-pass-phrase-7"},
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__username="dora")
    assert membership.team == cast.team and membership.role == "member"


@pytest.mark.parametrize(
    "change, problem",
    [({"revoked": True}, "revoked"), ({"uses": 1}, "already been used"), ({"expires_at": "past"}, "expired")],
)
def test_a_spent_invitation_is_refused(client, cast, change, problem):
    invitation = actions.create_invitation(team=cast.team, user=cast.alice, role="member")
    if change.get("expires_at") == "past":
        change = {"expires_at": timezone.now() - timedelta(minutes=1)}
    Invitation.objects.filter(pk=invitation.pk).update(**change)
    client.force_login(cast.oscar)
    response = client.post(reverse("invite-accept", args=[invitation.token]))
    assert response.status_code == 410 and problem in response.content.decode()
    assert not Membership.objects.filter(user=cast.oscar, team=cast.team).exists()


def test_an_unknown_invitation_is_404(client):
    assert client.get(reverse("invite-accept", args=["nope"])).status_code == 404


def test_an_admin_changes_roles_but_the_last_admin_stays(client, cast):
    client.force_login(cast.alice)
    client.post(reverse("team-detail", args=["vision"]), {"action": "role", "user": cast.carol.pk, "role": "member"})
    assert Membership.objects.get(user=cast.carol, team=cast.team).role == "member"
    client.post(reverse("team-detail", args=["vision"]), {"action": "role", "user": cast.alice.pk, "role": "viewer"})
    assert Membership.objects.get(user=cast.alice, team=cast.team).role == "admin"
    client.post(reverse("team-detail", args=["vision"]), {"action": "remove", "user": cast.alice.pk})
    assert Membership.objects.filter(user=cast.alice, team=cast.team).exists()


def test_creating_a_team_makes_you_its_admin(client, cast):
    client.force_login(cast.carol)
    client.post(reverse("team-list"), {"name": "Robotics"})
    assert Membership.objects.get(user=cast.carol, team__name="Robotics").role == "admin"


def test_publishing_puts_results_on_the_shared_board_and_unpublishing_keeps_them(api_client, cast):
    policy = Policy.objects.create(team=cast.team, name="P", spec=SPEC)
    Run.objects.create(
        team=cast.team,
        policy=policy,
        policy_spec=SPEC,
        workload="digits-mlp",
        epochs=2,
        status="succeeded",
        final_acc=0.9,
    )
    assert leaderboard.board(cast.oscar, "digits-mlp", view="shared")["rows"] == []
    api_client.force_authenticate(cast.alice)
    assert api_client.post(f"/api/policies/{policy.pk}/publish/").json()["published"] is True
    [row] = leaderboard.board(cast.oscar, "digits-mlp", view="shared")["rows"]
    assert row["team"] == "Vision" and row["final_acc"]["mean"] == pytest.approx(0.9)
    api_client.post(f"/api/policies/{policy.pk}/unpublish/")
    assert leaderboard.board(cast.oscar, "digits-mlp", view="shared")["rows"] == []
    assert Run.objects.filter(policy=policy).count() == 1


def test_an_outsider_can_run_a_published_policy_but_not_change_it(api_client, cast, django_capture_on_commit_callbacks):
    policy = Policy.objects.create(team=cast.team, name="P", spec=SPEC, published=True)
    api_client.force_authenticate(cast.oscar)
    with django_capture_on_commit_callbacks(execute=False):
        response = api_client.post(
            "/api/runs/", {"policy": policy.pk, "workload": "digits-mlp", "epochs": 1}, format="json"
        )
    assert response.status_code == 201
    assert Run.objects.get().team == cast.other_team
    assert api_client.post(f"/api/policies/{policy.pk}/publish/").status_code == 403


def test_archived_policies_leave_the_pickers_but_keep_their_page(client, cast):
    policy = Policy.objects.create(team=cast.team, name="Old", spec=SPEC)
    client.force_login(cast.bob)
    client.post(reverse("policy-archive", args=[policy.pk]), {"action": "archive"})
    policy.refresh_from_db()
    assert policy.archived
    form = client.get(reverse("run-create")).context["form"]
    assert policy not in form.fields["policy"].queryset
    assert client.get(reverse("policy-detail", args=[policy.pk])).status_code == 200


def test_reference_policies_are_published_for_everyone(api_client, cast):
    api_client.force_authenticate(cast.oscar)
    names = {p["name"] for p in api_client.get("/api/policies/", {"published": "true", "limit": 100}).json()["results"]}
    assert {"LRBench LeNet default (INV)", "Li & Arora TEXP", "SGDR (cosine warm restarts)"} <= names
