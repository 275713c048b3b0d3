"""The run a training loop reports to, its buffer of undelivered epochs, and retries with backoff."""

from __future__ import annotations

import json
import math
import os
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import requests

# The epoch's own fields on the server (dashboard/api/serializers.py, EpochReportSerializer); other metrics go
# to `extra`. Losses that are not finite are sent as null: the server's divergence rule reads that as diverged.
EPOCH_FIELDS = {
    "train_loss", "test_loss", "train_acc", "test_acc", "test_top5", "ac", "cv", "cvac",
    "lr_first", "lr_last", "lr_mean", "seconds", "iterations", "samples",
}  # fmt: skip
LOSSES = {"train_loss", "test_loss"}
RETRY_STATUSES = {429, 500, 502, 503, 504}


class ArenaError(Exception):
    """The server refused a request: `status` and its `detail` and `errors` (field -> messages)."""

    def __init__(self, message: str, status: int | None = None, errors: dict | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.errors = errors or {}


class ArenaUnavailable(ArenaError):
    """The server could not be reached after every retry. Reported epochs are kept for the next try."""


class Run:
    """A self-reported run: open it with `open_run` (or `resume`), then `log_epoch` each epoch and `finish`.

    `state` is the run as the server last described it (GET /api/runs/<id>/'s fields).
    """

    def __init__(
        self,
        server: str,
        token: str,
        state: dict,
        *,
        team: str | None = None,
        buffer_path: str | os.PathLike | None = None,
        retries: int = 4,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        timeout: float = 10.0,
        heartbeat_every: float = 60.0,
    ) -> None:
        self.server = server.rstrip("/")
        self.state = state
        self.pending: list[dict] = []  # epochs the server has not confirmed yet, oldest first
        self.buffer_path = Path(buffer_path) if buffer_path is not None else None
        self.retries, self.backoff, self.max_backoff, self.timeout = retries, backoff, max_backoff, timeout
        self.heartbeat_every = heartbeat_every
        self._last_report = time.monotonic()  # the last report sent, or tried (the open was one)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {token}"
        if team:
            self.session.headers["X-Arena-Team"] = team
        self._epoch_lrs: list[float] = []
        self._steps = 0
        self._hook = None

    def __repr__(self) -> str:
        return f"<Run {self.id} {self.status}: {self.state['workload']}, {len(self.pending)} epochs undelivered>"

    @property
    def id(self) -> int:
        return self.state["id"]

    @property
    def status(self) -> str:
        return self.state["status"]

    @property
    def workload(self) -> str:
        """The workload as the server stores it: your team's own, "<team-slug>/<name>"."""
        return self.state["workload"]

    @property
    def spec(self) -> dict:
        """The policy spec the run was opened with (frozen: editing the policy later does not change it)."""
        return self.state["policy_spec"]

    # -- the schedule --------------------------------------------------------------------------------------------

    def lr_scheduler(self, optimizer, steps_per_epoch: int | None = None):
        """LR Arena's `as_lr_scheduler` for the run's policy: call `scheduler.step()` after each `optimizer.step()`.

        It also watches the optimizer's steps, so that `log_epoch` reports the LRs that were applied (first, last
        and mean of the epoch) and the iterations so far, unless you give them.
        """
        from trainer.schedules import as_lr_scheduler

        steps = steps_per_epoch or self.state.get("iterations_per_epoch")
        if not steps:
            raise ValueError("steps_per_epoch: give it here or open the run with iterations_per_epoch")
        scheduler = as_lr_scheduler(optimizer, self.spec, steps)
        if self._hook is not None:
            self._hook.remove()
        self._hook = optimizer.register_step_pre_hook(self._record_lr)
        return scheduler

    def _record_lr(self, optimizer, args, kwargs) -> None:
        self._epoch_lrs.append(float(optimizer.param_groups[0]["lr"]))

    # -- reporting -------------------------------------------------------------------------------------------------

    def log_epoch(self, epoch: int, *, logits=None, labels=None, extra: dict | None = None, **metrics: Any) -> dict:
        """Report one finished epoch (1, 2, … in order); returns what was sent.

        Metrics by the server's names (train_loss, test_loss, train_acc, test_acc, test_top5, ac, cv, cvac,
        seconds, …); any other name goes to `extra`. With `logits` and `labels` of the test set, LRBench's
        metrics (trainer.metrics) fill test_acc, test_top5, ac, cv, cvac and the test loss. A loss that is
        not finite is reported as null (the run then counts as diverged). When the server cannot be reached
        the epoch is kept and sent with the next one: a warning says so, nothing is raised.
        """
        report: dict[str, Any] = {"epoch": int(epoch)}
        if logits is not None:
            report.update(logits_metrics(logits, labels))
        others = dict(extra or {})
        for name, value in metrics.items():
            (report if name in EPOCH_FIELDS else others)[name] = _number(name, value)
        if others:
            report["extra"] = {name: _number(name, value) for name, value in others.items()}
        if self._epoch_lrs:
            lrs, self._epoch_lrs = self._epoch_lrs, []
            self._steps += len(lrs)
            report.setdefault("lr_first", lrs[0])
            report.setdefault("lr_last", lrs[-1])
            report.setdefault("lr_mean", math.fsum(lrs) / len(lrs))
            report.setdefault("iterations", self._steps)
        self.pending.append(report)
        self._save()
        try:
            self.flush()
        except ArenaUnavailable as exc:
            warnings.warn(f"LR Arena: {exc}; {len(self.pending)} epochs kept for the next try", stacklevel=2)
        return report

    def flush(self) -> None:
        """Send the undelivered epochs, oldest first. ArenaUnavailable (they stay) or ArenaError (the server
        refused one: it is dropped, and the error names the field) stop it."""
        while self.pending:
            report = self.pending[0]
            response = self._request("post", f"/api/runs/{self.id}/epochs/", report)
            self.pending.pop(0)
            self._save()
            if response.status_code not in (200, 201):
                raise _refused(response, f"epoch {report['epoch']}")
            self.state = response.json()["run"]
            self._last_report = time.monotonic()

    def heartbeat(self) -> None:
        """Tell the server the loop is alive, from inside an epoch that may take longer than its
        ARENA_REPORT_TIMEOUT_SECONDS (6 hours unless its operator says otherwise): a run that reports nothing
        for that long is ended as failed, abandoned. Call it from the batch loop as often as you like: it sends
        at most every `heartbeat_every` seconds (a delivered epoch counts; undelivered ones go first). When
        the server cannot be reached it warns, like log_epoch, and tries again `heartbeat_every` later;
        ArenaError when the run has ended."""
        if time.monotonic() - self._last_report < self.heartbeat_every:
            return
        self._last_report = time.monotonic()
        try:
            if self.pending:
                self.flush()
                return
            response = self._request("post", f"/api/runs/{self.id}/heartbeat/")
        except ArenaUnavailable as exc:
            warnings.warn(f"LR Arena: {exc}; the heartbeat is tried again later", stacklevel=2)
            return
        if response.status_code != 200:
            raise _refused(response, "heartbeat")
        self.state = response.json()

    def finish(self) -> dict:
        """Deliver every epoch, then end the run as succeeded (or diverged, if the server found it so)."""
        self.flush()
        return self._end("finish", None)

    def fail(self, reason: str) -> dict:
        """End the run as failed, with a reason for its page; the epochs that can be delivered are sent first."""
        try:
            self.flush()
        except ArenaUnavailable:
            pass  # the reason matters more; the epochs stay in the buffer
        return self._end("fail", {"reason": str(reason)[:5000] or "failed"})

    def _end(self, action: str, body: dict | None) -> dict:
        response = self._request("post", f"/api/runs/{self.id}/{action}/", body or {})
        if response.status_code != 200:
            raise _refused(response, action)
        self.state = response.json()
        self._save()
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        return self.state

    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind, exc, traceback) -> None:
        """Finish when the block ends normally; fail (with the exception) when it raised."""
        if self.status != "running":
            return
        if exc is not None:
            self.fail(f"{kind.__name__}: {exc}")
        else:
            self.finish()

    # -- the network -------------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        return request_with_retries(self.session, method, self.server + path, body, self)

    def _save(self) -> None:
        """The buffer file: a header line, then one line per undelivered epoch; replaced at once, never half-written."""
        if self.buffer_path is None:
            return
        lines = [json.dumps({"server": self.server, "run": self.id}), *(json.dumps(r) for r in self.pending)]
        partial = self.buffer_path.with_name(self.buffer_path.name + ".partial")
        partial.write_text("\n".join(lines) + "\n")
        os.replace(partial, self.buffer_path)


