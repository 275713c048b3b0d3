"""Pages. Thin adapters: fetch through `access`, change through `actions`."""

from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from dashboard import access, actions, halving, leaderboard, ratelimit, studies
from dashboard.api.serializers import LeaderboardQuerySerializer
from dashboard.catalog import grouped_catalog
from dashboard.forms import PolicyForm, RunForm, RunPickerForm, StudyForm, editable_kinds, initial_from_spec
from dashboard.presenters import epoch_rows, run_configuration, run_state, study_state
from trainer import schedules
from trainer.workloads import list_workloads


def _rate_limited(request: HttpRequest) -> HttpResponse | None:
    allowed, retry = ratelimit.allow(request.user)
    if allowed:
        return None
    response = render(request, "dashboard/rate_limited.html", {"retry": retry}, status=429)
    response["Retry-After"] = str(retry)
    return response


@login_required
def home(request: HttpRequest) -> HttpResponse:
    runs = access.runs_for(request.user).select_related("policy")[:10]
    policies = access.policies_for(request.user).annotate(n_runs=Count("runs")).order_by("name")[:20]
    return render(
        request,
        "dashboard/home.html",
        {"runs": runs, "policies": policies, "workloads": list_workloads()},
    )


@login_required
def policy_list(request: HttpRequest) -> HttpResponse:
    """The user's teams' policies, then the ones other teams share (the curated reference set among them)."""
    show_archived = request.GET.get("archived") == "1"
    visible = access.visible_policies(request.user).select_related("team", "created_by").order_by("name")
    if not show_archived:
        visible = visible.filter(archived=False)
    teams = access.teams_for(request.user)
    mine = visible.filter(team__in=teams).annotate(n_runs=Count("runs"))
    shared = visible.exclude(team__in=teams)
    return render(
        request,
        "dashboard/policy_list.html",
        {
            "policies": mine,
            "shared": shared,
            "show_archived": show_archived,
            "n_archived": access.policies_for(request.user).filter(archived=True).count(),
        },
    )


def _editor_context(request: HttpRequest, form: PolicyForm, **extra) -> dict:
    return {
        "form": form,
        "groups": grouped_catalog(list(editable_kinds())),
        "catalog": schedules.catalog(),
        "saved_policies": [
            {"id": p.pk, "name": p.name, "spec": p.spec}
            for p in access.policies_for(request.user).order_by("name")[:200]
        ],
        "preview_epochs": 30,
        **extra,
    }


@login_required
def policy_create(request: HttpRequest) -> HttpResponse:
    team = access.writable_team(request)
    # Prefill from the query string (`?kind=TRI&TRI__k1=0.3`, as the research tools link here).
    initial = request.GET.dict() if request.method == "GET" and request.GET.get("kind") else None
    source = None
    if request.method == "GET" and request.GET.get("from"):
        source = access.get_policy_for_user(request.user, request.GET["from"])
        initial = {
            **initial_from_spec(source.spec),
            "name": f"Copy of {source.name}"[:100],
            "description": source.description,
        }
    form = PolicyForm(request.POST or None, team=team, initial=initial)
    if request.method == "POST" and form.is_valid():
        policy = actions.create_policy(
            team=team,
            user=request.user,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            spec=form.cleaned_data["spec"],
        )
        messages.success(request, f"Policy “{policy.name}” created.")
        return redirect("policy-detail", pk=policy.pk)
    return render(
        request,
        "dashboard/policy_form.html",
        _editor_context(request, form, source=source, title="New policy", submit="Create policy"),
        status=400 if request.method == "POST" else 200,
    )


@login_required
def policy_edit(request: HttpRequest, pk: int) -> HttpResponse:
    policy = access.get_policy_for_user(request.user, pk)
    access.policy_writable_or_403(request.user, policy)
    # A policy's schedule is frozen once runs used it, so that its leaderboard
    # entry means one thing; duplicate it to try another schedule.
    spec_editable = not policy.runs.exists()
    initial = {**initial_from_spec(policy.spec), "name": policy.name, "description": policy.description}
    form = PolicyForm(
        request.POST or None, team=policy.team, instance=policy, spec_editable=spec_editable, initial=initial
    )
    if request.method == "POST" and form.is_valid():
        actions.update_policy(
            policy,
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            spec=form.cleaned_data.get("spec") if spec_editable else None,
        )
        messages.success(request, f"Policy “{policy.name}” saved.")
        return redirect("policy-detail", pk=policy.pk)
    return render(
        request,
        "dashboard/policy_form.html",
        _editor_context(request, form, policy=policy, title=f"Edit {policy.name}", submit="Save policy"),
        status=400 if request.method == "POST" else 200,
    )


