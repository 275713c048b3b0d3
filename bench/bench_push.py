"""How long an epoch takes from its commit to the people watching it: websockets against polling.

Starts a real deployment (redis-server, daphne, a worker: tests/stack.py),
then 20 runs record epochs concurrently, each from its own thread, through
`actions.record_epoch` as a worker does, while 200 websocket clients (10 per
run) watch them. For every epoch and client it measures the time from the
epoch's database commit to its arrival at the client. The baseline, measured
in the same run: one client per run polling `GET /api/runs/<id>/` every 2 s,
as dashboards without push do; its latency is from the commit to the first
poll that shows the epoch.

    .venv/bin/python bench/bench_push.py [--runs 20] [--clients-per-run 10] [--epochs 20]

Goal: p99 of the push latency under 100 ms on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import timedelta
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stack import Stack  # noqa: E402

POLL_EVERY = 2.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--clients-per-run", type=int, default=10)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--epoch-seconds", type=float, default=0.5, help="time between a run's epochs")
    args = parser.parse_args()

    stack = Stack(Path(tempfile.mkdtemp(prefix="arena-push-")), settings={"ARENA_RUN_RATE": "10000/minute"})
    stack.start()
    try:
        os.environ.update(stack.env)
        import django

        django.setup()
        measure(stack, args)
    finally:
        stack.stop()


def watch_all(ws_url, token, run_ids, clients_per_run, epochs, ready, arrivals) -> None:
    """Connect every client, say when all are listening, then report each (run, epoch, arrival time)."""
    arrived: list[tuple[int, int, float]] = []

    async def watch(run_id: int, connected: list[int], all_connected: asyncio.Event) -> None:
        url = f"{ws_url}/ws/runs/{run_id}/"
        async with websockets.connect(url, additional_headers={"Authorization": f"Token {token}"}) as socket:
            await socket.recv()  # the history
            connected[0] += 1
            if connected[0] == len(run_ids) * clients_per_run:
                all_connected.set()
            seen = 0
            while seen < epochs:
                message = json.loads(await socket.recv())
                if message["type"] == "epoch":
                    arrived.append((run_id, message["epoch"]["epoch"], time.time()))
                    seen += 1

    async def everyone() -> None:
        all_connected, connected = asyncio.Event(), [0]
        tasks = [
            asyncio.create_task(watch(r, connected, all_connected)) for r in run_ids for _ in range(clients_per_run)
        ]
        await all_connected.wait()
        ready.set()
        await asyncio.gather(*tasks)

    asyncio.run(everyone())
    arrivals.put(arrived)


def measure(stack: Stack, args: argparse.Namespace) -> None:
    """Three phases on fresh runs: push alone, polling alone, then both at once (the polling load shares daphne)."""
    token = stack.token()
    push, _ = drive(stack, args, token, watch=True, poll=False)
    _, polling = drive(stack, args, token, watch=False, poll=True)
    mixed_push, _ = drive(stack, args, token, watch=True, poll=True)

    expected = args.runs * args.clients_per_run * args.epochs
    print(f"{args.runs} runs × {args.epochs} epochs, {args.runs * args.clients_per_run} websocket clients")
    for label, pushed in (("push", push), ("push while polling", mixed_push)):
        p50, p99 = percentile(pushed, 50) * 1000, percentile(pushed, 99) * 1000
        print(
            f"{label}: {len(pushed)}/{expected} deliveries, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"mean {statistics.fmean(pushed) * 1000:.1f} ms (target p99 ≤ 100 ms: {p99 / 100:.2f}x of it)"
        )
    poll_p50, poll_p99 = percentile(polling, 50) * 1000, percentile(polling, 99) * 1000
    push_p50, push_p99 = percentile(push, 50) * 1000, percentile(push, 99) * 1000
    print(f"polling every {POLL_EVERY:g} s: {len(polling)} epochs seen, p50 {poll_p50:.0f} ms, p99 {poll_p99:.0f} ms")
    print(f"ratio polling/push: p50 {poll_p50 / push_p50:.0f}x, p99 {poll_p99 / push_p99:.0f}x")


def drive(stack: Stack, args, token: str, *, watch: bool, poll: bool) -> tuple[list[float], list[float]]:
    """Record every run's epochs while websocket clients watch and/or pollers poll; their latencies in seconds."""
    from django.contrib.auth import get_user_model
    from django.db import connection, transaction
    from django.utils import timezone

    from dashboard import actions
    from dashboard.models import Membership, Policy, Run

    user = get_user_model().objects.get(username="demo")
    team = Membership.objects.filter(user=user).first().team
    policy = Policy.objects.create(team=team, name=f"push bench {time.time()}", spec={"kind": "FIX", "k0": 0.05})
    held_until = timezone.now() + timedelta(hours=1)
    runs = [
        Run.objects.create(
            team=team,
            policy=policy,
            policy_spec=policy.spec,
            workload="digits-mlp",
            epochs=args.epochs,
            status=Run.Status.RUNNING,
            attempt=1,
            lease_expires_at=held_until,  # held by this script's threads, as a worker holds its runs
        )
        for _ in range(args.runs)
    ]
    committed: dict[tuple[int, int], float] = {}
    polled: list[tuple[int, int, float]] = []
    done = threading.Event()

    def poll_run(run_id: int) -> None:
        session = stack.api(token)
        known = 0
        while known < args.epochs and not done.is_set():
            rows = session.get(f"{stack.base_url}/api/runs/{run_id}/", timeout=30).json()["epoch_metrics"]
            now = time.time()
            polled.extend((run_id, row["epoch"], now) for row in rows[known:])
            known = len(rows)
            done.wait(POLL_EVERY)

    def train(run: Run, offset: float) -> None:
        time.sleep(offset)
        for epoch in range(1, args.epochs + 1):
            with transaction.atomic():
                # Registered first, so it runs first after the commit: the stamp precedes the broadcast.
                transaction.on_commit(lambda epoch=epoch: committed.__setitem__((run.pk, epoch), time.time()))
                actions.record_epoch(run, {"epoch": epoch, "test_acc": 0.5, "train_loss": 1.0})
            time.sleep(args.epoch_seconds)
        connection.close()

    watchers = None
    if watch:
        # The watchers live in a process of their own, as browsers would: they share no GIL with the runs.
        context = multiprocessing.get_context("spawn")
        ready, arrivals = context.Event(), context.Queue()
        run_ids = [run.pk for run in runs]
        watchers = context.Process(
            target=watch_all,
            args=(stack.ws_url, token, run_ids, args.clients_per_run, args.epochs, ready, arrivals),
        )
        watchers.start()
        if not ready.wait(120):
            raise TimeoutError("the websocket clients did not connect")
    trainers = [
        threading.Thread(target=train, args=(run, i * args.epoch_seconds / len(runs))) for i, run in enumerate(runs)
    ]
    pollers = [threading.Thread(target=poll_run, args=(run.pk,)) for run in runs] if poll else []
    for thread in trainers + pollers:
        thread.start()
    for thread in trainers:
        thread.join()
    arrived = []
    if watchers is not None:
        arrived = arrivals.get(timeout=120)
        watchers.join(timeout=30)
    else:
        done.wait(POLL_EVERY + 1)  # the pollers' last round sees the last epochs
    done.set()
    for thread in pollers:
        thread.join()
    pushed = [when - committed[(run_id, epoch)] for run_id, epoch, when in arrived]
    return pushed, [when - committed[(run_id, epoch)] for run_id, epoch, when in polled]


if __name__ == "__main__":
    main()