def request_with_retries(session, method: str, url: str, body: dict | None, policy) -> requests.Response:
    """A response the server gave (any status but a busy one), after up to `policy.retries` retries with
    exponential backoff on network errors and 429/5xx; ArenaUnavailable when none came."""
    problem = ""
    for attempt in range(policy.retries + 1):
        if attempt:
            time.sleep(min(policy.backoff * 2 ** (attempt - 1), policy.max_backoff))
        try:
            response = session.request(method, url, json=body, timeout=policy.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            problem = f"{type(exc).__name__}"
            continue
        if response.status_code not in RETRY_STATUSES:
            return response
        problem = f"HTTP {response.status_code}"
    raise ArenaUnavailable(f"{method.upper()} {url}: no answer after {policy.retries + 1} tries ({problem})")


def _refused(response: requests.Response, what: str) -> ArenaError:
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text[:500]}
    errors = body.get("errors") or {}
    named = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
    message = f"{what}: HTTP {response.status_code}: {named or body.get('detail')}"
    return ArenaError(message, response.status_code, errors)


def _number(name: str, value: Any) -> float | int | None:
    """A plain number from a Python or torch/numpy scalar; a loss that is not finite becomes None."""
    if value is None or isinstance(value, int) and not isinstance(value, bool):
        return value
    number = float(value.item() if hasattr(value, "item") else value)
    if not math.isfinite(number):
        if name in LOSSES:
            return None
        raise ValueError(f"{name} is {number}: only losses may be non-finite (they mark the run diverged)")
    return number


