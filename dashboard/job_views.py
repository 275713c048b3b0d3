"""Pages and API endpoints of the research jobs, and the Li & Arora convert action."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response

from dashboard import access, actions, jobs, ratelimit
from dashboard.api.schemas import ErrorSerializer, page_of
from dashboard.api.serializers import PolicySerializer
from dashboard.models import Job, JobEvent
from trainer import schedules
from trainer.schedules.learned import for_momentum
from trainer.workloads import get_workload


class JobCreateSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Job.Kind.choices)
    name = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")
    params = serializers.DictField(default=dict)


class JobStateSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    kind_label = serializers.CharField()
    name = serializers.CharField(allow_blank=True)
    params = serializers.DictField()
    status = serializers.CharField()
    error = serializers.CharField(allow_blank=True)
    result = serializers.DictField(allow_null=True)
    events_count = serializers.IntegerField()
    created_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class JobDetailSerializer(JobStateSerializer):
    events = serializers.ListField(child=serializers.DictField())


class ConvertSerializer(serializers.Serializer):
    wd = serializers.FloatField(min_value=1e-6, max_value=0.1, default=5e-4)
    momentum = serializers.FloatField(min_value=0.0, max_value=0.99, default=0.9)
    steps_per_epoch = serializers.IntegerField(min_value=1, max_value=100_000, default=391)


def validated_params(request, kind: str, raw: dict) -> dict:
    """The kind's parameters, validated; raises ValidationError with `params.<field>` paths."""
    serializer = jobs.PARAMS[kind](data=raw)
    if not serializer.is_valid():
        raise ValidationError({f"params.{k}": v for k, v in serializer.errors.items()})
    params = dict(serializer.validated_data)
    if kind == Job.Kind.EQUIVALENCE:
        if params.get("policy"):
            params["spec"] = access.get_policy_for_user(request.user, params["policy"]).spec
        if "spec" not in params:
            raise ValidationError({"params.policy": ["Give a policy id or a spec."]})
        try:
            params["spec"] = schedules.validate(params["spec"])
        except schedules.SpecError as exc:
            raise ValidationError({f"params.spec.{k}": v for k, v in exc.errors.items()}) from None
    return params


def _queue(request, kind: str, raw: dict, name: str) -> Job:
    team = access.writable_team(request)
    params = validated_params(request, kind, raw)
    allowed, retry = ratelimit.allow(request.user)
    if not allowed:
        from rest_framework.exceptions import Throttled

        raise Throttled(wait=retry)
    try:
        return actions.queue_job(team=team, user=request.user, kind=kind, params=params, name=name)
    except actions.QuotaExceeded as exc:
        field = exc.field if exc.field == "non_field_errors" else f"params.{exc.field}"
        raise ValidationError({field: [exc.message]}) from None


def _detail(job: Job) -> dict:
    events = [{"seq": e.seq, "type": e.type, "data": e.data} for e in JobEvent.objects.filter(job=job)]
    return {**actions.job_state(job), "events": events}


# -- API -----------------------------------------------------------------------------------------


@extend_schema(methods=["GET"], operation_id="jobs_list", responses={200: page_of(JobStateSerializer, "JobPage")})
@extend_schema(
    methods=["POST"],
    request=JobCreateSerializer,
    responses={201: JobStateSerializer, 400: ErrorSerializer, 403: ErrorSerializer, 429: ErrorSerializer},
)
@api_view(["GET", "POST"])
def api_jobs(request: Request) -> Response:
    if request.method == "POST":
        serializer = JobCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = _queue(request, data["kind"], data["params"], data["name"])
        return Response(actions.job_state(job), status=status.HTTP_201_CREATED)
    paginator = LimitOffsetPagination()
    page = paginator.paginate_queryset(access.jobs_for(request.user), request)
    return paginator.get_paginated_response([actions.job_state(job) for job in page])


@extend_schema(responses={200: JobDetailSerializer, 404: ErrorSerializer})
@api_view(["GET"])
def api_job_detail(request: Request, pk: int) -> Response:
    return Response(_detail(access.get_job_for_user(request.user, pk)))


@extend_schema(
    request=None, responses={200: JobStateSerializer, 403: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer}
)
@api_view(["POST"])
def api_job_cancel(request: Request, pk: int) -> Response:
    job = access.get_job_for_user(request.user, pk)
    if not access.can_cancel_job(request.user, job):
        raise PermissionDenied("Members cancel their own jobs; team admins cancel anyone's.")
    if not actions.cancel_job(job):
        return Response({"detail": f"Job {job.pk} is already {job.status}."}, status=status.HTTP_409_CONFLICT)
    job.refresh_from_db()
    return Response(actions.job_state(job))


@extend_schema(
    request=ConvertSerializer,
    responses={201: PolicySerializer, 400: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer},
)
@api_view(["POST"])
def api_policy_convert(request: Request, pk: int) -> Response:
    policy = access.get_policy_for_user(request.user, pk)
    team = access.writable_team(request)
    serializer = ConvertSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        converted = actions.convert_policy(policy, user=request.user, team=team, **serializer.validated_data)
    except schedules.SpecError as exc:
        raise ValidationError({f"spec.{k}": v for k, v in exc.errors.items()}) from None
    return Response(PolicySerializer(converted).data, status=status.HTTP_201_CREATED)


