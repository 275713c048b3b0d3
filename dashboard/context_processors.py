from __future__ import annotations

from dashboard import access


def teams(request) -> dict:
    """The team switcher in the top bar."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"my_teams": list(access.teams_for(user).order_by("name")), "current_team": access.current_team(request)}
