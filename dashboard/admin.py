from django.contrib import admin

from dashboard.models import EpochMetric, Membership, Policy, Run, Team


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]


@admin.register(Policy)
class PolicyAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "team", "created_by", "updated_at"]
    list_filter = ["team"]
    search_fields = ["name", "description"]
    list_select_related = ["team", "created_by"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["id", "workload", "policy", "epochs", "seed", "status", "epochs_done", "final_acc", "created_at"]
    list_filter = ["status", "workload", "team"]
    search_fields = ["policy__name", "workload"]
    list_select_related = ["policy"]
    readonly_fields = ["created_at", "started_at", "finished_at"]


@admin.register(EpochMetric)
class EpochMetricAdmin(admin.ModelAdmin):
    list_display = ["run", "epoch", "test_acc", "test_loss", "lr_mean", "seconds"]
    list_select_related = ["run"]
