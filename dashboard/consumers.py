"""Websocket consumers: a run's history from the database, then its live epochs."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from dashboard import access, realtime
from dashboard.models import Run
from dashboard.presenters import epoch_rows, run_state

CLOSE_UNAUTHENTICATED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_TRY_AGAIN = 1013  # the channel layer (Redis) is unreachable: reconnect later


def _snapshot(user, run_id: int) -> tuple[dict, list[dict]] | None:
    try:
        run = access.runs_for(user).select_related("policy").get(pk=run_id)
    except Run.DoesNotExist:
        return None
    return run_state(run), epoch_rows(run)


class GroupConsumer(AsyncJsonWebsocketConsumer):
    """A consumer of one channel-layer group (self.group), joined at connect and left at disconnect."""

    group: str | None = None

    async def join(self) -> bool:
        """Join self.group; without a channel layer, close so that the client tries again."""
        if await realtime.join(self.channel_layer, self.group, self.channel_name):
            return True
        self.group = None
        await self.close(code=CLOSE_TRY_AGAIN)
        return False

    async def disconnect(self, code: int) -> None:
        if self.group:
            await realtime.leave(self.channel_layer, self.group, self.channel_name)


class RunConsumer(GroupConsumer):
    """`/ws/runs/<id>/`: sends {"type": "history"} once, then "epoch", "progress" and "status" messages.

    The group is joined *before* the history is read, so no epoch can fall in
    between; the client drops duplicates by epoch number.
    """

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        run_id = int(self.scope["url_route"]["kwargs"]["run_id"])
        if not await database_sync_to_async(access.can_view_run)(user, run_id):
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.group = realtime.run_group(run_id)
        if not await self.join():
            return
        await self.accept()
        snapshot = await database_sync_to_async(_snapshot)(user, run_id)
        if snapshot is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        state, epochs = snapshot
        await self.send_json({"type": "history", "run": state, "epochs": epochs})

    async def receive_json(self, content, **kwargs) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def run_epoch(self, event: dict) -> None:
        await self.send_json(
            {"type": "epoch", "run_id": event["run_id"], "epochs_done": event["epochs_done"], "epoch": event["epoch"]}
        )

    async def run_progress(self, event: dict) -> None:
        await self.send_json({"type": "progress", "run_id": event["run_id"], "progress": event["progress"]})

    async def run_status(self, event: dict) -> None:
        await self.send_json({"type": "status", "run": event["run"]})


def _study_snapshot(user, study_id: int) -> dict | None:
    from dashboard.studies import progress

    study = access.studies_for(user).filter(pk=study_id).first()
    return None if study is None else progress(study)


class SnapshotConsumer(GroupConsumer):
    """Subscribe to an object's group, then send its snapshot from the database.

    The group is joined before the snapshot is read, so nothing falls in
    between; the object's access check is the snapshot function's (None: 404).
    Subclasses name the URL argument, the group, the snapshot and its message type.
    """

    url_arg = ""
    snapshot_type = ""

    def group_for(self, object_id: int) -> str:
        raise NotImplementedError

    def snapshot(self, user, object_id: int) -> dict | None:
        raise NotImplementedError

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        object_id = int(self.scope["url_route"]["kwargs"][self.url_arg])
        self.group = self.group_for(object_id)
        if not await self.join():
            return
        snapshot = await database_sync_to_async(self.snapshot)(user, object_id)
        if snapshot is None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.accept()
        await self.send_json({"type": self.snapshot_type, **snapshot})


class StudyConsumer(SnapshotConsumer):
    """`/ws/studies/<id>/`: the progress grid once, then a "cell" message per run change."""

    url_arg = "study_id"
    snapshot_type = "progress"

    def group_for(self, object_id: int) -> str:
        return realtime.study_group(object_id)

    def snapshot(self, user, object_id: int) -> dict | None:
        return _study_snapshot(user, object_id)

    async def study_cell(self, event: dict) -> None:
        await self.send_json({"type": "cell", "cell": event["cell"]})


def _job_snapshot(user, job_id: int) -> dict | None:
    from dashboard.actions import job_state
    from dashboard.models import JobEvent

    job = access.jobs_for(user).filter(pk=job_id).first()
    if job is None:
        return None
    events = [{"seq": e.seq, "type": e.type, "data": e.data} for e in JobEvent.objects.filter(job=job)]
    return {"job": job_state(job), "events": events}


class JobConsumer(SnapshotConsumer):
    """`/ws/jobs/<id>/`: the job and its events so far, then each new event and status change."""

    url_arg = "job_id"
    snapshot_type = "history"

    def group_for(self, object_id: int) -> str:
        return realtime.job_group(object_id)

    def snapshot(self, user, object_id: int) -> dict | None:
        return _job_snapshot(user, object_id)

    async def job_event(self, event: dict) -> None:
        await self.send_json({"type": "event", "event": event["event"]})

    async def job_status(self, event: dict) -> None:
        await self.send_json({"type": "status", "job": event["job"]})


def _board_groups(user, workload: str) -> list[str] | None:
    """The groups of the boards a user sees for a workload; None for a workload that does not exist."""
    from dashboard.leaderboard import reported_workloads
    from trainer.workloads import list_workloads

    if workload not in {w["name"] for w in list_workloads()} and workload not in reported_workloads(user):
        return None
    teams = access.board_team_ids(user)
    return [realtime.leaderboard_group(workload), *(realtime.leaderboard_group(workload, t) for t in teams)]


class LeaderboardConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/leaderboard/<workload>/`: tells the page when an entry it can see changed.

    It listens to the shared board's group and to each of the user's teams'
    groups; a team's private runs are announced to that team only.
    """

    groups_joined: tuple[str, ...] | list[str] = ()

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        workload = self.scope["url_route"]["kwargs"]["workload"]
        groups = await database_sync_to_async(_board_groups)(user, workload)
        if groups is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.groups_joined = []
        for group in groups:
            if not await realtime.join(self.channel_layer, group, self.channel_name):
                await self.close(code=CLOSE_TRY_AGAIN)
                return
            self.groups_joined.append(group)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        for group in self.groups_joined:
            await realtime.leave(self.channel_layer, group, self.channel_name)

    async def leaderboard_changed(self, event: dict) -> None:
        await self.send_json({"type": "changed", "workload": event["workload"]})


class NotFoundConsumer(AsyncJsonWebsocketConsumer):
    """Any websocket path that names nothing: closed at the handshake (HTTP 403), never a server error."""

    async def connect(self) -> None:
        await self.close(code=CLOSE_NOT_FOUND)
