from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from dashboard import job_views, profile_views, team_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("policies/", views.policy_list, name="policy-list"),
    path("policies/new/", views.policy_create, name="policy-create"),
    path("policies/<int:pk>/", views.policy_detail, name="policy-detail"),
    path("policies/<int:pk>/edit/", views.policy_edit, name="policy-edit"),
    path("policies/<int:pk>/publish/", views.policy_publish, name="policy-publish"),
    path("policies/<int:pk>/archive/", views.policy_archive, name="policy-archive"),
    path("policies/<int:pk>/convert/", job_views.policy_convert, name="policy-convert"),
    path("tools/", job_views.job_list, name="job-list"),
    path("tools/new/<str:kind>/", job_views.job_create, name="job-create"),
    path("tools/<int:pk>/", job_views.job_detail, name="job-detail"),
    path("tools/<int:pk>/cancel/", job_views.job_cancel, name="job-cancel"),
    path("tools/<int:pk>/save-policy/", job_views.job_save_policy, name="job-save-policy"),
    path("teams/", team_views.team_list, name="team-list"),
    path("teams/switch/", team_views.team_switch, name="team-switch"),
    path("teams/<slug:slug>/", team_views.team_detail, name="team-detail"),
    path("invite/<str:token>/", team_views.invite_accept, name="invite-accept"),
    path("catalog/", views.catalog_page, name="catalog"),
    path("runs/", views.run_list, name="run-list"),
    path("runs/new/", views.run_create, name="run-create"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("leaderboard/", views.leaderboard_page, name="leaderboard"),
    path("leaderboard/profile/", profile_views.profile_page, name="leaderboard-profile"),
    path("studies/", views.study_list, name="study-list"),
    path("studies/new/", views.study_create, name="study-create"),
    path("studies/<int:pk>/", views.study_detail, name="study-detail"),
    path("compare/", views.compare_page, name="compare"),
    path("healthz", views.healthz, name="healthz"),
    path("api/", include("dashboard.api.urls")),
    path("admin/", admin.site.urls),
]
