"""bf16 autocast against float32: the accuracy the engine reaches on real MNIST (mnist-lenet), on a GPU.

On CUDA the engine runs the forward pass under bf16 autocast. This trains the
same runs (mnist-lenet, 2 epochs, seeds 0, 1, 2, one policy) twice: as the
engine does, and with autocast switched off and TF32 off, so float32 is
float32. The question: do the mean test accuracies differ by more than seed
noise? The verdict "same" needs |mean_bf16 - mean_fp32| <= max(2 * the
standard error of that difference, 0.002).

A forward hook on the first layer records the dtype it computed in, which
proves each arm ran as labelled. On the CPU (a dry run) the engine never
autocasts, so both arms are float32 there.

    python3 bench/bench_precision.py --device cuda --json out.json [--epochs 2] [--seeds 0,1,2] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (puts the repository on sys.path)
import torch  # noqa: E402

from trainer import workloads  # noqa: E402
from trainer.data import mnist_raw_files_exist  # noqa: E402
from trainer.engine import TrainConfig, resolve_device, train  # noqa: E402
from trainer.paths import default_data_dir  # noqa: E402

POLICY = {"kind": "FIX", "k0": 0.01}  # LRBench's LeNet LR
NOISE_FLOOR = 0.002  # 0.2 percentage points: below that, accuracies on 10,000 test images are the same


@contextlib.contextmanager
def float32_only():
    """The engine's autocast switched off, and TF32 off, for the duration."""
    real = torch.autocast
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32

    def no_autocast(device_type, dtype=None, enabled=True, cache_enabled=None):
        return real(device_type, dtype=dtype, enabled=False)

    torch.autocast = no_autocast
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.autocast = real
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def first_layer_dtypes(name: str):
    """Record the dtype of the first layer's output of every model the workload builds."""
    seen: list[str] = []
    original = workloads.WORKLOADS[name]

    def build_model(**options):
        model = original.build_model(**options)
        first = next(m for m in model.modules() if next(m.parameters(recurse=False), None) is not None)
        first.register_forward_hook(lambda module, args, output: seen.append(str(output.dtype)))
        return model

    workloads.WORKLOADS[name] = dataclasses.replace(original, build_model=build_model)
    try:
        yield seen
    finally:
        workloads.WORKLOADS[name] = original


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:N or cpu (a dry run)")
    parser.add_argument("--workload", default="mnist-lenet")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 1 epoch of 10 batches, seeds 0 and 1")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    limits = {}
    if args.quick:
        args.epochs, seeds = 1, [0, 1]
        limits = {"limit_train_batches": 10, "limit_test_batches": 1}
    device = resolve_device(args.device)
    if args.device == "auto" and device.type == "cpu":  # `make bench` on a machine without a GPU
        print(
            "bf16 autocast is the engine's CUDA path and there is no GPU here: nothing to compare "
            "(--device cpu tries the code)"
        )
        return 0
    if args.workload.startswith("mnist") and not mnist_raw_files_exist(default_data_dir()):
        print(f"MNIST raw files not found under {default_data_dir()}; set $DATA_DIR", file=sys.stderr)
        return 1
    common.header(f"bf16 autocast against float32: {args.workload}, {args.epochs} epochs, seeds {seeds}", device)

    arms: dict[str, dict] = {}
    for arm in ("bf16", "float32"):
        runs = []
        for seed in seeds:
            config = TrainConfig(args.workload, POLICY, args.epochs, seed=seed, device=str(device), **limits)
            switch = float32_only() if arm == "float32" else contextlib.nullcontext()
            with switch, first_layer_dtypes(args.workload) as dtypes:
                result = train(config)
            assert result["status"] == "succeeded", result["status"]
            runs.append(
                {
                    "seed": seed,
                    "test_acc": result["summary"]["final_acc"],
                    "train_loss": result["summary"]["final_train_loss"],
                    "seconds": result["summary"]["total_seconds"],
                    "computed_in": sorted(set(dtypes)),
                }
            )
            print(f"  {arm:8s} seed {seed}: test accuracy {runs[-1]['test_acc']:.4f} ({runs[-1]['computed_in']})")
        accuracies = [r["test_acc"] for r in runs]
        arms[arm] = {
            "runs": runs,
            "mean_acc": statistics.fmean(accuracies),
            "stdev_acc": statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0,
        }

    expected = {"bf16": "torch.bfloat16" if device.type == "cuda" else "torch.float32", "float32": "torch.float32"}
    labelled_right = all(r["computed_in"] == [expected[arm]] for arm in arms for r in arms[arm]["runs"])
    difference = arms["bf16"]["mean_acc"] - arms["float32"]["mean_acc"]
    standard_error = math.sqrt(sum(a["stdev_acc"] ** 2 / len(seeds) for a in arms.values()))
    allowed = max(2 * standard_error, NOISE_FLOOR)
    same = abs(difference) <= allowed
    print()
    common.print_table(
        ["arm", "mean test acc", "stdev over seeds", "seconds per run"],
        [
            [
                arm,
                f"{a['mean_acc']:.4f}",
                f"{a['stdev_acc']:.4f}",
                f"{statistics.fmean(r['seconds'] for r in a['runs']):.1f}",
            ]
            for arm, a in arms.items()
        ],
    )
    print(
        f"\n  bf16 - float32: {100 * difference:+.2f} pp; seed noise allows {100 * allowed:.2f} pp: "
        f"{'same within seed noise' if same else 'DIFFERENT'}; arms ran as labelled: {labelled_right}"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "machine": common.machine(device),
                    "workload": args.workload,
                    "policy": POLICY,
                    "epochs": args.epochs,
                    "seeds": seeds,
                    "limits": limits,
                    "arms": arms,
                    "difference": difference,
                    "allowed": allowed,
                    "same_within_seed_noise": same,
                    "arms_ran_as_labelled": labelled_right,
                },
                indent=1,
            )
        )
    return 0 if same and labelled_right else 1


if __name__ == "__main__":
    sys.exit(main())