@login_required
def catalog_page(request: HttpRequest) -> HttpResponse:
    from trainer.divergence import DivergenceRule  # torch-free: the rule's thresholds, as workers read them

    context = {
        "groups": grouped_catalog(),
        "divergence": DivergenceRule.from_settings(),
        "metrics": leaderboard.METRICS,
        "groups_test": leaderboard.GROUPS_TEST,
    }
    return render(request, "dashboard/catalog.html", context)


@login_required
def policy_detail(request: HttpRequest, pk: int) -> HttpResponse:
    policy = access.get_policy_for_user(request.user, pk)
    runs = policy.runs.filter(team__in=access.teams_for(request.user)).order_by("-created_at")[:50]
    run_form = RunForm(user=request.user, initial={"policy": policy.pk})
    return render(
        request,
        "dashboard/policy_detail.html",
        {
            "policy": policy,
            "runs": runs,
            "run_form": run_form,
            "workload_steps": {w["name"]: math.ceil(w["train_size"] / w["batch_size"]) for w in list_workloads()},
            "can_write": access.can_write(request.user, policy.team),
            "is_admin": access.is_team_admin(request.user, policy.team),
        },
    )


@login_required
@require_POST
def policy_publish(request: HttpRequest, pk: int) -> HttpResponse:
    policy = access.get_policy_for_user(request.user, pk)
    access.team_admin_or_403(request.user, policy.team)
    if request.POST.get("action") == "unpublish":
        actions.unpublish_policy(policy)
        messages.info(request, f"“{policy.name}” is no longer on the shared leaderboard; its runs are kept.")
    else:
        actions.publish_policy(policy)
        messages.success(request, f"“{policy.name}” and its results are on the shared leaderboard.")
    return redirect("policy-detail", pk=policy.pk)


@login_required
@require_POST
def policy_archive(request: HttpRequest, pk: int) -> HttpResponse:
    policy = access.get_policy_for_user(request.user, pk)
    access.policy_writable_or_403(request.user, policy)
    archived = request.POST.get("action") != "unarchive"
    actions.archive_policy(policy, archived)
    messages.info(request, f"“{policy.name}” {'archived' if archived else 'restored'}.")
    return redirect("policy-detail", pk=policy.pk)


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    runs = access.runs_for(request.user).select_related("policy")[:200]
    return render(request, "dashboard/run_list.html", {"runs": runs})


@login_required
def run_create(request: HttpRequest) -> HttpResponse:
    team = access.writable_team(request)
    initial = {"policy": request.GET.get("policy")} if request.GET.get("policy") else None
    form = RunForm(request.POST or None, user=request.user, initial=initial)
    if request.method == "POST" and form.is_valid():
        if limited := _rate_limited(request):
            return limited
        try:
            run = actions.queue_run(
                team=team,
                user=request.user,
                policy=form.cleaned_data["policy"],
                workload=form.cleaned_data["workload"],
                epochs=form.cleaned_data["epochs"],
                seed=form.cleaned_data["seed"],
                device=form.cleaned_data["device"],
                workload_options=form.cleaned_data["workload_options"],
            )
        except actions.QuotaExceeded as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return redirect("run-detail", pk=run.pk)
    return render(request, "dashboard/run_form.html", {"form": form}, status=400 if request.method == "POST" else 200)


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_run_for_user(request.user, pk)
    return render(
        request,
        "dashboard/run_detail.html",
        {
            "run": run,
            "config": run_configuration(run),
            "initial": {"run": run_state(run), "epochs": epoch_rows(run)},
        },
    )


@login_required
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_run_for_user(request.user, pk)
    if not access.can_cancel_run(request.user, run):
        raise PermissionDenied("Members cancel their own runs; team admins cancel anyone's.")
    if actions.cancel_run(run):
        messages.info(request, f"Run {run.pk} cancelled.")
    return redirect("run-detail", pk=run.pk)


