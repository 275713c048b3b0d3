"""The training engine against the loops people write, on mnist-lenet, on the CPU.

Three contenders train the same LeNet (trainer.models.lenet) with the same
batch size (100) and optimizer (SGD, momentum 0.9, weight decay 5e-4) for the
same number of iterations:

- engine: trainer.engine.train on the mnist-lenet workload, cancelled after N
  iterations through should_stop (so no evaluation is timed);
- dataloader: a hand-written loop over a torchvision DataLoader of
  torchvision.datasets.MNIST with ToTensor() + Normalize, shuffled;
- in-memory: a hand-written loop over the whole training set held as tensors,
  batches as index slices of a randperm, loss.item() every step;
- in-memory-cl (a control, no target): the same loop with the model and each
  batch in channels_last, the memory format the engine uses for conv nets,
  to show how much of the engine's lead is that choice and how much its loop.

Each is timed from building its model to the end of its last iteration, after
one warm-up call of each; the calls are timed in interleaved rounds and the
median is reported. Every contender runs with the same torch thread count.
Targets: engine / dataloader >= 1.5x, engine / in-memory >= 0.98x.

    .venv/bin/python bench/bench_engine.py [--iterations 300] [--rounds 5] [--threads 1] [--quick]

With `--workload cifar10-resnet20` (meant for `--device cuda`; CIFAR-10 cannot
be fetched here, so on synthetic CIFAR-shaped data) the contenders are:

- engine: train(TrainConfig("cifar10-resnet20", synthetic=True, ...)), its
  batched on-device random crop and flip, bf16 autocast and channels_last on
  CUDA, cut after N iterations as above;
- engine-compiled (with --compile): the same with TrainConfig.compile;
- dataloader: the loop people write for CIFAR: a DataLoader (batch 128,
  shuffled, --workers worker processes, pinned memory) over a Dataset that
  holds the images as torchvision's CIFAR10 does (uint8, (N, 32, 32, 3)) and
  applies RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor and
  Normalize to each sample; a float32 ResNet-20; loss.item() every step.

Target: engine / dataloader >= 3x. On CUDA it also measures the GPU's two
ceilings (a device-to-device copy; a bf16 matrix product) and reports the
engine's samples/s against the bound they set for ResNet-20's FLOPs and
activation bytes per sample (docs/benchmarks.md, "On a GPU"). --json PATH
writes every number.

    python3 bench/bench_engine.py --workload cifar10-resnet20 --device cuda --compile --json out.json
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402  (puts the repository on sys.path)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from trainer.data import MNIST_MEAN, MNIST_STD, mnist_raw_files_exist  # noqa: E402
from trainer.engine import TrainConfig, train  # noqa: E402
from trainer.models import lenet  # noqa: E402
from trainer.paths import default_data_dir  # noqa: E402

BATCH_SIZE = 100
LR = 0.01
MOMENTUM = 0.9
WEIGHT_DECAY = 5e-4
TARGET_VS_DATALOADER = 1.5
TARGET_VS_IN_MEMORY = 0.98

CIFAR_BATCH_SIZE = 128  # cifar10-resnet20's
CIFAR_LR = 0.1
CIFAR_WEIGHT_DECAY = 1e-4
TARGET_CIFAR_VS_DATALOADER = 3.0


def engine_run(iterations: int) -> None:
    config = TrainConfig(workload="mnist-lenet", policy={"kind": "FIX", "k0": LR}, epochs=1, device="cpu")
    result = train(config, should_stop=common.stop_after(iterations))
    assert result["summary"]["iterations"] == iterations, result["summary"]


def dataloader_run(dataset, iterations: int) -> None:
    """The loop from a tutorial: DataLoader, to(device), forward, backward, step, loss.item()."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=BATCH_SIZE, shuffle=True)
    model = lenet()
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    model.train()
    running_loss = 0.0
    for images, labels in itertools.islice(loader, iterations):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()


def in_memory_run(
    images: torch.Tensor,
    labels: torch.Tensor,
    iterations: int,
    memory_format: torch.memory_format = torch.contiguous_format,
) -> None:
    """The same loop with the data already in tensors: index slices of a randperm."""
    model = lenet().to(memory_format=memory_format)
    optimizer = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM, weight_decay=WEIGHT_DECAY)
    model.train()
    order = torch.randperm(len(images))
    running_loss = 0.0
    for step in range(iterations):
        batch = order[step * BATCH_SIZE : (step + 1) * BATCH_SIZE]
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images[batch].contiguous(memory_format=memory_format)), labels[batch])
        loss.backward()
        optimizer.step()
        running_loss += loss.item()


