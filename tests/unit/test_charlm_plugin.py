"""The example plugin (examples/charlm), as the test session installs it: found through its entry point,
declared without torch, and trained by the engine."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from trainer.workloads import get_workload, list_workloads

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_example_plugin_is_found_through_its_entry_point():
    summary = next(w for w in list_workloads() if w["name"] == "charlm")

    assert summary["plugin"] == {"entry_point": "charlm", "distribution": "lr-arena-charlm", "version": "0.1.0"}
    assert summary["num_classes"] == 97 and summary["optimizer"]["name"] == "adamw"
    assert [o["name"] for o in summary["options"]] == ["layers", "heads", "head_width"]


def test_listing_and_checking_the_plugins_workload_imports_no_torch():
    code = (
        "import sys, trainer.workloads as w\n"
        "assert 'charlm' in [s['name'] for s in w.list_workloads()]\n"
        "assert w.get_workload('charlm').resolve_options({'layers': 3})['layers'] == 3\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, check=True, timeout=60)


def test_an_out_of_range_option_is_refused_naming_it():
    with pytest.raises(ValueError, match=r"workload_options\.layers must be an integer in \[1, 12\]"):
        get_workload("charlm").resolve_options({"layers": 0})


def test_each_sample_is_a_window_of_the_standard_librarys_text_labelled_by_its_next_character():
    from lr_arena_charlm import data

    x_train, y_train, x_test, y_test = get_workload("charlm").load_data(Path("/nonexistent"))

    assert x_train.shape == (data.TRAIN_SIZE, data.CONTEXT) and y_train.shape == (data.TRAIN_SIZE,)
    assert x_test.shape == (data.TEST_SIZE, data.CONTEXT) and y_test.shape == (data.TEST_SIZE,)
    assert 0 <= int(x_train.min()) and int(y_train.max()) < data.VOCABULARY
    text = data.stdlib_text()
    for i in (0, 1, 777):
        window = "".join(data.ALPHABET[c] for c in [*x_train[i].tolist(), int(y_train[i])])
        assert window in text
    # the test windows come from the held-out last 10%: their text does not occur in the first 90%
    held_out = "".join(data.ALPHABET[c] for c in [*x_test[0].tolist(), int(y_test[0])])
    assert held_out in text[int(len(text) * data.SPLIT) - data.CONTEXT :]


def test_the_model_scores_every_character_class_from_a_window():
    import torch

    workload = get_workload("charlm")
    small, large = workload.create_model(), workload.create_model({"layers": 4})

    scores = small(torch.zeros(3, *workload.input_shape, dtype=torch.int64))

    assert scores.shape == (3, workload.num_classes)
    assert sum(p.numel() for p in large.parameters()) > sum(p.numel() for p in small.parameters())


def test_the_engine_trains_it_and_reports_perplexity_every_epoch():
    from trainer.engine import TrainConfig, train

    config = TrainConfig(
        workload="charlm",
        policy={"kind": "FIX", "k0": 0.003},
        epochs=2,
        device="cpu",
        limit_train_batches=30,
        limit_test_batches=1,
    )
    result = train(config)

    assert result["status"] == "succeeded"
    first, last = result["epochs"]
    for epoch in result["epochs"]:
        assert epoch["test_perplexity"] == pytest.approx(math.exp(epoch["test_loss"]))
        assert epoch["train_perplexity"] == pytest.approx(math.exp(epoch["train_loss"]))
    assert last["train_loss"] < first["train_loss"]
    assert last["test_acc"] > 1 / 97  # better than chance after 60 steps


def test_a_studys_runs_of_it_train_stacked_under_sgd_as_each_would_alone_with_perplexity():
    from trainer.batched import train_batched
    from trainer.engine import TrainConfig, train

    configs = [
        TrainConfig(
            workload="charlm",
            policy={"kind": "FIX", "k0": 0.05},
            epochs=1,
            seed=seed,
            device="cpu",
            optimizer={"name": "sgd", "momentum": 0.9},  # the optimizer batched training stacks
            limit_train_batches=5,
            limit_test_batches=1,
        )
        for seed in (0, 1)
    ]

    together = train_batched(configs)
    alone = train(configs[1])

    assert [r["status"] for r in together] == ["succeeded", "succeeded"]
    (epoch,) = together[1]["epochs"]
    assert epoch["test_loss"] == pytest.approx(alone["epochs"][0]["test_loss"], rel=1e-4)
    assert epoch["test_perplexity"] == pytest.approx(math.exp(epoch["test_loss"]))
