"""Sign-in throttling (django-axes): failed sign-ins are counted per username and per address.

Only failures count, and a success resets them. After ARENA_SIGNIN_FAILURES
failures `/login/` and `/api/token/` answer 429 for ARENA_SIGNIN_COOLOFF_MINUTES:
the page explains it, the API says it in its one error format.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken import views as authtoken_views
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import Throttled, ValidationError

from dashboard.api.schemas import ErrorSerializer


def lockout_response(request: HttpRequest, *args) -> HttpResponse:
    """Axes' AXES_LOCKOUT_CALLABLE (its sync and async middleware pass different extra arguments)."""
    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
    message = f"Too many failed sign-ins: try again in {max(1, seconds // 60)} minutes."
    if request.path_info.startswith("/api/"):
        response = JsonResponse({"detail": message}, status=429)
    else:
        response = render(request, "registration/locked_out.html", {"message": message}, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _locked_out(request) -> bool:
    return bool(getattr(request, "axes_locked_out", False) or getattr(request._request, "axes_locked_out", False))


class ObtainAuthToken(authtoken_views.ObtainAuthToken):
    """DRF's token view, with a 429 instead of its 400 when axes refused a locked-out sign-in."""

    @extend_schema(
        responses={
            200: inline_serializer("AuthToken", {"token": serializers.CharField()}),
            400: ErrorSerializer,
            429: ErrorSerializer,
        }
    )
    def post(self, request, *args, **kwargs):
        try:
            response = super().post(request, *args, **kwargs)
        except ValidationError:
            if _locked_out(request):
                seconds = int(settings.AXES_COOLOFF_TIME.total_seconds())
                raise SignInsThrottled(wait=seconds) from None
            raise
        # A token is a sign-in: tell axes (it resets the failures) as the login page's login() does.
        user = Token.objects.get(key=response.data["token"]).user
        user_logged_in.send(sender=user.__class__, request=request._request, user=user)
        return response


class SignInsThrottled(Throttled):
    default_detail = "Too many failed sign-ins."
