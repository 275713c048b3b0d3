from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token

from dashboard import job_views, profile_views
from dashboard.api import views

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("token/", obtain_auth_token, name="api-token"),
    path("workloads/", views.workloads, name="api-workloads"),
    path("kinds/", views.kinds, name="api-kinds"),
    path("schedules/preview/", views.schedule_preview, name="api-schedule-preview"),
    path("policies/", views.policies, name="api-policies"),
    path("policies/<int:pk>/", views.policy_detail, name="api-policy-detail"),
    path("policies/<int:pk>/publish/", views.policy_publish, name="api-policy-publish"),
    path("policies/<int:pk>/unpublish/", views.policy_unpublish, name="api-policy-unpublish"),
    path("teams/", views.teams, name="api-teams"),
    path("policies/<int:pk>/convert/", job_views.api_policy_convert, name="api-policy-convert"),
    path("jobs/", job_views.api_jobs, name="api-jobs"),
    path("jobs/<int:pk>/", job_views.api_job_detail, name="api-job-detail"),
    path("jobs/<int:pk>/cancel/", job_views.api_job_cancel, name="api-job-cancel"),
    path("runs/", views.runs, name="api-runs"),
    path("runs/<int:pk>/", views.run_detail, name="api-run-detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="api-run-cancel"),
    path("leaderboard/", views.leaderboard_view, name="api-leaderboard"),
    path("leaderboard/export/", views.leaderboard_export, name="api-leaderboard-export"),
    path("leaderboard/profile/", profile_views.api_profile, name="api-leaderboard-profile"),
    path("leaderboard/profile/export/", profile_views.api_profile_export, name="api-leaderboard-profile-export"),
    path("studies/", views.studies, name="api-studies"),
    path("studies/<int:pk>/", views.study_detail, name="api-study-detail"),
    path("studies/<int:pk>/export/", views.study_export, name="api-study-export"),
    path("compare/", views.compare_view, name="api-compare"),
]