def print_rates(seconds: dict[str, list[float]], samples: int, ratio_label: str, ratio) -> dict[str, float]:
    """Each contender's timing row (median, fastest, samples/s, spread, ratio(rates, name)); returns samples/s."""
    rate = {name: samples / common.median(s) for name, s in seconds.items()}
    rows = [
        [
            name,
            f"{common.median(s):.2f}",
            f"{min(s):.2f}",
            f"{rate[name]:,.0f}",
            common.spread(s),
            f"{ratio(rate, name):.2f}x",
        ]
        for name, s in seconds.items()
    ]
    print()
    common.print_table(["contender", "median s", "min s", "samples/s", "spread", ratio_label], rows)
    print()
    return rate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workload", default="mnist-lenet", choices=("mnist-lenet", "cifar10-resnet20"))
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (cifar10-resnet20 only)")
    parser.add_argument("--iterations", type=int, default=300, help="timed iterations per call (a multiple of 100)")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per contender; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads, the same for every contender")
    parser.add_argument("--workers", type=int, default=4, help="cifar10-resnet20: the DataLoader's worker processes")
    parser.add_argument("--compile", action="store_true", help="cifar10-resnet20: add the engine with torch.compile")
    parser.add_argument("--json", default=None, help="also write the numbers to this file")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 100 iterations (cifar: 3), 1 round")
    args = parser.parse_args(argv)
    if args.workload == "cifar10-resnet20":
        if args.quick:
            args.iterations, args.rounds, args.workers, args.threads = 3, 1, min(args.workers, 2), 1
            if args.compile and args.device == "cpu":
                print("  (--quick on the CPU: --compile dropped, compiling ResNet-20 there takes minutes)")
                args.compile = False
        return cifar_main(args)
    if args.device != "cpu":
        parser.error("--device: the mnist-lenet comparison runs on the CPU; use --workload cifar10-resnet20")
    if args.quick:
        args.iterations, args.rounds = 100, 1
    if args.iterations > 600:
        parser.error("--iterations must fit in one MNIST epoch (600 iterations)")

    data_dir = default_data_dir()
    if not mnist_raw_files_exist(data_dir):
        print(f"MNIST raw files not found under {data_dir}; set $DATA_DIR", file=sys.stderr)
        return 0
    torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    common.header(f"mnist-lenet training throughput, {args.iterations} iterations of batch {BATCH_SIZE}", device)

    from torchvision import datasets, transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))])
    dataset = datasets.MNIST(root=str(data_dir), train=True, download=False, transform=transform)
    # What a user holding the set in memory writes: the raw pixels, scaled and normalised once.
    images = ((dataset.data.float() / 255.0 - MNIST_MEAN) / MNIST_STD).unsqueeze(1)
    labels = dataset.targets

    contenders = {
        "engine": lambda: engine_run(args.iterations),
        "dataloader": lambda: dataloader_run(dataset, args.iterations),
        "in-memory": lambda: in_memory_run(images, labels, args.iterations),
        "in-memory-cl": lambda: in_memory_run(images, labels, args.iterations, torch.channels_last),
    }
    common.time_in_rounds(contenders, rounds=1)  # warm-up: loads, oneDNN primitives, allocator
    seconds = common.time_in_rounds(contenders, rounds=args.rounds)

    rate = print_rates(seconds, args.iterations * BATCH_SIZE, "engine / it", lambda r, name: r["engine"] / r[name])
    for name, target in (("dataloader", TARGET_VS_DATALOADER), ("in-memory", TARGET_VS_IN_MEMORY)):
        ratio = rate["engine"] / rate[name]
        verdict = "met" if ratio >= target else "missed"
        best = min(seconds[name]) / min(seconds["engine"])
        print(f"  engine / {name}: {ratio:.2f}x (target >= {target}x: {verdict}); fastest rounds: {best:.2f}x")
    print(f"  {args.rounds} round(s), medians; load average at the end: {common.load_average()}")
    write_json(
        args.json,
        {
            "workload": "mnist-lenet",
            "machine": common.machine(device),
            "iterations": args.iterations,
            "batch_size": BATCH_SIZE,
            "rounds": args.rounds,
            "seconds": seconds,
            "samples_per_sec": rate,
        },
    )
    return 0


# cifar10-resnet20, for a GPU ------------------------------------------------------------------------------------


class CifarLikeDataset(torch.utils.data.Dataset):
    """What torchvision.datasets.CIFAR10 is to a DataLoader: uint8 (N, 32, 32, 3) images, a PIL image per item."""

    def __init__(self, images, labels, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[index])), int(self.labels[index])


