"""LR Arena's data: teams, policies, runs and their epoch metrics."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Quotas, set by site admins. Exceeding one is an error that names it, never a silent drop.
    max_active_runs = models.PositiveIntegerField(default=50, help_text="queued and running runs at once")
    max_epochs_per_run = models.PositiveIntegerField(default=500)
    max_runs_per_study = models.PositiveIntegerField(default=200)

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        VIEWER = "viewer", "Viewer"
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="one_membership_per_team")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"


class Invitation(models.Model):
    """A link that lets whoever opens it join a team with a role."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="invitations")
    role = models.CharField(max_length=10, choices=Membership.Role.choices, default=Membership.Role.MEMBER)
    token = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    max_uses = models.PositiveIntegerField(default=1)
    uses = models.PositiveIntegerField(default=0)
    revoked = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"Invitation to {self.team} as {self.role}"


class Policy(models.Model):
    """A named LR policy: one JSON spec, as understood by trainer.schedules."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="policies")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    spec = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Publishing puts the policy and its results on the shared leaderboard, under the team's name.
    published = models.BooleanField(default=False, db_index=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Archived policies leave the pickers and lists; their runs and results stay.
    archived = models.BooleanField(default=False, db_index=True)

    class Meta:
        verbose_name_plural = "policies"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="policy_name_unique_in_team")]

    def __str__(self) -> str:
        return self.name

    @property
    def kind(self) -> str:
        return str(self.spec.get("kind", "?"))


class Study(models.Model):
    """LRBench's unit of evidence: policies × seeds (× base-LR scales) on one workload and budget."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="studies")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    workload = models.CharField(max_length=50)
    workload_options = models.JSONField(default=dict, blank=True)  # as Run.workload_options; every run has them
    epochs = models.PositiveIntegerField()
    seeds = models.JSONField()  # list of ints
    target_accuracy = models.FloatField()
    lr_scales = models.JSONField(default=list)  # e.g. [0.1, 0.5, 1, 5, 10]; [1] when not a robustness study
    # Successive halving (dashboard/halving.py): at each rung the top 1/eta of the policies go on,
    # the rest stop early. None: every run trains the whole budget.
    halving_eta = models.PositiveSmallIntegerField(null=True, blank=True)
    policies = models.ManyToManyField(Policy, related_name="studies")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class Leased(models.Model):
    """What a worker holds while it trains a row (a run or a job): see dashboard/fleet.py.

    `attempt` counts the starts; every write a worker makes is fenced by the
    attempt it started, so a stale worker that comes back after its lease
    expired (and another took over) writes nothing. `sent_at` is when the row's
    message last went to the broker: the reconciler re-sends queued rows whose
    message is gone.
    """

    attempt = models.PositiveIntegerField(default=0)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    # The rows a worker may claim (fleet.claim); a subclass narrows it.
    WORKER_TRAINED = Q()

    class Meta:
        abstract = True


