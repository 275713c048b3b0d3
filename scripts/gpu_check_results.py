"""scripts/gpu-check.sh's bookkeeping: gather each step's JSON into one file, print the summary. No torch.

python3 scripts/gpu_check_results.py merge WORK_DIR RESULTS_JSON
python3 scripts/gpu_check_results.py summary RESULTS_JSON
"""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ElementTree
from pathlib import Path


def merge(work: Path, target: Path) -> None:
    steps = []
    steps_file = work / "steps.jsonl"
    if steps_file.exists():
        steps = [json.loads(line) for line in steps_file.read_text().splitlines() if line.strip()]
    results = {}
    for path in sorted(work.glob("*.json")):
        try:
            results[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            results[path.stem] = {"unreadable": str(error)}
    junit = work / "junit.xml"
    if junit.exists():
        results["gpu-tests-junit"] = _junit(junit)
    target.write_text(json.dumps({"steps": steps, "results": results}, indent=1, allow_nan=True))


def _junit(path: Path) -> dict:
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        return {"unreadable": str(error)}
    counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    failed, skipped = [], []
    for case in root.iter("testcase"):
        counts["tests"] += 1
        name = f"{case.get('classname')}::{case.get('name')}"
        for child in case:
            if child.tag in ("failure", "error"):
                counts["failures" if child.tag == "failure" else "errors"] += 1
                failed.append({"test": name, "message": (child.get("message") or "")[:500]})
            elif child.tag == "skipped":
                counts["skipped"] += 1
                skipped.append({"test": name, "message": (child.get("message") or "")[:200]})
    return {**counts, "failed_tests": failed, "skipped_tests": skipped}


def summary(path: Path) -> None:
    data = json.loads(path.read_text())
    results = data["results"]
    print("\n== gpu-check summary ==")
    env = results.get("env", {})
    print(f"device: {env.get('device_name', '?')}; torch {env.get('torch', '?')}, CUDA {env.get('cuda', '?')}")
    for step in data["steps"]:
        print(f"  {step['step']:<14} {step['status']:<32} {step['seconds']:>6.0f} s")
    lines = []
    tests = results.get("gpu-tests-junit")
    if tests:
        passed = tests["tests"] - tests["failures"] - tests["errors"] - tests["skipped"]
        lines.append(
            f"tests/gpu: {passed} passed, {tests['failures'] + tests['errors']} failed, {tests['skipped']} skipped"
        )
        lines += [f"  FAILED {f['test']}: {f['message'][:160]}" for f in tests["failed_tests"]]
    engine = results.get("bench-engine")
    if engine and "samples_per_sec" in engine:
        rates = ", ".join(f"{k} {v:,.0f}" for k, v in engine["samples_per_sec"].items())
        ratios = ", ".join(f"{k} {v:.2f}x" for k, v in engine["vs_dataloader"].items())
        lines.append(f"engine (cifar10-resnet20) samples/s: {rates}; vs dataloader: {ratios} (target >= 3x)")
        bound = engine.get("bound")
        if bound:
            best = max(v for k, v in engine["samples_per_sec"].items() if k != "dataloader")
            lines.append(
                f"  bound {bound['bound_samples_per_sec']:,.0f} samples/s ({bound['limited_by']}); "
                f"best engine at {100 * best / bound['bound_samples_per_sec']:.1f}% of it; measured "
                f"{bound['copy_bytes_per_sec'] / 1e12:.2f} TB/s copy, {bound['bf16_matmul_flops_per_sec'] / 1e12:.0f} "
                "TFLOP/s bf16"
            )
    batched = results.get("bench-batched")
    if batched and "rows" in batched:
        for row in batched["rows"]:
            lines.append(
                f"batched {row['workload']} K={row['k']}: {row['runs_per_sec_batched']:.2f} runs/s, "
                f"{row['speedup']:.2f}x over sequential (target at K=16: >= 8x)"
            )
        for workload, found in batched.get("largest_k", {}).items():
            lines.append(f"batched {workload}: largest K that ran {found['largest_k']} ({found['stopped_by']})")
        lines += [f"  WARNING fallback: {line}" for line in batched.get("fallbacks", [])]
    precision = results.get("precision")
    if precision and "arms" in precision:
        arms = precision["arms"]
        lines.append(
            f"bf16 vs float32 ({precision['workload']}, {precision['epochs']} ep, seeds {precision['seeds']}): "
            f"{arms['bf16']['mean_acc']:.4f} vs {arms['float32']['mean_acc']:.4f}, "
            f"difference {100 * precision['difference']:+.2f} pp, allowed {100 * precision['allowed']:.2f} pp: "
            f"{'same' if precision['same_within_seed_noise'] else 'DIFFERENT'}; "
            f"ran as labelled: {precision['arms_ran_as_labelled']}"
        )
    equivalence = results.get("equivalence")
    if equivalence and "max_prob_diff_overall" in equivalence:
        lines.append(
            f"equivalence ({equivalence['model']}, {equivalence['dtype']}, {equivalence['device']}, "
            f"{equivalence['total_iterations']} it): max |p_A - p_B| {equivalence['max_prob_diff_overall']:.3g}, "
            f"final norm ratio {equivalence['final_norm_ratio']:.4g}"
        )
    print("\n".join(lines))


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "merge":
        merge(Path(argv[1]), Path(argv[2]))
    elif len(argv) == 2 and argv[0] == "summary":
        summary(Path(argv[1]))
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
