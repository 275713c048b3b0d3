"""The API of self-reported runs: a team's own training loop opens a run, reports its epochs, finishes it.

    POST /api/runs/reported/            open one (201): the policy, your workload's name, epochs, seed …;
                                        with a client_key, again: 200 the same run, 409 other values
    POST /api/runs/<id>/epochs/         one epoch: 201 stored, 200 already stored with the same values,
                                        409 already stored with other values (naming them)
    POST /api/runs/<id>/heartbeat/      the loop is alive, in a long epoch (200; 409 once the run ended)
    POST /api/runs/<id>/finish/         every epoch reported: succeeded (200 again on a retry)
    POST /api/runs/<id>/fail/           {"reason": "..."}: failed (200 again on a retry)

Every report a running run takes (open, epoch, heartbeat) extends its lease to
ARENA_REPORT_TIMEOUT_SECONDS from now; the reconciler fails a run whose lease
expired, as abandoned. `lr_arena_client` (client/) speaks this API. Reads go
through `access`, writes through `actions` (dashboard/actions/reports.py).
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import access, actions
from dashboard.api import schemas
from dashboard.api.serializers import EpochReportSerializer, FailReportSerializer, ReportedRunCreateSerializer
from dashboard.api.views import TEAM_HEADER, create_run
from dashboard.presenters import run_state

ERRORS = {
    400: schemas.ErrorSerializer,
    403: schemas.ErrorSerializer,
    404: schemas.ErrorSerializer,
    409: schemas.ErrorSerializer,
}


def refused(exc: actions.ReportRefused) -> Response:
    """A report the run's state refuses: 409 for a conflict or a closed run, else a 400 naming the field."""
    if isinstance(exc, actions.EpochConflict | actions.OpenConflict | actions.RunClosed):
        body = {"detail": exc.message}
        if exc.field:
            body["errors"] = {exc.field: [exc.message]}
        return Response(body, status=status.HTTP_409_CONFLICT)
    raise ValidationError({exc.field or "non_field_errors": [exc.message]})


def reported_run(request: Request, pk: int):
    """The run, for its reporter; 409 when a worker trains it (its epochs are the worker's to record)."""
    run = access.get_run_to_report(request.user, pk)
    if not run.self_reported:
        raise actions.RunClosed(f"Run {run.pk} is trained by a worker: only self-reported runs take reports.")
    return run


@extend_schema(
    parameters=[TEAM_HEADER],
    request=ReportedRunCreateSerializer,
    responses={
        200: schemas.RunStateSerializer,
        201: schemas.RunStateSerializer,
        429: schemas.ErrorSerializer,
        **ERRORS,
    },
)
@api_view(["POST"])
def open_run(request: Request) -> Response:
    try:
        return create_run(request, ReportedRunCreateSerializer, actions.open_reported_run)
    except actions.ReportRefused as exc:
        return refused(exc)


@extend_schema(
    request=EpochReportSerializer,
    responses={200: schemas.ReportedEpochSerializer, 201: schemas.ReportedEpochSerializer, **ERRORS},
)
@api_view(["POST"])
def report_epoch(request: Request, pk: int) -> Response:
    try:
        run = reported_run(request, pk)
        serializer = EpochReportSerializer(data=request.data, context={"run": run})
        serializer.is_valid(raise_exception=True)
        epoch, created = actions.report_epoch(run, serializer.validated_data)
    except actions.ReportRefused as exc:
        return refused(exc)
    run.refresh_from_db()
    return Response(
        {"epoch": epoch, "created": created, "run": run_state(run)},
        status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
    )


def on_reported_run(request: Request, pk: int, act) -> Response:
    """`act(run)` on the user's self-reported run, answering its state, or the refusal."""
    try:
        run = act(reported_run(request, pk))
    except actions.ReportRefused as exc:
        return refused(exc)
    return Response(run_state(run))


@extend_schema(request=None, responses={200: schemas.RunStateSerializer, **ERRORS})
@api_view(["POST"])
def heartbeat(request: Request, pk: int) -> Response:
    return on_reported_run(request, pk, actions.report_heartbeat)


@extend_schema(request=None, responses={200: schemas.RunStateSerializer, **ERRORS})
@api_view(["POST"])
def finish_run(request: Request, pk: int) -> Response:
    return on_reported_run(request, pk, actions.finish_reported_run)


@extend_schema(request=FailReportSerializer, responses={200: schemas.RunStateSerializer, **ERRORS})
@api_view(["POST"])
def fail_run(request: Request, pk: int) -> Response:
    try:
        run = reported_run(request, pk)
        serializer = FailReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        run = actions.fail_reported_run(run, serializer.validated_data["reason"])
    except actions.ReportRefused as exc:
        return refused(exc)
    return Response(run_state(run))
