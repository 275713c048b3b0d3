"""Site staff manage the catalog here. Querysets are scoped by `access.admin_scope`."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet

from dashboard import access, actions
from dashboard.models import EpochMetric, Invitation, Membership, Policy, Run, Study, Team
from trainer import schedules


def _policies(n: int) -> str:
    return f"{n} {'policy' if n == 1 else 'policies'}"


class ScopedAdmin(admin.ModelAdmin):
    team_path = "team"

    def get_queryset(self, request):
        return access.admin_scope(request.user, super().get_queryset(request), self.team_path)


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [(decl["kind"], decl["kind"]) for decl in schedules.catalog()]

    def queryset(self, request, queryset):
        return queryset.filter(spec__kind=self.value()) if self.value() else queryset


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "max_active_runs", "max_epochs_per_run", "max_runs_per_study", "created_at"]
    list_editable = ["max_active_runs", "max_epochs_per_run", "max_runs_per_study"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = [
        (None, {"fields": ["name", "slug"]}),
        ("Quotas", {"fields": ["max_active_runs", "max_epochs_per_run", "max_runs_per_study"]}),
    ]
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return access.admin_scope(request.user, super().get_queryset(request), "pk")

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser  # quotas are the site's to set, not a team admin's


@admin.register(Membership)
class MembershipAdmin(ScopedAdmin):
    list_display = ["user", "team", "role"]
    list_filter = ["role", "team"]
    search_fields = ["user__username", "team__name"]
    autocomplete_fields = ["user"]
    list_select_related = ["user", "team"]


@admin.register(Invitation)
class InvitationAdmin(ScopedAdmin):
    list_display = ["team", "role", "uses", "max_uses", "expires_at", "revoked"]
    list_filter = ["revoked", "role", "team"]
    readonly_fields = ["token", "uses", "created_at", "created_by"]


@admin.register(Policy)
class PolicyAdmin(ScopedAdmin):
    list_display = ["name", "kind", "team", "published", "archived", "created_by", "updated_at"]
    list_filter = [KindFilter, "team", "published", "archived"]
    search_fields = ["name", "description", "team__name"]
    list_select_related = ["team", "created_by"]
    readonly_fields = ["published_at", "created_at", "updated_at"]
    actions = ["publish", "unpublish", "archive", "unarchive", "duplicate"]

    @admin.action(description="Publish to the shared leaderboard")
    def publish(self, request, queryset: QuerySet[Policy]) -> None:
        for policy in queryset:
            actions.publish_policy(policy)
        messages.success(request, f"Published {_policies(queryset.count())}.")

    @admin.action(description="Unpublish (keeps every run)")
    def unpublish(self, request, queryset: QuerySet[Policy]) -> None:
        for policy in queryset:
            actions.unpublish_policy(policy)
        messages.success(request, f"Unpublished {_policies(queryset.count())}.")

    @admin.action(description="Archive")
    def archive(self, request, queryset: QuerySet[Policy]) -> None:
        for policy in queryset:
            actions.archive_policy(policy, True)
        messages.success(request, f"Archived {_policies(queryset.count())} (runs and results are kept).")

    @admin.action(description="Restore from the archive")
    def unarchive(self, request, queryset: QuerySet[Policy]) -> None:
        for policy in queryset:
            actions.archive_policy(policy, False)
        messages.success(request, f"Restored {_policies(queryset.count())} from the archive.")

    @admin.action(description="Duplicate")
    def duplicate(self, request, queryset: QuerySet[Policy]) -> None:
        copies = [actions.duplicate_policy(policy, user=request.user) for policy in queryset]
        messages.success(request, "Created " + ", ".join(copy.name for copy in copies))

    def save_model(self, request, obj, form, change) -> None:
        obj.spec = schedules.validate(obj.spec)
        super().save_model(request, obj, form, change)

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        original_clean = form.clean

        def clean(form_self):
            cleaned = original_clean(form_self)
            spec = cleaned.get("spec")
            if spec is not None:
                try:
                    cleaned["spec"] = schedules.validate(spec)
                except schedules.SpecError as exc:
                    form_self.add_error("spec", "; ".join(f"{p}: {' '.join(m)}" for p, m in exc.errors.items()))
            return cleaned

        form.clean = clean
        return form


@admin.register(Run)
class RunAdmin(ScopedAdmin):
    list_display = ["id", "workload", "policy", "epochs", "seed", "lr_scale", "status", "epochs_done", "final_acc"]
    list_filter = ["status", "workload", "team"]
    search_fields = ["policy__name", "workload"]
    list_select_related = ["policy"]
    readonly_fields = ["created_at", "started_at", "finished_at", "summary"]
    actions = ["cancel", "requeue"]

    @admin.action(description="Cancel")
    def cancel(self, request, queryset: QuerySet[Run]) -> None:
        cancelled = sum(actions.cancel_run(run) for run in queryset)
        messages.success(request, f"Cancelled {cancelled} runs.")

    @admin.action(description="Requeue (train again from scratch)")
    def requeue(self, request, queryset: QuerySet[Run]) -> None:
        done = [run for run in queryset if run.is_finished]
        for run in done:
            actions.requeue_run(run)
        messages.success(request, f"Requeued {len(done)} finished runs.")


@admin.register(Study)
class StudyAdmin(ScopedAdmin):
    list_display = ["name", "team", "workload", "epochs", "target_accuracy", "created_at"]
    list_filter = ["workload", "team"]
    search_fields = ["name"]
    filter_horizontal = ["policies"]


@admin.register(EpochMetric)
class EpochMetricAdmin(ScopedAdmin):
    team_path = "run__team"
    list_display = ["run", "epoch", "test_acc", "test_loss", "lr_mean", "seconds"]
    list_select_related = ["run"]
