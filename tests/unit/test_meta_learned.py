"""The LEARNED kind: frozen MLR-SNet learners replayed as an LR policy that reads every mini-batch loss."""

from __future__ import annotations

import base64
import copy
import json
import math
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from trainer.engine import TrainConfig, train
from trainer.mlrsnet import MLRSNet, gamma_from_loss, learner_state
from trainer.schedules import KINDS, SpecError, build, catalog, curve, validate
from trainer.schedules.learned import MAX_GAMMA, NO_STEP_LOSSES, build_learned

REPO_ROOT = Path(__file__).resolve().parents[2]
SPE = 10  # iterations per epoch in the hand-driven tests


def learner(seed: int) -> dict:
    torch.manual_seed(seed)
    return learner_state(MLRSNet())


@pytest.fixture(scope="module")
def spec() -> dict:
    """Three different learners, so that every switch shows in the LR."""
    return {"kind": "LEARNED", "learners": [learner(1), learner(2), learner(3)], "num_classes": 10}


def losses(n: int, start: float = 2.3) -> list[float]:
    """A falling, noisy-looking mini-batch loss."""
    return [start * math.exp(-i / 15) * (1.0 + 0.1 * math.sin(i)) for i in range(n)]


def drive(policy, epochs: int, total_epochs: int, start_epoch: int = 0) -> list[float]:
    """Feed the policy SPE losses per epoch as the engine does; the LR it gives before each iteration."""
    lrs = []
    sequence = losses((start_epoch + epochs) * SPE)
    for epoch in range(start_epoch + 1, start_epoch + epochs + 1):
        for i in range((epoch - 1) * SPE, epoch * SPE):
            lrs.append(policy.lr_at(i, SPE))
            policy.observe_step(i, sequence[i])
        policy.observe(epoch, {"train_loss": 1.0}, total_epochs)
    return lrs


# Validation: weights decode to the right shapes, or SpecError names the learner.


def test_a_spec_round_trips_through_json_and_validation(spec):
    normalized = validate(spec)
    assert normalized["gamma"] == "recompute" and normalized["scale"] == 1.0 and normalized["unit"] == "epoch"
    assert validate(json.loads(json.dumps(normalized))) == normalized


def corrupt(spec: dict, index: int, change) -> dict:
    bad = copy.deepcopy(spec)
    change(bad["learners"][index]["tensors"])
    return bad


def shorter(tensors):
    tensors["input_map.2.weight"]["data"] = tensors["input_map.2.weight"]["data"][:-8]


def wrong_shape(tensors):
    tensors["head.weight"]["shape"] = [50, 1]


def not_base64(tensors):
    data = tensors["head.bias"]["data"]
    tensors["head.bias"]["data"] = "__import__('os')"[: len(data)].ljust(len(data), "!")


def nan_weight(tensors):
    raw = bytearray(base64.b64decode(tensors["head.bias"]["data"]))
    raw[:4] = bytes.fromhex("0000c07f")  # a float32 NaN
    tensors["head.bias"]["data"] = base64.b64encode(bytes(raw)).decode()


def missing(tensors):
    del tensors["hidden_map.0.bias"]


@pytest.mark.parametrize("change", [shorter, wrong_shape, not_base64, nan_weight, missing])
@pytest.mark.parametrize("index", [0, 2])
def test_corrupt_weights_are_refused_naming_the_learner(spec, change, index):
    with pytest.raises(SpecError) as caught:
        validate(corrupt(spec, index, change))
    assert list(caught.value.errors) == [f"learners.{index}"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("learners", []),
        ("learners", "weights"),
        ("learners", [{"format": "pickle", "tensors": {}}]),
        ("gamma", "auto"),
        ("gamma", 0.0),
        ("gamma", True),
        ("num_classes", 1),
        ("scale", -1.0),
    ],
)
def test_bad_fields_are_refused_by_name(spec, field, value):
    with pytest.raises(SpecError) as caught:
        validate({**spec, field: value})
    assert any(path == field or path.startswith(f"{field}.") for path in caught.value.errors)