def cifar_dataset(size: int):
    """Random CIFAR-shaped images (uint8, as CIFAR10 stores them) with the tutorial's training transforms."""
    from torchvision import transforms

    from trainer.data import CIFAR10_MEAN, CIFAR10_STD

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (size, 32, 32, 3), dtype=torch.uint8, generator=generator).numpy()
    labels = torch.randint(0, 10, (size,), generator=generator).numpy()
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
        ]
    )
    return CifarLikeDataset(images, labels, transform)


def usable_workers(dataset, workers: int) -> tuple[int, str | None]:
    """`workers` if a DataLoader with that many worker processes delivers a batch here, else 0 and why not.

    A container with a small /dev/shm, for one, kills workers that pass batches through it.
    """
    if workers == 0:
        return 0, None
    try:
        loader = torch.utils.data.DataLoader(dataset, batch_size=CIFAR_BATCH_SIZE, num_workers=workers)
        next(iter(loader))
    except Exception as error:  # whatever stops the workers, the benchmark goes on without them
        return 0, f"{type(error).__name__}: {str(error)[:200]}"
    return workers, None


def cifar_engine_run(device: torch.device, iterations: int, compile: bool = False) -> None:
    cut = iterations % common.STOP_CHECK_EVERY == 0  # else (--quick) a short epoch with a one-batch evaluation
    config = TrainConfig(
        workload="cifar10-resnet20",
        policy={"kind": "FIX", "k0": CIFAR_LR},
        epochs=1,
        device=str(device),
        synthetic=True,
        compile=compile,
        limit_train_batches=None if cut else iterations,
        limit_test_batches=None if cut else 1,
    )
    result = train(config, should_stop=common.stop_after(iterations) if cut else None)
    assert result["summary"]["iterations"] == iterations, result["summary"]


def cifar_dataloader_run(dataset, device: torch.device, iterations: int, workers: int) -> None:
    """The CIFAR loop from a tutorial: DataLoader with per-sample transforms, float32, loss.item() every step."""
    from trainer.models import resnet20

    loader = torch.utils.data.DataLoader(
        dataset, batch_size=CIFAR_BATCH_SIZE, shuffle=True, num_workers=workers, pin_memory=device.type == "cuda"
    )
    model = resnet20().to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=CIFAR_LR, momentum=MOMENTUM, weight_decay=CIFAR_WEIGHT_DECAY)
    model.train()
    running_loss = 0.0
    for images, labels in itertools.islice(loader, iterations):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        running_loss += loss.item()


