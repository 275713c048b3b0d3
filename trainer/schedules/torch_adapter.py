"""Drive any PyTorch loop from a spec: a LRScheduler stepped every iteration.

torch is imported here only, so that importing trainer.schedules stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .policy import Policy, build

if TYPE_CHECKING:
    import torch


def as_lr_scheduler(
    optimizer: torch.optim.Optimizer, spec: Any, steps_per_epoch: int = 1
) -> torch.optim.lr_scheduler.LRScheduler:
    """A scheduler that sets every param group's lr to policy.lr_at(i, steps_per_epoch).

    Call ``scheduler.step()`` after each ``optimizer.step()``; iteration i is
    the scheduler's ``last_epoch`` (0 on creation). For an adaptive policy call
    ``scheduler.policy.observe(...)`` after each epoch; the state dict keeps
    what it observed.
    """
    if isinstance(steps_per_epoch, bool) or not isinstance(steps_per_epoch, int) or steps_per_epoch < 1:
        raise ValueError("steps_per_epoch must be a positive integer")
    policy = build(spec)
    return _scheduler_class()(optimizer, policy, steps_per_epoch)


_CLASS: type | None = None


def _scheduler_class() -> type:
    global _CLASS
    if _CLASS is None:
        _CLASS = _define_scheduler_class()
    return _CLASS


def _define_scheduler_class() -> type:
    from torch.optim.lr_scheduler import LRScheduler

    class PolicyLR(LRScheduler):
        """LR of iteration ``last_epoch`` from a pure policy; no other state."""

        def __init__(self, optimizer: Any, policy: Policy, steps_per_epoch: int, last_epoch: int = -1) -> None:
            self.policy = policy
            self.steps_per_epoch = steps_per_epoch
            super().__init__(optimizer, last_epoch)

        def get_lr(self) -> list[float]:
            lr = self.policy.lr_at(self.last_epoch, self.steps_per_epoch)
            return [lr] * len(self.optimizer.param_groups)

        _get_closed_form_lr = get_lr

        def state_dict(self) -> dict[str, Any]:
            state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "policy")}
            state["spec"] = self.policy.spec
            if self.policy.adaptive:
                state["policy_state"] = self.policy.state_dict()
            return state

        def load_state_dict(self, state_dict: dict[str, Any]) -> None:
            state = dict(state_dict)
            policy = build(state.pop("spec"))
            observed = state.pop("policy_state", None)
            if observed is not None:
                policy.load_state_dict(observed)
            self.policy = policy
            self.__dict__.update(state)

    PolicyLR.__module__ = __name__
    return PolicyLR
