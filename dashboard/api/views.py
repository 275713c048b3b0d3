"""The JSON API. Reads go through `access`, writes through `actions`.

Every endpoint answers errors in one format (see `errors.py`). New objects go
to the current team: the `X-Arena-Team` header (a team slug), else the
session's team, else the user's first team.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view
from rest_framework.exceptions import PermissionDenied, Throttled, ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import access, actions, compare, exports, halving, leaderboard, presenters, ratelimit
from dashboard import studies as studies_module
from dashboard.api import schemas
from dashboard.api.serializers import (
    CompareQuerySerializer,
    LeaderboardQuerySerializer,
    PolicyFilterSerializer,
    PolicySerializer,
    PreviewSerializer,
    RunCreateSerializer,
    RunFilterSerializer,
    StudyCreateSerializer,
)
from dashboard.presenters import epoch_rows, run_state
from trainer import schedules
from trainer.schedules.budget import conversion_budget
from trainer.workloads import list_workloads

TEAM_HEADER = OpenApiParameter(
    "X-Arena-Team", str, OpenApiParameter.HEADER, required=False, description="the team (slug) to act for"
)
ERRORS = {400: schemas.ErrorSerializer, 403: schemas.ErrorSerializer, 404: schemas.ErrorSerializer}


def throttle(request: Request, scope: str = "runs") -> None:
    allowed, retry = ratelimit.allow(request.user, scope)
    if not allowed:
        raise Throttled(wait=retry, detail=THROTTLED[scope])


THROTTLED = {"runs": "Too many new runs: slow down.", "previews": "Too many previews: slow down."}


def quota_error(exc: actions.QuotaExceeded) -> ValidationError:
    return ValidationError({exc.field: [exc.message]})


def create_run(request: Request, serializer_class: type, create) -> Response:
    """A new run in the current team: `create(team=, user=, **validated data)` once the data is valid, the
    rate limit allows it and within the team's quota (a 400 naming the quota otherwise). `create` may answer
    (the run, whether it is new) instead, for an idempotent create: 200 with a run that was there already."""
    team = access.writable_team(request)
    serializer = serializer_class(data=request.data, context={"request": request})
    serializer.is_valid(raise_exception=True)
    throttle(request)
    try:
        created = create(team=team, user=request.user, **serializer.validated_data)
    except actions.QuotaExceeded as exc:
        raise quota_error(exc) from None
    run, new = created if isinstance(created, tuple) else (created, True)
    return Response(run_state(run), status=status.HTTP_201_CREATED if new else status.HTTP_200_OK)


@extend_schema(responses={200: schemas.WorkloadSerializer(many=True)})
@api_view(["GET"])
def workloads(request: Request) -> Response:
    return Response(list_workloads())


@extend_schema(responses={200: schemas.WorkloadPluginSerializer(many=True)})
@api_view(["GET"])
def workload_plugins(request: Request) -> Response:
    """The installed workload plugins (entry point group lr_arena.workloads): each one's workloads, or its error."""
    from trainer.plugins import plugin_statuses

    return Response([plugin.describe() for plugin in plugin_statuses()])


@extend_schema(responses={200: schemas.KindSerializer(many=True)})
@api_view(["GET"])
def kinds(request: Request) -> Response:
    return Response(schedules.catalog())


@extend_schema(
    request=PreviewSerializer,
    responses={200: schemas.CurveSerializer, 400: schemas.ErrorSerializer, 429: schemas.ErrorSerializer},
)
@api_view(["POST"])
def schedule_preview(request: Request) -> Response:
    throttle(request, "previews")  # before the work: validating a spec is the costly part
    # One budget for the validation's exact checks and the sampling together (see schedules.curve).
    with conversion_budget(schedules.MAX_PREVIEW_CONVERSION_STEPS):
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


@extend_schema(
    methods=["GET"],
    parameters=[PolicyFilterSerializer],
    operation_id="policies_list",
    responses={200: schemas.page_of(PolicySerializer, "PolicyPage"), 400: schemas.ErrorSerializer},
)
@extend_schema(
    methods=["POST"], parameters=[TEAM_HEADER], request=PolicySerializer, responses={201: PolicySerializer, **ERRORS}
)
@api_view(["GET", "POST"])
def policies(request: Request) -> Response:
    if request.method == "POST":
        team = access.writable_team(request)
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
    filters = PolicyFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    queryset = access.visible_policies(request.user).select_related("team", "created_by").order_by("name")
    if "published" in filters.validated_data:
        queryset = queryset.filter(published=filters.validated_data["published"])
    if "archived" in filters.validated_data:
        queryset = queryset.filter(archived=filters.validated_data["archived"])
    if filters.validated_data.get("kind"):
        queryset = queryset.filter(spec__kind=filters.validated_data["kind"])
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response(PolicySerializer(page, many=True).data)


@extend_schema(responses={200: PolicySerializer, 404: schemas.ErrorSerializer})
@api_view(["GET"])
def policy_detail(request: Request, pk: int) -> Response:
    return Response(PolicySerializer(access.get_policy_for_user(request.user, pk)).data)


@extend_schema(
    request=None, responses={200: PolicySerializer, 403: schemas.ErrorSerializer, 404: schemas.ErrorSerializer}
)
@api_view(["POST"])
def policy_publish(request: Request, pk: int) -> Response:
    policy = access.get_policy_for_user(request.user, pk)
    access.team_admin_or_403(request.user, policy.team)
    return Response(PolicySerializer(actions.publish_policy(policy)).data)


