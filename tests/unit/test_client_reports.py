"""lr_arena_client without a server: what it sends for an epoch, and that nothing is lost when none answers."""

from __future__ import annotations

import json
import math
import sys
from datetime import timedelta

import pytest
import requests
import torch
from django.utils import timezone

from tests.stack import ROOT, free_port

sys.path.insert(0, str(ROOT / "client"))  # the client package, as `pip install -e client` would provide it

from lr_arena_client import client as client_module  # noqa: E402
from lr_arena_client.client import Run  # noqa: E402

SPEC = {"kind": "STEP", "k0": 0.1, "gamma": 0.5, "l": 1}


@pytest.fixture
def run(tmp_path):
    state = {"id": 7, "status": "running", "workload": "mine", "policy_spec": SPEC, "iterations_per_epoch": 4}
    away = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    return Run(away, "token", state, buffer_path=tmp_path / "buffer.jsonl", retries=0, backoff=0.0, timeout=2.0)


def log(run, *args, **kwargs):
    with pytest.warns(UserWarning, match="epochs kept for the next try"):
        return run.log_epoch(*args, **kwargs)


def test_a_loss_that_is_not_finite_is_sent_as_null_and_other_metrics_go_to_extra(run):
    sent = log(run, 1, train_loss=math.nan, test_loss=torch.tensor(0.5), test_acc=0.25, grad_norm=torch.tensor(3.0))
    assert sent == {"epoch": 1, "train_loss": None, "test_loss": 0.5, "test_acc": 0.25, "extra": {"grad_norm": 3.0}}


def test_an_accuracy_that_is_not_finite_is_refused_before_it_is_kept(run):
    with pytest.raises(ValueError, match="test_acc"):
        run.log_epoch(1, test_acc=math.inf)
    assert run.pending == []


def test_logits_give_lrbenchs_metrics_and_the_test_loss(run):
    logits = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    labels = torch.tensor([0, 1, 1])
    sent = log(run, 1, logits=logits, labels=labels)
    assert sent["test_acc"] == pytest.approx(2 / 3) and sent["test_top5"] == 1.0
    assert sent["test_loss"] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item())
    assert {"ac", "cv", "cvac"} <= sent.keys()


def test_the_scheduler_is_the_policys_and_the_epoch_carries_the_lrs_it_applied(run):
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    scheduler = run.lr_scheduler(optimizer)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    first = log(run, 1, test_acc=0.5)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
    second = log(run, 2, test_acc=0.6)
    assert (first["lr_first"], first["lr_last"], first["iterations"]) == (0.1, 0.1, 4)
    assert (second["lr_first"], second["lr_mean"], second["iterations"]) == (0.05, 0.05, 8)


def test_epochs_no_server_took_stay_in_memory_and_in_the_buffer_file_in_order(run):
    log(run, 1, test_acc=0.5)
    log(run, 2, test_acc=0.6)
    assert [r["epoch"] for r in run.pending] == [1, 2]
    header, *lines = run.buffer_path.read_text().splitlines()
    assert '"run": 7' in header and len(lines) == 2


class LosesFirstAnswers(requests.adapters.BaseAdapter):
    """The server in this process (Django's test client): it handles every request, but the answers to the
    first `lost` ones never reach the client (a connection reset after the server committed)."""

    def __init__(self, api_client, lost: int) -> None:
        super().__init__()
        self.api_client, self.lost, self.bodies = api_client, lost, []

    def send(self, request, **kwargs):
        body = json.loads(request.body) if request.body else None
        self.bodies.append(body)
        answer = getattr(self.api_client, request.method.lower())(request.path_url, body, format="json")
        if self.lost:
            self.lost -= 1
            raise requests.ConnectionError("connection reset by peer")
        response = requests.Response()
        response.status_code, response._content, response.url = answer.status_code, answer.content, request.url
        response.headers["Content-Type"] = "application/json"
        return response

    def close(self) -> None:
        pass


@pytest.mark.django_db
def test_an_open_whose_answer_was_lost_is_retried_with_its_key_and_opens_one_run(
    api_client, cast, step_policy, monkeypatch
):
    from dashboard.models import Run as StoredRun

    api_client.force_authenticate(cast.bob)
    server = LosesFirstAnswers(api_client, lost=2)
    monkeypatch.setattr(client_module.requests, "Session", lambda: mounted(server))

    run = client_module.open_run("http://arena", "token", policy=step_policy.pk, workload="mine", epochs=2, backoff=0)

    opens = [body for body in server.bodies if body and "workload" in body]
    assert len(opens) == 3 and len({body["client_key"] for body in opens}) == 1
    assert StoredRun.objects.count() == 1 and run.id == StoredRun.objects.get().pk and run.status == "running"


@pytest.mark.django_db
def test_a_heartbeat_renews_the_runs_lease_at_most_every_heartbeat_every(api_client, cast, step_policy, monkeypatch):
    from dashboard.models import Run as StoredRun

    api_client.force_authenticate(cast.bob)
    server = LosesFirstAnswers(api_client, lost=0)
    monkeypatch.setattr(client_module.requests, "Session", lambda: mounted(server))
    run = client_module.open_run("http://arena", "token", policy=step_policy.pk, workload="mine", epochs=2)
    expired = timezone.now() - timedelta(seconds=1)
    StoredRun.objects.filter(pk=run.id).update(lease_expires_at=expired)

    run.heartbeat()  # the open was a report: not yet
    assert len(server.bodies) == 1 and StoredRun.objects.get().lease_expires_at == expired
    run.heartbeat_every = 0
    run.heartbeat()
    assert server.bodies[-1] is None and StoredRun.objects.get().lease_expires_at > timezone.now()
    assert run.status == "running"


def mounted(adapter, session_class=requests.Session) -> requests.Session:
    session = session_class()
    session.mount("http://", adapter)
    return session


@pytest.mark.django_db
@pytest.mark.parametrize("workload", ["mine", "vision/mine"])
def test_the_client_opens_a_bare_name_or_the_full_one_as_its_teams_own(
    api_client, cast, step_policy, monkeypatch, workload
):
    api_client.force_authenticate(cast.bob)
    monkeypatch.setattr(client_module.requests, "Session", lambda: mounted(LosesFirstAnswers(api_client, lost=0)))
    run = client_module.open_run("http://arena", "token", policy=step_policy.pk, workload=workload, epochs=2)
    assert run.workload == "vision/mine" and run.state["workload"] == "vision/mine"


@pytest.mark.django_db
def test_the_client_cannot_open_a_run_of_another_teams_workload(api_client, cast, step_policy, monkeypatch):
    api_client.force_authenticate(cast.bob)
    monkeypatch.setattr(client_module.requests, "Session", lambda: mounted(LosesFirstAnswers(api_client, lost=0)))
    with pytest.raises(client_module.ArenaError) as refused:
        client_module.open_run("http://arena", "token", policy=step_policy.pk, workload="speech/mine", epochs=2)
    assert refused.value.status == 400 and "workload" in refused.value.errors
