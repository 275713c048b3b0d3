"""K models of one architecture as stacked tensors, and SGD over them.

`ModelStack` holds the K models' parameters and buffers stacked along a new
first dimension (torch.func.stack_module_state) and calls them all at once
with vmap over functional_call. Buffers are stacked too, so BatchNorm keeps
per-model running statistics: under vmap its in-place updates land in each
model's own slice.

`StackedSGD` is torch.optim.SGD's update (weight decay, momentum with the
buffer initialised to the first step's gradient, Nesterov, no dampening)
applied to stacked tensors, with one LR per model, and momentum and weight
decay per model too (Li & Arora's policies change them).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap


class ModelStack:
    def __init__(self, models: Sequence[nn.Module], trainable: Sequence[str] | None = None):
        """Stack these models (one architecture); `trainable` names the parameters to train
        (default: those that require grad)."""
        if not models:
            raise ValueError("a ModelStack needs at least one model")
        params, buffers = stack_module_state(list(models))
        self.params: dict[str, torch.Tensor] = params  # (K, ...) each; leaves, requiring grad where the models' do
        self.buffers: dict[str, torch.Tensor] = buffers
        self._trainable = (
            list(trainable) if trainable is not None else [n for n, p in params.items() if p.requires_grad]
        )
        # The architecture only: functional_call substitutes every tensor, so the template holds no memory.
        self._template = copy.deepcopy(models[0]).to("meta")
        self._per_model_inputs = vmap(self._call, in_dims=(0, 0, 0))
        self._shared_inputs = vmap(self._call, in_dims=(0, 0, None))

    def __len__(self) -> int:
        return len(next(iter(self.params.values())))

    def _call(self, params: dict, buffers: dict, inputs: torch.Tensor) -> torch.Tensor:
        return functional_call(self._template, (params, buffers), (inputs,))

    def __call__(self, inputs: torch.Tensor, shared: bool = False) -> torch.Tensor:
        """Model k's outputs on inputs[k] (K, B, ...) or, with shared=True, on the same inputs (B, ...)."""
        call = self._shared_inputs if shared else self._per_model_inputs
        return call(self.params, self.buffers, inputs)

    def trainable(self) -> list[torch.Tensor]:
        """The stacked parameters to train, in a fixed order."""
        return [self.params[name] for name in self._trainable]

    def train(self, mode: bool = True) -> None:
        self._template.train(mode)

    def eval(self) -> None:
        self._template.train(False)

    def keep(self, index: torch.Tensor) -> None:
        """Keep only the models at these positions, in this order."""
        self.params = {name: p.detach()[index].requires_grad_(p.requires_grad) for name, p in self.params.items()}
        self.buffers = {name: b[index] for name, b in self.buffers.items()}

    @torch.no_grad()
    def copy_into(self, position: int, model: nn.Module) -> None:
        """Write model `position`'s parameters and buffers into a module of the same architecture."""
        for name, p in model.named_parameters():
            p.copy_(self.params[name][position])
        for name, b in model.named_buffers():
            b.copy_(self.buffers[name][position])


class StackedSGD:
    """SGD on stacked parameters, one LR (and momentum, weight decay) per model.

    step() follows torch.optim.SGD's single-tensor update with dampening 0:
        d = grad + weight_decay * param
        buf = d on the first step, else momentum * buf + d
        d = d + momentum * buf if nesterov else buf
        param -= lr * d
    with lr the model's LR times the parameter's lr_scale (the engine's
    parameter groups). Where every model has the same momentum and weight
    decay, these are torch's own tensor operations with the same scalars;
    otherwise their per-model forms. The LR is always a per-model tensor, so
    the last line is an addcmul_ where torch has add_(alpha=-lr): the two
    can differ in the last bit.
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        momentum: Sequence[float],
        weight_decay: Sequence[float],
        nesterov: bool,
        lr_scales: Sequence[float] | None = None,
    ):
        if nesterov and any(m <= 0 for m in momentum):
            raise ValueError("Nesterov momentum requires a momentum > 0")
        self.params = list(params)
        self.lr_scales = list(lr_scales) if lr_scales is not None else [1.0] * len(self.params)
        self.nesterov = nesterov
        self.momentum_buffers: list[torch.Tensor | None] = [None] * len(self.params)
        device = self.params[0].device
        self._momentum = _scalar_or_vector(momentum, device)
        self._weight_decay = _scalar_or_vector(weight_decay, device)

    @torch.no_grad()
    def step(self, grads: Sequence[torch.Tensor], lr: torch.Tensor) -> None:
        """One update; lr is a (K,) tensor on the parameters' device."""
        momentum, weight_decay = self._momentum, self._weight_decay
        for i, (param, grad, scale) in enumerate(zip(self.params, grads, self.lr_scales, strict=True)):
            d = grad
            if _nonzero(weight_decay):
                d = _add_scaled(d, param, weight_decay)
            if _nonzero(momentum):
                buf = self.momentum_buffers[i]
                if buf is None:
                    buf = self.momentum_buffers[i] = d.detach().clone()
                else:
                    _mul_(buf, momentum).add_(d)
                d = _add_scaled(d, buf, momentum) if self.nesterov else buf
            param_lr = lr if scale == 1.0 else lr * scale
            param.addcmul_(d, _per_model(param_lr, param), value=-1)

    def keep(self, index: torch.Tensor, params: Sequence[torch.Tensor]) -> None:
        """Keep only the models at these positions; params are the stack's new tensors."""
        self.params = list(params)
        self.momentum_buffers = [None if b is None else b[index] for b in self.momentum_buffers]
        if isinstance(self._momentum, torch.Tensor):
            self._momentum = self._momentum[index]
        if isinstance(self._weight_decay, torch.Tensor):
            self._weight_decay = self._weight_decay[index]


def _scalar_or_vector(values: Sequence[float], device: torch.device) -> float | torch.Tensor:
    """A float when all models share the value (torch's own scalar ops then apply), else a (K,) tensor."""
    if len(set(values)) == 1:
        return float(values[0])
    return torch.tensor(values, dtype=torch.float32, device=device)


def _nonzero(value: float | torch.Tensor) -> bool:
    # A per-model vector exists only when the values differ, so one of them is nonzero.
    return isinstance(value, torch.Tensor) or value != 0


def _per_model(vector: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A (K,) vector viewed as (K, 1, ..., 1) to scale each model's slice of `like`."""
    return vector.view(-1, *([1] * (like.dim() - 1)))


def _add_scaled(a: torch.Tensor, b: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    if isinstance(scale, torch.Tensor):
        return a.addcmul(b, _per_model(scale, b))
    return a.add(b, alpha=scale)


def _mul_(a: torch.Tensor, scale: float | torch.Tensor) -> torch.Tensor:
    if isinstance(scale, torch.Tensor):
        return a.mul_(_per_model(scale, a))
    return a.mul_(scale)