class Run(Leased):
    """One training run: a workload trained with a policy for a number of epochs."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        DIVERGED = "diverged", "Diverged"
        CANCELLED = "cancelled", "Cancelled"
        # Successive halving: trained to its rung, waiting for the rung's decision; or not promoted.
        WAITING = "waiting", "Waiting at its rung"
        STOPPED = "stopped", "Stopped early"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.DIVERGED, Status.CANCELLED, Status.STOPPED)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="runs")
    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="runs")
    # The spec as it was when the run was queued: editing a policy later must
    # not change what an old run means.
    policy_spec = models.JSONField()
    # A built-in workload's name; a self-reported run's is its team's own, "<team-slug>/<name>", so that the
    # boards of two teams' workloads of one name never mix (actions.team_workload).
    workload = models.CharField(max_length=151, db_index=True)
    # The workload's options that differ from its defaults ({} for none), checked when queued:
    # {"path": "/data/flowers", "model": "mobilenet_v3_small"}. Part of what a board compares.
    workload_options = models.JSONField(default=dict, blank=True)
    epochs = models.PositiveIntegerField()
    seed = models.IntegerField(default=0)
    study = models.ForeignKey(Study, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    # The policy's LRs multiplied by this factor (LRBench's base-LR robustness test); 1 otherwise.
    lr_scale = models.FloatField(default=1.0)
    target_accuracy = models.FloatField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Device(models.TextChoices):
        AUTO = "auto", "Auto (the workload's preference)"
        CPU = "cpu", "CPU"
        GPU = "gpu", "GPU"

    # The kind of worker the run asks for; `queue` is the Celery queue it was sent to.
    device_request = models.CharField(max_length=4, choices=Device.choices, default=Device.AUTO)
    queue = models.CharField(max_length=20, blank=True)
    device = models.CharField(max_length=100, blank=True, help_text="the device it trained on, by name")
    worker = models.CharField(max_length=200, blank=True, help_text="the Celery worker that trains it")
    epochs_done = models.PositiveIntegerField(default=0)
    # In a halving study: the epochs of the rung this run trains to now; None: all `epochs`.
    rung_epochs = models.PositiveIntegerField(null=True, blank=True)
    # The epoch under way, as the worker last reported it (trainer.progress; every few seconds at
    # most), so that a page opened mid-epoch shows it: {"epoch", "iteration", "steps_per_epoch", ...}.
    progress = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # Summary, stored when the run ends so that the leaderboard aggregates runs, not epochs.
    final_acc = models.FloatField(null=True, blank=True)
    best_acc = models.FloatField(null=True, blank=True)
    final_loss = models.FloatField(null=True, blank=True)
    total_seconds = models.FloatField(null=True, blank=True)
    diverged_epoch = models.PositiveIntegerField(null=True, blank=True)
    final_top5 = models.FloatField(null=True, blank=True)
    ac = models.FloatField(null=True, blank=True)
    cv = models.FloatField(null=True, blank=True)
    cvac = models.FloatField(null=True, blank=True)
    loss_gap = models.FloatField(null=True, blank=True)
    epochs_to_target = models.PositiveIntegerField(null=True, blank=True)
    iterations_to_target = models.PositiveIntegerField(null=True, blank=True)
    samples_to_target = models.PositiveBigIntegerField(null=True, blank=True)
    seconds_to_target = models.FloatField(null=True, blank=True)
    summary = models.JSONField(default=dict, blank=True)
    # Trained by the team's own loop and reported through the API (lr_arena_client), not by a worker:
    # no queue, never claimed nor requeued; every report renews its lease (ARENA_REPORT_TIMEOUT_SECONDS)
    # and the reconciler fails it once that expires; marked as self-reported on the boards (dashboard/reports.py).
    self_reported = models.BooleanField(default=False, db_index=True)
    # What the reporting loop declared: optimizer steps per epoch (iterations to target on the board)
    # and the number of classes (the divergence rule's chance level); None when it did not say.
    iterations_per_epoch = models.PositiveIntegerField(null=True, blank=True)
    num_classes = models.PositiveIntegerField(null=True, blank=True)
    # The reporting client's key for one open: a retried open with the same key gets the same run.
    client_key = models.UUIDField(null=True, blank=True)

    # The rows a worker may claim (fleet.claim): a self-reported run is its team's loop's, never a worker's.
    WORKER_TRAINED = Q(self_reported=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["workload", "status"]),
            models.Index(fields=["workload", "epochs", "status", "lr_scale"]),
        ]
        constraints = [models.UniqueConstraint(fields=["team", "client_key"], name="one_run_per_client_key")]

    def __str__(self) -> str:
        return f"Run {self.pk}: {self.workload} / {self.policy_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class EpochMetric(models.Model):
    """The metrics of one finished epoch of a run."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="epoch_metrics")
    epoch = models.PositiveIntegerField()
    train_loss = models.FloatField(null=True)
    train_acc = models.FloatField(null=True)
    test_loss = models.FloatField(null=True)
    test_acc = models.FloatField(null=True)
    lr_first = models.FloatField(null=True)
    lr_last = models.FloatField(null=True)
    lr_mean = models.FloatField(null=True)
    seconds = models.FloatField(null=True)
    # Everything else the engine reports (top-5, confidence metrics, the LR trace ...).
    extra = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["run", "epoch"]
        constraints = [models.UniqueConstraint(fields=["run", "epoch"], name="one_row_per_epoch")]

    def __str__(self) -> str:
        return f"Run {self.run_id} epoch {self.epoch}"

    COLUMNS = ("train_loss", "train_acc", "test_loss", "test_acc", "lr_first", "lr_last", "lr_mean", "seconds")

    def as_dict(self) -> dict:
        data = {"epoch": self.epoch, **self.extra}
        for column in self.COLUMNS:
            data[column] = getattr(self, column)
        return data


class Job(Leased):
    """A research tool run by a worker: η* search, LR grid, LR range test, MLR-SNet meta-training,
    or a Li & Arora equivalence study. Its progress is a stream of events; its result a JSON object."""

    class Kind(models.TextChoices):
        LR_SEARCH = "lr_search", "Maximal initial LR search"
        LR_GRID = "lr_grid", "η* over depth × width"
        LR_RANGE = "lr_range", "LR range test"
        META_TRAIN = "meta_train", "MLR-SNet meta-training"
        EQUIVALENCE = "equivalence", "Exponential-LR equivalence study"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=100, blank=True)
    params = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    result = models.JSONField(null=True, blank=True)
    events_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED


class JobEvent(models.Model):
    """One step of a job's progress (a probe, a grid cell, a range-test step, an epoch)."""

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=20)
    data = models.JSONField()

    class Meta:
        ordering = ["job", "seq"]
        constraints = [models.UniqueConstraint(fields=["job", "seq"], name="one_event_per_seq")]

    def __str__(self) -> str:
        return f"{self.job} event {self.seq} ({self.type})"