def logits_metrics(logits, labels) -> dict[str, float]:
    """LRBench's test metrics from the test set's logits (trainer.metrics, as the engine computes them),
    and the mean cross-entropy as the test loss."""
    import torch.nn.functional as F

    from trainer.metrics import lrbench_metrics

    if labels is None:
        raise ValueError("labels: give them with logits")
    measured = lrbench_metrics(logits, labels)
    return {
        "test_acc": measured["top1"],
        "test_top5": measured["top5"],
        "ac": measured["ac"],
        "cv": measured["cv"],
        "cvac": measured["cvac"],
        "test_loss": _number("test_loss", F.cross_entropy(logits.detach().float(), labels.to(logits.device))),
    }


def login(server: str, username: str, password: str, timeout: float = 10.0) -> str:
    """An API token for a username and password (POST /api/token/); the dashboard's profile shows it too."""
    response = requests.post(
        f"{server.rstrip('/')}/api/token/", data={"username": username, "password": password}, timeout=timeout
    )
    if response.status_code != 200:
        raise _refused(response, "login")
    return response.json()["token"]


def _session_for(server: str, token: str, team: str | None, options: dict) -> Run:
    """A Run with no state yet: its session and retry settings serve open_run's and resume's first requests."""
    return Run(server, token, {"id": None, "status": "opening", "workload": ""}, team=team, **options)


