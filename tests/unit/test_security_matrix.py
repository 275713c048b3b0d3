"""Every role against every page, API endpoint and websocket that touches a team's data.

Roles: the team's admin (alice), a member (bob), a viewer (carol), an outsider
(oscar, admin of another team) and an anonymous visitor. Outsiders get 404 for
private objects, never 403; viewers cannot write; anonymous visitors are sent
to the login page (pages) or get 401 (API). Each cell is its own test.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from rest_framework.authtoken.models import Token

from dashboard.models import Invitation, Job, Policy, Run, Study

ROLES = ["alice", "bob", "carol", "oscar", "anonymous"]


@pytest.fixture
def world(cast):
    policy = Policy.objects.create(team=cast.team, name="P", spec={"kind": "FIX", "k0": 0.1}, created_by=cast.alice)
    study = Study.objects.create(
        team=cast.team, name="S", workload="digits-mlp", epochs=2, seeds=[0], target_accuracy=0.9
    )
    study.policies.set([policy])
    run = Run.objects.create(
        team=cast.team,
        policy=policy,
        policy_spec=policy.spec,
        workload="digits-mlp",
        epochs=2,
        created_by=cast.bob,
        study=study,
    )
    reported = Run.objects.create(
        team=cast.team,
        policy=policy,
        policy_spec=policy.spec,
        workload="own-loop",
        epochs=2,
        created_by=cast.bob,
        status=Run.Status.RUNNING,
        self_reported=True,
    )
    job = Job.objects.create(team=cast.team, kind="lr_range", params={"workload": "digits-mlp"}, created_by=cast.bob)
    invitation = Invitation.objects.create(
        team=cast.team, role="viewer", token="matrix-token", expires_at=timezone.now() + timedelta(days=1), max_uses=9
    )
    return {
        "P": policy.pk,
        "R": run.pk,
        "X": reported.pk,  # a self-reported run, opened by bob
        "S": study.pk,
        "J": job.pk,
        "team": cast.team.slug,
        "U": cast.bob.pk,  # a member, whose role admins change
        "I": invitation.pk,
        "token": invitation.token,
    }


# (name, method, path, data, {role: expected status})
PAGES = [
    ("policy page", "get", "/policies/{P}/", None, [200, 200, 200, 404, 302]),
    ("policy edit form", "get", "/policies/{P}/edit/", None, [200, 200, 403, 404, 302]),
    ("publish a policy", "post", "/policies/{P}/publish/", {}, [302, 403, 403, 404, 302]),
    ("archive a policy", "post", "/policies/{P}/archive/", {}, [302, 302, 403, 404, 302]),
    ("duplicate a policy", "get", "/policies/new/?from={P}", None, [200, 200, 403, 404, 302]),
    ("run page", "get", "/runs/{R}/", None, [200, 200, 200, 404, 302]),
    ("cancel a run", "post", "/runs/{R}/cancel/", {}, [302, 302, 403, 404, 302]),
    (
        "queue a run",
        "post",
        "/runs/new/",
        {"policy": "{P}", "workload": "digits-mlp", "epochs": 1, "seed": 0},
        [302, 302, 403, 400, 302],
    ),
    ("study page", "get", "/studies/{S}/", None, [200, 200, 200, 404, 302]),
    ("compare a study", "get", "/compare/?study={S}", None, [200, 200, 200, 404, 302]),
    ("team page", "get", "/teams/{team}/", None, [200, 200, 200, 404, 302]),
    (
        "invite to the team",
        "post",
        "/teams/{team}/",
        {"action": "invite", "role": "member", "days": 7, "max_uses": 1},
        [302, 403, 403, 404, 302],
    ),
    (
        "change a role on the team page",
        "post",
        "/teams/{team}/",
        {"action": "role", "user": "{U}", "role": "viewer"},
        [302, 403, 403, 404, 302],
    ),
    (
        "revoke an invitation on the team page",
        "post",
        "/teams/{team}/",
        {"action": "revoke", "invitation": "{I}"},
        [302, 403, 403, 404, 302],
    ),
    ("admin: runs", "get", "/admin/dashboard/run/", None, [302, 302, 302, 302, 302]),
    ("job page", "get", "/tools/{J}/", None, [200, 200, 200, 404, 302]),
    ("cancel a job", "post", "/tools/{J}/cancel/", {}, [302, 302, 403, 404, 302]),
    (
        "convert a policy",
        "post",
        "/policies/{P}/convert/",
        {"wd": "0.0005", "momentum": "0.9", "steps_per_epoch": "10"},
        [302, 302, 403, 404, 302],
    ),
]

API = [
    ("policy", "get", "/api/policies/{P}/", None, [200, 200, 200, 404, 401]),
    ("publish", "post", "/api/policies/{P}/publish/", {}, [200, 403, 403, 404, 401]),
    ("unpublish", "post", "/api/policies/{P}/unpublish/", {}, [200, 403, 403, 404, 401]),
    ("run", "get", "/api/runs/{R}/", None, [200, 200, 200, 404, 401]),
    ("cancel", "post", "/api/runs/{R}/cancel/", {}, [200, 200, 403, 404, 401]),
    (
        "queue a run",
        "post",
        "/api/runs/",
        {"policy": "{P}", "workload": "digits-mlp", "epochs": 1},
        [201, 201, 403, 400, 401],
    ),
    (
        "queue a study",
        "post",
        "/api/studies/",
        {"name": "x", "policies": ["{P}"], "workload": "digits-mlp", "seeds": [0], "epochs": 1},
        [201, 201, 403, 400, 401],
    ),
    # self-reported runs: members open them; the member who opened one and team admins report to it
    (
        "open a self-reported run",
        "post",
        "/api/runs/reported/",
        {"policy": "{P}", "workload": "own-loop", "epochs": 2},
        [201, 201, 403, 400, 401],
    ),
    ("report an epoch", "post", "/api/runs/{X}/epochs/", {"epoch": 1, "test_acc": 0.5}, [201, 201, 403, 404, 401]),
    ("heartbeat of a self-reported run", "post", "/api/runs/{X}/heartbeat/", {}, [200, 200, 403, 404, 401]),
    ("fail a self-reported run", "post", "/api/runs/{X}/fail/", {"reason": "x"}, [200, 200, 403, 404, 401]),
    ("finish a self-reported run", "post", "/api/runs/{X}/finish/", {}, [400, 400, 403, 404, 401]),  # 0 of 2 epochs
    ("study", "get", "/api/studies/{S}/", None, [200, 200, 200, 404, 401]),
    ("study export", "get", "/api/studies/{S}/export/", None, [200, 200, 200, 404, 401]),
    ("compare", "get", "/api/compare/?study={S}", None, [200, 200, 200, 404, 401]),
    ("compare runs", "get", "/api/compare/?runs={R}", None, [200, 200, 200, 200, 401]),  # filtered, see below
    ("leaderboard", "get", "/api/leaderboard/?workload=digits-mlp", None, [200, 200, 200, 200, 401]),
    ("profiles", "get", "/api/leaderboard/profile/?boards=digits-mlp:3", None, [200, 200, 200, 200, 401]),
    ("job", "get", "/api/jobs/{J}/", None, [200, 200, 200, 404, 401]),
    ("cancel a job", "post", "/api/jobs/{J}/cancel/", {}, [200, 200, 403, 404, 401]),
    ("convert a policy", "post", "/api/policies/{P}/convert/", {"wd": 0.0005}, [201, 201, 403, 404, 401]),
    # teams: anyone signed in creates a team and accepts an invitation; members read the member list;
    # admins change roles, remove members and manage invitations
    ("my teams", "get", "/api/teams/", None, [200, 200, 200, 200, 401]),
    ("create a team", "post", "/api/teams/", {"name": "Brand new"}, [201, 201, 201, 201, 401]),
    ("team members", "get", "/api/teams/{team}/members/", None, [200, 200, 200, 404, 401]),
    ("change a role", "patch", "/api/teams/{team}/members/{U}/", {"role": "viewer"}, [200, 403, 403, 404, 401]),
    ("remove a member", "delete", "/api/teams/{team}/members/{U}/", None, [204, 403, 403, 404, 401]),
    ("invitations", "get", "/api/teams/{team}/invitations/", None, [200, 403, 403, 404, 401]),
    ("invite", "post", "/api/teams/{team}/invitations/", {"role": "member"}, [201, 403, 403, 404, 401]),
    ("revoke an invitation", "post", "/api/teams/{team}/invitations/{I}/revoke/", {}, [200, 403, 403, 404, 401]),
    ("accept an invitation", "post", "/api/invitations/accept/", {"token": "{token}"}, [200, 200, 200, 200, 401]),
]


def fill(template, world):
    if isinstance(template, str):
        value = template.format(**world)
        return int(value) if template.startswith("{") and template.endswith("}") and value.isdigit() else value
    if isinstance(template, dict):
        return {k: fill(v, world) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, world) for v in template]
    return template


def cells(table):
    for name, method, path, data, expected in table:
        for role, status in zip(ROLES, expected, strict=True):
            yield pytest.param(method, path, data, role, status, id=f"{name}-{role}")


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, data, role, status", list(cells(PAGES)))
def test_pages(client, cast, world, django_capture_on_commit_callbacks, method, path, data, role, status):
    if role != "anonymous":
        client.force_login(getattr(cast, role))
    with django_capture_on_commit_callbacks(execute=False):
        response = getattr(client, method)(fill(path, world), fill(data, world))
    assert response.status_code == status
    if status == 302 and role == "anonymous":
        assert "/login/" in response["Location"]


@pytest.mark.django_db
@pytest.mark.parametrize("method, path, data, role, status", list(cells(API)))
def test_api(api_client, cast, world, django_capture_on_commit_callbacks, method, path, data, role, status):
    if role != "anonymous":
        api_client.force_authenticate(getattr(cast, role))
    with django_capture_on_commit_callbacks(execute=False):
        response = getattr(api_client, method)(fill(path, world), fill(data, world), format="json")
    assert response.status_code == status, response.content[:300]


@pytest.mark.django_db
def test_an_outsider_sees_nothing_of_the_team_in_lists(api_client, cast, world):
    api_client.force_authenticate(cast.oscar)
    assert api_client.get("/api/compare/", {"runs": world["R"]}).json()["series"] == []
    assert api_client.get("/api/runs/").json()["count"] == 0
    assert api_client.get("/api/studies/").json()["count"] == 0
    assert world["P"] not in [p["id"] for p in api_client.get("/api/policies/").json()["results"]]


@pytest.mark.django_db
def test_viewers_cannot_write_anything_through_the_api(api_client, cast, world):
    api_client.force_authenticate(cast.carol)
    assert (
        api_client.post("/api/policies/", {"name": "v", "spec": {"kind": "FIX", "k0": 0.1}}, format="json").status_code
        == 403
    )
    assert not Policy.objects.filter(name="v").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    "role, connects", [("alice", True), ("bob", True), ("carol", True), ("oscar", False), ("anonymous", False)]
)
@pytest.mark.parametrize("kind", ["runs", "studies", "jobs"])
async def test_websockets(cast, world, role, connects, kind):
    from dashboard.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if role != "anonymous":
        key = await database_sync_to_async(lambda: Token.objects.create(user=getattr(cast, role)).key)()
        headers = [(b"authorization", f"Token {key}".encode())]
    target = {"runs": world["R"], "studies": world["S"], "jobs": world["J"]}[kind]
    ws = WebsocketCommunicator(application, f"/ws/{kind}/{target}/", headers=headers)
    connected, code = await ws.connect()
    assert connected is connects
    if connected:
        await ws.disconnect()
    else:
        assert code == (4401 if role == "anonymous" else 4404)


@pytest.mark.django_db
def test_a_staff_team_admin_sees_only_their_teams_runs_in_the_admin(client, cast, world):
    other = Policy.objects.create(team=cast.other_team, name="O", spec={"kind": "FIX", "k0": 0.1})
    Run.objects.create(team=cast.other_team, policy=other, policy_spec=other.spec, workload="digits-mlp", epochs=1)
    cast.alice.is_staff = True
    cast.alice.save()
    from django.contrib.auth.models import Permission

    cast.alice.user_permissions.add(*Permission.objects.filter(codename__in=["view_run", "change_run"]))
    client.force_login(cast.alice)
    response = client.get("/admin/dashboard/run/")
    assert response.status_code == 200
    shown = {run.team_id for run in response.context["cl"].result_list}
    assert shown == {cast.team.pk}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.parametrize("role, told", [("alice", True), ("bob", True), ("carol", True), ("oscar", False)])
async def test_the_leaderboard_socket_tells_only_who_can_see_a_private_run(cast, world, role, told):
    from dashboard import actions
    from dashboard.asgi import application

    key = await database_sync_to_async(lambda: Token.objects.create(user=getattr(cast, role)).key)()
    ws = WebsocketCommunicator(
        application, "/ws/leaderboard/digits-mlp/", headers=[(b"authorization", f"Token {key}".encode())]
    )
    connected, _ = await ws.connect()
    assert connected
    await database_sync_to_async(Run.objects.filter(pk=world["R"]).update)(status=Run.Status.RUNNING)
    run = await database_sync_to_async(Run.objects.get)(pk=world["R"])
    await database_sync_to_async(actions.finish_run)(run, {"status": "succeeded", "summary": {"final_acc": 0.9}})
    assert (not await ws.receive_nothing(timeout=0.3)) is told
    await ws.disconnect()
