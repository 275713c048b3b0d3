"""The suite view: performance profiles of policies across several boards, as a page, an API and exports."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import exports, leaderboard, profiles
from dashboard.api.schemas import ErrorSerializer
from trainer.workloads import list_workloads


class ProfileQuerySerializer(serializers.Serializer):
    boards = serializers.CharField(
        max_length=2000, help_text="comma-separated <workload>:<epochs>, e.g. digits-mlp:8,mnist-lenet:17"
    )
    view = serializers.ChoiceField(choices=leaderboard.VIEWS, default="team")
    tau_max = serializers.FloatField(min_value=1.1, max_value=100.0, default=profiles.TAU_MAX)
    format = serializers.ChoiceField(choices=["json", "csv"], default="json")

    def validate_boards(self, value: str) -> list[tuple[str, int]]:
        try:
            request = self.context.get("request")
            reported = leaderboard.reported_workloads(request.user) if request is not None else []
            return profiles.parse_boards(value, {w["name"] for w in list_workloads()} | set(reported))
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class ProfileSerializer(serializers.Serializer):
    boards = serializers.ListField(child=serializers.DictField())
    view = serializers.CharField()
    tau_max = serializers.FloatField()
    cost = serializers.CharField()
    policies = serializers.ListField(
        child=serializers.DictField(),
        help_text="one per policy, best area first: costs and ratios per board (null: did not reach the target "
        "there), profile [[tau, rho], ...] and area (the normalised area under the profile, 0 to 1)",
    )


def _profiles(request: Request) -> tuple[dict, str]:
    query = ProfileQuerySerializer(data=request.query_params, context={"request": request})
    query.is_valid(raise_exception=True)
    params = query.validated_data
    data = profiles.profiles(request.user, params["boards"], view=params["view"], tau_max=params["tau_max"])
    return data, params["format"]


@extend_schema(
    parameters=[ProfileQuerySerializer],
    responses={200: ProfileSerializer, 400: ErrorSerializer},
)
@api_view(["GET"])
def api_profile(request: Request) -> Response:
    data, _ = _profiles(request)
    return Response(data)


@extend_schema(
    parameters=[ProfileQuerySerializer],
    responses={
        (200, "text/csv"): OpenApiTypes.STR,
        (200, "application/json"): OpenApiTypes.OBJECT,
        400: ErrorSerializer,
    },
)
@api_view(["GET"])
def api_profile_export(request: Request) -> HttpResponse:
    data, fmt = _profiles(request)
    name = f"profiles-{len(data['boards'])}-boards-{data['view']}"
    if fmt == "csv":
        return exports.csv_response(profiles.flat_rows(data), f"{name}.csv")
    return exports.json_response(data, f"{name}.json")


@login_required
def profile_page(request: HttpRequest) -> HttpResponse:
    view = request.GET.get("view", "team") if request.GET.get("view") in leaderboard.VIEWS else "team"
    available = [
        {"key": profiles.board_key(w, e), "workload": w, "epochs": e}
        for w, e in profiles.available_boards(request.user, view)
    ]
    data = None
    chosen = request.GET.getlist("board") or [b for b in request.GET.get("boards", "").split(",") if b]
    if chosen:
        query = ProfileQuerySerializer(
            data={"boards": ",".join(chosen), "view": view, "tau_max": request.GET.get("tau_max") or profiles.TAU_MAX},
            context={"request": request},
        )
        if query.is_valid():
            params = query.validated_data
            data = profiles.profiles(request.user, params["boards"], view=view, tau_max=params["tau_max"])
        else:
            for field, problems in query.errors.items():
                messages.error(request, f"{field}: {' '.join(str(p) for p in problems)}")
    context = {
        "available": available,
        "chosen": set(chosen),
        "view": view,
        "profile": data,
        "boards_param": ",".join(chosen),
        "tau_max": (data or {}).get("tau_max", profiles.TAU_MAX),
    }
    return render(request, "dashboard/profile.html", context)
