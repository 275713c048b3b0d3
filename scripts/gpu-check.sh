#!/usr/bin/env bash
# Every GPU path of the trainer, run and measured in one call on a GPU machine (issue 16).
#
# What it runs, in order, each step under its own time limit and all under one budget
# (GPU_CHECK_BUDGET_S, 460 s: the whole call stays under 8 minutes):
#   env           the device, torch and CUDA versions (nvidia-smi -L: reads only)
#   gpu-tests     tests/gpu without Django (-c tests/gpu/pytest.ini): the engine on CUDA (bf16 autocast,
#                 channels_last, torch.compile), policy-batched training on the device, and the CPU
#                 against the device for one epoch of every workload on synthetic data
#   precision     bench/bench_precision.py: bf16 autocast against float32, mnist-lenet, 2 epochs, seeds 0-2
#   equivalence   python -m trainer equivalence: Li & Arora's PreResNet-32 in float64 on the GPU
#   bench-engine  bench/bench_engine.py --workload cifar10-resnet20: the engine (plain and compiled) against
#                 the DataLoader loop people write (target >= 3x), and samples/s against the GPU's bound
#   bench-batched bench/bench_batched.py --device cuda: K = 4, 16, 64 and the largest K that runs,
#                 digits-mlp and mnist-lenet (target at K = 16: >= 8x runs/s over sequential runs)
#
# The device call. The device tool sends the checkout the session was started in (not a helper's
# worktree): merge this branch there first. Then, once, in that checkout's root, on this machine:
#
#     scripts/gpu-check.sh --prepare      # MNIST gzipped into .gpu-data/ (11 MB), ignored via .git/info/exclude
#
# and call the device tool's run with
#
#     command:   bash scripts/gpu-check.sh
#     carry:     [".gpu-data"]
#     timeout_s: 540
#
# Under $OUT it writes results.json (every number, each step's status), gpu-check.log (the whole
# output) and details.tar.gz (each step's own log and JSON, the tests' junit.xml). The summary is
# printed last, so the reply's output_tail holds it.
#
# A dry run here, on the CPU, of the same command lines with --quick (tiny sizes) and the device parts
# on the CPU (1.5 to 4 minutes on 2 busy cores), so that the one device call cannot fail on a typo. To
# mimic the device's missing Django too, put a folder first on PYTHONPATH whose django/__init__.py
# raises ImportError (every step passed so):
#
#     scripts/gpu-check.sh --dry-run      # or GPU_CHECK_QUICK=1; results under var/gpu-check/
#
# Environment: OUT (default var/gpu-check), GPU_CHECK_PYTHON (default python3; .venv/bin/python in a
# dry run where it exists), GPU_CHECK_BUDGET_S, GPU_CHECK_STEPS (e.g. "gpu-tests precision": only those).

set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DATA_CARRY=.gpu-data

QUICK=${GPU_CHECK_QUICK:-0}
case "${1:-}" in
    --dry-run) QUICK=1 ;;
    --prepare)
        mkdir -p "$DATA_CARRY/MNIST/raw"
        source_dir=${DATA_DIR:-$ROOT/../shared/datasets}/MNIST/raw
        for name in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
            gzip -9 -c "$source_dir/$name" >"$DATA_CARRY/MNIST/raw/$name.gz" || exit 1
        done
        exclude=$(git rev-parse --git-path info/exclude)
        grep -qxF "/$DATA_CARRY/" "$exclude" 2>/dev/null || echo "/$DATA_CARRY/" >>"$exclude"
        git check-ignore -q "$DATA_CARRY/MNIST/raw/train-images-idx3-ubyte.gz" || {
            echo "$DATA_CARRY is not ignored by git" >&2
            exit 1
        }
        du -sh "$DATA_CARRY"
        exit 0
        ;;
    "") ;;
    *)
        echo "usage: $0 [--dry-run | --prepare]" >&2
        exit 2
        ;;
esac

