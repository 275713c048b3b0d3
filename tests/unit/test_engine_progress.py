"""Progress within an epoch: reported at the rate asked, with losses that add up to the epoch's."""

import math

import pytest

from trainer.engine import TrainConfig, train
from trainer.progress import Progress

DIGITS_STEPS_PER_EPOCH = 45
DIGITS_TRAIN_SIZE = 1437
BATCH = 32


def digits(epochs: int = 2, **kwargs) -> TrainConfig:
    return TrainConfig(workload="digits-mlp", policy={"kind": "FIX", "k0": 0.05}, epochs=epochs, device="cpu", **kwargs)


def test_with_a_zero_second_interval_every_iteration_is_reported_in_order():
    reports: list[dict] = []
    train(digits(), on_progress=reports.append, progress_seconds=0)

    assert len(reports) == 2 * DIGITS_STEPS_PER_EPOCH
    assert [(r["epoch"], r["iteration"]) for r in reports] == [
        (epoch, i) for epoch in (1, 2) for i in range(1, DIGITS_STEPS_PER_EPOCH + 1)
    ]
    assert {r["steps_per_epoch"] for r in reports} == {DIGITS_STEPS_PER_EPOCH}
    for epoch in (1, 2):
        clock = [r["seconds"] for r in reports if r["epoch"] == epoch]
        assert clock == sorted(clock) and clock[0] >= 0


def test_the_reported_losses_are_the_epochs_training_loss_piece_by_piece():
    reports: list[dict] = []
    result = train(digits(), on_progress=reports.append, progress_seconds=0)

    for epoch in result["epochs"]:
        mine = [r for r in reports if r["epoch"] == epoch["epoch"]]
        # Every report covers one batch here: their sample-weighted mean is the epoch's train loss.
        sizes = [BATCH] * (DIGITS_STEPS_PER_EPOCH - 1) + [DIGITS_TRAIN_SIZE - BATCH * (DIGITS_STEPS_PER_EPOCH - 1)]
        weighted = math.fsum(r["loss"] * n for r, n in zip(mine, sizes, strict=True)) / DIGITS_TRAIN_SIZE
        assert weighted == pytest.approx(epoch["train_loss"], rel=1e-4)
        assert mine[-1]["epoch_loss"] == pytest.approx(epoch["train_loss"], rel=1e-4)
    first = reports[0]["loss"]
    assert first == pytest.approx(math.log(10), rel=0.25)  # ten classes, an untrained net: about ln 10
    assert reports[-1]["epoch_loss"] < first  # it learns


def test_a_long_interval_reports_nothing_and_changes_no_result():
    reports: list[dict] = []
    quiet = train(digits(), on_progress=reports.append, progress_seconds=3600)
    plain = train(digits())

    assert reports == []
    assert [e["train_loss"] for e in quiet["epochs"]] == [e["train_loss"] for e in plain["epochs"]]
    assert [e["test_acc"] for e in quiet["epochs"]] == [e["test_acc"] for e in plain["epochs"]]


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_due_once_the_interval_has_passed_since_the_last_report():
    clock, reports = FakeClock(), []
    progress = Progress(reports.append, 2.0, clock=clock)
    progress.start_epoch(1, 10)
    clock.now += 1.9
    assert not progress.due()
    clock.now += 0.1
    assert progress.due()
    progress.report(4, 8.0, 4)
    assert not progress.due()  # the interval starts again at the report
    clock.now += 2.5
    assert progress.due()
    progress.report(6, 10.0, 6)
    reported = [(r["iteration"], r["loss"], r["epoch_loss"], r["seconds"]) for r in reports]
    assert reported == [
        (4, 2.0, 2.0, pytest.approx(2.0)),
        (6, 1.0, pytest.approx(10 / 6), pytest.approx(4.5)),
    ]


def test_a_non_finite_loss_is_reported_as_none():
    reports: list[dict] = []
    progress = Progress(reports.append, 0, clock=FakeClock())
    progress.start_epoch(1, 10)
    progress.report(1, float("inf"), 32)
    assert reports[0]["loss"] is None and reports[0]["epoch_loss"] is None


@pytest.mark.parametrize("seconds", [-1, float("nan"), "2", True])
def test_it_rejects_a_bad_interval(seconds):
    with pytest.raises(ValueError, match="progress_seconds"):
        train(digits(epochs=1), on_progress=lambda p: None, progress_seconds=seconds)


def test_batched_training_reports_each_runs_progress():
    from trainer.batched import train_batched

    configs = [digits(epochs=1, seed=0), digits(epochs=1, seed=1)]
    reports: list[tuple[int, dict]] = []
    results = train_batched(configs, on_progress=lambda k, p: reports.append((k, p)), progress_seconds=0)

    for k, result in enumerate(results):
        mine = [p for j, p in reports if j == k]
        assert [p["iteration"] for p in mine] == list(range(1, DIGITS_STEPS_PER_EPOCH + 1))
        assert mine[-1]["epoch_loss"] == pytest.approx(result["epochs"][0]["train_loss"], rel=1e-4)
    assert reports[0][1]["loss"] != reports[1][1]["loss"]  # two runs, two seeds: their own losses