def test_it_cannot_be_nested_in_another_policy(spec):
    with pytest.raises(SpecError) as caught:
        validate({"kind": "PIECEWISE", "boundaries": [5.0], "stages": [{"kind": "FIX", "k0": 0.1}, spec]})
    assert "stages.1.kind" in caught.value.errors


def test_the_catalog_lists_it_as_an_adaptive_research_kind():
    decl = next(d for d in catalog() if d["kind"] == "LEARNED")
    assert decl["group"] == "research" and decl["adaptive"] and decl["units"] == ["epoch"]
    assert [p["name"] for p in decl["params"]] == ["learners", "gamma", "num_classes", "scale", "momentum", "lr_cap"]
    assert KINDS["LEARNED"].tracker is not None


def test_validating_and_previewing_it_does_not_import_torch(spec, tmp_path):
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    code = (
        "import json, sys; from trainer.schedules import curve, validate; "
        f"s = validate(json.load(open({str(path)!r}))); curve(s, 3, points=5); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# The policy: each loss sets the next LR; learners switch at the thirds; γ recomputed at each switch.


def test_the_lr_follows_the_observed_losses(spec):
    policy = build_learned(spec)
    first = policy.lr_at(0, SPE)
    assert first == policy(123.0)  # not a function of t: the current LR, whatever t is asked for
    policy.observe_step(0, 2.3)
    after_high = policy.lr_at(1, SPE)
    other = build_learned(spec)
    other.observe_step(0, 0.01)
    assert after_high != first and after_high != other.lr_at(1, SPE)


def test_learners_switch_at_the_thirds_with_gamma_recomputed_from_the_last_epochs_loss(spec):
    first, second, third = spec["learners"]
    policy = build_learned(spec)
    lrs = drive(policy, epochs=6, total_epochs=6)  # 60 iterations: learner 1 from iteration 20, learner 2 from 40
    sequence = losses(60)
    assert policy.state_dict()["active"] == 2 and policy.state_dict()["total_iterations"] == 60

    only_first = drive(build_learned({**spec, "learners": [first]}), epochs=6, total_epochs=6)
    assert lrs[:20] == only_first[:20] and lrs[20] != only_first[20]
    second_twice = build_learned({**spec, "learners": [first, second, second]})
    second_lrs = drive(second_twice, epochs=6, total_epochs=6)
    assert lrs[:40] == second_lrs[:40] and lrs[40] != second_lrs[40]

    # γ: ln(C) first, then the mean loss of the epoch just finished at each switch.
    assert policy.lr_at(0, SPE) != 0.0 and second_twice.state_dict()["gamma"] == policy.state_dict()["gamma"]
    assert policy.state_dict()["gamma"] == pytest.approx(gamma_from_loss(sum(sequence[30:40]) / 10, 10), rel=1e-12)
    upto_second = build_learned(spec)
    drive(upto_second, epochs=2, total_epochs=6)
    assert upto_second.state_dict()["gamma"] == pytest.approx(gamma_from_loss(sum(sequence[10:20]) / 10, 10))
    fresh = build_learned(spec).state_dict()
    assert fresh["gamma"] == gamma_from_loss(math.log(10), 10)


def test_a_run_shorter_than_three_epochs_switches_once_the_length_is_known(spec):
    policy = build_learned(spec)
    drive(policy, epochs=1, total_epochs=2)  # thirds at 6.67 and 13.3: both learners due by iteration 10 or later
    assert policy.state_dict()["active"] == 1  # switched at the end of epoch 1, the LR for iteration 10 redone
    drive(policy, epochs=1, total_epochs=2, start_epoch=1)
    assert policy.state_dict()["active"] == 2


def test_a_fixed_gamma_and_scale_set_the_lr_range(spec):
    policy = build_learned({**spec, "gamma": 0.2, "scale": 0.5})
    lrs = drive(policy, epochs=3, total_epochs=3)
    assert policy.bounds == (0.0, 0.1) and all(0.0 < lr < 0.1 for lr in lrs)
    assert build_learned(spec).bounds == (0.0, MAX_GAMMA)


def test_lr_cap_caps_gamma_recomputed_or_fixed(spec):
    capped = build_learned({**spec, "lr_cap": 0.02})
    lrs = drive(capped, epochs=3, total_epochs=3)
    assert capped.bounds == (0.0, 0.02) and all(0.0 < lr < 0.02 for lr in lrs)
    assert capped.state_dict()["gamma"] == 0.02  # the paper's γ for ln 10 is 0.67
    assert build_learned({**spec, "gamma": 0.01, "lr_cap": 0.02}).bounds == (0.0, 0.01)


def test_a_spec_without_momentum_was_meta_trained_without_it_and_is_rescaled_for_another():
    from trainer.schedules.learned import for_momentum

    old = validate({"kind": "LEARNED", "learners": [learner(1)], "num_classes": 10})
    assert old["momentum"] == 0.0 and old["scale"] == 1.0
    moved = for_momentum(old, 0.9)
    assert moved["momentum"] == 0.9 and moved["scale"] == pytest.approx(0.1)
    assert for_momentum(moved, 0.9) == moved  # trained (or already scaled) for this momentum: unchanged
    assert for_momentum({**old, "momentum": 0.5}, 0.9)["scale"] == pytest.approx(0.2)


def test_a_non_finite_loss_leaves_the_lr_and_state_as_they_were(spec):
    policy = build_learned(spec)
    policy.observe_step(0, 2.0)
    before = policy.state_dict()
    policy.observe_step(1, math.nan)
    after = policy.state_dict()
    assert after["lr"] == before["lr"] and after["h"] == before["h"] and after["next_iteration"] == 2


def test_iterations_must_arrive_in_order(spec):
    policy = build_learned(spec)
    policy.observe_step(0, 2.0)
    with pytest.raises(ValueError, match="iteration must be 1"):
        policy.observe_step(2, 1.0)


def test_a_state_dict_restored_mid_sequence_continues_identically(spec):
    straight = build_learned(spec)
    expected = drive(straight, epochs=5, total_epochs=5)

    first = build_learned(spec)
    head = drive(first, epochs=2, total_epochs=5)
    for i, loss in enumerate(losses(23)[20:], start=20):  # into epoch 3, mid-epoch
        head.append(first.lr_at(i, SPE))
        first.observe_step(i, loss)
    saved = json.loads(json.dumps(first.state_dict()))

    resumed = build_learned(spec)
    resumed.load_state_dict(saved)
    tail = []
    sequence = losses(50)
    for i in range(23, 50):
        tail.append(resumed.lr_at(i, SPE))
        resumed.observe_step(i, sequence[i])
        if (i + 1) % SPE == 0:
            resumed.observe((i + 1) // SPE, {}, 5)
    assert head + tail == expected
    assert resumed.state_dict() == straight.state_dict()


def test_a_state_of_another_policy_is_refused(spec):
    policy = build_learned(spec)
    state = policy.state_dict()
    for bad in ({**state, "kind": "PLATEAU"}, {**state, "active": 3}, {**state, "h": [0.0] * 49}, {}):
        with pytest.raises(ValueError, match="not a state of this LEARNED policy"):
            policy.load_state_dict(bad)


def test_a_learned_policy_pickles_with_its_state(spec):
    policy = build_learned(spec)
    drive(policy, epochs=2, total_epochs=4)
    clone = pickle.loads(pickle.dumps(policy))
    assert clone.needs_step_loss and clone.state_dict() == policy.state_dict()


def test_a_plain_build_without_the_step_hook_fails_loudly_instead_of_holding_one_lr(spec):
    policy = build(spec)  # an AdaptivePolicy: it has no observe_step for the engine to call (yet)
    with pytest.raises(RuntimeError, match="needs the loss of every iteration"):
        policy.observe(1, {}, 3)
    assert "build_learned" in NO_STEP_LOSSES


def test_the_preview_runs_the_nets_on_an_assumed_loss_and_says_so(spec):
    result = curve(spec, 30, points=61)
    assert "falls exponentially from ln(10)" in result["assumption"] and "3 learners" in result["assumption"]
    lrs = result["lr"]
    assert all(0.0 < lr <= MAX_GAMMA for lr in lrs) and len(set(lrs)) > 3
    assert curve(spec, 30, points=61) == result  # deterministic


# Through the engine: the hook feeds every mini-batch loss; a replay of those losses gives the same LRs.


class Recording:
    """Passes everything to a LEARNED policy and records what the engine gave it and got from it."""

    needs_step_loss = True

    def __init__(self, policy) -> None:
        self.policy = policy
        self.spec = policy.spec
        self.lrs: dict[int, float] = {}
        self.losses: list[float] = []
        self.epochs: list[tuple[int, dict, int]] = []

    def lr_at(self, iteration: int, steps_per_epoch: int) -> float:
        self.lrs[iteration] = lr = self.policy.lr_at(iteration, steps_per_epoch)
        return lr

    def observe_step(self, iteration: int, loss: float) -> None:
        assert iteration == len(self.losses)
        self.losses.append(loss)
        self.policy.observe_step(iteration, loss)

    def observe(self, epoch: int, metrics: dict, total_epochs: int) -> None:
        self.epochs.append((epoch, metrics, total_epochs))
        self.policy.observe(epoch, metrics, total_epochs)

    def state_dict(self) -> dict:
        return self.policy.state_dict()


def digits_run(policy, epochs: int = 3, **overrides) -> dict:
    config = TrainConfig("digits-mlp", policy, epochs=epochs, device="cpu", optimizer={"momentum": 0.0}, **overrides)
    return train(config)


def test_a_run_through_the_engine_replays_exactly_from_its_losses(spec):
    recording = Recording(build_learned(spec))
    result = digits_run(recording)
    steps_per_epoch = result["summary"]["iterations"] // 3

    # The hook passed each mini-batch's loss: their batch-weighted mean is the reported training loss.
    sizes = [32] * (steps_per_epoch - 1) + [1437 - 32 * (steps_per_epoch - 1)]
    for epoch, metrics, _ in recording.epochs:
        epoch_losses = recording.losses[(epoch - 1) * steps_per_epoch : epoch * steps_per_epoch]
        mean = sum(size * loss for size, loss in zip(sizes, epoch_losses, strict=True)) / 1437
        assert mean == pytest.approx(metrics["train_loss"], rel=1e-5)
    # The LRs the engine applied are the policy's (the reported traces sample them).
    for metrics in result["epochs"]:
        for t, lr in metrics["lr_trace"]:
            assert lr == recording.lrs[round(t * steps_per_epoch)]

    replay = build_learned(spec)
    replayed = []
    for i, loss in enumerate(recording.losses):
        replayed.append(replay.lr_at(i, steps_per_epoch))
        replay.observe_step(i, loss)
        if (i + 1) % steps_per_epoch == 0:
            epoch, metrics, total = recording.epochs[i // steps_per_epoch]
            replay.observe(epoch, metrics, total)
    applied = [recording.lrs[i] for i in range(len(recording.losses))]
    assert replayed == pytest.approx(applied, rel=1e-12, abs=0.0)
    assert len(set(applied)) > len(applied) // 2  # the LR moved nearly every iteration
    assert replay.state_dict()["active"] == 2


def test_a_run_resumed_from_its_checkpoint_continues_as_if_uninterrupted(spec, tmp_path):
    straight = digits_run(build_learned(spec), epochs=4)

    done: list[dict] = []
    path = str(tmp_path / "run.pt")
    first = train(
        TrainConfig(
            "digits-mlp", build_learned(spec), epochs=4, device="cpu", optimizer={"momentum": 0.0}, checkpoint_path=path
        ),
        on_epoch=done.append,
        should_stop=lambda: len(done) >= 2,
    )
    assert first["status"] == "cancelled" and len(first["epochs"]) == 2
    resumed = digits_run(build_learned(spec), epochs=4, checkpoint_path=path)

    assert resumed["resumed_from_epoch"] == 2
    keys = ("train_loss", "test_acc", "lr_first", "lr_last", "lr_trace")
    assert [{k: e[k] for k in keys} for e in resumed["epochs"]] == [{k: e[k] for k in keys} for e in straight["epochs"]]