def _policy_id(run: Run, policy: int | str) -> int:
    if isinstance(policy, int) and not isinstance(policy, bool):
        return policy
    if not isinstance(policy, str):
        raise TypeError("policy: its id or its name (create policies in the dashboard or with POST /api/policies/)")
    response = run._request("get", "/api/policies/?limit=1000&archived=false")
    if response.status_code != 200:
        raise _refused(response, "policies")
    matches = [p["id"] for p in response.json()["results"] if p["name"] == policy]
    if not matches:
        raise ArenaError(f"policy: none named {policy!r} that you can use")
    return matches[0]


def open_run(
    server: str,
    token: str,
    *,
    policy: int | str,
    workload: str,
    epochs: int,
    seed: int = 0,
    team: str | None = None,
    iterations_per_epoch: int | None = None,
    num_classes: int | None = None,
    target_accuracy: float | None = None,
    device: str = "",
    buffer_path: str | os.PathLike | None = None,
    **options: Any,
) -> Run:
    """Open a self-reported run on the server and return it, running.

    `policy`: its id, or its name (your team's policies and published ones). `workload`: your workload's
    name (lower-case letters, digits, '.', '_', '-'; not a built-in workload's), or "<team-slug>/<name>"
    with the run's team's slug: the server stores it as the latter, your team's own (`run.workload`), and the
    run's board is that with `epochs`: it holds your team's runs only, even where another team took the name.
    `iterations_per_epoch` feeds the scheduler and the board's iterations to target;
    `num_classes` lets the server apply the full divergence rule. `buffer_path`: a JSON-lines file that keeps
    undelivered epochs across a crash (see `resume`). `options`: retries, backoff, max_backoff, timeout,
    heartbeat_every (see `Run.heartbeat`).
    The open is retried like a report, with one `client_key` for every try: an open whose answer was lost
    gets the run it opened, never a second one.
    """
    run = _session_for(server, token, team, options)
    if buffer_path is not None and Path(buffer_path).exists():
        left = Path(buffer_path).read_text().splitlines()[1:]
        if left:
            raise ValueError(f"{buffer_path} holds {len(left)} undelivered epochs: resume() that run first")
    body = {
        # One key for this open, sent again with every retry: an open whose answer was lost gets the same run.
        "client_key": str(uuid.uuid4()),
        "policy": _policy_id(run, policy),
        "workload": workload,
        "epochs": epochs,
        "seed": seed,
        "iterations_per_epoch": iterations_per_epoch,
        "num_classes": num_classes,
        "target_accuracy": target_accuracy,
        "device": device,
    }
    response = run._request("post", "/api/runs/reported/", body)
    if response.status_code not in (200, 201):  # 200: a retry found the run its lost answer had opened
        raise _refused(response, "open")
    run.state = response.json()
    run.buffer_path = Path(buffer_path) if buffer_path is not None else None
    run._save()
    return run


def resume(
    server: str,
    token: str,
    run_id: int | None = None,
    *,
    team: str | None = None,
    buffer_path: str | os.PathLike | None = None,
    **options: Any,
) -> Run:
    """A run opened earlier (by id, or the one in `buffer_path`), with the epochs its buffer file still holds
    (call `flush()` or `finish()` to deliver them). Its scheduler starts afresh: build it again."""
    pending: list[dict] = []
    if buffer_path is not None and Path(buffer_path).exists():
        header, *lines = Path(buffer_path).read_text().splitlines()
        run_id = run_id or json.loads(header)["run"]
        if json.loads(header)["run"] == run_id:
            pending = [json.loads(line) for line in lines if line.strip()]
    if run_id is None:
        raise ValueError("run_id: give it, or a buffer_path that names the run")
    run = _session_for(server, token, team, options)
    response = run._request("get", f"/api/runs/{run_id}/")
    if response.status_code != 200:
        raise _refused(response, f"run {run_id}")
    run.state = response.json()
    run.pending = pending
    run.buffer_path = Path(buffer_path) if buffer_path is not None else None
    return run
