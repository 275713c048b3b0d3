"""MLR-SNet on a workload against multi-step ×0.1 decay and a fixed LR (docs/reproductions.md, section 3).

    PYTHONPATH=. python scripts/mlrsnet_lenet.py --workload mnist-lenet --epochs 3 --seeds 0 1 2 \
        --caps auto 0.05 --k0 0.01 0.05 --fix 0.01

For each seed: meta-train (one per cap) and replay each learned spec frozen (LEARNED) through the engine,
then train the baselines (multi-step ×0.1 at 50% and 75% of training, FIX) with the same seed. Everything
trains with the workload's optimizer (SGD momentum 0.9 for mnist-lenet), one CPU thread. Prints one JSON
line per run, then a table of final test accuracy (mean ± sd over the seeds).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from trainer.engine import TrainConfig, train
from trainer.meta import meta_train
from trainer.schedules.learned import build_learned


def multistep(k0: float, epochs: int) -> dict:
    return {
        "kind": "PIECEWISE",
        "boundaries": [0.5 * epochs, 0.75 * epochs],
        "stages": [{"kind": "FIX", "k0": k0}, {"kind": "FIX", "k0": k0 / 10}, {"kind": "FIX", "k0": k0 / 100}],
    }


def engine_run(workload: str, policy, epochs: int, seed: int) -> dict:
    result = train(TrainConfig(workload, policy, epochs=epochs, seed=seed, device="cpu"))
    final = result["epochs"][-1] if result["epochs"] else {}
    return {"status": result["status"], "final_acc": final.get("test_acc"), "final_train_loss": final.get("train_loss")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mnist-lenet")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--caps", nargs="+", default=["auto"], help="meta-training lr_cap values: auto or numbers")
    parser.add_argument("--k0", type=float, nargs="+", default=[0.01, 0.05], help="multi-step decay's first LRs")
    parser.add_argument("--fix", type=float, nargs="*", default=[0.01], help="FIX LRs")
    args = parser.parse_args()
    torch.set_num_threads(1)

    finals: dict[str, list[float | None]] = {}

    def record(name: str, seed: int, row: dict, started: float) -> None:
        row = {"policy": name, "seed": seed, **row, "seconds": round(time.perf_counter() - started, 1)}
        print(json.dumps(row), flush=True)
        finals.setdefault(name, []).append(row["final_acc"])

    for seed in args.seeds:
        for cap in args.caps:
            started = time.perf_counter()
            lr_cap = None if cap == "auto" else float(cap)
            meta = meta_train(args.workload, epochs=args.epochs, seed=seed, device="cpu", lr_cap=lr_cap)
            last = meta["epochs"][-1] if meta["epochs"] else {}
            lrs = [(e["lr_first"], e["lr_last"]) for e in meta["epochs"]]
            record(
                f"MLR-SNet during meta-training (lr_cap {cap})",
                seed,
                {
                    "status": meta["status"],
                    "final_acc": last.get("test_acc"),
                    "final_train_loss": last.get("train_loss"),
                    "gamma": meta["gamma"],
                    "gamma_paper": meta["gamma_paper"],
                    "lr_cap": meta["lr_cap"],
                    "lr_first_last_per_epoch": lrs,
                },
                started,
            )
            if meta["spec"] is not None:
                started = time.perf_counter()
                record(
                    f"LEARNED (lr_cap {cap})",
                    seed,
                    engine_run(args.workload, build_learned(meta["spec"]), args.epochs, seed),
                    started,
                )
        baselines = [(f"multi-step x0.1, k0 {k0:g}", multistep(k0, args.epochs)) for k0 in args.k0]
        baselines += [(f"FIX {k0:g}", {"kind": "FIX", "k0": k0}) for k0 in args.fix]
        for name, policy in baselines:
            started = time.perf_counter()
            record(name, seed, engine_run(args.workload, policy, args.epochs, seed), started)

    print(f"\n{args.workload}, {args.epochs} epochs, seeds {args.seeds}: final test accuracy", file=sys.stderr)
    for name, values in finals.items():
        measured = [v for v in values if v is not None]
        spread = statistics.stdev(measured) if len(measured) > 1 else 0.0
        mean = statistics.fmean(measured) if measured else float("nan")
        print(f"  {name:<45} {mean:.4f} ± {spread:.4f} (n {len(measured)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
