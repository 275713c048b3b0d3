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
"""

from __future__ import annotations

import argparse
import itertools
import sys
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=300, help="timed iterations per call (a multiple of 100)")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per contender; the median is reported")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads, the same for every contender")
    parser.add_argument("--quick", action="store_true", help="smoke mode: 100 iterations, 1 round")
    args = parser.parse_args(argv)
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

    samples = args.iterations * BATCH_SIZE
    rate = {name: samples / common.median(s) for name, s in seconds.items()}
    rows = [
        [
            name,
            f"{common.median(s):.2f}",
            f"{min(s):.2f}",
            f"{rate[name]:,.0f}",
            common.spread(s),
            f"{rate['engine'] / rate[name]:.2f}x",
        ]
        for name, s in seconds.items()
    ]
    print()
    common.print_table(["contender", "median s", "min s", "samples/s", "spread", "engine / it"], rows)
    print()
    for name, target in (("dataloader", TARGET_VS_DATALOADER), ("in-memory", TARGET_VS_IN_MEMORY)):
        ratio = rate["engine"] / rate[name]
        verdict = "met" if ratio >= target else "missed"
        best = min(seconds[name]) / min(seconds["engine"])
        print(f"  engine / {name}: {ratio:.2f}x (target >= {target}x: {verdict}); fastest rounds: {best:.2f}x")
    print(f"  {args.rounds} round(s), medians; load average at the end: {common.load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
