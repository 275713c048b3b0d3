"""Group names and the one function that publishes to the channel layer.

Only `dashboard.actions` calls `publish`, and only after the transaction that
stored the data has committed: a client that misses a message can always
recover it from the database.
"""

from __future__ import annotations

import hashlib
import logging
import re

import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)
# At most 60 characters: never "sha256." and a digest (71), so a name kept as it is never meets a hashed one.
SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,59}")


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
    audience = f"team{team_id}" if team_id is not None else "shared"
    return f"leaderboard-{audience}-{_group_safe(workload)}"


def _group_safe(name: str) -> str:
    """A name as Channels accepts it in a group name (ASCII letters, digits, "-", "_" and ".", under 100
    characters), one to one: a built-in workload's name as it is; any other (a team's own, "<team-slug>/<name>",
    or a long one) by its SHA-256, so that two names never share a group (cutting or replacing "/" would)."""
    if SAFE_NAME.fullmatch(name):
        return name
    return "sha256." + hashlib.sha256(name.encode()).hexdigest()


def publish(group: str, message: dict) -> None:
    """Send to a group; a broker outage must never fail the write that preceded it."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(_once_more_after_a_dropped_connection)(layer.group_send, group, message)
    except Exception:  # noqa: BLE001 - the database already holds the truth
        log.warning("could not publish to %s", group, exc_info=True)


async def join(layer, group: str, channel: str) -> bool:
    """Add a consumer's channel to a group; False when the channel layer cannot be reached.

    A stale pooled connection (Redis restarted) is retried once; a Redis that is
    down makes the consumer close with CLOSE_TRY_AGAIN instead of failing the
    handshake with a 500, and the page reconnects.
    """
    try:
        await _once_more_after_a_dropped_connection(layer.group_add, group, channel)
    except Exception:  # noqa: BLE001 - the channel layer is down: the client retries
        log.warning("could not join %s: channel layer unavailable", group, exc_info=True)
        return False
    return True


async def leave(layer, group: str, channel: str) -> None:
    try:
        await layer.group_discard(group, channel)
    except Exception:  # noqa: BLE001 - the group expires on its own
        log.info("could not leave %s", group, exc_info=True)


async def _once_more_after_a_dropped_connection(call, *args) -> None:
    # After Redis restarts, the first command on each pooled connection fails; the pool then
    # drops that connection, so one retry reaches the new server.
    try:
        await call(*args)
    except (ConnectionError, OSError, redis.exceptions.ConnectionError):
        log.info("channel layer: connection dropped (Redis restarted?); trying once more")
        await call(*args)
