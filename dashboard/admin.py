"""Site staff manage the catalog here. A staff user who is not a superuser manages only the teams they
are admin of: changelists, the choices of every form (foreign keys, many-to-many), the list filters and
every save are scoped by `access` (`admin_scope`, `admin_choices`, `admin_may_save`)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet

from dashboard import access, actions
from dashboard.models import EpochMetric, Invitation, Membership, Policy, Run, Study, Team
from trainer import schedules


def _policies(n: int) -> str:
    return f"{n} {'policy' if n == 1 else 'policies'}"


class ScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A list filter on a relation that offers only the objects the staff user manages."""

    def field_choices(self, field, request, model_admin):
        choices = access.admin_choices(request.user, field.related_model)
        if choices is None:
            return super().field_choices(field, request, model_admin)
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(
            include_blank=False, limit_choices_to={"pk__in": choices.values("pk")}, ordering=ordering
        )


class TeamScopedChoices:
    """Form choices and list filters of a ModelAdmin, limited to the teams the staff user manages."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        choices = access.admin_choices(request.user, db_field.related_model)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        choices = access.admin_choices(request.user, db_field.related_model)
        if choices is not None:
            kwargs["queryset"] = choices
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def get_list_filter(self, request):
        return [self._scoped_filter(entry) for entry in super().get_list_filter(request)]

    def _scoped_filter(self, entry):
        if isinstance(entry, str) and get_fields_from_path(self.model, entry)[-1].is_relation:
            return (entry, ScopedRelatedFilter)
        return entry


class ScopedAdmin(TeamScopedChoices, admin.ModelAdmin):
    @property
    def team_path(self) -> str:
        return access.ADMIN_TEAM_PATHS[self.model]

    def get_queryset(self, request):
        return access.admin_scope(request.user, super().get_queryset(request), self.team_path)

    def save_model(self, request, obj, form, change) -> None:
        # The form's choices already refuse other teams; this guards every other way in.
        if not access.admin_may_save(request.user, obj, self.team_path):
            raise PermissionDenied("You manage only the teams you are admin of.")
        super().save_model(request, obj, form, change)


class KindFilter(admin.SimpleListFilter):
    title = "kind"
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return [(decl["kind"], decl["kind"]) for decl in schedules.catalog()]

    def queryset(self, request, queryset):
        return queryset.filter(spec__kind=self.value()) if self.value() else queryset


class MembershipInline(TeamScopedChoices, admin.TabularInline):
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
        return access.admin_scope(request.user, super().get_queryset(request), access.ADMIN_TEAM_PATHS[Team])

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

    def save_model(self, request, obj, form, change) -> None:
        if not change:  # the token and author are set here, as on the team page
            obj.token = actions.invitation_token()
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


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
        requeued = sum(actions.requeue_run(run) for run in queryset if run.is_finished)
        messages.success(request, f"Requeued {requeued} finished runs (self-reported runs are never requeued).")


@admin.register(Study)
class StudyAdmin(ScopedAdmin):
    list_display = ["name", "team", "workload", "epochs", "target_accuracy", "created_at"]
    list_filter = ["workload", "team"]
    search_fields = ["name"]
    filter_horizontal = ["policies"]


@admin.register(EpochMetric)
class EpochMetricAdmin(ScopedAdmin):
    list_display = ["run", "epoch", "test_acc", "test_loss", "lr_mean", "seconds"]
    list_select_related = ["run"]
