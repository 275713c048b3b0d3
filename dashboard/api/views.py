"""The JSON API. Reads go through `access`, writes through `actions`."""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import access, actions, compare, exports, leaderboard, presenters
from dashboard import studies as studies_module
from dashboard.api.serializers import (
    CompareQuerySerializer,
    LeaderboardQuerySerializer,
    PolicySerializer,
    PreviewSerializer,
    RunCreateSerializer,
    RunFilterSerializer,
    StudyCreateSerializer,
)
from dashboard.presenters import epoch_rows, run_state
from trainer import schedules
from trainer.workloads import get_workload, list_workloads


def _writable_team(user):
    team = access.current_team(user)
    if team is None:
        raise PermissionDenied("You need a member role in a team to do this.")
    return team


@api_view(["GET"])
def workloads(request: Request) -> Response:
    return Response(list_workloads())


@api_view(["GET"])
def kinds(request: Request) -> Response:
    return Response(schedules.catalog())


@api_view(["POST"])
def schedule_preview(request: Request) -> Response:
    serializer = PreviewSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    try:
        curve = schedules.curve(
            data["spec"], data["epochs"], points=data["points"], steps_per_epoch=data.get("steps_per_epoch")
        )
    except schedules.SpecError as exc:
        raise ValidationError(exc.errors) from None
    return Response({"spec": data["spec"], "epochs": data["epochs"], **curve})


@api_view(["GET", "POST"])
def policies(request: Request) -> Response:
    if request.method == "POST":
        team = _writable_team(request.user)
        serializer = PolicySerializer(data=request.data, context={"team": team})
        serializer.is_valid(raise_exception=True)
        policy = actions.create_policy(
            team=team,
            user=request.user,
            name=serializer.validated_data["name"],
            description=serializer.validated_data.get("description", ""),
            spec=serializer.validated_data["spec"],
        )
        return Response(PolicySerializer(policy).data, status=status.HTTP_201_CREATED)
    queryset = access.policies_for(request.user).select_related("team", "created_by").order_by("name")
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response(PolicySerializer(page, many=True).data)


@api_view(["GET"])
def policy_detail(request: Request, pk: int) -> Response:
    return Response(PolicySerializer(access.get_policy_for_user(request.user, pk)).data)


@api_view(["GET", "POST"])
def runs(request: Request) -> Response:
    if request.method == "POST":
        team = _writable_team(request.user)
        serializer = RunCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        run = actions.queue_run(team=team, user=request.user, **serializer.validated_data)
        return Response(run_state(run), status=status.HTTP_201_CREATED)
    filters = RunFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    queryset = access.runs_for(request.user).select_related("policy").filter(**filters.validated_data)
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response([run_state(run) for run in page])


@api_view(["GET"])
def run_detail(request: Request, pk: int) -> Response:
    run = access.get_run_for_user(request.user, pk)
    return Response({**run_state(run), "epoch_metrics": epoch_rows(run)})


@api_view(["POST"])
def run_cancel(request: Request, pk: int) -> Response:
    run = access.get_run_for_user(request.user, pk)
    if not access.can_write(request.user, run.team):
        raise PermissionDenied("Viewers cannot cancel runs.")
    if not actions.cancel_run(run):
        return Response({"detail": f"Run {run.pk} is already {run.status}."}, status=status.HTTP_409_CONFLICT)
    run.refresh_from_db()
    return Response(run_state(run))


def _board(request: Request) -> tuple[dict, str]:
    query = LeaderboardQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    data = leaderboard.board(
        request.user,
        params["workload"],
        params.get("epochs"),
        view=params["view"],
        rank=params["rank"],
        weights=params.get("weights") or {},
    )
    return data, params["format"]


@api_view(["GET"])
def leaderboard_view(request: Request) -> Response:
    data, _ = _board(request)
    return Response(data)


@api_view(["GET"])
def leaderboard_export(request: Request) -> HttpResponse:
    data, fmt = _board(request)
    name = f"leaderboard-{data['workload']}-{data['epochs']}ep-{data['view']}"
    if fmt == "csv":
        return exports.csv_response(leaderboard.flat_rows(data), f"{name}.csv")
    return exports.json_response(data, f"{name}.json")


@api_view(["GET", "POST"])
def studies(request: Request) -> Response:
    if request.method == "POST":
        team = _writable_team(request.user)
        serializer = StudyCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        target = data.get("target_accuracy")
        if target is None:
            target = get_workload(data["workload"]).target_accuracy
        try:
            study = actions.create_study(
                team=team,
                user=request.user,
                name=data["name"],
                description=data.get("description", ""),
                workload=data["workload"],
                policies=data["policies"],
                seeds=data["seeds"],
                epochs=data["epochs"],
                target_accuracy=target,
                lr_scales=data.get("lr_scales"),
            )
        except schedules.SpecError as exc:
            raise ValidationError(
                {"lr_scales": [f"{path}: {'; '.join(m)}" for path, m in exc.errors.items()]}
            ) from None
        return Response(presenters.study_state(study), status=status.HTTP_201_CREATED)
    queryset = access.studies_for(request.user).prefetch_related("policies")
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response([presenters.study_state(s) for s in page])


@api_view(["GET"])
def study_detail(request: Request, pk: int) -> Response:
    study = access.get_study_for_user(request.user, pk)
    return Response({**presenters.study_state(study), "progress": studies_module.progress(study)})


@api_view(["GET"])
def study_export(request: Request, pk: int) -> HttpResponse:
    study = access.get_study_for_user(request.user, pk)
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise ValidationError({"format": ["Choose json or csv."]})
    name = f"study-{study.pk}"
    if fmt == "csv":
        return exports.csv_response(exports.study_epoch_rows(study), f"{name}.csv")
    return exports.json_response(exports.study_document(study), f"{name}.json")


@api_view(["GET"])
def compare_view(request: Request) -> Response:
    query = CompareQuerySerializer(data=request.query_params)
    query.is_valid(raise_exception=True)
    params = query.validated_data
    runs = access.runs_for(request.user).select_related("policy")
    if params.get("study"):
        runs = runs.filter(study=access.get_study_for_user(request.user, params["study"]))
    if params.get("runs"):
        runs = runs.filter(pk__in=params["runs"])
    return Response(
        compare.compare(
            list(runs), x=params["x"], max_points=params["max_points"], x0=params.get("x0"), x1=params.get("x1")
        )
    )