if [ "$QUICK" = 1 ]; then
    DEVICE=cpu
    BUDGET=${GPU_CHECK_BUDGET_S:-900}
    PY=${GPU_CHECK_PYTHON:-python3}
    [ -z "${GPU_CHECK_PYTHON:-}" ] && [ -x .venv/bin/python ] && PY=$ROOT/.venv/bin/python
else
    DEVICE=cuda
    BUDGET=${GPU_CHECK_BUDGET_S:-460}
    PY=${GPU_CHECK_PYTHON:-python3}
fi
OUT=${OUT:-$ROOT/var/gpu-check}
mkdir -p "$OUT"
rm -f "$OUT/results.json" "$OUT/gpu-check.log" "$OUT/details.tar.gz"
WORK=$(mktemp -d)
exec > >(tee -a "$OUT/gpu-check.log") 2>&1
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 GPU_CHECK_DEVICE=$DEVICE GPU_CHECK_QUICK=$QUICK
export GPU_CHECK_RESULTS=$WORK  # tests/gpu write what they measured there (gpu-tests.json)
START=$SECONDS
echo "gpu-check: device $DEVICE, quick $QUICK, budget ${BUDGET}s, python $PY, out $OUT, started $(date -u +%FT%TZ)"

# MNIST: the carried gzipped copy, unpacked where torchvision reads it; else $DATA_DIR or ../shared/datasets.
if [ -f "$DATA_CARRY/MNIST/raw/train-images-idx3-ubyte.gz" ]; then
    "$PY" - "$DATA_CARRY/MNIST/raw" "$WORK/data/MNIST/raw" <<'PYEOF' || exit 1
import gzip, pathlib, shutil, sys
source, target = map(pathlib.Path, sys.argv[1:])
target.mkdir(parents=True, exist_ok=True)
for packed in sorted(source.glob("*.gz")):
    with gzip.open(packed) as inside, open(target / packed.stem, "wb") as out:
        shutil.copyfileobj(inside, out)
PYEOF
    export DATA_DIR=$WORK/data
    echo "MNIST: unpacked from $DATA_CARRY into $DATA_DIR"
else
    echo "MNIST: no $DATA_CARRY (run scripts/gpu-check.sh --prepare here first); DATA_DIR=${DATA_DIR:-unset}"
fi

have_timeout=0
command -v timeout >/dev/null && have_timeout=1

# step NAME LIMIT_S COMMAND...: run under min(LIMIT_S, the budget left), log to $WORK/NAME.log, record.
step() {
    local name=$1 limit=$2
    shift 2
    if [ -n "${GPU_CHECK_STEPS:-}" ] && [[ " $GPU_CHECK_STEPS " != *" $name "* ]]; then
        return
    fi
    local left=$((BUDGET - (SECONDS - START)))
    local status rc=0 began=$SECONDS
    echo
    echo "== $name (limit ${limit}s, budget left ${left}s) $(date -u +%T) =="
    if [ "$left" -lt 20 ]; then
        status="skipped: budget spent"
        rc=-1
    else
        [ "$limit" -gt "$left" ] && limit=$left
        if [ "$have_timeout" = 1 ] && ! declare -F "$1" >/dev/null; then
            timeout -k 10 "$limit" "$@" 2>&1 | tee "$WORK/$name.log"
        else
            "$@" 2>&1 | tee "$WORK/$name.log"
        fi
        rc=${PIPESTATUS[0]}
        case $rc in
            0) status=ok ;;
            124 | 137) status="timed out after ${limit}s" ;;
            *) status="failed (exit $rc)" ;;
        esac
    fi
    echo "-- $name: $status, $((SECONDS - began)) s"
    printf '{"step": "%s", "status": "%s", "rc": %d, "seconds": %d}\n' "$name" "$status" "$rc" "$((SECONDS - began))" \
        >>"$WORK/steps.jsonl"
    "$PY" scripts/gpu_check_results.py merge "$WORK" "$OUT/results.json"
}

