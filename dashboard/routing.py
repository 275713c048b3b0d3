from django.urls import path, re_path

from dashboard import consumers

websocket_urlpatterns = [
    path("ws/runs/<int:run_id>/", consumers.RunConsumer.as_asgi()),
    path("ws/studies/<int:study_id>/", consumers.StudyConsumer.as_asgi()),
    path("ws/jobs/<int:job_id>/", consumers.JobConsumer.as_asgi()),
    # <path:>: a team's own workload is "<team-slug>/<name>"
    path("ws/leaderboard/<path:workload>/", consumers.LeaderboardConsumer.as_asgi()),
    re_path(r"", consumers.NotFoundConsumer.as_asgi()),  # any other path: refused, not a 500
]
