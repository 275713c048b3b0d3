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


def epoch_rows(run: Run) -> list[dict]:
    return [row.as_dict() for row in EpochMetric.objects.filter(run=run).order_by("epoch")]


def study_state(study: Study) -> dict:
    return {
        "id": study.pk,
        "name": study.name,
        "description": study.description,
        "team": study.team.name,
        "workload": study.workload,
        "epochs": study.epochs,
        "seeds": study.seeds,
        "target_accuracy": study.target_accuracy,
        "lr_scales": study.lr_scales,
        "policies": [{"id": p.pk, "name": p.name, "spec": p.spec} for p in study.policies.all()],
        "created_at": _iso(study.created_at),
    }
