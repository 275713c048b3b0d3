"""LEARNED: MLR-SNet's learned LR schedule (Shu et al., papers.md §3), replayed by frozen meta-learners.

A meta-learner (``trainer.mlrsnet.MLRSNet``, trained by ``trainer.meta.meta_train``)
maps the current mini-batch loss to an LR fraction in (0, 1), with an LSTM-style
hidden state that runs across every iteration. The spec carries the frozen
weights of one or more learners (the paper uses three, saved after the first,
middle and last meta-training epochs); learner j of k drives the j-th k-th of
the training:

    LR of iteration i + 1 = scale · γ_j · net_j(loss_i, state_i)

The LR is not a function of t: it depends on every loss seen so far. So this
kind is adaptive, with one more hook than PLATEAU and SWITCH:

- ``needs_step_loss = True``: after each optimizer step the engine calls
  ``observe_step(iteration, loss)`` with that step's mini-batch loss; the net
  advances its hidden state and sets the LR of the next iteration. The paper's
  LR for step i reads loss i itself; here the engine writes the LR before the
  forward pass, so each LR reads the previous step's loss (one step of lag).
  The LR of iteration 0 is the first learner's output for ln(C), the loss of a
  uniform prediction, without advancing the hidden state. ``build(spec)``
  wraps every adaptive kind in a plain AdaptivePolicy, which has no
  ``observe_step``: train with ``build_learned(spec)`` (a LearnedPolicy) until
  AdaptivePolicy forwards the hook; without it ``observe`` raises after epoch 1.
- ``observe(epoch, metrics, total_epochs)`` after each epoch: it tells the
  policy how long training is (total_epochs × the iterations observed per
  epoch), so the learner switches at the k-ths of the total. Before the end of
  epoch 1 the total is unknown, so a run of fewer than k epochs switches to
  the learners whose share began inside epoch 1 only when that epoch ends;
  from k epochs on every switch is on time. The learner never switches back
  (a resumed run with more epochs only moves the later switches).
- ``policy(t)`` / ``lr_at`` return the current LR whatever t is asked for.

γ: a number in the spec, or "recompute": γ = |sqrt(L)·ln(L·C)/C^(1/4)/4|
(``gamma_from_loss``), with L = ln(C) for the first learner (the engine
measures no loss before training; a freshly initialised classifier scores
about ln C) and, at each switch, the current training loss, as the paper
recomputes it: here the mean of the last epoch's worth of mini-batch losses
(at an epoch boundary, exactly the epoch just finished; the window is in the
state). Every γ, recomputed or fixed, is capped to ``lr_cap`` (default
MAX_GAMMA; meta-training writes its own cap there, by default its LR range
test's valley LR, so that transfer never starts above what meta-training
allowed: the paper's γ is 0.67 for ten classes, which LeNet does not survive).
Note the formula's zero at
L = 1/C: a last-third switch with a training loss near 1/C gives a tiny LR.
A non-finite loss leaves the LR and the hidden state as they were (the run is
diverging; the engine stops it).

``momentum``: the SGD momentum the learners were meta-trained with, hence
the momentum their LR is right for. It does not change the replay; it says
how to use the spec. trainer.meta meta-trains with the workload's momentum
and records it; specs written before this field existed were meta-trained
with plain SGD and read as momentum 0 (LR Arena used to save them with
scale 0.1 = 1 − 0.9, which stays valid). ``for_momentum(spec, m)`` rescales
a spec for momentum m: scale × (1 − m) / (1 − its momentum), since momentum
m makes SGD's steps 1/(1 − m) times longer at the same LR.

Weights travel as JSON: ``{"format": "mlrsnet-1", "tensors": {name: {"shape":
[...], "data": base64 of little-endian float32}}}``, the names and shapes of
``LEARNER_SHAPES``. Decoding checks names, shapes, lengths and finiteness;
nothing in a spec is ever evaluated. numpy is imported only when weights are
decoded, so importing the catalog stays light; the net runs in float64 here
(the float32 weights exactly), torch is never needed.

``curve()`` previews the policy under an assumed loss: falling exponentially
from ln(C) by a factor e^PREVIEW_DECAY over the window, PREVIEW_ITERATIONS_PER_EPOCH
iterations per epoch (fewer for long windows, at most PREVIEW_MAX_ITERATIONS
in all), with the learners switching at the k-ths of the window.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .errors import ErrorBag, SpecError, join
from .params import MAX_LR, Param, lr
from .policy import AdaptivePolicy
from .registry import KindDecl, register
from .validation import validate

if TYPE_CHECKING:
    import numpy as np

KIND = "LEARNED"
LEARNER_FORMAT = "mlrsnet-1"
HIDDEN = 50  # the cell's hidden size
MAP_WIDTH = 25  # the hidden layer of the input-to-gates and hidden-to-gates maps
GATES = 4 * HIDDEN  # input, forget, output, candidate: chunks of HIDDEN in this order
FORGET_BIAS = -1.0  # the forget gate is σ(g - 1): it starts half-closed
# The parameters of one learner, as trainer.mlrsnet.MLRSNet names them: 11,776 in all.
LEARNER_SHAPES: dict[str, tuple[int, ...]] = {
    "input_map.0.weight": (MAP_WIDTH, 1),
    "input_map.0.bias": (MAP_WIDTH,),
    "input_map.2.weight": (GATES, MAP_WIDTH),
    "input_map.2.bias": (GATES,),
    "hidden_map.0.weight": (MAP_WIDTH, HIDDEN),
    "hidden_map.0.bias": (MAP_WIDTH,),
    "hidden_map.2.weight": (GATES, MAP_WIDTH),
    "hidden_map.2.bias": (GATES,),
    "head.weight": (1, HIDDEN),
    "head.bias": (1,),
}
MAX_LEARNERS = 10
MAX_CLASSES = 100_000
# A recomputed γ above this means the loss has blown up (L ≈ 100 for C = 10): the cap keeps the LR bounded.
MAX_GAMMA = 10.0
PREVIEW_ITERATIONS_PER_EPOCH = 100
PREVIEW_MAX_ITERATIONS = 500  # ~40 us a numpy step: with decoding and sampling, a preview stays within ~50 ms
PREVIEW_DECAY = 3.0  # the assumed loss falls by e^3 ≈ 20x over the window shown
EPOCH = ("epoch",)

NO_STEP_LOSSES = (
    "LEARNED needs the loss of every iteration (observe_step) and none arrived during the epoch: "
    "train it with a policy object that has needs_step_loss, e.g. trainer.schedules.learned.build_learned(spec)"
)


def gamma_from_loss(initial_loss: float, num_classes: int) -> float:
    """MLR-SNet's LR scale γ = |sqrt(L0)·ln(L0·C) / C^(1/4) / 4| (≈ 0.669 for L0 = ln 10, C = 10).

    The absolute value: the formula is negative for L0·C < 1 and zero at L0 = 1/C.
    L0 = 0 gives 0 (the limit). ValueError for C < 2 or a negative or non-finite L0.
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be a whole number >= 2, got {num_classes!r}")
    loss = float(initial_loss)
    if not math.isfinite(loss) or loss < 0.0:
        raise ValueError(f"initial_loss must be a finite number >= 0, got {initial_loss!r}")
    if loss == 0.0:
        return 0.0
    return abs(math.sqrt(loss) * math.log(loss * num_classes) / num_classes**0.25 / 4.0)


