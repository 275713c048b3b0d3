"""The one exception a bad spec raises, with every problem keyed by field path."""

from __future__ import annotations

from trainer.errors import UserInputError

_SUMMARY_FIELDS = 10


class SpecError(UserInputError):
    """A policy spec (or a curve request) is invalid.

    ``errors`` maps a field path ("k0", "stages.1.l", "spec" for the whole
    object) to its messages, so a form can show each message beside its field.
    """

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = {path: list(messages) for path, messages in errors.items()}
        super().__init__(next(iter(self.errors), "spec"), self._summary())

    def _summary(self) -> str:
        items = list(self.errors.items())
        parts = [f"{path}: {'; '.join(msgs)}" for path, msgs in items[:_SUMMARY_FIELDS]]
        if len(items) > _SUMMARY_FIELDS:
            parts.append(f"and {len(items) - _SUMMARY_FIELDS} more fields")
        return "invalid LR policy: " + " | ".join(parts)


class ErrorBag:
    """Collects every problem of one spec before raising."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}
        self.count = 0

    def add(self, path: str, message: str) -> None:
        self.errors.setdefault(path or "spec", []).append(message)
        self.count += 1

    def __bool__(self) -> bool:
        return bool(self.errors)

    def raise_if_any(self) -> None:
        if self.errors:
            raise SpecError(self.errors)


def join(prefix: str, name: str | int) -> str:
    """The path of field ``name`` inside the object at ``prefix``."""
    return f"{prefix}.{name}" if prefix else str(name)