@extend_schema(
    request=None, responses={200: PolicySerializer, 403: schemas.ErrorSerializer, 404: schemas.ErrorSerializer}
)
@api_view(["POST"])
def policy_unpublish(request: Request, pk: int) -> Response:
    policy = access.get_policy_for_user(request.user, pk)
    access.team_admin_or_403(request.user, policy.team)
    return Response(PolicySerializer(actions.unpublish_policy(policy)).data)


@extend_schema(
    methods=["GET"],
    operation_id="runs_list",
    parameters=[RunFilterSerializer],
    responses={200: schemas.page_of(schemas.RunStateSerializer, "RunPage"), 400: schemas.ErrorSerializer},
)
@extend_schema(
    methods=["POST"],
    parameters=[TEAM_HEADER],
    request=RunCreateSerializer,
    responses={201: schemas.RunStateSerializer, 429: schemas.ErrorSerializer, **ERRORS},
)
@api_view(["GET", "POST"])
def runs(request: Request) -> Response:
    if request.method == "POST":
        return create_run(request, RunCreateSerializer, actions.queue_run)
    filters = RunFilterSerializer(data=request.query_params)
    filters.is_valid(raise_exception=True)
    queryset = access.runs_for(request.user).select_related("policy").filter(**filters.validated_data)
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response([run_state(run) for run in page])


@extend_schema(responses={200: schemas.RunDetailSerializer, 404: schemas.ErrorSerializer})
@api_view(["GET"])
def run_detail(request: Request, pk: int) -> Response:
    run = access.get_run_for_user(request.user, pk)
    return Response({**run_state(run), "epoch_metrics": epoch_rows(run)})


@extend_schema(request=None, responses={200: schemas.RunStateSerializer, 409: schemas.ErrorSerializer, **ERRORS})
@api_view(["POST"])
def run_cancel(request: Request, pk: int) -> Response:
    run = access.get_run_for_user(request.user, pk)
    if not access.can_cancel_run(request.user, run):
        raise PermissionDenied("Members cancel their own runs; team admins cancel anyone's.")
    if not actions.cancel_run(run):
        return Response({"detail": f"Run {run.pk} is already {run.status}."}, status=status.HTTP_409_CONFLICT)
    run.refresh_from_db()
    return Response(run_state(run))


def _board(request: Request) -> tuple[dict, str]:
    query = LeaderboardQuerySerializer(data=request.query_params, context={"request": request})
    query.is_valid(raise_exception=True)
    params = query.validated_data
    data = leaderboard.board(
        request.user,
        params["workload"],
        params.get("epochs"),
        options=params.get("options"),
        view=params["view"],
        rank=params["rank"],
        weights=params.get("weights") or {},
    )
    return data, params["format"]


@extend_schema(
    parameters=[LeaderboardQuerySerializer],
    responses={200: schemas.LeaderboardSerializer, 400: schemas.ErrorSerializer},
)
@api_view(["GET"])
def leaderboard_view(request: Request) -> Response:
    data, _ = _board(request)
    return Response(data)


@extend_schema(
    parameters=[LeaderboardQuerySerializer],
    responses={
        (200, "text/csv"): OpenApiTypes.STR,
        (200, "application/json"): OpenApiTypes.OBJECT,
        400: schemas.ErrorSerializer,
    },
)
@api_view(["GET"])
def leaderboard_export(request: Request) -> HttpResponse:
    data, fmt = _board(request)
    workload = data["workload"].replace("/", "--")  # a team's own workload is "<team-slug>/<name>"
    name = f"leaderboard-{workload}-{data['epochs']}ep-{data['view']}"
    if fmt == "csv":
        return exports.csv_response(leaderboard.flat_rows(data), f"{name}.csv")
    return exports.json_response(data, f"{name}.json")


@extend_schema(
    methods=["GET"],
    operation_id="studies_list",
    responses={200: schemas.page_of(schemas.StudyStateSerializer, "StudyPage")},
)
@extend_schema(
    methods=["POST"],
    parameters=[TEAM_HEADER],
    request=StudyCreateSerializer,
    responses={201: schemas.StudyStateSerializer, 429: schemas.ErrorSerializer, **ERRORS},
)
@api_view(["GET", "POST"])
def studies(request: Request) -> Response:
    if request.method == "POST":
        team = access.writable_team(request)
        serializer = StudyCreateSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        throttle(request)
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
                target_accuracy=data.get("target_accuracy"),
                lr_scales=data.get("lr_scales"),
                device=data["device"],
                halving_eta=data.get("halving_eta"),
                workload_options=data["workload_options"],
            )
        except actions.QuotaExceeded as exc:
            raise quota_error(exc) from None
        except schedules.SpecError as exc:
            problems = [f"{path}: {'; '.join(m)}" for path, m in exc.errors.items()]
            raise ValidationError({"lr_scales": problems}) from None
        return Response(presenters.study_state(study), status=status.HTTP_201_CREATED)
    queryset = access.studies_for(request.user).select_related("team").prefetch_related("policies")
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response([presenters.study_state(s) for s in page])


@extend_schema(responses={200: schemas.StudyDetailSerializer, 404: schemas.ErrorSerializer})
@api_view(["GET"])
def study_detail(request: Request, pk: int) -> Response:
    study = access.get_study_for_user(request.user, pk)
    progress = studies_module.progress(study)
    return Response({**presenters.study_state(study), "progress": progress, "halving": halving.replay(study)})


@extend_schema(
    parameters=[OpenApiParameter("format", str, enum=["json", "csv"], required=False)],
    responses={(200, "text/csv"): OpenApiTypes.STR, (200, "application/json"): OpenApiTypes.OBJECT, **ERRORS},
)
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


@extend_schema(parameters=[CompareQuerySerializer], responses={200: schemas.CompareSerializer, **ERRORS})
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