# Learner weights <-> JSON.


def encode_learner(tensors: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON state of one learner from its arrays (numpy arrays, or anything numpy reads), by name."""
    import numpy as np

    if set(tensors) != set(LEARNER_SHAPES):
        raise ValueError(f"a learner has exactly the tensors {', '.join(LEARNER_SHAPES)}")
    out: dict[str, Any] = {}
    for name, shape in LEARNER_SHAPES.items():
        array = np.asarray(tensors[name], dtype="<f4")
        if array.shape != shape:
            raise ValueError(f"tensor {name} must have shape {list(shape)}, got {list(array.shape)}")
        out[name] = {"shape": list(shape), "data": base64.b64encode(array.tobytes()).decode("ascii")}
    return {"format": LEARNER_FORMAT, "tensors": out}


def decode_learner(state: Any) -> dict[str, np.ndarray]:
    """The float32 arrays of one learner's JSON state, by name; ValueError saying what is wrong."""
    import numpy as np

    if not isinstance(state, Mapping) or state.get("format") != LEARNER_FORMAT:
        raise ValueError(f'must be an object with "format": "{LEARNER_FORMAT}" and "tensors"')
    tensors = state.get("tensors")
    if set(state) != {"format", "tensors"}:
        raise ValueError('must hold "format" and "tensors" only')
    if not isinstance(tensors, Mapping) or set(tensors) != set(LEARNER_SHAPES):
        raise ValueError(f"tensors must hold exactly {', '.join(LEARNER_SHAPES)}")
    arrays = {}
    for name, shape in LEARNER_SHAPES.items():
        item = tensors[name]
        if not isinstance(item, Mapping) or item.get("shape") != list(shape) or not isinstance(item.get("data"), str):
            raise ValueError(f"tensor {name} must be {{'shape': {list(shape)}, 'data': base64 float32}}")
        count = math.prod(shape)
        data = item["data"]
        if len(data) != 4 * math.ceil(4 * count / 3):  # checked before decoding: no huge strings are decoded
            raise ValueError(f"tensor {name} must hold {count} float32 values")
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"tensor {name}: data is not base64") from None
        if len(raw) != 4 * count:
            raise ValueError(f"tensor {name} must hold {count} float32 values")
        array = np.frombuffer(raw, dtype="<f4").reshape(shape)
        if not np.isfinite(array).all():
            raise ValueError(f"tensor {name} has a non-finite value")
        arrays[name] = array
    return arrays


