"""Runs and jobs on a fleet of workers: guarded transitions, queues, leases, reconciliation.

The database is the queue of record; Redis only carries messages.

- **One guarded transition** (`move`) changes a row's status: a conditional
  ``UPDATE … WHERE status IN (…) [AND attempt = …]``. Of two writers racing
  on a row exactly one wins; the loser gets False and stops. An acknowledged
  cancel is therefore final: a worker's finish only moves a row that is still
  running under the worker's own attempt.
- **Queues by device.** A run goes to the `cpu` or `gpu` queue (`queue_for`);
  workers consume the queue of the device they declare (ARENA_DEVICE).
  Messages are sent by task name, so `actions` never imports `tasks`.
- **Leases, not names.** A worker holds a lease on what it trains and renews
  it from a background thread every ARENA_LEASE_SECONDS / 4 (`Lease`), however
  long an epoch takes. When a lease expires any worker takes the row over: the
  reconciler hands it back to the queue, or a redelivered message claims it,
  and training resumes from the last checkpoint. Every write of the worker is
  fenced by the attempt number it started with.
- **Reconciliation** (dashboard/reconcile.py, every ARENA_RECONCILE_SECONDS
  in every worker): expired leases go back to the queue, and queued rows whose message
  no broker queue holds (Redis restarted without persistence, a message lost)
  are sent again. Starting is idempotent, so a duplicate message is harmless.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, models
from django.db.models import F, Q
from django.utils import timezone

log = logging.getLogger(__name__)

QUEUES = ("cpu", "gpu")
RUN_TASK, BATCH_TASK, JOB_TASK = "arena.train_run", "arena.train_batch", "arena.run_job"


# -- the one guarded transition ---------------------------------------------------------------------


def move(
    model: type[models.Model],
    pk: int,
    *,
    source: Iterable[str],
    target: str,
    attempt: int | None = None,
    when: Q | None = None,
    **changes,
) -> bool:
    """Move row `pk` from any status in `source` to `target` in one conditional UPDATE.

    With `attempt`, only the holder of that attempt may move it; `when` adds a
    condition of its own. True when this call made the change; False when the
    row was elsewhere (another writer won, or it never was in `source`).
    """
    rows = model.objects.filter(pk=pk, status__in=list(source))
    if attempt is not None:
        rows = rows.filter(attempt=attempt)
    if when is not None:
        rows = rows.filter(when)
    return rows.update(status=target, **changes) == 1


def lease_deadline() -> timezone.datetime:
    return timezone.now() + timedelta(seconds=settings.ARENA_LEASE_SECONDS)


def claim(model: type[models.Model], pk: int, *, worker: str, **changes) -> bool:
    """Start a queued row, or take over a running one whose lease expired: a new attempt, a fresh lease.

    Never a row no worker trains (`WORKER_TRAINED`: a self-reported run), whatever message names it.
    """
    now = timezone.now()
    claimable = Q(status="queued") | Q(status="running") & (Q(lease_expires_at__lt=now) | Q(lease_expires_at=None))
    claimed = (
        model.objects.filter(claimable, model.WORKER_TRAINED, pk=pk).update(
            status="running",
            attempt=F("attempt") + 1,
            worker=worker[:200],
            lease_expires_at=lease_deadline(),
            **changes,
        )
        == 1
    )
    if claimed:
        model.objects.filter(pk=pk, started_at=None).update(started_at=now)
    return claimed


def holds(model: type[models.Model], pk: int, attempt: int) -> bool:
    """Whether the holder of `attempt` still holds the row (running, not cancelled, not taken over)."""
    return model.objects.filter(pk=pk, status="running", attempt=attempt).exists()


# -- queues ----------------------------------------------------------------------------------------


class NoGpuWorkers(ValueError):
    """A run asked for a GPU where no GPU workers consume the gpu queue."""


def check_device(device_request: str) -> None:
    """NoGpuWorkers when a run asks for a GPU and no GPU workers serve this deployment."""
    if device_request == "gpu" and not settings.ARENA_GPU_WORKERS:
        raise NoGpuWorkers("This deployment has no GPU workers (ARENA_GPU_WORKERS is off): choose auto or cpu.")


def queue_for(workload: str, device_request: str) -> str:
    """The Celery queue of a run: `gpu` when asked for, or when `auto` and its workload prefers a GPU."""
    from trainer.workloads import get_workload

    check_device(device_request)
    if device_request == "gpu":
        return "gpu"
    if device_request == "auto" and settings.ARENA_GPU_WORKERS and get_workload(workload).prefers_gpu:
        return "gpu"
    return "cpu"


def worker_queue(device: str) -> str:
    """The queue a worker declaring ARENA_DEVICE=device consumes."""
    return "gpu" if device.startswith("cuda") else "cpu"


def send_runs(run_ids: list[int], queue: str) -> None:
    """Hand runs to a worker: one run alone, several (a study's group) to train together."""

    from dashboard.models import Run

    rows = Run.objects.filter(pk__in=run_ids)
    rows.update(sent_at=timezone.now(), queue=queue)
    if len(run_ids) == 1:
        _send(rows, RUN_TASK, [run_ids[0]], queue)
    else:
        _send(rows, BATCH_TASK, [run_ids], queue)


def send_job(job_id: int) -> None:
    from dashboard.models import Job

    rows = Job.objects.filter(pk=job_id)
    rows.update(sent_at=timezone.now())
    _send(rows, JOB_TASK, [job_id], "cpu")


def _send(rows: models.QuerySet, task: str, args: list, queue: str) -> None:
    """Publish a task message; with the broker away, leave the rows for the reconciler instead of failing."""
    from celery import current_app

    try:
        current_app.send_task(task, args=args, queue=queue, retry=False)
    except Exception:  # noqa: BLE001 - the rows are stored; the reconciler sends them when the broker is back
        log.warning("the broker did not take %s%s: the reconciler will send it again", task, args, exc_info=True)
        rows.update(sent_at=None)


# -- leases ----------------------------------------------------------------------------------------


class Lease:
    """Keeps the leases of the rows a worker trains alive from a background thread.

    `held` maps each row's id to the attempt this worker started. A renewal
    that finds a row no longer running under that attempt (cancelled, taken
    over after an expiry) marks it lost: `lost(pk)` then answers True and the
    training loop stops at its next check without writing.
    """

    def __init__(self, model: type[models.Model], held: dict[int, int]) -> None:
        self.model = model
        self.held = dict(held)
        self._lost: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_alive, name="arena-lease", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def lost(self, pk: int) -> bool:
        return pk in self._lost

    def mark_lost(self, pk: int) -> None:
        """A write for this row was refused: stop renewing it and let its training stop."""
        self._lost.add(pk)
        self.held.pop(pk, None)

    def renew(self) -> None:
        deadline = lease_deadline()
        for pk, attempt in list(self.held.items()):
            renewed = self.model.objects.filter(pk=pk, status="running", attempt=attempt).update(
                lease_expires_at=deadline
            )
            if not renewed:
                log.warning(
                    "%s %s: lease of attempt %s lost (cancelled or taken over)", self.model.__name__, pk, attempt
                )
                self.mark_lost(pk)

    def _keep_alive(self) -> None:
        interval = max(0.5, settings.ARENA_LEASE_SECONDS / 4)
        try:
            while not self._stop.wait(interval):
                try:
                    self.renew()
                except Exception:  # noqa: BLE001 - a database hiccup: try again at the next beat
                    log.warning("could not renew leases", exc_info=True)
                    close_old_connections()
        finally:
            connection.close()  # this thread's own connection


# -- reconciliation --------------------------------------------------------------------------------


def held_in_broker() -> tuple[set[int], set[int]]:
    """The run and job ids that a message waiting in a Redis queue still carries.

    Unacknowledged messages do not count: a worker that took a queued row's
    message claims the row at once, so a queued row whose message is only
    unacknowledged belongs to a worker that died (Redis would hand it back
    only after the visibility timeout). Re-sending it is safe: starting is
    idempotent.
    """
    import redis

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=5)
    payloads: list[bytes] = []
    for queue in (*QUEUES, "arena"):
        # kombu keeps priorities other than 0 in keys of their own: queue + "\x06\x16" + priority.
        for key in [queue, *(f"{queue}\x06\x16{priority}" for priority in range(1, 10))]:
            payloads.extend(client.lrange(key, 0, -1))
    runs: set[int] = set()
    jobs: set[int] = set()
    for payload in payloads:
        task, args = _task_and_args(payload)
        if task == RUN_TASK and args:
            runs.add(int(args[0]))
        elif task == BATCH_TASK and args:
            runs.update(int(i) for i in args[0])
        elif task == JOB_TASK and args:
            jobs.add(int(args[0]))
    return runs, jobs


def _task_and_args(payload: bytes) -> tuple[str | None, list]:
    """A Celery (protocol 2) message as kombu stores it in Redis: its task name and positional arguments."""
    try:
        message = json.loads(payload)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return message["headers"]["task"], list(args)
    except (ValueError, KeyError, IndexError, TypeError):
        return None, []