# -- pages ---------------------------------------------------------------------------------------


def _form_fields(kind: str, values: dict) -> list[dict]:
    """What the job form renders, from the kind's parameter serializer."""
    fields = []
    for name, field in jobs.PARAMS[kind]().fields.items():
        if name == "spec":
            continue
        entry = {
            "name": name,
            "label": name.replace("_", " "),
            "help": field.help_text or "",
            "required": field.required,
        }
        if isinstance(field, serializers.ChoiceField):
            entry.update(type="choice", choices=list(field.choices.items()))
        elif isinstance(field, serializers.ListField):
            entry.update(type="list")
        else:
            entry.update(type="number")
        default = field.default if field.default is not serializers.empty else ""
        value = values.get(name, default)
        entry["value"] = ", ".join(str(v) for v in value) if isinstance(value, list) else value
        fields.append(entry)
    return fields


def _form_data(kind: str, post) -> dict:
    raw = {}
    for name, field in jobs.PARAMS[kind]().fields.items():
        value = post.get(name, "").strip()
        if value == "":
            continue
        is_list = isinstance(field, serializers.ListField)
        raw[name] = [v.strip() for v in value.split(",") if v.strip()] if is_list else value
    return raw


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "dashboard/job_list.html",
        {"jobs": access.jobs_for(request.user)[:100], "kinds": Job.Kind.choices},
    )


@login_required
def job_create(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in Job.Kind.values:
        raise Http404("No such tool")
    access.writable_team(request)
    errors: dict = {}
    values: dict = dict(request.GET.items())
    if request.method == "POST":
        values = dict(request.POST.items())
        try:
            job = _queue(request, kind, _form_data(kind, request.POST), request.POST.get("name", ""))
        except ValidationError as exc:
            errors = {k.removeprefix("params."): v for k, v in exc.detail.items()}
        else:
            return redirect("job-detail", pk=job.pk)
    policies = access.usable_policies(request.user).order_by("name") if kind == Job.Kind.EQUIVALENCE else []
    return render(
        request,
        "dashboard/job_form.html",
        {
            "kind": kind,
            "kind_label": Job.Kind(kind).label,
            "fields": _form_fields(kind, values),
            "errors": errors,
            "policies": policies,
            "values": values,
        },
        status=400 if errors else 200,
    )


@login_required
def job_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = access.get_job_for_user(request.user, pk)
    return render(request, "dashboard/job_detail.html", {"job": job, "initial": _detail(job)})


@login_required
@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = access.get_job_for_user(request.user, pk)
    if not access.can_cancel_job(request.user, job):
        raise PermissionDenied("Members cancel their own jobs; team admins cancel anyone's.")
    actions.cancel_job(job)
    return redirect("job-detail", pk=job.pk)


@login_required
@require_POST
def job_save_policy(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep a meta-training job's learned schedule as a LEARNED policy."""
    job = access.get_job_for_user(request.user, pk)
    team = access.writable_team(request)
    spec = (job.result or {}).get("spec")
    if job.kind != Job.Kind.META_TRAIN or job.status != Job.Status.SUCCEEDED or not spec:
        messages.error(request, "Only a finished meta-training job has a learned schedule to keep.")
        return redirect("job-detail", pk=job.pk)
    name = request.POST.get("name") or f"MLR-SNet from job {job.pk}"
    workload = get_workload(job.params["workload"])
    try:
        # The LR is right for the momentum it was meta-trained with: the workload's since specs record it
        # (unchanged then); older results were meta-trained without momentum and are scaled by 1 − momentum.
        spec = for_momentum(spec, workload.optimizer.momentum)
        policy = actions.create_policy(
            team=team,
            user=request.user,
            name=name[:100],
            spec=spec,
            description=f"Learned by MLR-SNet in job {job.pk} on {workload.name}, for SGD momentum "
            f"{spec['momentum']:g}" + (f"; its LR is scaled by {spec['scale']:g}." if spec["scale"] != 1.0 else "."),
        )
    except schedules.SpecError as exc:
        messages.error(request, f"The learned schedule is not a valid policy: {exc}")
        return redirect("job-detail", pk=job.pk)
    return redirect("policy-detail", pk=policy.pk)


@login_required
@require_POST
def policy_convert(request: HttpRequest, pk: int) -> HttpResponse:
    policy = access.get_policy_for_user(request.user, pk)
    team = access.writable_team(request)
    serializer = ConvertSerializer(data=request.POST)
    if not serializer.is_valid():
        for field, errors in serializer.errors.items():
            messages.error(request, f"{field}: {' '.join(str(e) for e in errors)}")
        return redirect("policy-detail", pk=policy.pk)
    try:
        converted = actions.convert_policy(policy, user=request.user, team=team, **serializer.validated_data)
    except schedules.SpecError as exc:
        messages.error(request, f"This policy cannot be converted: {exc}")
        return redirect("policy-detail", pk=policy.pk)
    messages.success(request, f"Converted: “{converted.name}”. Train it with weight decay 0.")
    return redirect("policy-detail", pk=converted.pk)
