"""Group names and the one function that publishes to the channel layer.

Only `dashboard.actions` calls `publish`, and only after the transaction that
stored the data has committed: a client that misses a message can always
recover it from the database.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def run_group(run_id: int) -> str:
    return f"run-{run_id}"


def study_group(study_id: int) -> str:
    return f"study-{study_id}"


def job_group(job_id: int) -> str:
    return f"job-{job_id}"


def leaderboard_group(workload: str, team_id: int | None = None) -> str:
    """A workload's board as one team sees it, or (no team) the shared board of published entries.

    Nobody outside a team may learn that one of its private runs finished, so a
    change goes to the team's group, or to the shared group when it is a published entry
    (see access.board_audience).
    """
    # Channels accepts ASCII letters, digits, "-", "_" and "." in group names only.
    safe = "".join(ch if (ch.isascii() and ch.isalnum()) or ch in "-_." else "_" for ch in workload)
    audience = f"team{team_id}" if team_id is not None else "shared"
    return f"leaderboard-{audience}-{safe}"[:99]


def publish(group: str, message: dict) -> None:
    """Send to a group; a broker outage must never fail the write that preceded it."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, message)
    except Exception:  # noqa: BLE001 - the database already holds the truth
        log.warning("could not publish to %s", group, exc_info=True)
