"""How fast the leaderboard and the comparison endpoints answer at scale.

Seeds a fresh SQLite database with 10,000 finished runs of 100 epochs each
(1,000,000 epoch rows), then times, through Django's test client so that the
API's serialisation is included:

- GET /api/leaderboard/ (aggregates run summaries, with intervals, rank groups
  and seeds-to-separate for its 40 policies; target: under 150 ms),
- GET /api/compare/ for a 50-run study (mean ± std bands over 5,000 epoch rows),
- and, as the baseline measured in the same run, the same board computed the
  naive way from epoch rows (each run's last epoch), to show what storing the
  summary on the run row buys.

    .venv/bin/python bench/bench_leaderboard.py [--runs 10000] [--epochs 100]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup_django(db_path: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{db_path}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "dashboard.settings"
    os.environ.setdefault("DJANGO_DEBUG", "1")
    import django

    django.setup()
    from django.conf import settings

    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    settings.ALLOWED_HOSTS = ["*"]
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n_runs: int, n_epochs: int, n_policies: int = 40) -> tuple:
    from django.contrib.auth import get_user_model

    from dashboard.models import EpochMetric, Membership, Policy, Run, Study, Team

    rng = random.Random(0)
    user = get_user_model().objects.create_user("bench", password="bench-pass-123")
    team = Team.objects.create(name="Bench", slug="bench")
    Membership.objects.create(user=user, team=team, role="admin")
    policies = Policy.objects.bulk_create(
        [Policy(team=team, name=f"policy {i}", spec={"kind": "FIX", "k0": 0.01 * (i + 1)}) for i in range(n_policies)]
    )
    study = Study.objects.create(
        team=team, name="bench", workload="digits-mlp", epochs=n_epochs, seeds=list(range(50)), target_accuracy=0.9
    )
    runs = []
    for i in range(n_runs):
        acc = min(0.99, max(0.1, rng.gauss(0.9, 0.05)))
        reached = acc >= 0.9
        runs.append(
            Run(
                team=team,
                policy=policies[i % n_policies],
                policy_spec={"kind": "FIX", "k0": 0.1},
                workload="digits-mlp",
                epochs=n_epochs,
                seed=i // n_policies,
                status="succeeded",
                study=study if i < 50 else None,
                lr_scale=1.0,
                target_accuracy=0.9,
                final_acc=acc,
                best_acc=acc,
                final_top5=0.99,
                ac=0.9,
                cv=0.1,
                cvac=0.05,
                loss_gap=0.1,
                total_seconds=rng.uniform(5, 50),
                epochs_to_target=rng.randint(1, n_epochs) if reached else None,
                iterations_to_target=rng.randint(100, 5000) if reached else None,
                samples_to_target=rng.randint(3200, 160_000) if reached else None,
                device="x86_64",
                seconds_to_target=rng.uniform(1, 40) if reached else None,
                epochs_done=n_epochs,
            )
        )
    runs = Run.objects.bulk_create(runs, batch_size=2000)
    started = time.perf_counter()
    batch = []
    for run in runs:
        for epoch in range(1, n_epochs + 1):
            batch.append(
                EpochMetric(
                    run_id=run.pk,
                    epoch=epoch,
                    train_loss=1 / epoch,
                    train_acc=run.final_acc,
                    test_loss=1 / epoch,
                    test_acc=run.final_acc * epoch / n_epochs,
                    lr_first=0.1,
                    lr_last=0.1,
                    lr_mean=0.1,
                    seconds=0.5,
                    extra={"test_top5": 0.99},
                )
            )
        if len(batch) >= 50_000:
            EpochMetric.objects.bulk_create(batch, batch_size=10_000)
            batch = []
    EpochMetric.objects.bulk_create(batch, batch_size=10_000)
    print(f"seeded {n_runs:,} runs and {n_runs * n_epochs:,} epoch rows in {time.perf_counter() - started:.0f} s")
    return user, study


def timed(fn, repeat: int = 15) -> float:
    fn()  # warm caches
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1000


def naive_board(workload: str, epochs: int) -> list:
    """The baseline: the board computed from epoch rows instead of run summaries."""
    from collections import defaultdict

    from django.db.models import Max

    from dashboard.models import EpochMetric

    last = (
        EpochMetric.objects.filter(run__workload=workload, run__epochs=epochs).values("run_id").annotate(e=Max("epoch"))
    )
    finals = EpochMetric.objects.filter(run__workload=workload, run__epochs=epochs, epoch=epochs).values_list(
        "run__policy_id", "test_acc"
    )
    by_policy = defaultdict(list)
    for policy, acc in finals:
        by_policy[policy].append(acc)
    list(last)
    return sorted(((statistics.mean(v), p) for p, v in by_policy.items()), reverse=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(Path(tmp) / "bench.sqlite3")
        user, study = seed(args.runs, args.epochs)
        from django.test import Client

        client = Client()
        client.force_login(user)

        def board():
            response = client.get("/api/leaderboard/", {"workload": "digits-mlp", "epochs": args.epochs})
            assert response.status_code == 200 and len(response.json()["rows"]) == 40

        def board_ranked_by_score():
            response = client.get(
                "/api/leaderboard/",
                {"workload": "digits-mlp", "rank": "score", "weights": "final_acc:1,cv:1,seconds_to_target:1"},
            )
            assert response.status_code == 200

        def compare_study():
            response = client.get("/api/compare/", {"study": study.pk})
            assert response.status_code == 200 and response.json()["series"]

        def compare_runs_seconds():
            ids = ",".join(str(i) for i in range(1, 201))
            response = client.get("/api/compare/", {"runs": ids, "x": "seconds", "max_points": 50})
            assert response.status_code == 200

        results = [
            ("leaderboard (LRBench rule)", timed(board)),
            ("leaderboard (weighted score)", timed(board_ranked_by_score)),
            ("compare: 50-run study", timed(compare_study)),
            ("compare: 200 runs, x = seconds", timed(compare_runs_seconds, repeat=5)),
        ]
        baseline = timed(lambda: naive_board("digits-mlp", args.epochs), repeat=3)
        print(f"\n{args.runs:,} runs × {args.epochs} epochs, SQLite, median of repeated calls")
        print(f"{'endpoint':34} {'ms':>9}")
        for name, ms in results:
            print(f"{name:34} {ms:9.1f}")
        print(f"{'baseline: board from epoch rows':34} {baseline:9.1f}")
        board_ms = results[0][1]
        print(
            f"\nleaderboard vs the 150 ms target: {board_ms / 150:.2f}x of the budget "
            f"({'met' if board_ms < 150 else 'MISSED'})"
        )
        print(f"leaderboard speed-up over the epoch-row baseline: {baseline / board_ms:.1f}x")


if __name__ == "__main__":
    main()