def resnet20_cost_per_sample(device: torch.device) -> dict[str, float]:
    """ResNet-20's FLOPs (forward and backward) and the fewest bytes a training step must move, per sample.

    Bytes: every activation the forward pass saves for the backward pass (each
    leaf module's output, in bf16 as autocast leaves them) written once and
    read once, plus the weights, gradients and momentum read and written once
    per step (float32), shared by the batch.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from trainer.models import resnet20

    model = resnet20().to(device)
    inputs = torch.randn(CIFAR_BATCH_SIZE, 3, 32, 32, device=device)
    labels = torch.randint(0, 10, (CIFAR_BATCH_SIZE,), device=device)
    activations = 0

    def count(module, args, output) -> None:
        nonlocal activations
        activations += output.numel()

    leaves = [m for m in model.modules() if not list(m.children())]
    hooks = [m.register_forward_hook(count) for m in leaves]
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(inputs), labels).backward()
    for hook in hooks:
        hook.remove()
    parameters = sum(p.numel() for p in model.parameters())
    activation_bytes = 2 * 2 * activations / CIFAR_BATCH_SIZE  # bf16: written once, read once
    weight_bytes = 4 * 6 * parameters / CIFAR_BATCH_SIZE  # weight, gradient, momentum: each read and written
    return {
        "flops_per_sample": counter.get_total_flops() / CIFAR_BATCH_SIZE,
        "bytes_per_sample": activation_bytes + weight_bytes,
        "activation_elements_per_sample": activations / CIFAR_BATCH_SIZE,
        "parameters": parameters,
    }


def gpu_ceilings(device: torch.device, quick: bool = False) -> dict[str, float]:
    """The device's two ceilings, measured (METHOD.md): copy bandwidth (bytes read + written) and bf16 matmul rate.

    Meant for CUDA (timed with events); on the CPU (a dry run) the same code runs, timed by the host's clock.
    """
    elements, n = (2**20, 512) if quick else (256 * 2**20, 8192)  # 1 GiB of float32; 8192^3 (METHOD.md)
    source = torch.randn(elements, device=device)  # random data: zeros can run faster than real data
    target = torch.empty_like(source)
    copy_s = _median_seconds(device, lambda: target.copy_(source))
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    matmul_s = _median_seconds(device, lambda: a @ b)
    return {"copy_bytes_per_sec": 2 * 4 * elements / copy_s, "bf16_matmul_flops_per_sec": 2 * n**3 / matmul_s}


def _median_seconds(device: torch.device, work, repeats: int = 10) -> float:
    work()  # warm-up: handles, the library's choice of kernel
    common._synchronize(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            work()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            began = time.perf_counter()
            work()
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def cifar_main(args) -> int:
    from trainer.engine import resolve_device

    device = resolve_device(args.device)
    torch.set_num_threads(args.threads)
    common.header(
        f"cifar10-resnet20 training throughput (synthetic CIFAR-shaped data), {args.iterations} iterations "
        f"of batch {CIFAR_BATCH_SIZE}",
        device,
    )
    dataset = cifar_dataset(50_000)
    args.workers, worker_problem = usable_workers(dataset, args.workers)
    if worker_problem:
        print(f"  the DataLoader's worker processes failed ({worker_problem}); the dataloader loop runs without them")
    contenders = {"engine": lambda: cifar_engine_run(device, args.iterations)}
    if args.compile:
        contenders["engine-compiled"] = lambda: cifar_engine_run(device, args.iterations, compile=True)
    contenders["dataloader"] = lambda: cifar_dataloader_run(dataset, device, args.iterations, args.workers)
    common.time_in_rounds(contenders, rounds=1, device=device)  # warm-up: kernels, cuDNN's choices, compilation
    seconds = common.time_in_rounds(contenders, rounds=args.rounds, device=device)

    samples = args.iterations * CIFAR_BATCH_SIZE
    rate = print_rates(seconds, samples, "it / dataloader", lambda r, name: r[name] / r["dataloader"])
    ratios = {name: rate[name] / rate["dataloader"] for name in rate if name != "dataloader"}
    for name, ratio in ratios.items():
        verdict = "met" if ratio >= TARGET_CIFAR_VS_DATALOADER else "missed"
        print(f"  {name} / dataloader: {ratio:.2f}x (target >= {TARGET_CIFAR_VS_DATALOADER}x: {verdict})")

    cost = resnet20_cost_per_sample(device)
    bound = None
    if device.type == "cuda" or args.quick:  # on the CPU only to try the code (a dry run)
        ceilings = gpu_ceilings(device, quick=args.quick)
        compute_s = cost["flops_per_sample"] / ceilings["bf16_matmul_flops_per_sec"]
        memory_s = cost["bytes_per_sample"] / ceilings["copy_bytes_per_sec"]
        bound = {
            **ceilings,
            "compute_floor_s_per_sample": compute_s,
            "memory_floor_s_per_sample": memory_s,
            "bound_samples_per_sec": 1 / max(compute_s, memory_s),
            "limited_by": "memory" if memory_s > compute_s else "compute",
        }
        best = max(rate[name] for name in ratios)
        print(
            f"  the device's bound for ResNet-20 training: {bound['bound_samples_per_sec']:,.0f} samples/s "
            f"({bound['limited_by']}: {cost['flops_per_sample'] / 1e6:.0f} MFLOP and "
            f"{cost['bytes_per_sample'] / 1e6:.2f} MB per sample against "
            f"{ceilings['bf16_matmul_flops_per_sec'] / 1e12:.0f} TFLOP/s and "
            f"{ceilings['copy_bytes_per_sec'] / 1e12:.2f} TB/s measured); "
            f"the engine reaches {100 * best / bound['bound_samples_per_sec']:.1f}% of it"
        )
    print(f"  {args.rounds} round(s), medians; load average at the end: {common.load_average()}")
    write_json(
        args.json,
        {
            "workload": "cifar10-resnet20",
            "synthetic": True,
            "machine": common.machine(device),
            "iterations": args.iterations,
            "batch_size": CIFAR_BATCH_SIZE,
            "rounds": args.rounds,
            "dataloader_workers": args.workers,
            "dataloader_worker_problem": worker_problem,
            "seconds": seconds,
            "samples_per_sec": rate,
            "vs_dataloader": ratios,
            "target_vs_dataloader": TARGET_CIFAR_VS_DATALOADER,
            "cost_per_sample": cost,
            "bound": bound,
        },
    )
    return 0


def write_json(path: str | None, numbers: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(numbers, indent=1))


if __name__ == "__main__":
    sys.exit(main())
