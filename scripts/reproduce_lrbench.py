"""LRBench's headline claim at this machine's scale, through LR Arena itself.

Starts a real deployment (redis-server, Celery workers, daphne; tests/stack.py),
queues, over the REST API, a successive-halving study of the curated reference
policies and the demo team's four (LRs that train LeNet) × 3 seeds on
mnist-lenet at LRBench's budget (10,000 iterations of batch 100: 17 epochs),
waits for it, then trains the LRBench default (INV) to the full budget if
halving stopped it, so that its cost to the target is known.
Prints and writes (JSON) the board as the API serves it: per policy, the
iterations to the target with its 95% interval, accuracy, divergences, groups,
and the study's compute saved.

    .venv/bin/python scripts/reproduce_lrbench.py --out var/repro-lrbench

A dry run: --epochs 3 --seeds 1 --policies "LRBench LeNet default (INV)" "Fixed 0.02".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stack import Stack  # noqa: E402  (the same deployment the integration tests use)

DEFAULT_POLICY = "LRBench LeNet default (INV)"
FINISHED = {"succeeded", "failed", "diverged", "cancelled", "stopped"}


def workload_runs(api, base: str, workload: str) -> list[dict]:
    """Every run of the workload on this fresh deployment (the list API, page by page)."""
    rows, url, params = [], f"{base}/api/runs/", {"workload": workload}
    while url:
        page = api.get(url, params=params).json()
        rows += page["results"]
        url, params = page.get("next"), None
    return rows


def wait_until_finished(api, base: str, workload: str, run_ids: list[int], poll: float, log) -> list[dict]:
    while True:
        runs = [r for r in workload_runs(api, base, workload) if r["id"] in run_ids]
        pending = [r for r in runs if r["status"] not in FINISHED]
        log(f"{len(runs) - len(pending)}/{len(runs)} runs finished; "
            f"{sum(r.get('epochs_done') or 0 for r in runs)} epochs trained")  # fmt: skip
        if not pending:
            return runs
        time.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "repro-lrbench")
    parser.add_argument("--workload", default="mnist-lenet")
    parser.add_argument("--epochs", type=int, default=17, help="10,000 iterations of batch 100 on MNIST's 60,000")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--eta", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="Celery workers, one CPU thread each")
    parser.add_argument("--policies", nargs="*", help="policy names (default: every reference policy)")
    parser.add_argument("--poll", type=float, default=30.0)
    args = parser.parse_args(argv)

    args.out.mkdir(parents=True, exist_ok=True)
    logfile = (args.out / "progress.log").open("a")

    def log(message: str) -> None:
        line = f"{time.strftime('%H:%M:%S')} {message}"
        print(line, flush=True)
        logfile.write(line + "\n")
        logfile.flush()

    # One run per task (batching LeNet loses on the CPU, docs/benchmarks.md) and one thread per worker.
    stack = Stack(
        workdir=args.out, settings={"ARENA_BATCH_RUNS": "1", "OMP_NUM_THREADS": "1", "ARENA_PROGRESS_SECONDS": "30"}
    )
    started = time.monotonic()
    try:
        stack.start()
        for n in range(1, args.workers):
            stack.start_worker(wait=True, hostname=f"repro-worker-{n}")
        api = stack.api(stack.token())
        base = stack.base_url
        policies = api.get(f"{base}/api/policies/").json()
        policies = policies["results"] if isinstance(policies, dict) else policies
        # The curated reference set (LRBench's defaults and the papers' schedules, most made for other
        # workloads) and the demo team's four policies (LRs that train LeNet).
        chosen = [p for p in policies if p["team"] in ("LR Arena reference", "Demo team")]
        if args.policies:
            chosen = [p for p in chosen if p["name"] in args.policies]
        log(f"{len(chosen)} policies: " + "; ".join(p["name"] for p in chosen))
        body = {
            "name": f"LRBench reference policies on {args.workload}",
            "workload": args.workload,
            "policies": [p["id"] for p in chosen],
            "seeds": list(range(args.seeds)),
            "epochs": args.epochs,
            "halving_eta": args.eta,
        }
        response = api.post(f"{base}/api/studies/", json=body)
        if response.status_code != 201:
            raise SystemExit(f"study refused: {response.status_code} {response.text}")
        study = response.json()
        log(f"study {study['id']} queued")
        run_ids = [r["id"] for r in workload_runs(api, base, args.workload)]
        runs = wait_until_finished(api, base, args.workload, run_ids, args.poll, log)
        detail = api.get(f"{base}/api/studies/{study['id']}/").json()
        log(f"study done: {json.dumps(detail['progress'])}")

        # The default's cost to the target needs its full runs: train them if halving stopped it.
        default = next((p for p in chosen if p["name"] == DEFAULT_POLICY), None)
        extra = []
        if default and any(r["status"] == "stopped" and r["policy"] == default["id"] for r in runs):
            log("the default was stopped early: training it to the full budget for its cost to the target")
            for seed in range(args.seeds):
                made = api.post(
                    f"{base}/api/runs/",
                    json={"workload": args.workload, "policy": default["id"], "seed": seed, "epochs": args.epochs},
                )
                made.raise_for_status()
                extra.append(made.json()["id"])
            wait_until_finished(api, base, args.workload, extra, args.poll, log)

        board = api.get(f"{base}/api/leaderboard/", params={"workload": args.workload, "epochs": args.epochs}).json()
        result = {
            "study": detail,
            "board": board,
            "extra_default_runs": extra,
            "wall_seconds": round(time.monotonic() - started, 1),
        }
        (args.out / "result.json").write_text(json.dumps(result, indent=2))
        for row in board["rows"]:
            keys = ("policy_name", "rank", "group", "n", "diverged", "reached", "iterations_to_target", "final_acc")
            log(json.dumps({k: row.get(k) for k in keys}))
        log(f"written {args.out / 'result.json'}")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
