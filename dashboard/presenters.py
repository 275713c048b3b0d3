"""The JSON shapes of runs and epochs, shared by the API, the pages and the websocket."""

from __future__ import annotations

from dashboard.models import EpochMetric, Run, Study


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def run_state(run: Run) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "workload": run.workload,
        "workload_options": run.workload_options,
        "policy": run.policy_id,
        "policy_name": run.policy.name,
        "policy_spec": run.policy_spec,
        "epochs": run.epochs,
        "seed": run.seed,
        "study": run.study_id,
        "lr_scale": run.lr_scale,
        "target_accuracy": run.target_accuracy,
        "epochs_done": run.epochs_done,
        "progress": run.progress or {},
        "device": run.device,
        "device_request": run.device_request,
        "queue": run.queue,
        "worker": run.worker,
        "attempt": run.attempt,
        "error": run.error,
        "self_reported": run.self_reported,
        "iterations_per_epoch": run.iterations_per_epoch,
        "num_classes": run.num_classes,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "summary": {
            "final_acc": run.final_acc,
            "best_acc": run.best_acc,
            "final_loss": run.final_loss,
            "total_seconds": run.total_seconds,
            "diverged_epoch": run.diverged_epoch,
            **(run.summary or {}),
        },
    }


def run_configuration(run: Run) -> dict:
    """What the run trains with, as the worker resolves it: the workload's optimizer, batch and options.

    The web process loads no PyTorch, so this follows trainer.engine._optimizer_for
    without importing it (tests/unit/test_run_configuration.py holds the two together):
    Li & Arora's conversions (specs with "wd") train with SGD without weight decay.
    """
    import math

    from trainer.workloads import get_workload, resolve_optimizer

    if run.self_reported:
        return self_reported_configuration(run)
    workload = get_workload(run.workload)
    try:
        options = workload.resolve_options(run.workload_options)
    except ValueError:  # checked when queued; a later version of the workload may refuse them: show them as stored
        options = dict(run.workload_options)
    batch_size = options.get("batch_size", workload.batch_size)  # image-folder's batch is an option
    optimizer = resolve_optimizer(workload.optimizer, None)
    spec = run.policy_spec if isinstance(run.policy_spec, dict) else {}
    if "wd" in spec and optimizer["name"] == "sgd":
        optimizer.update(weight_decay=0.0, momentum=spec.get("momentum", optimizer["momentum"]))
    return {
        "workload": workload.name,
        "workload_title": workload.title,
        "optimizer": optimizer,
        "optimizer_settings": {k: v for k, v in optimizer.items() if k != "name"},
        "batch_size": batch_size,
        "steps_per_epoch": math.ceil(workload.train_size / batch_size) if workload.train_size else None,
        "workload_options": options,
        "policy_spec": run.policy_spec,
        "lr_scale": run.lr_scale,
        "device_request": run.get_device_request_display(),
    }


def self_reported_configuration(run: Run) -> dict:
    """A self-reported run's configuration: what its loop declared; the rest is the team's own."""
    return {
        "self_reported": True,
        "workload": run.workload,
        "workload_title": "the team's own workload",
        "optimizer": {"name": "the team's own"},
        "optimizer_settings": {},
        "batch_size": "the team's own",
        "steps_per_epoch": run.iterations_per_epoch,
        "workload_options": {},
        "policy_spec": run.policy_spec,
        "lr_scale": run.lr_scale,
        "device_request": "its own loop",
    }


def epoch_rows(run: Run) -> list[dict]:
    return [row.as_dict() for row in EpochMetric.objects.filter(run=run).order_by("epoch")]


def study_state(study: Study) -> dict:
    return {
        "id": study.pk,
        "name": study.name,
        "description": study.description,
        "team": study.team.name,
        "workload": study.workload,
        "workload_options": study.workload_options,
        "epochs": study.epochs,
        "seeds": study.seeds,
        "target_accuracy": study.target_accuracy,
        "lr_scales": study.lr_scales,
        "halving_eta": study.halving_eta,
        "policies": [{"id": p.pk, "name": p.name, "spec": p.spec} for p in study.policies.all()],
        "created_at": _iso(study.created_at),
    }
