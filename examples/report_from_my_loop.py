"""Train a small MLP on scikit-learn's digits in your own loop, and report the run to LR Arena.

PYTHONPATH=.:client python examples/report_from_my_loop.py --url http://localhost:8000 --password arena-demo
"""

from __future__ import annotations

import argparse

import lr_arena_client as arena
import torch
from sklearn.datasets import load_digits
from torch import nn


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default="http://localhost:8000")
    parser.add_argument("--user", default="demo")
    parser.add_argument("--password", default="arena-demo")
    parser.add_argument("--policy", default="Cosine 0.001–0.05", help="a policy's name (or id) in your team")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    digits = load_digits()
    x, y = torch.tensor(digits.data, dtype=torch.float32) / 16.0, torch.tensor(digits.target)
    order = torch.randperm(len(y))
    train, test = order[:1400], order[1400:]
    batch_size = 50  # 28 iterations per epoch
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0, momentum=0.9)  # the run's policy sets the LR

    token = arena.login(args.url, args.user, args.password)
    run = arena.open_run(
        args.url,
        token,
        policy=args.policy,
        workload="digits-my-mlp",  # your own workload's name; stored as "<team-slug>/digits-my-mlp", your team's
        epochs=args.epochs,
        seed=args.seed,
        iterations_per_epoch=len(train) // batch_size,
        num_classes=10,
        buffer_path="report-buffer.jsonl",  # undelivered epochs survive a crash: arena.resume(...)
    )
    scheduler = run.lr_scheduler(optimizer)  # LR Arena's as_lr_scheduler, with the run's policy
    with run:  # finishes the run when the block ends, or fails it with the error if the block raises
        for epoch in range(1, args.epochs + 1):
            model.train()
            losses = []
            for batch in train[torch.randperm(len(train))].split(batch_size):
                loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
            model.eval()
            with torch.no_grad():
                logits = model(x[test])
            sent = run.log_epoch(epoch, train_loss=sum(losses) / len(losses), logits=logits, labels=y[test])
            print(f"epoch {epoch}: test accuracy {sent['test_acc']:.3f}, last LR {sent['lr_last']:.4g}")
    print(f"run {run.id}: {run.status}, final accuracy {run.state['summary']['final_acc']:.3f}")
    print(f"its board: workload {run.workload} (your team's own), {args.epochs} epochs")


if __name__ == "__main__":
    main()
