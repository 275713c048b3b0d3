"""What every domain's actions share: JSON-safe values and telling the boards after a commit."""

from __future__ import annotations

import math
from typing import Any

from django.db import transaction

from dashboard import realtime


def finite_or_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def clean(value: Any) -> Any:
    """Make engine output safe for JSON columns: NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    return finite_or_none(value)


def board_changed(workload: str, team_id: int | None, shared: bool) -> None:
    """Tell the boards that show a change (access.board_audience) after the commit, and no others."""
    group = realtime.leaderboard_group(workload, None if shared else team_id)
    message = {"type": "leaderboard.changed", "workload": workload}
    transaction.on_commit(lambda: realtime.publish(group, message))
