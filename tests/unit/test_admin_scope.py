"""The Django admin, door by door, for a staff user who is admin of one team only and for a superuser.

Oscar is staff with every model permission of the dashboard and admin of Speech (team B) and Text. Vision (team
A) has a private policy, a study and a run. Oscar must not see any of A's objects in the choices of an
add or change form (foreign keys, many-to-many), nor in a list filter, and must not be able to save
anything into A; a superuser sees and saves everything. Each cell is its own test.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from dashboard import access
from dashboard.models import EpochMetric, Invitation, Membership, Policy, Run, Study, Team

pytestmark = pytest.mark.django_db

ROLES = ["staff_admin_of_b", "superuser"]


@pytest.fixture
def world(cast):
    """Objects of A (Vision, not Oscar's) and of B (Speech, Oscar's), and the two admin users."""
    objects = {}
    for key, team in [("a", cast.team), ("b", cast.other_team)]:
        policy = Policy.objects.create(team=team, name=f"private {key}", spec={"kind": "FIX", "k0": 0.1})
        study = Study.objects.create(
            team=team, name=f"study {key}", workload="digits-mlp", epochs=1, seeds=[0], target_accuracy=0.9
        )
        study.policies.set([policy])
        run = Run.objects.create(team=team, policy=policy, policy_spec=policy.spec, workload="digits-mlp", epochs=1)
        metric = EpochMetric.objects.create(run=run, epoch=1, test_acc=0.5)
        invitation = Invitation.objects.create(team=team, token=f"token-{key}", expires_at="2099-01-01T00:00Z")
        objects[key] = {
            "team": team,
            "policy": policy,
            "study": study,
            "run": run,
            "metric": metric,
            "invitation": invitation,
            "membership": Membership.objects.filter(team=team).first(),
        }
    text = Team.objects.create(name="Text", slug="text")  # a second team of Oscar's: his filters have a choice
    Membership.objects.create(user=cast.oscar, team=text, role="admin")
    cast.oscar.is_staff = True
    cast.oscar.save(update_fields=["is_staff"])
    cast.oscar.user_permissions.add(*Permission.objects.filter(content_type__app_label="dashboard"))
    root = get_user_model().objects.create_superuser("root", password="root-pass-123")
    return {**objects, "staff_admin_of_b": cast.oscar, "superuser": root}


# (model, the B object whose change form is opened, relation fields of its form and what each offers of A)
FORMS = [
    ("membership", "membership", {"team": "team"}),
    ("invitation", "invitation", {"team": "team"}),
    ("policy", "policy", {"team": "team"}),
    ("study", "study", {"team": "team", "policies": "policy"}),
    ("run", "run", {"team": "team", "policy": "policy", "study": "study"}),
    ("epochmetric", "metric", {"run": "run"}),
]

FILTERED = ["membership", "invitation", "policy", "study", "run"]


def form_cells():
    for model, b_object, fields in FORMS:
        for door in ["add", "change"]:
            for field, a_object in fields.items():
                for role in ROLES:
                    yield pytest.param(
                        model, b_object, door, field, a_object, role, id=f"{model}-{door}-{field}-{role}"
                    )


def choices_of(response, field: str) -> set[int]:
    assert response.status_code == 200
    return set(response.context["adminform"].form.fields[field].queryset.values_list("pk", flat=True))


@pytest.mark.parametrize("model, b_object, door, field, a_object, role", list(form_cells()))
def test_form_choices_offer_only_the_teams_the_user_manages(
    client, world, model, b_object, door, field, a_object, role
):
    client.force_login(world[role])
    url = f"/admin/dashboard/{model}/add/"
    if door == "change":
        url = f"/admin/dashboard/{model}/{world['b'][b_object].pk}/change/"
    offered = choices_of(client.get(url), field)
    assert world["b"][a_object].pk in offered
    assert (world["a"][a_object].pk in offered) is (role == "superuser")


@pytest.mark.parametrize("model", FILTERED)
@pytest.mark.parametrize("role", ROLES)
def test_list_filters_offer_only_the_teams_the_user_manages(client, world, model, role):
    client.force_login(world[role])
    response = client.get(f"/admin/dashboard/{model}/")
    assert response.status_code == 200
    team_filter = next(
        spec for spec in response.context["cl"].filter_specs if getattr(spec, "field_path", None) == "team"
    )
    offered = {pk for pk, _ in team_filter.lookup_choices}
    assert world["b"]["team"].pk in offered
    assert (world["a"]["team"].pk in offered) is (role == "superuser")
    assert (f"team__id__exact={world['a']['team'].pk}" in response.content.decode()) is (role == "superuser")


@pytest.mark.parametrize("role", ROLES)
def test_making_oneself_admin_of_another_team_through_the_admin(client, api_client, world, role):
    user = world[role]
    client.force_login(user)
    team_a = world["a"]["team"]
    response = client.post("/admin/dashboard/membership/add/", {"user": user.pk, "team": team_a.pk, "role": "admin"})
    written = Membership.objects.filter(user=user, team=team_a).exists()
    assert written is (role == "superuser")
    api_client.force_authenticate(user)
    private = api_client.get(f"/api/policies/{world['a']['policy'].pk}/")
    if role == "superuser":
        assert response.status_code == 302 and private.status_code == 200
    else:
        assert response.status_code == 200 and "team" in response.context["adminform"].form.errors
        assert private.status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_moving_ones_membership_to_another_team_through_the_admin(client, world, role):
    client.force_login(world[role])
    membership = Membership.objects.get(user=world["staff_admin_of_b"], team=world["b"]["team"])
    client.post(
        f"/admin/dashboard/membership/{membership.pk}/change/",
        {"user": membership.user_id, "team": world["a"]["team"].pk, "role": "admin"},
    )
    membership.refresh_from_db()
    assert (membership.team == world["a"]["team"]) is (role == "superuser")


@pytest.mark.parametrize("role", ROLES)
def test_inviting_to_another_team_through_the_admin(client, world, role):
    client.force_login(world[role])
    team_a = world["a"]["team"]
    existing = set(Invitation.objects.filter(team=team_a).values_list("pk", flat=True))
    client.post(
        "/admin/dashboard/invitation/add/",
        {"team": team_a.pk, "role": "admin", "expires_at_0": "2099-01-01", "expires_at_1": "00:00:00", "max_uses": 5},
    )
    created = Invitation.objects.filter(team=team_a).exclude(pk__in=existing)
    assert created.count() == (1 if role == "superuser" else 0)
    if role == "superuser":  # an invitation made in the admin works like one made on the team page
        invitation = created.get()
        assert len(invitation.token) >= 20 and invitation.created_by == world[role]


@pytest.mark.parametrize("role", ROLES)
def test_a_study_cannot_take_another_teams_private_policy(client, world, role):
    client.force_login(world[role])
    study = world["b"]["study"]
    response = client.post(
        f"/admin/dashboard/study/{study.pk}/change/",
        {
            "team": study.team_id,
            "name": study.name,
            "workload": study.workload,
            "epochs": 1,
            "seeds": "[0]",
            "target_accuracy": 0.9,
            "lr_scales": "[1.0]",
            "policies": [world["a"]["policy"].pk],
        },
    )
    assert study.policies.filter(pk=world["a"]["policy"].pk).exists() is (role == "superuser")
    if role != "superuser":
        assert "policies" in response.context["adminform"].form.errors


def test_the_last_guard_refuses_to_save_into_another_team(world):
    oscar, root = world["staff_admin_of_b"], world["superuser"]
    stray = Membership(user=oscar, team=world["a"]["team"], role="admin")
    assert not access.admin_may_save(oscar, stray)
    assert access.admin_may_save(oscar, Membership(user=oscar, team=world["b"]["team"]))
    assert not access.admin_may_save(oscar, EpochMetric(run=world["a"]["run"], epoch=2), "run__team")
    assert access.admin_may_save(root, stray)


@pytest.mark.parametrize("model, a_object", [(m, b) for m, b, _ in FORMS] + [("team", "team")])
@pytest.mark.parametrize("role", ROLES)
def test_changelists_and_change_forms_show_only_the_teams_the_user_manages(client, world, model, a_object, role):
    client.force_login(world[role])
    listed = {obj.pk for obj in client.get(f"/admin/dashboard/{model}/").context["cl"].result_list}
    assert world["b"][a_object].pk in listed
    assert (world["a"][a_object].pk in listed) is (role == "superuser")
    change = client.get(f"/admin/dashboard/{model}/{world['a'][a_object].pk}/change/")
    assert (change.status_code == 200) is (role == "superuser")
