"""The one exception for bad input from a user: `UserInputError(field, message)`.

Every check of what a user typed (a config, a policy spec, a workload option, a
research tool's argument, a checkpoint that another run wrote) raises it or a
subclass of it, so a caller catches one type and shows `message` beside
`field`. It is a ValueError, as the checks always raised.

Light on purpose: trainer.schedules and the web process import it without torch.
"""

from __future__ import annotations


class UserInputError(ValueError):
    """Bad input from a user: `field` names it ("epochs", "workload_options.depth", ...), `message` says why.

    str(error) is what a user reads; by default the message itself, which names
    the field. Subclasses that have always worded it otherwise override `text`.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(self.text(field, message))

    @staticmethod
    def text(field: str, message: str) -> str:
        return message