env_json() {
    command -v nvidia-smi >/dev/null && nvidia-smi -L
    df -h /dev/shm 2>/dev/null | tail -1 # the DataLoader's workers pass batches through it
    "$PY" - "$WORK/env.json" <<'PYEOF'
import json, platform, sys
import torch
cuda = torch.cuda.is_available()
info = {
    "python": platform.python_version(),
    "torch": torch.__version__,
    "cuda": torch.version.cuda,
    "cuda_available": cuda,
    "device_name": torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine(),
    "device_memory_bytes": torch.cuda.get_device_properties(0).total_memory if cuda else None,
    "multiprocessors": torch.cuda.get_device_properties(0).multi_processor_count if cuda else None,
    "cpu_threads": torch.get_num_threads(),
}
for name in ("torchvision", "sklearn", "pytest", "hypothesis", "django"):
    try:
        info[name] = __import__(name).__version__
    except ImportError:
        info[name] = None
print(json.dumps(info, indent=1))
open(sys.argv[1], "w").write(json.dumps(info))
PYEOF
}

# One set of command lines for both runs, so that the dry run tries the GPU run's very flags: a dry run adds
# --quick (each script's own tiny sizes) and runs on the CPU, with longer limits for a slow, shared CPU.
if [ "$QUICK" = 1 ]; then
    Q=--quick
    L_TESTS=600 L_PRECISION=120 L_EQUIVALENCE=120 L_ENGINE=180 L_BATCHED=180
    EQUIVALENCE_MODEL=mlp      # PreResNet-32 in float64 takes minutes on a CPU; the CLI's path is the same
    EQUIVALENCE_ITERATIONS=20
    BATCHED_WORKLOADS=digits-mlp # tests/gpu run the batched mnist-lenet path on the CPU already
else
    Q=
    L_TESTS=200 L_PRECISION=60 L_EQUIVALENCE=60 L_ENGINE=150 L_BATCHED=150
    EQUIVALENCE_MODEL=preresnet32
    EQUIVALENCE_ITERATIONS=50
    BATCHED_WORKLOADS=digits-mlp,mnist-lenet
fi

step env 60 env_json
step gpu-tests "$L_TESTS" "$PY" -m pytest -c tests/gpu/pytest.ini tests/gpu -q --junitxml="$WORK/junit.xml" \
    -o junit_family=xunit1 --durations=10
step precision "$L_PRECISION" "$PY" bench/bench_precision.py --device "$DEVICE" --epochs 2 --seeds 0,1,2 $Q \
    --json "$WORK/precision.json"
step equivalence "$L_EQUIVALENCE" bash -c "'$PY' -m trainer equivalence --model $EQUIVALENCE_MODEL --dtype float64 \
    --device $DEVICE --policy '{\"kind\": \"FIX\", \"k0\": 0.1}' --wd 5e-4 --iterations $EQUIVALENCE_ITERATIONS \
    --json >'$WORK/equivalence.json'"
step bench-engine "$L_ENGINE" "$PY" bench/bench_engine.py --workload cifar10-resnet20 --device "$DEVICE" --compile \
    --iterations 300 --rounds 3 --workers 4 --threads 4 $Q --json "$WORK/bench-engine.json"
step bench-batched "$L_BATCHED" "$PY" bench/bench_batched.py --device "$DEVICE" --workloads "$BATCHED_WORKLOADS" \
    --ks 4,16,64 --sequential-ks 4,16 --rounds 2 --largest-k --k-seconds 12 $Q --json "$WORK/bench-batched.json"

"$PY" scripts/gpu_check_results.py merge "$WORK" "$OUT/results.json"
tar -czf "$OUT/details.tar.gz" -C "$WORK" --exclude=data . 2>/dev/null
"$PY" scripts/gpu_check_results.py summary "$OUT/results.json"
echo "gpu-check: done in $((SECONDS - START)) s; results under $OUT (results.json, gpu-check.log, details.tar.gz)"
rm -rf "$WORK"