class LearnerNet:
    """One frozen learner, in numpy float64: ``step(loss, h, c) -> (fraction, h, c)``, as MLRSNet.forward."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        import numpy as np

        self._np = np
        w = {name: np.asarray(array, dtype=np.float64) for name, array in arrays.items()}
        self._in0, self._in0_b = w["input_map.0.weight"][:, 0], w["input_map.0.bias"]
        self._in2, self._in2_b = w["input_map.2.weight"], w["input_map.2.bias"]
        self._hid0, self._hid0_b = w["hidden_map.0.weight"], w["hidden_map.0.bias"]
        self._hid2, self._hid2_b = w["hidden_map.2.weight"], w["hidden_map.2.bias"]
        self._head, self._head_b = w["head.weight"][0], float(w["head.bias"][0])

    def step(self, loss: float, h: np.ndarray, c: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        np = self._np
        from_input = self._in2 @ np.maximum(self._in0 * loss + self._in0_b, 0.0) + self._in2_b
        from_hidden = self._hid2 @ np.maximum(self._hid0 @ h + self._hid0_b, 0.0) + self._hid2_b
        i, f, o, g = np.split(from_input + from_hidden, 4)
        c = _sigmoid(np, f + FORGET_BIAS) * c + _sigmoid(np, i) * np.tanh(g)
        h = _sigmoid(np, o) * np.tanh(c)
        return float(_sigmoid(np, self._head @ h + self._head_b)), h, c


def _sigmoid(np: Any, x: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # no overflow for large |x|


# The policy's state.


class LearnedTracker:
    """What a LEARNED policy has seen (the losses, through its hidden state) and the LR it has set."""

    needs_step_loss = True

    def __init__(self, spec: dict[str, Any]) -> None:
        import numpy as np

        self._np = np
        self._nets = [LearnerNet(decode_learner(state)) for state in spec["learners"]]
        self._fixed_gamma: float | None = None if spec["gamma"] == "recompute" else spec["gamma"]
        self._classes: int = spec["num_classes"]
        self._scale: float = spec["scale"]
        self._lr_cap: float = spec["lr_cap"]
        self._preview: tuple[list[float], float] | None = None  # (LRs, iterations per epoch) after assume_plateau
        self._reset()

    def _reset(self) -> None:
        np = self._np
        self._next = 0  # the iteration whose loss observe_step expects next
        self._last_epoch = 0
        self._epoch_steps = 0  # observe_step calls since the last observe
        self._per_epoch: int | None = None  # iterations per epoch, known from the end of epoch 1
        self._total: int | None = None  # iterations in the whole run, known from the end of epoch 1
        self._recent: list[float] = []  # the last epoch's worth of finite losses: "the current training loss"
        self._active = 0
        self._gamma = self._gamma_for(math.log(self._classes))
        self._h, self._c = np.zeros(HIDDEN), np.zeros(HIDDEN)
        self._last_input: tuple[float, np.ndarray, np.ndarray] | None = None  # the last step's (loss, h, c) before it
        fraction, _, _ = self._nets[0].step(math.log(self._classes), self._h, self._c)  # a peek: the state stays
        self._lr = self._scale * self._gamma * fraction

    def lr(self, t: float) -> float:
        if self._preview is not None:
            lrs, per_epoch = self._preview
            return lrs[min(len(lrs) - 1, int(t * per_epoch))]
        return self._lr

    def observe_step(self, iteration: int, loss: float) -> None:
        """The mini-batch loss of ``iteration`` (0-based, consecutive): sets the LR of iteration + 1."""
        if self._preview is not None:
            raise ValueError("this policy was simulated for a preview; build a fresh one to train with")
        if isinstance(iteration, bool) or not isinstance(iteration, int) or iteration != self._next:
            raise ValueError(f"iteration must be {self._next}, the next one, got {iteration!r}")
        self._next += 1
        self._epoch_steps += 1
        value = float(loss)
        if math.isfinite(value):
            self._step(value)

    def observe(self, epoch: int, metrics: Mapping[str, Any], total_epochs: int) -> None:
        """The end of ``epoch`` (1-based): learns the run's length; may switch learner (metrics are not read)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch <= self._last_epoch:
            raise ValueError(
                f"epoch must be a whole number above the last observed ({self._last_epoch}), got {epoch!r}"
            )
        if isinstance(total_epochs, bool) or not isinstance(total_epochs, int) or total_epochs < 1:
            raise ValueError(f"total_epochs must be a positive whole number, got {total_epochs!r}")
        if self._epoch_steps == 0:  # a caller without the per-iteration hook: fail loudly, not at a constant LR
            raise RuntimeError(NO_STEP_LOSSES)
        self._epoch_steps = 0
        self._last_epoch = epoch
        self._per_epoch = max(1, round(self._next / epoch))
        self._total = max(self._next, total_epochs * self._per_epoch)
        due = self._due(self._next)
        if due > self._active and self._last_input is not None:
            # The LR set for iteration _next came from the previous learner (the total was not known): redo it.
            loss, self._h, self._c = self._last_input
            self._switch(due)
            self._advance(loss)

    def assume_plateau(self, after: int, total_epochs: int) -> str:
        """Simulate an assumed loss over ``total_epochs`` for a preview (``after`` does not apply here)."""
        self._reset()
        iterations = max(1, min(PREVIEW_ITERATIONS_PER_EPOCH * total_epochs, PREVIEW_MAX_ITERATIONS))
        self._total = iterations
        self._per_epoch = max(1, round(iterations / total_epochs))
        start = math.log(self._classes)
        lrs = [self._lr]
        for i in range(iterations):
            self._step(start * math.exp(-PREVIEW_DECAY * i / iterations))
            lrs.append(self._lr)
        self._preview = (lrs, iterations / total_epochs)
        k = len(self._nets)
        switches = f", switching among {k} learners at each 1/{k} of the window" if k > 1 else ""
        return (
            f"assumes the mini-batch loss falls exponentially from ln({self._classes}) = {start:.3g} to "
            f"{start * math.exp(-PREVIEW_DECAY):.3g} over {total_epochs} epochs, "
            f"{iterations / total_epochs:.3g} iterations per epoch{switches}; "
            "in training the LR follows the actual mini-batch losses"
        )

    def state_dict(self) -> dict[str, Any]:
        last = self._last_input
        return {
            "kind": KIND,
            "next_iteration": self._next,
            "last_epoch": self._last_epoch,
            "epoch_steps": self._epoch_steps,
            "iterations_per_epoch": self._per_epoch,
            "total_iterations": self._total,
            "recent_losses": list(self._recent),
            "active": self._active,
            "gamma": self._gamma,
            "lr": self._lr,
            "h": self._h.tolist(),
            "c": self._c.tolist(),
            "last_input": None if last is None else {"loss": last[0], "h": last[1].tolist(), "c": last[2].tolist()},
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        try:
            parsed = self._parse(state)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a state of this {KIND} policy: {exc}") from None
        self._preview = None
        for name, value in parsed.items():
            setattr(self, name, value)

    def _parse(self, state: Mapping[str, Any]) -> dict[str, Any]:
        """The checked state, by attribute name."""
        if not isinstance(state, Mapping) or state["kind"] != KIND:
            raise ValueError(f"expected a {KIND} state")
        per_epoch, total, last = state["iterations_per_epoch"], state["total_iterations"], state["last_input"]
        active = _count(state["active"], "active")
        if active >= len(self._nets):
            raise ValueError(f"active must be a learner index below {len(self._nets)}")
        recent = state["recent_losses"]
        if not isinstance(recent, list) or (per_epoch is not None and len(recent) > per_epoch):
            raise ValueError("recent_losses must be a list, at most one epoch long")
        return {
            "_next": _count(state["next_iteration"], "next_iteration"),
            "_last_epoch": _count(state["last_epoch"], "last_epoch"),
            "_epoch_steps": _count(state["epoch_steps"], "epoch_steps"),
            "_per_epoch": None if per_epoch is None else _count(per_epoch, "iterations_per_epoch"),
            "_total": None if total is None else _count(total, "total_iterations"),
            "_recent": [_finite(v, "recent_losses") for v in recent],
            "_active": active,
            "_gamma": _finite(state["gamma"], "gamma"),
            "_lr": _finite(state["lr"], "lr"),
            "_h": self._vector(state["h"]),
            "_c": self._vector(state["c"]),
            "_last_input": None
            if last is None
            else (_finite(last["loss"], "last_input.loss"), self._vector(last["h"]), self._vector(last["c"])),
        }

    def _vector(self, values: Any) -> np.ndarray:
        if not isinstance(values, list | tuple) or len(values) != HIDDEN:
            raise ValueError(f"hidden states must be lists of {HIDDEN} numbers")
        return self._np.array([_finite(v, "a hidden state") for v in values], dtype=self._np.float64)

    def _step(self, loss: float) -> None:
        """A finite loss of iteration _next - 1: the LR of iteration _next, from the learner due then."""
        self._recent.append(loss)
        if self._per_epoch is not None and len(self._recent) > self._per_epoch:
            del self._recent[0]
        due = self._due(self._next)
        if due > self._active:
            self._switch(due)
        self._advance(loss)

    def _due(self, iteration: int) -> int:
        """The learner for ``iteration``: j while iteration < (j + 1)/k of the total, never an earlier one."""
        if self._total is None:
            return self._active
        return max(self._active, min(len(self._nets) - 1, iteration * len(self._nets) // self._total))

    def _switch(self, index: int) -> None:
        self._active = index
        if self._fixed_gamma is None:  # from the mean loss of the last epoch's worth of iterations
            current = sum(self._recent) / len(self._recent) if self._recent else math.log(self._classes)
            self._gamma = self._gamma_for(current)

    def _advance(self, loss: float) -> None:
        self._last_input = (loss, self._h, self._c)
        fraction, self._h, self._c = self._nets[self._active].step(loss, self._h, self._c)
        self._lr = self._scale * self._gamma * fraction

    def _gamma_for(self, loss: float) -> float:
        if self._fixed_gamma is not None:
            return min(self._fixed_gamma, self._lr_cap)
        return min(gamma_from_loss(loss, self._classes), MAX_GAMMA, self._lr_cap)


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number >= 0")
    return value


def _finite(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number")
    return float(value)


# The policy object the engine drives.


class LearnedPolicy(AdaptivePolicy):
    """A LEARNED policy with the per-iteration hook: ``needs_step_loss`` and ``observe_step``.

    ``trainer.schedules.build`` wraps every adaptive kind in a plain
    AdaptivePolicy, which has no ``observe_step``; until it forwards that hook
    to its tracker, build LEARNED policies with ``build_learned``.
    """

    __slots__ = ()
    needs_step_loss = True

    def observe_step(self, iteration: int, loss: float) -> None:
        self._tracker.observe_step(iteration, loss)

    def __reduce__(self) -> tuple:
        return (_restore, (self.spec, self.state_dict()))


def build_learned(spec: Any) -> LearnedPolicy:
    """The LEARNED policy of ``spec`` (SpecError if invalid or of another kind); a built one keeps its state."""
    if isinstance(spec, LearnedPolicy):
        return spec
    state = spec.state_dict() if isinstance(spec, AdaptivePolicy) else None
    normalized = validate(spec.spec if isinstance(spec, AdaptivePolicy) else spec)
    if normalized["kind"] != KIND:
        raise SpecError({"kind": [f"must be {KIND}, got {normalized['kind']}"]})
    policy = LearnedPolicy(normalized, LearnedTracker(normalized), _bounds(normalized))
    if state is not None:
        policy.load_state_dict(state)
    return policy


def _restore(spec: dict[str, Any], state: Mapping[str, Any]) -> LearnedPolicy:
    policy = build_learned(spec)
    policy.load_state_dict(state)
    return policy


# The declaration.


class LearnersParam(Param):
    """The learners' weights: a list of learner states, each decoded and checked (field "learners.i")."""

    def check(self, value: Any, path: str, bag: ErrorBag) -> list[dict[str, Any]] | None:
        if not isinstance(value, list | tuple) or not self.min_len <= len(value) <= self.max_len:
            bag.add(path, f"must be a list of {self.min_len} to {self.max_len} learner states")
            return None
        out = []
        for i, state in enumerate(value):
            try:
                out.append(encode_learner(decode_learner(state)))  # canonical: only the declared fields survive
            except ValueError as exc:
                bag.add(join(path, i), str(exc))
        return out if len(out) == len(value) else None


class GammaParam(Param):
    """γ: "recompute" (from the training loss, as the paper does) or a fixed positive number."""

    def check(self, value: Any, path: str, bag: ErrorBag) -> float | str | None:
        if value == "recompute":
            return value
        if isinstance(value, str):
            bag.add(path, 'must be "recompute" or a number')
            return None
        return super().check(value, path, bag)


def _bounds(s: dict[str, Any]) -> tuple[float, float]:
    gamma = MAX_GAMMA if s["gamma"] == "recompute" else s["gamma"]
    return (0.0, s["scale"] * min(gamma, s["lr_cap"]))


def for_momentum(spec: Mapping[str, Any], momentum: float) -> dict[str, Any]:
    """The spec (validated) made to train with SGD momentum ``momentum``: its scale multiplied by
    (1 - momentum) / (1 - the momentum it was meta-trained for), its "momentum" set to ``momentum``.

    Momentum m makes SGD's steps 1/(1 - m) times longer at the same LR, so the same steps need that much
    less LR. A spec meta-trained with the workload's own momentum comes back unchanged; one written before
    specs recorded their momentum was meta-trained without it (0) and is scaled by 1 - momentum.
    """
    normalized = validate(dict(spec))
    if normalized["kind"] != KIND:
        raise SpecError({"kind": [f"must be {KIND}, got {normalized['kind']}"]})
    if normalized["momentum"] == momentum:
        return normalized
    factor = (1.0 - momentum) / (1.0 - normalized["momentum"])
    return validate({**normalized, "scale": normalized["scale"] * factor, "momentum": momentum})


def _make(s: dict[str, Any], unit: str):
    return LearnedTracker(s).lr  # the LR before any loss is observed


register(
    KindDecl(
        KIND,
        "Learned (MLR-SNet)",
        "research",
        "MLR-SNet's meta-learned schedule: frozen LSTM-style meta-learners read each mini-batch loss and set "
        "the next LR; learner j of k drives the j-th k-th of training (trainer.meta.meta_train makes the spec)",
        "scale · γ_j · net_j(loss_(i-1), hidden state), γ_j = |sqrt(L)·ln(L·C)/C^(1/4)/4| with L the training loss "
        "at the switch (or fixed)",
        (
            LearnersParam(
                "learners",
                "learners",
                "frozen meta-learner weights, one per equal share of training (MLR-SNet: first, middle, last "
                "meta-epoch), as trainer.meta.meta_train writes them",
                min_len=1,
                max_len=MAX_LEARNERS,
            ),
            GammaParam(
                "gamma",
                "float",
                '"recompute": from ln(C) for the first learner and from the last epoch\'s training loss at each '
                "switch, as the paper does; or a fixed LR scale",
                default="recompute",
                required=False,
                min=0.0,
                min_inclusive=False,
                max=MAX_LR,
            ),
            Param("num_classes", "int", "classes of the task (C in γ and in ln C)", default=10, min=2, max=MAX_CLASSES),
            lr(
                "scale",
                "multiplies the learned LR (an LR sweep scales it; see momentum)",
                1.0,
                required=False,
            ),
            Param(
                "momentum",
                "float",
                "the SGD momentum the learners were meta-trained with: their LR is right for it (0 for specs "
                "written before this field: meta-trained without momentum; for_momentum rescales to another)",
                default=0.0,
                required=False,
                min=0.0,
                max=1.0,
                max_inclusive=False,
            ),
            Param(
                "lr_cap",
                "float",
                "γ never exceeds it, recomputed or fixed (meta-training's cap: its LR range test's valley LR)",
                unit="lr",
                default=MAX_GAMMA,
                required=False,
                min=0.0,
                min_inclusive=False,
                max=MAX_GAMMA,
            ),
        ),
        _make,
        _bounds,
        units=EPOCH,
        tracker=LearnedTracker,
    )
)