@login_required
def leaderboard_page(request: HttpRequest) -> HttpResponse:
    workloads = [*list_workloads(), *({"name": name} for name in leaderboard.reported_workloads(request.user))]
    names = [w["name"] for w in workloads]
    wanted = {"workload": names[0], **request.GET.dict()}
    context = {"request": request}
    query = LeaderboardQuerySerializer(data=wanted, context=context)
    errors: dict[str, str] = {}
    if not query.is_valid():
        errors = {field: " ".join(str(e) for e in problems) for field, problems in query.errors.items()}
        for field, problem in errors.items():
            messages.error(request, f"{field}: {problem}")
        # Keep every valid choice (workload, budget, rank ...); only the invalid ones fall back to defaults.
        kept = {key: value for key, value in wanted.items() if key not in query.errors}
        query = LeaderboardQuerySerializer(data={"workload": names[0], **kept}, context=context)
        if not query.is_valid():
            query = LeaderboardQuerySerializer(data={"workload": names[0]}, context=context)
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
    context = {
        "board": data,
        "workloads": workloads,
        "metrics": leaderboard.METRICS,
        "weights_raw": request.GET.get("weights", ""),
        "errors": errors,
        "query": request.GET.urlencode(),
    }
    template = "dashboard/_leaderboard_board.html" if request.GET.get("partial") else "dashboard/leaderboard.html"
    return render(request, template, context)


@login_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = access.studies_for(request.user).annotate(n_runs=Count("runs")).select_related("team")
    return render(request, "dashboard/study_list.html", {"studies": studies})


@login_required
def study_create(request: HttpRequest) -> HttpResponse:
    team = access.writable_team(request)
    form = StudyForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if limited := _rate_limited(request):
            return limited
        try:
            study = actions.create_study(
                team=team,
                user=request.user,
                name=data["name"],
                description=data["description"],
                workload=data["workload"],
                policies=list(data["policies"]),
                seeds=data["seeds"],
                epochs=data["epochs"],
                target_accuracy=data.get("target_accuracy"),
                lr_scales=data["lr_scales"],
                device=data["device"],
                halving_eta=data["halving_eta"],
                workload_options=data["workload_options"],
            )
        except actions.QuotaExceeded as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        except schedules.SpecError as exc:
            form.add_error(
                "robustness",
                "A scaled LR leaves its range: "
                + "; ".join(f"{path}: {' '.join(m)}" for path, m in exc.errors.items()),
            )
        else:
            return redirect("study-detail", pk=study.pk)
    return render(request, "dashboard/study_form.html", {"form": form}, status=400 if request.method == "POST" else 200)


@login_required
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = access.get_study_for_user(request.user, pk)
    return render(
        request,
        "dashboard/study_detail.html",
        {
            "study": study,
            "initial": {"study": study_state(study), "progress": studies.progress(study)},
            "halving": halving.replay(study),
        },
    )


RUN_PICKER_ROWS = 200  # the compare page's runs table: the most recent matching runs


@login_required
def compare_page(request: HttpRequest) -> HttpResponse:
    """The chart of the chosen runs (a study's, or any picked in the runs table), above the table and its filters."""
    picker = RunPickerForm(request.GET or None, user=request.user)
    wanted = _selected_runs(request)
    yours = set(access.runs_for(request.user).filter(pk__in=wanted).values_list("pk", flat=True))
    selected = [pk for pk in wanted if pk in yours]
    study = None
    if request.GET.get("study") and not selected:
        study = access.get_study_for_user(request.user, request.GET["study"])
    matching = picker.filter(access.runs_for(request.user).select_related("policy", "study").order_by("-created_at"))
    runs = list(matching[:RUN_PICKER_ROWS])
    shown = {run.pk for run in runs}
    return render(
        request,
        "dashboard/compare.html",
        {
            "study": study,
            "runs": ",".join(map(str, selected)),
            "picker": picker,
            "picker_runs": runs,
            "selected": set(selected),
            "selected_elsewhere": [pk for pk in selected if pk not in shown],
            "more_rows": len(runs) == RUN_PICKER_ROWS,
        },
    )


def _selected_runs(request: HttpRequest) -> list[int]:
    """Run ids from ?runs=1,2 or ?runs=1&runs=2 (the table's checkboxes), in order, without repeats."""
    ids: list[int] = []
    for value in request.GET.getlist("runs"):
        for part in value.split(","):
            if part.strip().isdigit() and int(part) not in ids:
                ids.append(int(part))
    return ids[:200]


def healthz(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")
