from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from dashboard import job_views, profile_views, team_api
from dashboard.api import docs, reports, views
from dashboard.signin import ObtainAuthToken

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's set-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    # templates/drf_spectacular/redoc.html: no web fonts, no inline script; Redoc's search runs in a blob: worker.
    path(
        "redoc/",
        csp_update({"worker-src": ["'self'", "blob:"]})(SpectacularRedocView.as_view(url_name="api-schema")),
        name="api-redoc",
    ),
    path("redoc/redoc.standalone.js", docs.redoc_bundle, name="api-redoc-bundle"),
    path("token/", ObtainAuthToken.as_view(), name="api-token"),
    path("workloads/", views.workloads, name="api-workloads"),
    path("workloads/plugins/", views.workload_plugins, name="api-workload-plugins"),
    path("kinds/", views.kinds, name="api-kinds"),
    path("schedules/preview/", views.schedule_preview, name="api-schedule-preview"),
    path("policies/", views.policies, name="api-policies"),
    path("policies/<int:pk>/", views.policy_detail, name="api-policy-detail"),
    path("policies/<int:pk>/publish/", views.policy_publish, name="api-policy-publish"),
    path("policies/<int:pk>/unpublish/", views.policy_unpublish, name="api-policy-unpublish"),
    path("teams/", team_api.teams, name="api-teams"),
    path("teams/<slug:slug>/members/", team_api.members, name="api-team-members"),
    path("teams/<slug:slug>/members/<int:user_id>/", team_api.member, name="api-team-member"),
    path("teams/<slug:slug>/invitations/", team_api.invitations, name="api-team-invitations"),
    path("teams/<slug:slug>/invitations/<int:pk>/revoke/", team_api.invitation_revoke, name="api-invitation-revoke"),
    path("invitations/accept/", team_api.invitation_accept, name="api-invitation-accept"),
    path("policies/<int:pk>/convert/", job_views.api_policy_convert, name="api-policy-convert"),
    path("jobs/", job_views.api_jobs, name="api-jobs"),
    path("jobs/<int:pk>/", job_views.api_job_detail, name="api-job-detail"),
    path("jobs/<int:pk>/cancel/", job_views.api_job_cancel, name="api-job-cancel"),
    path("runs/", views.runs, name="api-runs"),
    path("runs/<int:pk>/", views.run_detail, name="api-run-detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="api-run-cancel"),
    path("runs/reported/", reports.open_run, name="api-reported-run-open"),
    path("runs/<int:pk>/epochs/", reports.report_epoch, name="api-reported-run-epoch"),
    path("runs/<int:pk>/heartbeat/", reports.heartbeat, name="api-reported-run-heartbeat"),
    path("runs/<int:pk>/finish/", reports.finish_run, name="api-reported-run-finish"),
    path("runs/<int:pk>/fail/", reports.fail_run, name="api-reported-run-fail"),
    path("leaderboard/", views.leaderboard_view, name="api-leaderboard"),
    path("leaderboard/export/", views.leaderboard_export, name="api-leaderboard-export"),
    path("leaderboard/profile/", profile_views.api_profile, name="api-leaderboard-profile"),
    path("leaderboard/profile/export/", profile_views.api_profile_export, name="api-leaderboard-profile-export"),
    path("studies/", views.studies, name="api-studies"),
    path("studies/<int:pk>/", views.study_detail, name="api-study-detail"),
    path("studies/<int:pk>/export/", views.study_export, name="api-study-export"),
    path("compare/", views.compare_view, name="api-compare"),
]
